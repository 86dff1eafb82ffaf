//! The case management scheme over HTTP: list size and risk-tool uploads, the candidates
//! worklist, reviews due, the monthly data return (JSON or CSV) and its commissioner
//! aggregate, MDT meetings and virtual clinics.
//!
//! Case managers act for their own practice only; commissioners read the aggregate, which
//! holds counts and money, never a patient. Every read that lists patients audits each
//! one, as the caseload does; every write is audited in its own transaction.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use redfolder_shared::{Date, NhsNumber};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiJson;
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::plan_edit::Applied;
use crate::scheme::practice_plans;
use crate::scheme::rules::{
    self, CohortPosition, CoreRole, DueState, Month, MonthlyReturn, PlanFacts,
};
use crate::startup::AppState;
use crate::store::scheme::MdtAttendee;

/// Audit actions of this module.
mod act {
    pub(super) const LIST_SIZE: &str = "scheme.list_size";
    pub(super) const RISK_UPLOAD: &str = "scheme.risk_upload";
    pub(super) const EXCLUSION: &str = "scheme.exclusion";
    pub(super) const CANDIDATES: &str = "scheme.candidates";
    pub(super) const REVIEWS_DUE: &str = "scheme.reviews_due";
    pub(super) const RETURN: &str = "scheme.monthly_return";
    pub(super) const MDT: &str = "scheme.mdt_meeting";
    pub(super) const VIRTUAL_CLINIC: &str = crate::store::scheme::CLINIC_ACTION;
}

fn today() -> Date {
    Date::from_unix_ms(now_ms())
}

/// The caller's practice, when they are a case manager; otherwise the denial is audited.
async fn practice(
    state: &AppState,
    principal: &Principal,
    action: &str,
) -> Result<String, ApiError> {
    if principal.user.has(Role::CaseManager) {
        return Ok(principal.user.organisation_id.clone());
    }
    let event = AuditEvent::new(now_ms(), action, purpose::DIRECT_CARE, "denied")
        .by(principal, principal.user.primary_role());
    state.store().record_audit(&[event]).await?;
    Err(ApiError::Forbidden)
}

fn event(principal: &Principal, action: &str, why: &str) -> AuditEvent {
    AuditEvent::new(now_ms(), action, why, "ok").by(principal, Role::CaseManager)
}

fn date_param(name: &str, value: &str) -> Result<Date, ApiError> {
    Date::parse(value).ok_or_else(|| ApiError::BadRequest(format!("{name} must be YYYY-MM-DD")))
}

// ---------------------------------------------------------------- (1) list size, risk tool

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ListSizeBody {
    list_size: i64,
    /// `YYYY-MM-DD`; today when absent.
    as_of: Option<String>,
}

/// Records the practice's list size (earlier figures are kept).
#[utoipa::path(post, path = "/api/v1/scheme/list-size", tag = "scheme",
    security(("bearer" = [])), request_body = ListSizeBody,
    responses((status = 201, description = "Recorded"), (status = 400, description = "Not a positive number or a date"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn set_list_size(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ListSizeBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = practice(&state, &principal, act::LIST_SIZE).await?;
    if !(1..=10_000_000).contains(&body.list_size) {
        return Err(ApiError::BadRequest(
            "list_size must be a positive number".into(),
        ));
    }
    let as_of = match &body.as_of {
        Some(s) => date_param("as_of", s)?,
        None => today(),
    };
    let now = now_ms();
    let ev = event(&principal, act::LIST_SIZE, purpose::ADMINISTRATION)
        .detail(format!("list size {} as of {as_of}", body.list_size));
    state
        .store()
        .record_list_size(
            &org,
            body.list_size,
            &as_of.to_string(),
            &principal.user.id,
            now,
            &[ev],
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "list_size": body.list_size, "as_of": as_of.to_string() })),
    ))
}

/// The practice's current list size.
#[utoipa::path(get, path = "/api/v1/scheme/list-size", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, description = "list_size, as_of"), (status = 404, description = "None recorded"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn list_size(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::LIST_SIZE).await?;
    let size = state
        .store()
        .list_size(&org, &today().to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("no list size recorded"))?;
    Ok(Json(json!(size)))
}

