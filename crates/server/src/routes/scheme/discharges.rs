//! Discharge from case management (seed 003 step 17; seed 002): the decision with its
//! basis, the steps the scheme asks for, the plan ended (or moved to the annual review)
//! through the normal lifecycle edit, and the letter to the GP.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::{CarePlan, Date, Edit, PlanStatus};
use serde::Deserialize;

use super::{act, date_param, event, practice, today};
use crate::audit::purpose;
use crate::auth::Authenticated;
use crate::domain::{Principal, now_ms};
use crate::error::ApiError;
use crate::plan_edit::Applied;
use crate::routes::{ApiJson, ApiQuery};
use crate::scheme::rules::{self, DischargeBasis, DischargeDecision, DischargeSteps, OnList};
use crate::state::AppState;
use crate::store::Discharge;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct DischargeBody {
    patient_id: String,
    /// `YYYY-MM-DD`, not in the future.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
    on_list: OnList,
    /// Needed only when no risk upload of the practice's exists; otherwise the latest
    /// upload decides and a contradicting answer is refused.
    #[serde(default)]
    still_in_top_5_percent: Option<bool>,
    #[serde(default)]
    exceptional_circumstances: bool,
    #[serde(default)]
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    patient_told_on: Option<String>,
    #[serde(default)]
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    questionnaire_sent_on: Option<String>,
    /// The practice's MDT meeting, held on or before the date, at which the patient was
    /// listed and an outcome recorded.
    #[serde(default)]
    mdt_meeting_id: Option<String>,
    /// Whether the final review was face to face.
    #[serde(default)]
    face_to_face: bool,
    #[serde(default)]
    #[schema(max_length = 4000)]
    notes: String,
}

fn optional_date(name: &str, v: &Option<String>) -> Result<Option<Date>, ApiError> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| date_param(name, s.trim()))
        .transpose()
}

/// Applies step 17 to a patient and, where it ends full case management, records the
/// discharge: the plan is ended (or moved to the annual over-75 review) through the plan's
/// own lifecycle edit, so tablets see it, and the GP letter is kept with the decision.
#[utoipa::path(post, path = "/api/v1/scheme/discharges", tag = "scheme",
    security(("bearer" = [])), request_body = DischargeBody,
    responses((status = 201, body = Discharge, description = "Recorded; the plan has ended or moved to the annual review, and `gp_letter` is the letter to print"),
        (status = 400, description = "Bad input, or a step the scheme asks for is missing (the message lists them)"),
        (status = 403, description = "Only case managers"),
        (status = 404, description = "No such patient at the practice, or no such MDT meeting"),
        (status = 409, description = "Step 17 says case management continues, or the plan is not in the scheme or refused the change")))]
