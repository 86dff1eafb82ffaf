//! Virtual clinics (seed 004): the practice schedules a clinic with a specialist for a
//! specialty and chooses patients who consent to MDT sharing; the specialist reads their
//! plans and pre-clinic data on the clinic day, adds advice and records an outcome for
//! each; the practice closes the clinic and prints the outcome letters. Here: scheduling,
//! closing, the plan read, advice and the advice worklist; `workflow` (the clinic's list,
//! its patients and their pre-clinic data, education sessions), `outcomes` (outcomes and
//! letters), `metrics`.

mod metrics;
mod outcomes;
mod workflow;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::Date;
use serde::{Deserialize, Serialize};

use super::{act, date_param, event, practice, today};
use crate::audit::{AuditEvent, purpose};
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::plan_edit::Applied;
use crate::routes::{ApiJson, ApiPath, ApiQuery};
use crate::scheme::clinic::Specialty;
use crate::scheme::rules;
use crate::state::AppState;
use crate::store::clinics::{NewClinic, VirtualClinic};

/// How far ahead a virtual clinic may be scheduled: far enough for any clinic rota, near
/// enough that a standing grant of access is not hidden in a clinic years away.
const CLINIC_MAX_DAYS_AHEAD: i64 = 90;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ClinicBody {
    /// The specialist's username (an MDT member of another organisation).
    specialist: String,
    /// What the clinic is for; it decides the pre-clinic data asked for (default
    /// `other`).
    #[serde(default)]
    specialty: Option<Specialty>,
    /// `YYYY-MM-DD`, today or up to 90 days ahead: access lasts this day only (UTC).
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
    /// Patients of the practice who consent to sharing with the MDT.
    #[schema(min_items = 1, max_items = 100)]
    patient_ids: Vec<String>,
}

/// Schedules a virtual clinic: the named specialist may read the chosen plans of the
/// practice on the clinic day only (from its start to its end, UTC, or until the practice
/// closes the clinic), and only while each patient's consent to MDT sharing stands
/// (seed 004).
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics", tag = "scheme",
    security(("bearer" = [])), request_body = ClinicBody,
    responses((status = 201, body = ClinicScheduled, description = "Scheduled: when the specialist's access opens and closes"),
        (status = 400, description = "Unknown specialist or patient, a patient without consent to MDT sharing, or a date in the past or more than 90 days ahead"),
        (status = 403, description = "Not a case manager")))]
pub(crate) async fn create_clinic(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ClinicBody>,
) -> Result<(StatusCode, Json<ClinicScheduled>), ApiError> {
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
        choosable(&state, &org, id).await?;
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
    let clinic = NewClinic {
        organisation_id: &org,
        specialist_id: &specialist.id,
        specialty: body.specialty.unwrap_or(Specialty::Other).key(),
        clinic_date: &date.to_string(),
        opens_at_ms: opens,
        closes_at_ms: closes,
        patient_ids: &body.patient_ids,
        created_by: &principal.user.id,
        now_ms: now,
    };
    let id = store.create_virtual_clinic(&clinic, &events).await?;
    Ok((
        StatusCode::CREATED,
        Json(ClinicScheduled {
            id,
            opens_at_ms: opens,
            closes_at_ms: closes,
        }),
    ))
}

/// Closes a virtual clinic before its day ends: from now on its specialist reads nothing
/// through it. Closing a closed clinic changes nothing.
#[utoipa::path(post, path = "/api/v1/scheme/virtual-clinics/{id}/close", tag = "scheme",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Clinic id")),
    responses((status = 200, body = ClinicClosed, description = "When access ended or ends"),
        (status = 403, description = "Not a case manager"),
        (status = 404, description = "No such clinic of your practice")))]
pub(crate) async fn close_clinic(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClinicClosed>, ApiError> {
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
        Some(closes) => Ok(Json(ClinicClosed {
            id,
            closes_at_ms: closes,
        })),
        None => Err(ApiError::not_found("no such clinic of your practice")),
    }
}

/// Refuses a patient a clinic of `org` may not include: not at the practice, or without
/// consent to sharing with the MDT.
async fn choosable(state: &AppState, org: &str, id: &str) -> Result<(), ApiError> {
    let store = state.store();
    if id.len() > 128 || !store.has_patient_id(org, id).await? {
        return Err(ApiError::BadRequest(
            "a chosen patient is not at your practice".into(),
        ));
    }
    let consents = store
        .patient_context(id, org)
        .await?
        .is_some_and(|c| c.share_with_mdt);
    if !consents {
        return Err(ApiError::BadRequest(format!(
            "patient {id} has not consented to sharing their plan with the MDT, so a clinic may not include them"
        )));
    }
    Ok(())
}