/// Uploads the risk tool's output as CSV (`nhs_number,risk_score,risk_level,as_of`).
/// A file with any bad row is refused whole with every problem by line; an accepted file
/// becomes the practice's current list, earlier uploads are kept.
#[utoipa::path(post, path = "/api/v1/scheme/risk-uploads", tag = "scheme",
    security(("bearer" = [])), request_body(content = String, content_type = "text/csv"),
    responses((status = 201, description = "Accepted: upload_id, rows, top_5_percent, movement {compared_with, entered_top_5_percent, left_top_5_percent} against the previous upload"),
        (status = 422, description = "Refused: problems [{line, message}]; nothing kept"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn upload_risk(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    body: String,
) -> Result<Response, ApiError> {
    let org = practice(&state, &principal, act::RISK_UPLOAD).await?;
    let store = state.store();
    match rules::parse_risk_csv(&body, today()) {
        Err(problems) => {
            let ev = AuditEvent::new(now_ms(), act::RISK_UPLOAD, purpose::DIRECT_CARE, "refused")
                .by(&principal, Role::CaseManager)
                .detail(format!("{} bad rows", problems.len()));
            store.record_audit(&[ev]).await?;
            let body = json!({
                "error": "invalid_rows",
                "message": "the file was not accepted: nothing of it was kept",
                "problems": problems,
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Ok(rows) => {
            let top = rows.iter().filter(|r| r.in_top_5_percent()).count();
            let previous = match store.risk_uploads(&org).await?.first() {
                Some(p) => Some((p.id.clone(), store.risk_rows(&p.id).await?)),
                None => None,
            };
            let moved = rules::movement(
                previous
                    .as_ref()
                    .map_or(&[][..], |(_, rows)| rows.as_slice()),
                &rows,
            );
            let ev = event(&principal, act::RISK_UPLOAD, purpose::DIRECT_CARE)
                .detail(format!("{} rows", rows.len()));
            let id = store
                .save_risk_upload(&org, &principal.user.id, &rows, now_ms(), &[ev])
                .await?;
            let body = json!({
                "upload_id": id,
                "rows": rows.len(),
                "top_5_percent": top,
                "movement": {
                    "compared_with": previous.map(|(id, _)| id),
                    "entered_top_5_percent": moved.entered,
                    "left_top_5_percent": moved.left,
                },
            });
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
    }
}

/// Every accepted upload, newest first (the history of the risk list).
#[utoipa::path(get, path = "/api/v1/scheme/risk-uploads", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, description = "Uploads: id, uploaded_at_ms, uploaded_by, row_count"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn risk_uploads(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::RISK_UPLOAD).await?;
    Ok(Json(json!(state.store().risk_uploads(&org).await?)))
}

/// The practice's position against 3 % and 5 % of its list, by category, and nothing
/// else: cheap enough for the app to show on the caseload all the time. No patient is
/// named, so one audit entry covers it.
#[utoipa::path(get, path = "/api/v1/scheme/cohort", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, description = "cohort: {list_size, enrolled, percent_of_list, percent_by_category, phase, ...} or null without a list size"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn cohort(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::CANDIDATES).await?;
    let today = today();
    let plans = practice_plans(&state, &org, today).await?;
    let cohort = state
        .store()
        .list_size(&org, &today.to_string())
        .await?
        .map(|s| rules::cohort_position(u64::try_from(s.list_size).unwrap_or(0), &plans));
    let ev = event(&principal, act::CANDIDATES, purpose::DIRECT_CARE).detail("cohort position");
    state.store().record_audit(&[ev]).await?;
    Ok(Json(json!({ "cohort": cohort })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ExclusionBody {
    nhs_number: String,
    /// Why case management would be inappropriate, e.g. "renal unit follows up".
    reason: String,
}

/// Excludes a high-risk patient from the worklist, with the reason (section 2.2.2).
#[utoipa::path(post, path = "/api/v1/scheme/exclusions", tag = "scheme",
    security(("bearer" = [])), request_body = ExclusionBody,
    responses((status = 201, description = "Recorded: id"), (status = 400, description = "Bad NHS number or no reason"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn add_exclusion(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ExclusionBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = practice(&state, &principal, act::EXCLUSION).await?;
    let nhs = NhsNumber::parse(&body.nhs_number)
        .map_err(|_| ApiError::BadRequest("not a valid NHS number".into()))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::BadRequest(
            "a reason (up to 500 characters) is required".into(),
        ));
    }
    let ev = event(&principal, act::EXCLUSION, purpose::DIRECT_CARE).subject(nhs.digits());
    let id = state
        .store()
        .add_exclusion(
            &org,
            &nhs.digits(),
            reason,
            &principal.user.id,
            now_ms(),
            &[ev],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Lifts an exclusion (it stays on record).
#[utoipa::path(delete, path = "/api/v1/scheme/exclusions/{id}", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Exclusion id")),
    responses((status = 204, description = "Lifted"), (status = 404, description = "No such exclusion"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn lift_exclusion(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let org = practice(&state, &principal, act::EXCLUSION).await?;
    let ev = event(&principal, act::EXCLUSION, purpose::DIRECT_CARE).detail(format!("lift {id}"));
    if state
        .store()
        .lift_exclusion(&org, &id, now_ms(), &[ev])
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such exclusion"))
    }
}

#[derive(Debug, Serialize)]
struct CandidatesView {
    cohort: Option<CohortPosition>,
    risk_upload: Option<crate::store::scheme::RiskUpload>,
    candidates: Vec<rules::Candidate>,
    excluded: Vec<rules::Excluded>,
    exclusions: Vec<crate::store::scheme::Exclusion>,
}

/// The worklist: where the practice stands against 3 % and 5 % (enrolled by category),
/// then care home residents not yet in the scheme, then risk-tool levels 3 and 2 by
/// score, leaving out the enrolled and listing the excluded with their reasons.
#[utoipa::path(get, path = "/api/v1/scheme/candidates", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, description = "cohort, risk_upload, candidates, excluded, exclusions"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn candidates(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let org = practice(&state, &principal, act::CANDIDATES).await?;
    let store = state.store();
    let today = today();
    let plans = practice_plans(&state, &org, today).await?;
    let upload = store.risk_uploads(&org).await?.into_iter().next();
    let risk = match &upload {
        Some(u) => store.risk_rows(&u.id).await?,
        None => Vec::new(),
    };
    let exclusions = store.exclusions(&org).await?;
    let pairs: Vec<(String, String)> = exclusions
        .iter()
        .map(|e| (e.nhs_number.clone(), e.reason.clone()))
        .collect();
    let (list, excluded) = rules::candidates(&plans, &risk, &pairs);
    let cohort = store
        .list_size(&org, &today.to_string())
        .await?
        .map(|s| rules::cohort_position(u64::try_from(s.list_size).unwrap_or(0), &plans));
    let now = now_ms();
    let mut events = vec![
        AuditEvent::new(now, act::CANDIDATES, purpose::DIRECT_CARE, "ok")
            .by(&principal, Role::CaseManager)
            .detail(format!("{} candidates", list.len())),
    ];
    events.extend(list.iter().filter_map(|c| {
        c.patient_id.as_ref().map(|id| {
            AuditEvent::new(now, act::CANDIDATES, purpose::DIRECT_CARE, "ok")
                .by(&principal, Role::CaseManager)
                .patient(id.clone())
        })
    }));
    store.record_audit(&events).await?;
    Ok(Json(CandidatesView {
        cohort,
        risk_upload: upload,
        candidates: list,
        excluded,
        exclusions,
    })
    .into_response())
}

// ---------------------------------------------------------------- (2) reviews due

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct DueParams {
    /// Days ahead that count as due soon (default 28).
    within_days: Option<i64>,
}

#[derive(Debug, Serialize)]
struct DueRow {
    patient_id: String,
    nhs_number: String,
    name: String,
    case_manager: Option<String>,
    due: String,
    state: DueState,
    /// `not_printed`, `current` or `out_of_date`: a review is when the paper copy in the
    /// home is most often replaced, so the list says which need a reprint.
    paper_copy: &'static str,
    paper_copy_label: String,
}

#[derive(Debug, Default, Serialize)]
struct DueCounts {
    overdue: u64,
    due_soon: u64,
    not_yet_due: u64,
}

impl DueCounts {
    fn add(&mut self, s: DueState) {
        match s {
            DueState::Overdue => self.overdue += 1,
            DueState::DueSoon => self.due_soon += 1,
            DueState::NotYetDue => self.not_yet_due += 1,
        }
    }
}

/// Reviews due and overdue at the practice and per case manager, computed from each
/// plan's enrolment: four months after the last review (twelve for over-75 case reviews),
/// sooner if the case manager set an earlier date.
#[utoipa::path(get, path = "/api/v1/scheme/reviews-due", tag = "scheme",
    security(("bearer" = [])), params(DueParams),
    responses((status = 200, description = "practice counts, by_case_manager counts, plans due or overdue"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn reviews_due(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<DueParams>,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::REVIEWS_DUE).await?;
    let today = today();
    let window = params.within_days.unwrap_or(28).clamp(0, 366);
    let plans = practice_plans(&state, &org, today).await?;
    let mut total = DueCounts::default();
    let mut by_manager: BTreeMap<String, DueCounts> = BTreeMap::new();
    let mut rows = Vec::new();
    for p in &plans {
        let Some(due) = rules::review_due(p) else {
            continue;
        };
        let s = rules::due_state(due, today, window);
        total.add(s);
        let manager = p
            .case_manager
            .clone()
            .unwrap_or_else(|| "(none named)".into());
        by_manager.entry(manager).or_default().add(s);
        if s != DueState::NotYetDue {
            rows.push(DueRow {
                patient_id: p.patient_id.clone(),
                nhs_number: p.nhs_number.clone(),
                name: p.name.clone(),
                case_manager: p.case_manager.clone(),
                due: due.to_string(),
                state: s,
                paper_copy: p.paper_copy.state.key(),
                paper_copy_label: p.paper_copy.label.clone(),
            });
        }
    }
    rows.sort_by(|a, b| a.due.cmp(&b.due).then(a.patient_id.cmp(&b.patient_id)));
    let now = now_ms();
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|r| {
            AuditEvent::new(now, act::REVIEWS_DUE, purpose::DIRECT_CARE, "ok")
                .by(&principal, Role::CaseManager)
                .patient(r.patient_id.clone())
        })
        .collect();
    state.store().record_audit(&events).await?;
    let by_case_manager: Vec<Value> = by_manager
        .into_iter()
        .map(|(name, c)| json!({ "case_manager": name, "counts": c }))
        .collect();
    Ok(Json(json!({
        "today": today.to_string(),
        "within_days": window,
        "practice": total,
        "by_case_manager": by_case_manager,
        "plans": rows,
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct OutcomeQuestion {
    still_in_top_5_percent: bool,
    #[serde(default)]
    exceptional_circumstances: bool,
    over_75: bool,
}

/// What a review should decide (Appendix 1, step 17), for the app to propose.
#[utoipa::path(post, path = "/api/v1/scheme/review-outcome", tag = "scheme",
    security(("bearer" = [])), request_body = OutcomeQuestion,
    responses((status = 200, description = "outcome"), (status = 403, description = "Only case managers")))]
pub(crate) async fn review_outcome(
    Authenticated(principal): Authenticated,
    ApiJson(q): ApiJson<OutcomeQuestion>,
) -> Result<Json<Value>, ApiError> {
    if !principal.user.has(Role::CaseManager) {
        return Err(ApiError::Forbidden);
    }
    let outcome = rules::review_outcome(
        q.still_in_top_5_percent,
        q.exceptional_circumstances,
        q.over_75,
    );
    Ok(Json(json!({ "outcome": outcome })))
}

// ---------------------------------------------------------------- (3) the monthly return

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct ReturnParams {
    /// The day the return is submitted (`YYYY-MM-DD`, default today): activity done more
    /// than three months earlier is shown as not payable.
    claimed_on: Option<String>,
    /// `csv` for CSV; JSON otherwise.
    format: Option<String>,
}

fn month_param(s: &str) -> Result<Month, ApiError> {
    Month::parse(s).ok_or_else(|| ApiError::BadRequest("month must be YYYY-MM".into()))
}

async fn practice_return(
    state: &AppState,
    org: &str,
    month: Month,
    claimed_on: Date,
) -> Result<MonthlyReturn, ApiError> {
    let plans: Vec<PlanFacts> = practice_plans(state, org, claimed_on).await?;
    let size = state
        .store()
        .list_size(org, &month.last_day().to_string())
        .await?
        .and_then(|s| u64::try_from(s.list_size).ok());
    Ok(rules::monthly_return(month, claimed_on, size, &plans))
}

/// The practice's monthly data return (section 4.3) and claim (section 7) for a month.
#[utoipa::path(get, path = "/api/v1/scheme/returns/{month}", tag = "scheme",
    security(("bearer" = [])),
    params(("month" = String, Path, description = "YYYY-MM"), ReturnParams),
    responses((status = 200, description = "The return as JSON, or CSV (measure,category,value) with format=csv"),
        (status = 400, description = "Bad month or date"), (status = 403, description = "Only case managers")))]
pub(crate) async fn monthly_return(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(month): Path<String>,
    Query(params): Query<ReturnParams>,
) -> Result<Response, ApiError> {
    let org = practice(&state, &principal, act::RETURN).await?;
    let month = month_param(&month)?;
    let claimed_on = match &params.claimed_on {
        Some(s) => date_param("claimed_on", s)?,
        None => today(),
    };
    let r = practice_return(&state, &org, month, claimed_on).await?;
    let ev =
        event(&principal, act::RETURN, purpose::COMMISSIONING).detail(format!("return {month}"));
    state.store().record_audit(&[ev]).await?;
    if params.format.as_deref() == Some("csv") {
        let csv = rules::monthly_return_csv(&r);
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"return-{month}.csv\""),
                ),
            ],
            csv,
        )
            .into_response());
    }
    Ok(Json(r).into_response())
}

/// Every practice's return for a month, for commissioners: counts and money per practice
/// and in total, never a patient.
#[utoipa::path(get, path = "/api/v1/scheme/returns/{month}/aggregate", tag = "scheme",
    security(("bearer" = [])),
    params(("month" = String, Path, description = "YYYY-MM"), ReturnParams),
    responses((status = 200, description = "practices [{code, name, return}], totals"),
        (status = 403, description = "Only commissioners")))]
pub(crate) async fn aggregate_return(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(month): Path<String>,
    Query(params): Query<ReturnParams>,
) -> Result<Json<Value>, ApiError> {
    if !principal.user.has(Role::Commissioner) {
        let event = AuditEvent::new(now_ms(), act::RETURN, purpose::COMMISSIONING, "denied")
            .by(&principal, principal.user.primary_role());
        state.store().record_audit(&[event]).await?;
        return Err(ApiError::Forbidden);
    }
    let month = month_param(&month)?;
    let claimed_on = match &params.claimed_on {
        Some(s) => date_param("claimed_on", s)?,
        None => today(),
    };
    let mut practices = Vec::new();
    let (mut new_plans, mut reviews, mut over_75, mut in_place, mut total) = (0, 0, 0, 0, 0);
    for org in state.store().organisations().await? {
        if org.kind != "gp_practice" {
            continue;
        }
        let r = practice_return(&state, &org.id, month, claimed_on).await?;
        new_plans += r.new_plans.values().sum::<u64>();
        reviews += r.reviews_done;
        over_75 += r.over_75_case_reviews;
        in_place += r.plans_in_place.values().sum::<u64>();
        total += r.claim_total;
        practices.push(json!({ "code": org.code, "name": org.name, "return": r }));
    }
    let ev = AuditEvent::new(now_ms(), act::RETURN, purpose::COMMISSIONING, "ok")
        .by(&principal, Role::Commissioner)
        .detail(format!("aggregate return {month} (aggregates only)"));
    state.store().record_audit(&[ev]).await?;
    Ok(Json(json!({
        "month": month,
        "claimed_on": claimed_on.to_string(),
        "practices": practices,
        "totals": {
            "new_plans": new_plans,
            "reviews_done": reviews,
            "over_75_case_reviews": over_75,
            "plans_in_place": in_place,
            "claim_total": total,
        },
    })))
}

// ---------------------------------------------------------------- (4) MDT meetings

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct MeetingBody {
    /// `YYYY-MM-DD`
    date: String,
}

async fn meeting_view(
    state: &AppState,
    m: &crate::store::scheme::MdtMeeting,
) -> Result<Value, ApiError> {
    let store = state.store();
    let attendance = store.mdt_attendance(&m.id).await?;
    let patients = store.mdt_patients(&m.id).await?;
    let date = Date::parse(&m.meeting_date).unwrap_or_else(today);
    let scheduled = Date::from_unix_ms(m.scheduled_at_ms);
    let listed: Vec<Date> = patients
        .iter()
        .map(|p| Date::from_unix_ms(p.listed_at_ms))
        .collect();
    let signed: Vec<CoreRole> = attendance
        .iter()
        .filter(|a| a.signed)
        .filter_map(|a| CoreRole::parse(&a.core_role))
        .collect();
    let warnings = rules::mdt_warnings(date, scheduled, &listed, &signed, m.held);
    Ok(json!({
        "id": m.id,
        "date": m.meeting_date,
        "scheduled_at_ms": m.scheduled_at_ms,
        "held": m.held,
        "attendance": attendance,
        "patients": patients,
        "warnings": warnings,
    }))
}

/// Schedules an MDT meeting; warns when it is less than four weeks ahead.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings", tag = "scheme",
    security(("bearer" = [])), request_body = MeetingBody,
    responses((status = 201, description = "The meeting with its warnings"), (status = 403, description = "Only case managers")))]
pub(crate) async fn create_meeting(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<MeetingBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = practice(&state, &principal, act::MDT).await?;
    let date = date_param("date", &body.date)?;
    if date < today() {
        return Err(ApiError::BadRequest(
            "a meeting cannot be scheduled in the past".into(),
        ));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE).detail(format!("schedule {date}"));
    let store = state.store();
    let id = store
        .create_mdt_meeting(&org, &date.to_string(), &principal.user.id, now_ms(), &[ev])
        .await?;
    let m = store
        .mdt_meeting(&org, &id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a meeting just created is missing")))?;
    Ok((StatusCode::CREATED, Json(meeting_view(&state, &m).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct YearParams {
    /// Calendar year (default this year).
    year: Option<i32>,
}

/// The practice's meetings in a year, each with its warnings, and the count held against
/// the ten required.
#[utoipa::path(get, path = "/api/v1/scheme/mdt-meetings", tag = "scheme",
    security(("bearer" = [])), params(YearParams),
    responses((status = 200, description = "meetings, held, required"), (status = 403, description = "Only case managers")))]
pub(crate) async fn meetings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<YearParams>,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::MDT).await?;
    let year = params.year.unwrap_or(today().year);
    let list = state
        .store()
        .mdt_meetings(
            &org,
            &format!("{year:04}-01-01"),
            &format!("{year:04}-12-31"),
        )
        .await?;
    let mut views = Vec::with_capacity(list.len());
    for m in &list {
        views.push(meeting_view(&state, m).await?);
    }
    let held = list.iter().filter(|m| m.held).count();
    let scheduled = list.len();
    Ok(Json(json!({
        "year": year,
        "meetings": views,
        "held": held,
        "scheduled": scheduled,
        "required": rules::MDT_MEETINGS_PER_YEAR,
        "short_of_required": rules::MDT_MEETINGS_PER_YEAR.saturating_sub(scheduled),
    })))
}

async fn own_meeting(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(String, crate::store::scheme::MdtMeeting), ApiError> {
    let org = practice(state, principal, act::MDT).await?;
    let m = state
        .store()
        .mdt_meeting(&org, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such meeting at your practice"))?;
    Ok((org, m))
}

/// One meeting with attendance, patients and warnings.
#[utoipa::path(get, path = "/api/v1/scheme/mdt-meetings/{id}", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    responses((status = 200, description = "The meeting"), (status = 404, description = "No such meeting")))]
pub(crate) async fn meeting(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, m) = own_meeting(&state, &principal, &id).await?;
    let view = meeting_view(&state, &m).await?;
    let now = now_ms();
    let events: Vec<AuditEvent> = view["patients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["patient_id"].as_str())
        .map(|pid| {
            AuditEvent::new(now, act::MDT, purpose::MDT_CARE, "ok")
                .by(&principal, Role::CaseManager)
                .patient(pid)
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ListPatientBody {
    patient_id: String,
}

/// Lists a patient of the practice for discussion; warns when less than a week ahead.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings/{id}/patients", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    request_body = ListPatientBody,
    responses((status = 201, description = "The meeting"), (status = 404, description = "No such meeting or patient")))]
pub(crate) async fn list_patient(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ListPatientBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (org, m) = own_meeting(&state, &principal, &id).await?;
    let store = state.store();
    if body.patient_id.len() > 128 || !store.has_patient_id(&org, &body.patient_id).await? {
        return Err(ApiError::not_found("no such patient at your practice"));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE)
        .patient(body.patient_id.clone())
        .detail(format!("list for {}", m.meeting_date));
    store
        .list_mdt_patient(&m.id, &body.patient_id, &principal.user.id, now_ms(), &[ev])
        .await?;
    Ok((StatusCode::CREATED, Json(meeting_view(&state, &m).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct OutcomeBody {
    outcome: String,
    #[serde(default)]
    referrals: String,
}

/// Records what the meeting decided for a listed patient, and the referrals made.
#[utoipa::path(put, path = "/api/v1/scheme/mdt-meetings/{id}/patients/{patient_id}", tag = "scheme",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Meeting id"), ("patient_id" = String, Path, description = "Patient id")),
    request_body = OutcomeBody,
    responses((status = 200, description = "The meeting"), (status = 404, description = "Not listed")))]
pub(crate) async fn record_outcome(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((id, patient_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> Result<Json<Value>, ApiError> {
    let (_, m) = own_meeting(&state, &principal, &id).await?;
    if body.outcome.trim().is_empty() || body.outcome.len() > 4000 || body.referrals.len() > 4000 {
        return Err(ApiError::BadRequest(
            "an outcome (up to 4000 characters) is required".into(),
        ));
    }
    let ev = event(&principal, act::MDT, purpose::MDT_CARE)
        .patient(patient_id.clone())
        .detail("outcome");
    let done = state
        .store()
        .record_mdt_outcome(
            &m.id,
            &patient_id,
            body.outcome.trim(),
            body.referrals.trim(),
            now_ms(),
            &[ev],
        )
        .await?;
    if !done {
        return Err(ApiError::not_found(
            "that patient is not listed for this meeting",
        ));
    }
    let in_plan = record_in_plan(&state, &principal, &m, &patient_id, &body).await?;
    let mut view = meeting_view(&state, &m).await?;
    view["recorded_in_plan"] = in_plan;
    Ok(Json(view))
}

/// Writes the meeting's outcome for a patient into their plan as an MDT discussion
/// (seed 003: "a plan records each MDT discussion"), attributed to the case manager. A
/// changed outcome marks the earlier entry entered in error and adds the corrected one, so
/// the plan's history keeps both. The answer is `None` when the plan already says the
/// same, or the plan's reason for refusing (a meeting in the future has no discussion to
/// record yet); the outcome itself is kept with the meeting either way.
async fn record_in_plan(
    state: &AppState,
    principal: &Principal,
    meeting: &crate::store::scheme::MdtMeeting,
    patient_id: &str,
    body: &OutcomeBody,
) -> Result<Value, ApiError> {
    use redfolder_shared::{Edit, EntryList};
    let prefix = format!("mdt-{}", meeting.id);
    let plan = {
        let Some(mut doc) = state.docs().lock(state.store(), patient_id).await? else {
            return Ok(json!({ "recorded": false, "reason": "no plan" }));
        };
        crate::sync::DocCache::refresh(state.store(), &mut doc).await?;
        doc.doc
            .plan()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored plan does not read: {e}")))?
    };
    let (outcome, referrals) = (body.outcome.trim(), body.referrals.trim());
    let earlier: Vec<&redfolder_shared::MdtDiscussion> = plan
        .mdt_discussions
        .iter()
        .filter(|d| d.id.starts_with(&prefix))
        .collect();
    if earlier
        .iter()
        .any(|d| d.entered_in_error.is_none() && d.outcome == outcome && d.referrals == referrals)
    {
        return Ok(json!({ "recorded": true, "changed": false }));
    }
    let attendees: Vec<String> = state
        .store()
        .mdt_attendance(&meeting.id)
        .await?
        .into_iter()
        .map(|a| format!("{} ({})", a.name, a.core_role.replace('_', " ")))
        .collect();
    let mut edits: Vec<Edit> = earlier
        .iter()
        .filter(|d| d.entered_in_error.is_none())
        .map(|d| Edit::MarkEnteredInError {
            list: EntryList::MdtDiscussions,
            id: d.id.clone(),
        })
        .collect();
    edits.push(Edit::AddMdtDiscussion {
        id: format!("{prefix}-{}", earlier.len() + 1),
        date: meeting.meeting_date.clone(),
        attendees: if attendees.is_empty() {
            "see the practice's MDT meeting record".to_owned()
        } else {
            attendees.join(", ")
        },
        outcome: outcome.to_owned(),
        referrals: referrals.to_owned(),
    });
    let now = now_ms();
    let audit = [event(principal, act::MDT, purpose::MDT_CARE)
        .patient(patient_id.to_owned())
        .detail("outcome recorded in the plan")];
    Ok(
        match crate::plan_edit::apply_edits(
            state,
            principal,
            crate::access::PlanAccess::CaseManager,
            patient_id,
            &edits,
            &audit,
            now,
        )
        .await?
        {
            Applied::Committed => json!({ "recorded": true, "changed": true }),
            Applied::Refused(reason) => json!({ "recorded": false, "reason": reason }),
            Applied::NoSuchPlan => json!({ "recorded": false, "reason": "no plan" }),
        },
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AttendanceBody {
    name: String,
    /// `gp`, `community_nurse`, `social_work`, `voluntary_sector` or `other`.
    core_role: String,
    #[serde(default)]
    organisation: String,
    /// Signed the attendance sheet.
    signed: bool,
}

/// Records an attendee's signature; the meeting counts as held from the first.
#[utoipa::path(post, path = "/api/v1/scheme/mdt-meetings/{id}/attendance", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Meeting id")),
    request_body = AttendanceBody,
    responses((status = 200, description = "The meeting"), (status = 400, description = "Unknown role")))]
pub(crate) async fn record_attendance(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AttendanceBody>,
) -> Result<Json<Value>, ApiError> {
    let (org, m) = own_meeting(&state, &principal, &id).await?;
    let role = CoreRole::parse(&body.core_role).ok_or_else(|| {
        ApiError::BadRequest(
            "core_role must be gp, community_nurse, social_work, voluntary_sector or other".into(),
        )
    })?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 || body.organisation.len() > 200 {
        return Err(ApiError::BadRequest(
            "a name (up to 200 characters) is required".into(),
        ));
    }
    if Date::parse(&m.meeting_date).is_some_and(|d| d > today()) {
        return Err(ApiError::BadRequest(
            "attendance is signed at or after the meeting".into(),
        ));
    }
    let attendee = MdtAttendee {
        name: name.to_owned(),
        core_role: role.as_str().to_owned(),
        organisation: body.organisation.trim().to_owned(),
        signed: body.signed,
    };
    let ev = event(&principal, act::MDT, purpose::MDT_CARE)
        .detail(format!("attendance {}", role.as_str()));
    let store = state.store();
    store
        .record_mdt_attendance(&m.id, &attendee, &principal.user.id, now_ms(), &[ev])
        .await?;
    let m = store
        .mdt_meeting(&org, &m.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such meeting at your practice"))?;
    Ok(Json(meeting_view(&state, &m).await?))
}

// ---------------------------------------------------------------- virtual clinics

/// How far ahead a virtual clinic may be scheduled: far enough for any clinic rota, near
/// enough that a standing grant of access is not hidden in a clinic years away.
const CLINIC_MAX_DAYS_AHEAD: i64 = 90;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ClinicBody {
    /// The specialist's username (an MDT member of another organisation).
    specialist: String,
    /// `YYYY-MM-DD`, today or up to 90 days ahead: access lasts this day only (UTC).
    date: String,
    /// Patients of the practice who consent to sharing with the MDT.
    patient_ids: Vec<String>,
}

/// Schedules a virtual clinic: the named specialist may read the chosen plans of the
/// practice on the clinic day only (from its start to its end, UTC, or until the practice
/// closes the clinic), and only while each patient's consent to MDT sharing stands
/// (seed 004).
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics", tag = "scheme",
    security(("bearer" = [])), request_body = ClinicBody,
    responses((status = 201, description = "id, opens_at_ms, closes_at_ms"),
        (status = 400, description = "Unknown specialist or patient, a patient without consent to MDT sharing, or a date in the past or more than 90 days ahead"),
        (status = 403, description = "Not a case manager")))]
pub(crate) async fn create_clinic(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ClinicBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org = practice(&state, &principal, act::VIRTUAL_CLINIC).await?;
    let date = date_param("date", &body.date)?;
    if date < today() {
        return Err(ApiError::BadRequest(
            "a clinic cannot be in the past".into(),
        ));
    }
    if rules::days_between(today(), date) > CLINIC_MAX_DAYS_AHEAD {
        return Err(ApiError::BadRequest(format!(
            "a clinic is at most {CLINIC_MAX_DAYS_AHEAD} days ahead"
        )));
    }
    if body.patient_ids.is_empty() || body.patient_ids.len() > 100 {
        return Err(ApiError::BadRequest(
            "choose between 1 and 100 patients".into(),
        ));
    }
    let store = state.store();
    let specialist = store
        .user_by_username(&body.specialist)
        .await?
        .filter(|u| !u.disabled && u.has(Role::MdtMember))
        .ok_or_else(|| ApiError::BadRequest("no such specialist (an MDT member)".into()))?;
    for id in &body.patient_ids {
        if id.len() > 128 || !store.has_patient_id(&org, id).await? {
            return Err(ApiError::BadRequest(
                "a chosen patient is not at your practice".into(),
            ));
        }
        let consents = store
            .patient_context(id, &org)
            .await?
            .is_some_and(|c| c.share_with_mdt);
        if !consents {
            return Err(ApiError::BadRequest(format!(
                "patient {id} has not consented to sharing their plan with the MDT, so a clinic may not include them"
            )));
        }
    }
    let now = now_ms();
    let day = rules::days_between(Date::from_unix_ms(0), date);
    let (opens, closes) = (day * DAY_MS, (day + 1) * DAY_MS);
    let events: Vec<AuditEvent> = body
        .patient_ids
        .iter()
        .map(|id| {
            event(&principal, act::VIRTUAL_CLINIC, purpose::DIRECT_CARE)
                .patient(id.clone())
                .detail(format!("open to {}", specialist.username))
        })
        .collect();
    let id = store
        .create_virtual_clinic(
            &org,
            &specialist.id,
            &date.to_string(),
            opens,
            closes,
            &body.patient_ids,
            &principal.user.id,
            now,
            &events,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "opens_at_ms": opens, "closes_at_ms": closes })),
    ))
}

/// Closes a virtual clinic before its day ends: from now on its specialist reads nothing
/// through it. Closing a closed clinic changes nothing.
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/close", tag = "scheme",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Clinic id")),
    responses((status = 200, description = "id, closes_at_ms (when access ended or ends)"),
        (status = 403, description = "Not a case manager"),
        (status = 404, description = "No such clinic of your practice")))]
pub(crate) async fn close_clinic(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::VIRTUAL_CLINIC).await?;
    let now = now_ms();
    let audit = [event(&principal, act::VIRTUAL_CLINIC, purpose::DIRECT_CARE)
        .subject(id.chars().take(64).collect::<String>())
        .detail("close")];
    let closes = if id.len() <= 64 {
        state
            .store()
            .close_virtual_clinic(&id, &org, &principal.user.id, now, &audit)
            .await?
    } else {
        None
    };
    match closes {
        Some(closes) => Ok(Json(json!({ "id": id, "closes_at_ms": closes }))),
        None => Err(ApiError::not_found("no such clinic of your practice")),
    }
}