pub(crate) async fn record_discharge(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<DischargeBody>,
) -> Result<(StatusCode, Json<Discharge>), ApiError> {
    let org = practice(&state, &principal, act::DISCHARGE).await?;
    let date = date_param("date", body.date.trim())?;
    if date > today() {
        return Err(ApiError::BadRequest(
            "the discharge date is in the future".into(),
        ));
    }
    if body.notes.chars().count() > 4000 {
        return Err(ApiError::BadRequest(
            "notes are limited to 4000 characters".into(),
        ));
    }
    let steps = DischargeSteps {
        patient_told: optional_date("patient_told_on", &body.patient_told_on)?,
        questionnaire_sent: optional_date("questionnaire_sent_on", &body.questionnaire_sent_on)?,
        mdt_signed_off: None,
    };
    if !state.store().has_patient_id(&org, &body.patient_id).await? {
        return Err(ApiError::not_found("no such patient at this practice"));
    }
    let plan = read_plan(&state, &body.patient_id).await?;
    if !matches!(
        plan.enrolment.status,
        PlanStatus::Complete | PlanStatus::UnderReview
    ) {
        return Err(ApiError::Conflict(format!(
            "the plan is {}: only a plan in the scheme can be discharged",
            plan.enrolment.status
        )));
    }
    let over_75 =
        Date::parse(&plan.patient.date_of_birth).is_some_and(|d| rules::is_over_75(d, date));
    let (in_top_5, risk_source) = top_5(&state, &org, &plan.patient.nhs_number, &body).await?;
    let basis = DischargeBasis {
        on_list: body.on_list,
        still_in_top_5_percent: in_top_5,
        exceptional_circumstances: body.exceptional_circumstances,
        over_75,
    };
    let decision = rules::discharge_decision(basis);
    let steps = DischargeSteps {
        mdt_signed_off: match &body.mdt_meeting_id {
            Some(id) if !id.trim().is_empty() => {
                Some(mdt_sign_off(&state, &org, id.trim(), &body.patient_id).await?)
            }
            _ => None,
        },
        ..steps
    };
    let tier = plan.enrolment.tier;
    let problems = rules::discharge_problems(decision, tier, date, steps);
    if decision.continues() {
        return Err(ApiError::Conflict(problems.join("; ")));
    }
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems.join("; ")));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let edits = [plan_edit(decision, &id, date, &body, &principal, in_top_5)];
    let now = now_ms();
    let audit = [event(&principal, act::DISCHARGE, purpose::DIRECT_CARE)
        .patient(body.patient_id.clone())
        .detail(format!("{} on {date}", decision.as_str()))];
    match crate::plan_edit::apply_edits(
        &state,
        &principal,
        crate::access::PlanAccess::CaseManager,
        &body.patient_id,
        &edits,
        &audit,
        now,
    )
    .await?
    {
        Applied::Committed => {}
        Applied::Refused(reason) => {
            return Err(ApiError::Conflict(format!(
                "the plan refused the change: {reason}"
            )));
        }
        Applied::NoSuchPlan => return Err(ApiError::not_found("no plan for this patient")),
    }
    let letter = rules::gp_letter(&rules::LetterFacts {
        practice: &plan.patient.gp_practice_name,
        named_gp: &plan.patient.named_gp,
        patient_name: &plan.patient.name,
        nhs_number: &plan.patient.nhs_number,
        date_of_birth: &plan.patient.date_of_birth,
        decision,
        date,
        basis,
        risk_source: &risk_source,
        steps,
        notes: &body.notes,
        case_manager: plan
            .enrolment
            .case_manager
            .as_ref()
            .map_or("", |c| c.name.as_str()),
        signed_by: &principal.user.name,
    });
    let record = Discharge {
        id,
        patient_id: body.patient_id.clone(),
        decision: decision.as_str().to_owned(),
        discharge_date: date.to_string(),
        on_list: body.on_list.as_str().to_owned(),
        still_in_top_5_percent: in_top_5,
        exceptional: body.exceptional_circumstances,
        over_75,
        risk_source,
        tier: tier.map(|t| rules::tier_name(t).to_owned()),
        patient_told_on: steps.patient_told.map(|d| d.to_string()),
        questionnaire_sent_on: steps.questionnaire_sent.map(|d| d.to_string()),
        mdt_meeting_id: body
            .mdt_meeting_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        notes: body.notes.trim().to_owned(),
        gp_letter: letter,
        recorded_by_name: principal.user.name.clone(),
        recorded_at_ms: now,
    };
    let ev = event(&principal, act::DISCHARGE, purpose::DIRECT_CARE)
        .patient(body.patient_id.clone())
        .detail("discharge recorded with its GP letter");
    state
        .store()
        .record_discharge(&org, &record, &principal.user.id, &[ev])
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The plan's change for a decision: the final review (step 17: "practices can claim for a
/// final review consultation") that ends the plan or moves it to the annual review, or,
/// for a patient no longer on the list, the plan ended as moved away or died.
fn plan_edit(
    decision: DischargeDecision,
    id: &str,
    date: Date,
    body: &DischargeBody,
    principal: &Principal,
    in_top_5: bool,
) -> Edit {
    let outcome = match decision {
        DischargeDecision::AnnualReview => redfolder_shared::ReviewOutcome::MoveToAnnualReview,
        DischargeDecision::Discharge => redfolder_shared::ReviewOutcome::EndCaseManagement,
        other => {
            return Edit::EndPlan {
                reason: other
                    .end_reason()
                    .expect("only decisions that end the plan reach here"),
                date: date.to_string(),
            };
        }
    };
    Edit::RecordReview {
        id: format!("discharge-{id}"),
        date: date.to_string(),
        face_to_face: body.face_to_face,
        reviewer: principal.user.name.clone(),
        attendees: String::new(),
        notes: body.notes.trim().to_owned(),
        changes: String::new(),
        still_in_top_5_percent: Some(in_top_5),
        outcome,
        next_review_due: None,
    }
}