/// A clinic of the caller's practice, for its case managers; anyone else, or another
/// practice's clinic, gets 403 or 404 and the attempt is audited.
async fn practice_clinic(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<VirtualClinic, ApiError> {
    let org = practice(state, principal, act::VIRTUAL_CLINIC).await?;
    let clinic = if id.len() <= 64 {
        state.store().virtual_clinic(id).await?
    } else {
        None
    };
    match clinic.filter(|c| c.organisation_id == org) {
        Some(c) => Ok(c),
        None => {
            state
                .store()
                .record_audit(&[clinic_audit(principal, now_ms(), id, "denied")])
                .await?;
            Err(ApiError::not_found("no such clinic of your practice"))
        }
    }
}

/// The clinic, if `principal` is its specialist and it is open now.
async fn specialist_clinic(
    state: &AppState,
    principal: &Principal,
    id: &str,
    now: i64,
) -> Result<Option<VirtualClinic>, ApiError> {
    let clinic = if id.len() <= 64 {
        state.store().virtual_clinic(id).await?
    } else {
        None
    };
    Ok(clinic.filter(|c| {
        c.specialist_id == principal.user.id
            && principal.user.has(Role::MdtMember)
            && !principal.user.disabled
            && (c.opens_at_ms..c.closes_at_ms).contains(&now)
    }))
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
    let clinic = specialist_clinic(state, principal, clinic_id, now).await?;
    let Some(clinic) = clinic.filter(|c| c.patient_ids.iter().any(|p| p == patient_id)) else {
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
    responses((status = 200, body = Object, description = "The care plan (`CarePlan`, schema version 2, as `docs/protocol.md` and the tablet read it)"), (status = 404, description = "Not yours to read")))]
pub(crate) async fn clinic_plan(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
) -> Result<Json<redfolder_shared::CarePlan>, ApiError> {
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
    Ok(Json(plan))
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
    responses((status = 201, body = AdviceAdded, description = "Added to the plan"), (status = 400, description = "Empty or over-long advice"),
        (status = 404, description = "Not a plan in an open clinic of yours")))]
pub(crate) async fn add_clinic_advice(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AdviceBody>,
) -> Result<(StatusCode, Json<AdviceAdded>), ApiError> {
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
        Applied::Committed => Ok((StatusCode::CREATED, Json(AdviceAdded { advice_id }))),
        Applied::Refused(reason) => Err(ApiError::BadRequest(reason)),
        Applied::NoSuchPlan => Err(ApiError::not_found("no such plan in a clinic of yours")),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AdviceParams {
    /// How many days back to look (default 30, at most 366).
    days: Option<u32>,
}

/// The case managers' worklist of advice specialists added in virtual clinics to the
/// practice's plans, newest first.
#[utoipa::path(get, path = "/api/v1/scheme/advice", tag = "scheme",
    security(("bearer" = [])), params(AdviceParams),
    responses((status = 200, body = AdviceWorklist, description = "Newest first, at most 500"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn advice_worklist(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<AdviceParams>,
) -> Result<Json<AdviceWorklist>, ApiError> {
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
    Ok(Json(AdviceWorklist { advice }))
}

/// A scheduled virtual clinic.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClinicScheduled {
    id: String,
    /// The clinic day's start, UTC, in milliseconds since the Unix epoch.
    opens_at_ms: i64,
    /// The clinic day's end.
    closes_at_ms: i64,
}

/// A closed virtual clinic.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClinicClosed {
    id: String,
    /// When the specialist's access ended (or ends, for a clinic closed before its day).
    closes_at_ms: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AdviceAdded {
    advice_id: String,
}

/// Advice specialists added in virtual clinics to the practice's plans.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AdviceWorklist {
    advice: Vec<crate::store::scheme::ClinicAdvice>,
}

/// The virtual clinics' routes, merged into the scheme's.
pub(super) fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post, put};
    axum::Router::new()
        .route(
            "/scheme/virtual-clinics",
            get(workflow::clinics).post(create_clinic),
        )
        .route("/scheme/virtual-clinics/{id}", get(workflow::clinic))
        .route(
            "/scheme/virtual-clinics/{id}/patients",
            post(workflow::add_patient),
        )
        .route(
            "/scheme/virtual-clinics/{id}/patients/{patient_id}/readings",
            post(workflow::add_readings),
        )
        .route(
            "/scheme/virtual-clinics/{id}/patients/{patient_id}/fhir",
            post(workflow::import_readings),
        )
        .route(
            "/scheme/virtual-clinics/{id}/patients/{patient_id}/outcome",
            put(outcomes::record_outcome),
        )
        .route(
            "/scheme/virtual-clinics/{id}/patients/{patient_id}/letter",
            get(outcomes::letter),
        )
        .route(
            "/scheme/virtual-clinics/{id}/education",
            post(workflow::add_education),
        )
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
        .route("/scheme/clinic-metrics", get(metrics::clinic_metrics))
}

/// The virtual clinics' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_clinic,
    close_clinic,
    clinic_plan,
    add_clinic_advice,
    advice_worklist,
    workflow::clinics,
    workflow::clinic,
    workflow::add_patient,
    workflow::add_readings,
    workflow::import_readings,
    workflow::add_education,
    outcomes::record_outcome,
    outcomes::letter,
    metrics::clinic_metrics,
))]
pub(crate) struct ClinicsApi;