/// Whether `principal` is the specialist of open clinic `clinic_id` with `patient_id` on
/// its list, and the patient still consents to sharing with the MDT (consent withdrawn
/// after the clinic was scheduled ends the specialist's access too).
async fn in_open_clinic(
    state: &AppState,
    principal: &Principal,
    clinic_id: &str,
    patient_id: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let clinic = if clinic_id.len() <= 64 {
        state.store().virtual_clinic(clinic_id).await?
    } else {
        None
    };
    let Some(clinic) = clinic.filter(|c| {
        c.specialist_id == principal.user.id
            && principal.user.has(Role::MdtMember)
            && !principal.user.disabled
            && (c.opens_at_ms..c.closes_at_ms).contains(&now)
            && c.patient_ids.iter().any(|p| p == patient_id)
    }) else {
        return Ok(false);
    };
    Ok(state
        .store()
        .patient_context(patient_id, &clinic.organisation_id)
        .await?
        .is_some_and(|c| c.share_with_mdt))
}

fn clinic_audit(principal: &Principal, now: i64, clinic_id: &str, outcome: &str) -> AuditEvent {
    AuditEvent::new(now, act::VIRTUAL_CLINIC, purpose::MDT_CARE, outcome)
        .by(principal, principal.user.primary_role())
        .subject(clinic_id.chars().take(64).collect::<String>())
}