async fn read_plan(state: &AppState, patient_id: &str) -> Result<CarePlan, ApiError> {
    let Some(mut doc) = state.docs().lock(state.store(), patient_id).await? else {
        return Err(ApiError::not_found("no plan for this patient"));
    };
    crate::sync::DocCache::refresh(state.store(), &mut doc).await?;
    doc.doc
        .plan()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored plan does not read: {e}")))
}

/// Whether the patient is in the top 5 %, and where that comes from: the practice's latest
/// risk upload when it has one (a patient it does not name is not in the top 5 %), else
/// the case manager's answer, which is then required.
async fn top_5(
    state: &AppState,
    org: &str,
    nhs_number: &str,
    body: &DischargeBody,
) -> Result<(bool, String), ApiError> {
    if body.on_list != OnList::Yes {
        return Ok((false, "not applicable: no longer on the list".into()));
    }
    let uploads = state.store().risk_uploads(org).await?;
    let Some(latest) = uploads.first() else {
        return match body.still_in_top_5_percent {
            Some(b) => Ok((b, "stated by the case manager (no risk upload)".into())),
            None => Err(ApiError::BadRequest(
                "the practice has no risk upload: say whether the patient is still in the top 5 %"
                    .into(),
            )),
        };
    };
    let rows = state.store().risk_rows(&latest.id).await?;
    let row = rows.iter().find(|r| r.nhs_number == nhs_number);
    let (in_top_5, source) = match row {
        Some(r) => (
            r.in_top_5_percent(),
            format!("risk upload as of {}: level {}", r.as_of, r.risk_level),
        ),
        None => (false, "not named in the latest risk upload".to_owned()),
    };
    if body.still_in_top_5_percent.is_some_and(|b| b != in_top_5) {
        return Err(ApiError::BadRequest(format!(
            "the latest risk upload says the patient is {}in the top 5 % ({source})",
            if in_top_5 { "" } else { "not " }
        )));
    }
    Ok((in_top_5, source))
}

/// The date of the MDT meeting that signed the discharge off: the practice's meeting,
/// held, with the patient listed and an outcome recorded.
async fn mdt_sign_off(
    state: &AppState,
    org: &str,
    meeting_id: &str,
    patient_id: &str,
) -> Result<Date, ApiError> {
    let Some(m) = state.store().mdt_meeting(org, meeting_id).await? else {
        return Err(ApiError::not_found("no such MDT meeting at this practice"));
    };
    if !m.held {
        return Err(ApiError::BadRequest(
            "the MDT meeting has not been held: record its attendance first".into(),
        ));
    }
    let listed = state.store().mdt_patients(&m.id).await?;
    if !listed
        .iter()
        .any(|p| p.patient_id == patient_id && p.outcome.is_some())
    {
        return Err(ApiError::BadRequest(
            "the patient has no recorded outcome at that MDT meeting".into(),
        ));
    }
    Date::parse(&m.meeting_date)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a stored meeting date does not read")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// `YYYY-MM-DD`, default a year before today.
    #[param(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    from: Option<String>,
    /// `YYYY-MM-DD`, default today.
    #[param(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    to: Option<String>,
}

/// The practice's discharges in a period, latest first, each with its GP letter.
#[utoipa::path(get, path = "/api/v1/scheme/discharges", tag = "scheme",
    security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Vec<Discharge>, description = "Discharges, latest first"),
        (status = 400, description = "Bad date"), (status = 403, description = "Only case managers")))]
pub(crate) async fn discharges(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Discharge>>, ApiError> {
    let org = practice(&state, &principal, act::DISCHARGE).await?;
    let to = match &params.to {
        Some(s) => date_param("to", s)?,
        None => today(),
    };
    let from = match &params.from {
        Some(s) => date_param("from", s)?,
        None => to.plus_days(-365),
    };
    let list = state
        .store()
        .discharges(&org, &from.to_string(), &to.to_string())
        .await?;
    let events: Vec<_> = list
        .iter()
        .map(|d| {
            event(&principal, act::DISCHARGE, purpose::DIRECT_CARE)
                .patient(d.patient_id.clone())
                .detail("discharge read")
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(list))
}