/// A plan chosen for a virtual clinic, read by its specialist while the clinic is open.
/// Anyone else, or after it closes, gets the same 404.
#[utoipa::path(get, path = "/api/v1/scheme/virtual-clinics/{id}/plans/{patient_id}", tag = "scheme",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Clinic id"), ("patient_id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "The care plan"), (status = 404, description = "Not yours to read")))]
pub(crate) async fn clinic_plan(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((id, patient_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store();
    let now = now_ms();
    if !in_open_clinic(&state, &principal, &id, &patient_id, now).await? {
        store
            .record_audit(&[clinic_audit(&principal, now, &id, "denied")])
            .await?;
        return Err(ApiError::not_found("no such plan in a clinic of yours"));
    }
    let Some(mut doc) = state.docs().lock(store, &patient_id).await? else {
        return Err(ApiError::not_found("no such plan in a clinic of yours"));
    };
    crate::sync::DocCache::refresh(store, &mut doc).await?;
    let plan = doc
        .doc
        .plan()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored plan does not read: {e}")))?;
    drop(doc);
    store
        .record_audit(&[clinic_audit(&principal, now, &id, "ok").patient(patient_id)])
        .await?;
    Ok(Json(json!(plan)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AdviceBody {
    /// The advice, as the specialist would write it in the notes (up to the plan's limit
    /// for long text).
    advice: String,
}

/// The clinic's specialist adds advice to a plan on the clinic's list while the clinic is
/// open. It is an ordinary change to the plan, attributed to the specialist, so it reaches
/// every case manager's tablet by sync and appears in the practice's advice worklist.
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/plans/{patient_id}/advice", tag = "scheme",
    security(("bearer" = [])), request_body = AdviceBody,
    params(("id" = String, Path, description = "Clinic id"), ("patient_id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "advice_id"), (status = 400, description = "Empty or over-long advice"),
        (status = 404, description = "Not a plan in an open clinic of yours")))]
pub(crate) async fn add_clinic_advice(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((id, patient_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AdviceBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = now_ms();
    if !in_open_clinic(&state, &principal, &id, &patient_id, now).await? {
        state
            .store()
            .record_audit(&[clinic_audit(&principal, now, &id, "denied")])
            .await?;
        return Err(ApiError::not_found("no such plan in a clinic of yours"));
    }
    let advice_id = uuid::Uuid::new_v4().to_string();
    let user = &principal.user;
    let edit = redfolder_shared::Edit::AddAdvice {
        id: advice_id.clone(),
        from_name: user.name.clone(),
        from_role: format!("virtual clinic, {}", user.organisation_name),
        advice: body.advice,
    };
    let audit = [clinic_audit(&principal, now, &id, "advice")
        .patient(patient_id.clone())
        .detail(advice_id.clone())];
    match crate::plan_edit::apply_edits(
        &state,
        &principal,
        crate::access::PlanAccess::Mdt,
        &patient_id,
        &[edit],
        &audit,
        now,
    )
    .await?
    {
        Applied::Committed => Ok((StatusCode::CREATED, Json(json!({ "advice_id": advice_id })))),
        Applied::Refused(reason) => Err(ApiError::BadRequest(reason)),
        Applied::NoSuchPlan => Err(ApiError::not_found("no such plan in a clinic of yours")),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct AdviceParams {
    /// How many days back to look (default 30, at most 366).
    days: Option<u32>,
}

/// The case managers' worklist of advice specialists added in virtual clinics to the
/// practice's plans, newest first.
#[utoipa::path(get, path = "/api/v1/scheme/advice", tag = "scheme",
    security(("bearer" = [])), params(AdviceParams),
    responses((status = 200, description = "advice: [{patient_id, patient_name, nhs_number, clinic_id, advice_id, specialist, at_ms}]")))]
pub(crate) async fn advice_worklist(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<AdviceParams>,
) -> Result<Json<Value>, ApiError> {
    let org = practice(&state, &principal, act::VIRTUAL_CLINIC).await?;
    let days = i64::from(params.days.unwrap_or(30).min(366));
    let since = now_ms() - days * 86_400_000;
    let advice = state.store().clinic_advice(&org, since, 500).await?;
    let events: Vec<AuditEvent> = advice
        .iter()
        .map(|a| a.patient_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|id| {
            event(&principal, act::VIRTUAL_CLINIC, purpose::DIRECT_CARE)
                .patient(id)
                .detail("advice worklist")
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(json!({ "advice": advice })))
}

/// The scheme's routes, merged under `/api/v1`.
pub(crate) fn router() -> axum::Router<AppState> {
    use axum::routing::{delete, get, post, put};
    axum::Router::new()
        .route("/scheme/list-size", get(list_size).post(set_list_size))
        .route("/scheme/risk-uploads", get(risk_uploads).post(upload_risk))
        .route("/scheme/exclusions", post(add_exclusion))
        .route("/scheme/exclusions/{id}", delete(lift_exclusion))
        .route("/scheme/candidates", get(candidates))
        .route("/scheme/cohort", get(cohort))
        .route("/scheme/reviews-due", get(reviews_due))
        .route("/scheme/review-outcome", post(review_outcome))
        .route("/scheme/returns/{month}", get(monthly_return))
        .route("/scheme/returns/{month}/aggregate", get(aggregate_return))
        .route("/scheme/mdt-meetings", get(meetings).post(create_meeting))
        .route("/scheme/mdt-meetings/{id}", get(meeting))
        .route("/scheme/mdt-meetings/{id}/patients", post(list_patient))
        .route(
            "/scheme/mdt-meetings/{id}/patients/{patient_id}",
            put(record_outcome),
        )
        .route(
            "/scheme/mdt-meetings/{id}/attendance",
            post(record_attendance),
        )
        .route("/scheme/virtual-clinics", post(create_clinic))
        .route(
            "/scheme/virtual-clinics/{id}/plans/{patient_id}",
            get(clinic_plan),
        )
        .route(
            "/scheme/virtual-clinics/{id}/plans/{patient_id}/advice",
            post(add_clinic_advice),
        )
        .route("/scheme/virtual-clinics/{id}/close", post(close_clinic))
        .route("/scheme/advice", get(advice_worklist))
}

/// The scheme's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    set_list_size,
    list_size,
    upload_risk,
    risk_uploads,
    add_exclusion,
    lift_exclusion,
    candidates,
    cohort,
    reviews_due,
    review_outcome,
    monthly_return,
    aggregate_return,
    create_meeting,
    meetings,
    meeting,
    list_patient,
    record_outcome,
    record_attendance,
    create_clinic,
    close_clinic,
    clinic_plan,
    add_clinic_advice,
    advice_worklist,
))]
pub(crate) struct SchemeApi;
