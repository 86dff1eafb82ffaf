//! Referral peer review over HTTP (issue 15; seeds 000 CASES and 001 CASPeR): a case
//! manager at a practice makes a routine referral; a GP reviewer assigned to its
//! specialty forwards it to hospital, returns it with advice or asks a question, within 3
//! working days; the referrer answers and acknowledges returned advice; the patient gets a
//! printable letter; the learning report counts outcomes without naming a patient.
//!
//! The rules are the shared core's (`redfolder_shared::referral`), who acts in which
//! capacity is [`crate::access::referral_party`]. Every read that shows a referral is
//! audited per referral (with the patient where they have a plan), every step in its own
//! transaction with the step; refusals are audited too.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use redfolder_shared::referral::{
    self, Party, ReferralDraft, ReferralState, ReportRow, Specialties, Step, TransitionError,
};
use redfolder_shared::{Date, NhsNumber};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::access::referral_party;
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::referrals::{NewReferral, ReferredPatient, StepRecord, StoredReferral};

fn today() -> Date {
    Date::from_unix_ms(now_ms())
}

fn role_of(party: Party) -> Role {
    match party {
        Party::Referrer => Role::CaseManager,
        Party::Reviewer => Role::GpReviewer,
    }
}

fn purpose_of(party: Party) -> &'static str {
    match party {
        Party::Referrer => purpose::DIRECT_CARE,
        Party::Reviewer => purpose::PEER_REVIEW,
    }
}

/// An audit entry about one referral, with its patient where they have a plan.
fn referral_event(
    principal: &Principal,
    party: Party,
    act: &str,
    outcome: &str,
    r: &StoredReferral,
) -> AuditEvent {
    let e = AuditEvent::new(now_ms(), act, purpose_of(party), outcome)
        .by(principal, role_of(party))
        .subject(r.id.clone());
    match &r.patient_id {
        Some(p) => e.patient(p.clone()),
        None => e,
    }
}

async fn deny(state: &AppState, principal: &Principal, act: &str, detail: &str) -> ApiError {
    let event = AuditEvent::new(now_ms(), act, purpose::DIRECT_CARE, "denied")
        .by(principal, principal.user.primary_role())
        .detail(detail.to_owned());
    match state.store().record_audit(&[event]).await {
        Ok(()) => ApiError::Forbidden,
        Err(e) => ApiError::Internal(e),
    }
}

async fn specialties(state: &AppState) -> Result<Specialties, ApiError> {
    Ok(Specialties::new(
        state.store().referral_specialties().await?,
    ))
}

async fn holidays(state: &AppState) -> Result<Vec<Date>, ApiError> {
    Ok(state
        .store()
        .bank_holidays()
        .await?
        .iter()
        .filter_map(|d| Date::parse(d))
        .collect())
}

/// The specialties the caller reviews, and whether they are mentored in each.
async fn reviewed_by(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<(String, bool)>, ApiError> {
    if !principal.user.has(Role::GpReviewer) {
        return Ok(Vec::new());
    }
    Ok(state
        .store()
        .reviewer_assignments(Some(&principal.user.id))
        .await?
        .into_iter()
        .map(|a| (a.specialty, a.mentored))
        .collect())
}

/// The referral and the caller's capacity on it. A referral the caller may not see at
/// all is "not found" (audited as denied), so its existence is not disclosed.
async fn reach(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredReferral, Party, Option<bool>), ApiError> {
    let r = state.store().referral(id).await?;
    let reviewed = reviewed_by(state, principal).await?;
    if let Some(r) = r {
        let assignment = reviewed.iter().find(|(s, _)| *s == r.specialty);
        if let Some(party) =
            referral_party(&principal.user, &r.organisation_id, assignment.is_some())
        {
            return Ok((r, party, assignment.map(|(_, m)| *m)));
        }
    }
    let event = AuditEvent::new(
        now_ms(),
        action::REFERRAL_READ,
        purpose::DIRECT_CARE,
        "denied",
    )
    .by(principal, principal.user.primary_role())
    .subject(id.chars().take(64).collect::<String>());
    state.store().record_audit(&[event]).await?;
    Err(ApiError::not_found("no such referral for you"))
}

fn overdue(r: &StoredReferral, today: Date) -> bool {
    r.state == ReferralState::AwaitingReview.as_str()
        && Date::parse(&r.deadline).is_some_and(|d| referral::is_overdue(d, today))
}

fn listing(r: &StoredReferral, today: Date) -> Value {
    json!({
        "id": r.id,
        "practice": { "code": r.practice_code, "name": r.practice_name },
        "referrer": r.referrer_name,
        "patient_id": r.patient_id,
        "nhs_number": r.nhs_number,
        "patient_name": r.patient_name,
        "date_of_birth": r.date_of_birth,
        "specialty": r.specialty,
        "condition": r.condition,
        "clinical_question": r.clinical_question,
        "state": r.state,
        "received_on": r.received_on,
        "deadline": r.deadline,
        "overdue": overdue(r, today),
        "decided_on": r.decided_on,
    })
}

// ---------------------------------------------------------------- specialties, reviewers

/// The reviewed specialties, in the order offered.
#[utoipa::path(get, path = "/api/v1/referrals/specialties", tag = "referrals",
    security(("bearer" = [])),
    responses((status = 200, body = Object, description = "specialties: [name], review_working_days"),
        (status = 401, description = "Not signed in")))]
pub(crate) async fn list_specialties(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let list = specialties(&state).await?;
    Ok(Json(json!({
        "specialties": list.names(),
        "review_working_days": referral::REVIEW_WORKING_DAYS,
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct SpecialtyBody {
    name: String,
}

/// Adds a reviewed specialty (deployment administrators).
#[utoipa::path(post, path = "/api/v1/referrals/specialties", tag = "referrals",
    security(("bearer" = [])), request_body = SpecialtyBody,
    responses((status = 204, description = "Added"), (status = 400, description = "Blank or over 80 characters"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only deployment administrators"),
        (status = 409, description = "Already listed")))]
pub(crate) async fn add_specialty(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<SpecialtyBody>,
) -> Result<StatusCode, ApiError> {
    if !principal.user.has(Role::DeploymentAdmin) {
        return Err(deny(&state, &principal, action::REFERRAL_ADMIN, "add specialty").await);
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::BadRequest(
            "a specialty name (up to 80 characters) is required".into(),
        ));
    }
    if specialties(&state).await?.find(name).is_ok() {
        return Err(ApiError::Conflict(format!("{name} is already listed")));
    }
    let ev = AuditEvent::new(
        now_ms(),
        action::REFERRAL_ADMIN,
        purpose::ADMINISTRATION,
        "ok",
    )
    .by(&principal, Role::DeploymentAdmin)
    .detail(format!("add specialty {name}"));
    if state.store().add_referral_specialty(name, &[ev]).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Conflict(format!("{name} is already listed")))
    }
}

/// Every reviewer assignment: who reviews which specialty, mentored or not.
#[utoipa::path(get, path = "/api/v1/referrals/reviewers", tag = "referrals",
    security(("bearer" = [])),
    responses((status = 200, body = Object, description = "reviewers: [{user_id, username, name, organisation, specialty, mentored}]"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only administrators and GP reviewers")))]
pub(crate) async fn reviewers(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let u = &principal.user;
    if !(u.has(Role::Admin) || u.has(Role::DeploymentAdmin) || u.has(Role::GpReviewer)) {
        return Err(deny(&state, &principal, action::REFERRAL_ADMIN, "list reviewers").await);
    }
    Ok(Json(
        json!({ "reviewers": state.store().reviewer_assignments(None).await? }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AssignmentBody {
    /// A user holding the `gp_reviewer` role.
    username: String,
    specialty: String,
    /// Still being mentored by the specialty's consultants.
    mentored: bool,
}

/// Assigns a GP reviewer to a specialty (or changes whether they are mentored). An
/// administrator assigns their own organisation's reviewers, a deployment administrator
/// anyone's.
#[utoipa::path(post, path = "/api/v1/referrals/reviewers", tag = "referrals",
    security(("bearer" = [])), request_body = AssignmentBody,
    responses((status = 204, description = "Assigned"), (status = 400, description = "Not a GP reviewer, or not a reviewed specialty"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only administrators, for their own organisation"),
        (status = 404, description = "No such user")))]
pub(crate) async fn assign_reviewer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<AssignmentBody>,
) -> Result<StatusCode, ApiError> {
    let admin = &principal.user;
    let everywhere = admin.has(Role::DeploymentAdmin);
    if !everywhere && !admin.has(Role::Admin) {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_ADMIN,
            "assign reviewer",
        )
        .await);
    }
    let user = state
        .store()
        .user_by_username(&body.username)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if !everywhere && user.organisation_id != admin.organisation_id {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_ADMIN,
            "assign reviewer elsewhere",
        )
        .await);
    }
    if !user.has(Role::GpReviewer) {
        return Err(ApiError::BadRequest(
            "the user does not hold the gp_reviewer role".into(),
        ));
    }
    let list = specialties(&state).await?;
    let specialty = list
        .find(&body.specialty)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let role = if everywhere {
        Role::DeploymentAdmin
    } else {
        Role::Admin
    };
    let ev = AuditEvent::new(
        now_ms(),
        action::REFERRAL_ADMIN,
        purpose::ADMINISTRATION,
        "ok",
    )
    .by(&principal, role)
    .subject(user.username.clone())
    .detail(format!("reviews {specialty}, mentored {}", body.mentored));
    state
        .store()
        .assign_reviewer(
            &user.id,
            specialty,
            body.mentored,
            Some(&admin.id),
            now_ms(),
            &[ev],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- making a referral

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReferralBody {
    /// A patient on the practice's caseload (their plan id); or else give `nhs_number`,
    /// `patient_name` and `date_of_birth`.
    patient_id: Option<String>,
    nhs_number: Option<String>,
    patient_name: Option<String>,
    /// `YYYY-MM-DD`
    date_of_birth: Option<String>,
    specialty: String,
    /// `routine`; `urgent` and `two_week_wait` are refused: they bypass peer review.
    urgency: String,
    /// What is wrong, briefly: the learning report groups by it.
    condition: String,
    clinical_question: String,
    relevant_history: String,
}

async fn referred_patient(
    state: &AppState,
    org: &str,
    body: &ReferralBody,
) -> Result<ReferredPatient, ApiError> {
    if let Some(id) = &body.patient_id {
        return state
            .store()
            .practice_patient(org, id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such patient at your practice"));
    }
    let nhs = body
        .nhs_number
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("patient_id or nhs_number is required".into()))?;
    let nhs =
        NhsNumber::parse(nhs).map_err(|e| ApiError::BadRequest(format!("nhs_number: {e}")))?;
    let name = body.patient_name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "patient_name (up to 200 characters) is required with an NHS number".into(),
        ));
    }
    let dob = body
        .date_of_birth
        .as_deref()
        .and_then(Date::parse)
        .filter(|d| *d <= today())
        .ok_or_else(|| {
            ApiError::BadRequest("date_of_birth must be a past date, YYYY-MM-DD".into())
        })?;
    let patient_id = state
        .store()
        .practice_patient_by_nhs(org, &nhs.digits())
        .await?;
    Ok(ReferredPatient {
        patient_id,
        nhs_number: nhs.digits(),
        name: name.to_owned(),
        date_of_birth: dob.to_string(),
    })
}

/// Makes a routine referral for peer review: for a caseload patient by plan id, or for any
/// patient by NHS number (checked), name and date of birth. Its deadline is 3 working
/// days from today (weekends and bank holidays skipped).
#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals",
    security(("bearer" = [])), request_body = ReferralBody,
    responses((status = 201, body = Object, description = "The referral: id, state, deadline, …"),
        (status = 400, description = "Urgent or two-week-wait (they bypass review), not a reviewed specialty, a bad NHS number or missing text"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only case managers"),
        (status = 404, description = "No such patient at your practice")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ReferralBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    make(&state, &principal, body).await
}

/// Reads a GP system's referral, a FHIR R4 `ServiceRequest` (UK Core; alone with its
/// Patient `contained`, or in a Bundle with the Patient), and makes it as `POST
/// /referrals` would for that patient by NHS number. Mapping in docs/referrals.md.
#[utoipa::path(post, path = "/api/v1/referrals/fhir", tag = "referrals",
    security(("bearer" = [])),
    request_body(content = Value, content_type = "application/fhir+json", description = "A ServiceRequest, or a Bundle with one ServiceRequest and its Patient"),
    responses((status = 201, body = Object, description = "The referral: id, state, deadline, …"),
        (status = 400, description = "Not a ServiceRequest, no patient or NHS number, urgent or two-week-wait (they bypass review), not a reviewed specialty"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only case managers")))]
pub(crate) async fn import_fhir(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(resource): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !principal.user.has(Role::CaseManager) {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_CREATE,
            "import a referral",
        )
        .await);
    }
    let imported = match redfolder_fhir::parse_service_request(&resource) {
        Ok(i) => i,
        Err(e) => {
            let ev = AuditEvent::new(
                now_ms(),
                action::REFERRAL_CREATE,
                purpose::DIRECT_CARE,
                "refused",
            )
            .by(&principal, Role::CaseManager)
            .detail(format!("FHIR: {e}"));
            state.store().record_audit(&[ev]).await?;
            return Err(ApiError::BadRequest(e.to_string()));
        }
    };
    let d = imported.draft;
    let body = ReferralBody {
        patient_id: None,
        nhs_number: Some(imported.nhs_number),
        patient_name: Some(imported.patient_name),
        date_of_birth: Some(imported.date_of_birth),
        specialty: d.specialty,
        urgency: d.urgency,
        condition: d.condition,
        clinical_question: d.clinical_question,
        relevant_history: d.relevant_history,
    };
    make(&state, &principal, body).await
}

async fn make(
    state: &AppState,
    principal: &Principal,
    body: ReferralBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !principal.user.has(Role::CaseManager) {
        return Err(deny(state, principal, action::REFERRAL_CREATE, "make a referral").await);
    }
    let org = principal.user.organisation_id.clone();
    let draft = ReferralDraft {
        specialty: body.specialty.clone(),
        urgency: body.urgency.clone(),
        condition: body.condition.clone(),
        clinical_question: body.clinical_question.clone(),
        relevant_history: body.relevant_history.clone(),
    };
    let valid = match draft.validate(&specialties(state).await?) {
        Ok(v) => v,
        Err(e) => {
            let ev = AuditEvent::new(
                now_ms(),
                action::REFERRAL_CREATE,
                purpose::DIRECT_CARE,
                "refused",
            )
            .by(principal, Role::CaseManager)
            .detail(e.to_string());
            state.store().record_audit(&[ev]).await?;
            return Err(ApiError::BadRequest(e.to_string()));
        }
    };
    let patient = referred_patient(state, &org, &body).await?;
    let now = now_ms();
    let received = Date::from_unix_ms(now);
    let deadline = referral::review_deadline(received, &holidays(state).await?);
    let mut ev = AuditEvent::new(now, action::REFERRAL_CREATE, purpose::DIRECT_CARE, "ok")
        .by(principal, Role::CaseManager)
        .detail(valid.specialty.clone());
    if let Some(p) = &patient.patient_id {
        ev = ev.patient(p.clone());
    }
    let id = state
        .store()
        .create_referral(
            &NewReferral {
                organisation_id: &org,
                referrer_id: &principal.user.id,
                patient: &patient,
                referral: &valid,
                received_on: &received.to_string(),
                deadline: &deadline.to_string(),
                now_ms: now,
            },
            &[ev],
        )
        .await?;
    let r =
        state.store().referral(&id).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a referral just stored is missing"))
        })?;
    Ok((StatusCode::CREATED, Json(listing(&r, received))))
}

// ---------------------------------------------------------------- lists

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only referrals in this state (`awaiting_review`, `question_asked`, `forwarded`,
    /// `returned`, `advice_acknowledged`).
    state: Option<String>,
}

/// The practice's referrals, newest first, with their outcomes: what the referrer acts
/// on (questions to answer, advice to acknowledge).
#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals",
    security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Object, description = "referrals: [{id, patient, specialty, state, deadline, overdue, …}], needs_you: count of questions and advice waiting"),
        (status = 400, description = "Unknown state"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only case managers")))]
pub(crate) async fn practice_list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    if !principal.user.has(Role::CaseManager) {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_READ,
            "practice referrals",
        )
        .await);
    }
    let wanted = match params.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            ReferralState::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown state {s}")))?,
        ),
    };
    let today = today();
    let list: Vec<StoredReferral> = state
        .store()
        .practice_referrals(&principal.user.organisation_id, 500)
        .await?
        .into_iter()
        .filter(|r| wanted.is_none_or(|w| r.state == w.as_str()))
        .collect();
    let events: Vec<AuditEvent> = list
        .iter()
        .map(|r| {
            referral_event(&principal, Party::Referrer, action::REFERRAL_READ, "ok", r)
                .detail("practice list")
        })
        .collect();
    state.store().record_audit(&events).await?;
    let needs_you = list
        .iter()
        .filter(|r| r.state == "question_asked" || r.state == "returned")
        .count();
    Ok(Json(json!({
        "referrals": list.iter().map(|r| listing(r, today)).collect::<Vec<_>>(),
        "needs_you": needs_you,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QueueParams {
    /// One of the caller's specialties; all of them when absent.
    specialty: Option<String>,
}

/// The reviewer's queue: referrals under review in their specialties, earliest deadline
/// first, each flagged overdue once its deadline has passed. Those waiting for the
/// referrer's answer are listed with their state.
#[utoipa::path(get, path = "/api/v1/referrals/queue", tag = "referrals",
    security(("bearer" = [])), params(QueueParams),
    responses((status = 200, body = Object, description = "today, specialties: [{specialty, mentored}], queue: [{…, deadline, overdue}]"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only GP reviewers, in the specialties they are assigned")))]
pub(crate) async fn queue(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<Value>, ApiError> {
    let reviewed = reviewed_by(&state, &principal).await?;
    let chosen: Vec<&(String, bool)> = match params.specialty.as_deref() {
        None | Some("") => reviewed.iter().collect(),
        Some(s) => reviewed
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(s.trim()))
            .collect(),
    };
    if !principal.user.has(Role::GpReviewer) || chosen.is_empty() && params.specialty.is_some() {
        return Err(deny(&state, &principal, action::REFERRAL_READ, "review queue").await);
    }
    let today = today();
    let mut all = Vec::new();
    for (specialty, _) in &chosen {
        all.extend(state.store().referral_queue(specialty).await?);
    }
    // A reviewer who is also a case manager does not review their own practice's.
    all.retain(|r| {
        referral_party(&principal.user, &r.organisation_id, true) == Some(Party::Reviewer)
    });
    all.sort_by(|a, b| {
        a.deadline
            .cmp(&b.deadline)
            .then(a.created_at_ms.cmp(&b.created_at_ms))
            .then(a.id.cmp(&b.id))
    });
    let events: Vec<AuditEvent> = all
        .iter()
        .map(|r| {
            referral_event(&principal, Party::Reviewer, action::REFERRAL_READ, "ok", r)
                .detail("review queue")
        })
        .collect();
    state.store().record_audit(&events).await?;
    Ok(Json(json!({
        "today": today.to_string(),
        "specialties": chosen.iter().map(|(s, m)| json!({ "specialty": s, "mentored": m })).collect::<Vec<_>>(),
        "queue": all.iter().map(|r| listing(r, today)).collect::<Vec<_>>(),
    })))
}

// ---------------------------------------------------------------- one referral

fn allowed_steps(state: ReferralState, party: Party) -> Vec<&'static str> {
    use redfolder_shared::referral::Advice;
    let samples = [
        Step::Forward {
            note: String::new(),
        },
        Step::Return {
            advice: Advice::default(),
        },
        Step::AskQuestion {
            question: String::new(),
        },
        Step::Answer {
            answer: String::new(),
        },
        Step::Acknowledge,
    ];
    samples
        .iter()
        .filter(|s| referral::transition(state, party, s).is_ok())
        .map(Step::kind)
        .collect()
}

/// One referral with every step of its review, the caller's capacity and the steps open
/// to them.
#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = Object, description = "referral, relevant_history, events, you_are (referrer or reviewer), your_steps, what_happens_next"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such referral, or not one of yours to see")))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let (r, party, _) = reach(&state, &principal, &id).await?;
    let events = state.store().referral_events(&r.id).await?;
    state
        .store()
        .record_audit(&[referral_event(
            &principal,
            party,
            action::REFERRAL_READ,
            "ok",
            &r,
        )])
        .await?;
    let st = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    let mut view = listing(&r, today());
    view["relevant_history"] = r.relevant_history.clone().into();
    view["urgency"] = r.urgency.clone().into();
    view["events"] = json!(events);
    view["you_are"] = json!(party);
    view["your_steps"] = json!(allowed_steps(st, party));
    view["what_happens_next"] = referral::what_happens_next(st, &r.specialty).into();
    Ok(Json(view))
}

async fn take_step(
    state: &AppState,
    principal: &Principal,
    id: &str,
    step: Step,
    allowed: &[&str],
) -> Result<Json<Value>, ApiError> {
    if !allowed.contains(&step.kind()) {
        return Err(ApiError::BadRequest(format!(
            "this route takes {}",
            allowed.join(" or ")
        )));
    }
    let (r, party, mentored) = reach(state, principal, id).await?;
    let from = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    let refuse = |outcome: &str, why: String| {
        referral_event(principal, party, action::REFERRAL_STEP, outcome, &r)
            .detail(format!("{}: {why}", step.kind()))
    };
    let to = match referral::transition(from, party, &step) {
        Ok(to) => to,
        Err(e) => {
            state
                .store()
                .record_audit(&[refuse("refused", e.to_string())])
                .await?;
            return Err(match e {
                TransitionError::WrongParty { .. } => ApiError::Forbidden,
                TransitionError::Closed(_) | TransitionError::NotNow { .. } => {
                    ApiError::Conflict(e.to_string())
                }
            });
        }
    };
    let step = match step.validated() {
        Ok(s) => s,
        Err(e) => return Err(ApiError::BadRequest(e.to_string())),
    };
    let now = now_ms();
    let day = Date::from_unix_ms(now);
    let deadline = if matches!(step, Step::Answer { .. }) {
        // The reviewer's 3 working days start again from the answer.
        Some(referral::review_deadline(day, &holidays(state).await?).to_string())
    } else {
        None
    };
    let decided = step.is_decision().then(|| day.to_string());
    let body = serde_json::to_string(&step)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing a step: {e}")))?;
    let user = &principal.user;
    let ev = referral_event(principal, party, action::REFERRAL_STEP, "ok", &r).detail(format!(
        "{} → {}",
        step.kind(),
        to.as_str()
    ));
    let moved = state
        .store()
        .record_referral_step(
            &StepRecord {
                referral_id: &r.id,
                from_state: from.as_str(),
                to_state: to.as_str(),
                kind: step.kind(),
                user_id: &user.id,
                user_name: &user.name,
                organisation: &user.organisation_name,
                mentored: if party == Party::Reviewer {
                    mentored
                } else {
                    None
                },
                body_json: &body,
                deadline: deadline.as_deref(),
                decided_on: decided.as_deref(),
                question_asked: matches!(step, Step::AskQuestion { .. }),
                now_ms: now,
            },
            &[ev],
        )
        .await?;
    if !moved {
        state
            .store()
            .record_audit(&[refuse("conflict", "moved by someone else first".into())])
            .await?;
        return Err(ApiError::Conflict(
            "someone else acted on this referral first: reload it".into(),
        ));
    }
    let plan_updated = match (&r.patient_id, step.is_decision()) {
        (Some(patient_id), true) => {
            record_in_plan(state, principal, &r, patient_id, &step, mentored, now).await?
        }
        _ => false,
    };
    let r =
        state.store().referral(&r.id).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a referral just moved is missing"))
        })?;
    let mut view = listing(&r, day);
    view["plan_updated"] = plan_updated.into();
    Ok(Json(view))
}

/// The decision's words in the patient's plan, as an advice entry from the reviewer.
fn plan_entry(r: &StoredReferral, step: &Step) -> Option<String> {
    let head = format!(
        "Referral to {} for {} (received {}), peer reviewed:",
        r.specialty, r.condition, r.received_on
    );
    match step {
        Step::Forward { note } => Some(format!("{head} forwarded to hospital. {note}")),
        Step::Return { advice } => {
            let mut text = format!("{head} returned with advice.");
            if let Some(t) = &advice.tests {
                text.push_str(&format!(" Tests to do: {t}."));
            }
            if let Some(t) = &advice.treatment {
                text.push_str(&format!(" Treatment to try: {t}."));
            }
            text.push_str(&format!(" Re-refer: {}.", advice.re_refer_when));
            Some(text)
        }
        _ => None,
    }
}

/// Where the patient is case-managed (the referral is linked to their plan), the
/// decision is added to the plan as advice attributed to the reviewer, through the one
/// commit path, so it syncs to the case managers' tablets. The referral's decision is
/// already committed: a plan that refuses the entry (ended, say) leaves it out, and the
/// answer says so (`plan_updated`).
async fn record_in_plan(
    state: &AppState,
    principal: &Principal,
    r: &StoredReferral,
    patient_id: &str,
    step: &Step,
    mentored: Option<bool>,
    now: i64,
) -> Result<bool, ApiError> {
    let Some(advice) = plan_entry(r, step) else {
        return Ok(false);
    };
    let advice_id = uuid::Uuid::new_v4().to_string();
    let edit = redfolder_shared::Edit::AddAdvice {
        id: advice_id.clone(),
        from_name: principal.user.name.clone(),
        from_role: format!(
            "GP reviewer, {}{}",
            r.specialty,
            if mentored == Some(true) {
                " (mentored)"
            } else {
                ""
            }
        ),
        advice,
    };
    let audit = [
        referral_event(principal, Party::Reviewer, action::REFERRAL_STEP, "plan", r)
            .detail(advice_id),
    ];
    let applied = crate::plan_edit::apply_edits(
        state,
        principal,
        crate::access::PlanAccess::PeerReviewer,
        patient_id,
        &[edit],
        &audit,
        now,
    )
    .await?;
    Ok(matches!(applied, crate::plan_edit::Applied::Committed))
}

/// The reviewer's decision: `{"kind":"forward","note":…}`, `{"kind":"return","advice":
/// {"tests"?,"treatment"?,"re_refer_when"}}` (tests or treatment, and when to re-refer)
/// or `{"kind":"ask_question","question":…}`.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/decision", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    request_body(content = Value, description = "A step: forward, return or ask_question"),
    responses((status = 200, body = Object, description = "The referral as it now stands"),
        (status = 400, description = "Not a decision, or incomplete (advice needs tests or treatment, and when to re-refer)"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Not the reviewer of this referral (a referrer cannot decide)"),
        (status = 404, description = "No such referral for you"),
        (status = 409, description = "Closed, waiting for the referrer, or decided by someone else first")))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(step): ApiJson<Step>,
) -> Result<Json<Value>, ApiError> {
    take_step(
        &state,
        &principal,
        &id,
        step,
        &["forward", "return", "ask_question"],
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct AnswerBody {
    answer: String,
}

/// The referrer answers the reviewer's question; the referral goes back to the queue with
/// a fresh 3-working-day deadline.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/answer", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    request_body = AnswerBody,
    responses((status = 200, body = Object, description = "The referral as it now stands"),
        (status = 400, description = "Empty answer"), (status = 401, description = "Not signed in"),
        (status = 403, description = "Only the referring practice"), (status = 404, description = "No such referral for you"),
        (status = 409, description = "No question is waiting")))]
pub(crate) async fn answer(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<Json<Value>, ApiError> {
    take_step(
        &state,
        &principal,
        &id,
        Step::Answer {
            answer: body.answer,
        },
        &["answer"],
    )
    .await
}

/// The referrer acknowledges the advice a reviewer returned, closing the referral.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/acknowledge", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = Object, description = "The referral as it now stands"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only the referring practice"),
        (status = 404, description = "No such referral for you"),
        (status = 409, description = "No advice is waiting, or already acknowledged")))]
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    take_step(&state, &principal, &id, Step::Acknowledge, &["acknowledge"]).await
}

// ---------------------------------------------------------------- the patient's letter

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn letter_html(r: &StoredReferral, st: ReferralState, advice: Option<&Value>) -> String {
    let nhs = NhsNumber::parse(&r.nhs_number)
        .map(|n| n.to_string())
        .unwrap_or_else(|_| r.nhs_number.clone());
    let mut advice_html = String::new();
    if let Some(a) = advice {
        let mut items = String::new();
        for (key, label) in [
            ("tests", "Tests your practice may arrange"),
            ("treatment", "Treatment to try first"),
            ("re_refer_when", "When you may be referred again"),
        ] {
            if let Some(text) = a.get(key).and_then(Value::as_str) {
                items.push_str(&format!("<dt>{label}</dt><dd>{}</dd>", escape(text)));
            }
        }
        advice_html = format!("<h2>The advice</h2><dl>{items}</dl>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your referral: what happens next</title>\
<style>body{{font-family:Arial,sans-serif;max-width:40em;margin:2em auto;line-height:1.5}}h1{{font-size:1.5em}}dt{{font-weight:bold}}@media print{{body{{margin:0}}}}</style></head>\
<body><p>{practice}</p><h1>Your referral: what happens next</h1>\
<p><strong>{name}</strong><br>NHS number {nhs}<br>Date of birth {dob}</p>\
<p>Referred to: <strong>{specialty}</strong> (routine), on {received}.</p>\
<p data-state=\"{state}\">{next}</p>{advice_html}\
<p>If your symptoms get worse while you wait, contact your practice. In an emergency call 999.</p>\
<p>Questions about this letter: {practice}.</p></body></html>",
        practice = escape(&r.practice_name),
        name = escape(&r.patient_name),
        nhs = escape(&nhs),
        dob = escape(&r.date_of_birth),
        specialty = escape(&r.specialty),
        received = escape(&r.received_on),
        state = st.as_str(),
        next = escape(&referral::what_happens_next(st, &r.specialty)),
    )
}

/// The printable letter for the patient: what happens next, and the advice if returned.
/// For the referring practice only.
#[utoipa::path(get, path = "/api/v1/referrals/{id}/letter", tag = "referrals",
    security(("bearer" = [])), params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = String, description = "HTML letter, printable", content_type = "text/html"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only the referring practice"),
        (status = 404, description = "No such referral for you")))]
pub(crate) async fn letter(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (r, party, _) = reach(&state, &principal, &id).await?;
    if party != Party::Referrer {
        state
            .store()
            .record_audit(&[
                referral_event(&principal, party, action::REFERRAL_READ, "denied", &r)
                    .detail("letter"),
            ])
            .await?;
        return Err(ApiError::Forbidden);
    }
    let st = ReferralState::parse(&r.state).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("a stored referral has an unknown state"))
    })?;
    let events = state.store().referral_events(&r.id).await?;
    let advice = events
        .iter()
        .rev()
        .find(|e| e.kind == "return")
        .and_then(|e| e.body.get("advice"));
    state
        .store()
        .record_audit(&[
            referral_event(&principal, party, action::REFERRAL_READ, "ok", &r).detail("letter"),
        ])
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(letter_html(&r, st, advice)),
    )
        .into_response())
}

// ---------------------------------------------------------------- the learning report

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportParams {
    /// Received on or after (`YYYY-MM-DD`).
    from: Option<String>,
    /// Received on or before (`YYYY-MM-DD`).
    to: Option<String>,
    /// `csv` for CSV; JSON otherwise.
    format: Option<String>,
}

fn report_csv(report: &referral::LearningReport) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(anyhow::anyhow!("writing the report CSV: {e}"));
    w.write_record([
        "practice",
        "specialty",
        "condition",
        "referrals",
        "forwarded",
        "returned",
        "awaiting",
        "questions_asked",
        "advice_tests",
        "advice_treatment",
        "decided_on_time",
        "decided_late",
        "overdue",
        "mean_turnaround_working_days",
    ])
    .map_err(fail)?;
    for l in &report.lines {
        let o = &l.outcomes;
        w.write_record([
            l.practice.clone().unwrap_or_else(|| "all".into()),
            l.specialty.clone(),
            l.condition.clone().unwrap_or_else(|| "all".into()),
            o.referrals.to_string(),
            o.forwarded.to_string(),
            o.returned.to_string(),
            o.awaiting.to_string(),
            o.questions_asked.to_string(),
            o.advice_tests.to_string(),
            o.advice_treatment.to_string(),
            o.decided_on_time.to_string(),
            o.decided_late.to_string(),
            o.overdue.to_string(),
            o.mean_turnaround_working_days
                .map(|m| format!("{m:.2}"))
                .unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing the report CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(anyhow::anyhow!("report CSV: {e}")))
}

/// The learning report by specialty and condition, per practice and across practices:
/// referrals, forwarded and returned, advice given (tests, treatment), turnaround against
/// 3 working days. It names no patient. A case manager sees their own practice;
/// commissioners and GP reviewers every practice.
#[utoipa::path(get, path = "/api/v1/referrals/report", tag = "referrals",
    security(("bearer" = [])), params(ReportParams),
    responses((status = 200, content((Object = "application/json"), (String = "text/csv")), description = "JSON {today, review_working_days, total, lines: [{practice|null, specialty, condition|null, referrals, forwarded, returned, …}]}, or CSV with format=csv"),
        (status = 400, description = "Bad date"), (status = 401, description = "Not signed in"),
        (status = 403, description = "Only case managers, GP reviewers and commissioners")))]
pub(crate) async fn report(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let u = &principal.user;
    let (scope, role) = if u.has(Role::Commissioner) {
        (None, Role::Commissioner)
    } else if u.has(Role::GpReviewer) {
        (None, Role::GpReviewer)
    } else if u.has(Role::CaseManager) {
        (Some(u.organisation_id.clone()), Role::CaseManager)
    } else {
        return Err(deny(
            &state,
            &principal,
            action::REFERRAL_REPORT,
            "learning report",
        )
        .await);
    };
    let bound = |name: &str, v: &Option<String>| -> Result<Option<Date>, ApiError> {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                Date::parse(s)
                    .ok_or_else(|| ApiError::BadRequest(format!("{name} must be YYYY-MM-DD")))
            })
            .transpose()
    };
    let (from, to) = (bound("from", &params.from)?, bound("to", &params.to)?);
    let today = today();
    let holidays = holidays(&state).await?;
    let referrals = state.store().report_referrals(scope.as_deref()).await?;
    let mut rows = Vec::with_capacity(referrals.len());
    // Only returned referrals carry advice, read from their steps (one query each).
    let mut with_advice = BTreeSet::new();
    for r in &referrals {
        if r.state == "returned" || r.state == "advice_acknowledged" {
            with_advice.insert(r.id.clone());
        }
    }
    for r in referrals {
        let (Some(received), Some(deadline), Some(st)) = (
            Date::parse(&r.received_on),
            Date::parse(&r.deadline),
            ReferralState::parse(&r.state),
        ) else {
            continue;
        };
        if from.is_some_and(|f| received < f) || to.is_some_and(|t| received > t) {
            continue;
        }
        let advice = if with_advice.contains(&r.id) {
            state
                .store()
                .referral_events(&r.id)
                .await?
                .iter()
                .rev()
                .find(|e| e.kind == "return")
                .and_then(|e| serde_json::from_value(e.body["advice"].clone()).ok())
        } else {
            None
        };
        rows.push(ReportRow {
            practice: r.practice_code,
            specialty: r.specialty,
            condition: r.condition,
            state: st,
            received,
            decided: r.decided_on.as_deref().and_then(Date::parse),
            deadline,
            advice,
            question_asked: r.question_asked,
        });
    }
    let report = referral::learning_report(&rows, today, &holidays);
    let ev = AuditEvent::new(
        now_ms(),
        action::REFERRAL_REPORT,
        purpose::COMMISSIONING,
        "ok",
    )
    .by(&principal, role)
    .detail(format!(
        "learning report, {} (aggregates only)",
        scope.as_deref().map_or("all practices", |_| "own practice")
    ));
    state.store().record_audit(&[ev]).await?;
    if params.format.as_deref() == Some("csv") {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"referral-learning-report.csv\"",
                ),
            ],
            report_csv(&report)?,
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}

/// The referral routes, merged under `/api/v1`.
pub(crate) fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/referrals", get(practice_list).post(create))
        .route("/referrals/fhir", post(import_fhir))
        .route(
            "/referrals/specialties",
            get(list_specialties).post(add_specialty),
        )
        .route("/referrals/reviewers", get(reviewers).post(assign_reviewer))
        .route("/referrals/queue", get(queue))
        .route("/referrals/report", get(report))
        .route("/referrals/{id}", get(detail))
        .route("/referrals/{id}/decision", post(decide))
        .route("/referrals/{id}/answer", post(answer))
        .route("/referrals/{id}/acknowledge", post(acknowledge))
        .route("/referrals/{id}/letter", get(letter))
}

/// The referrals' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_specialties,
    add_specialty,
    reviewers,
    assign_reviewer,
    create,
    import_fhir,
    practice_list,
    queue,
    detail,
    decide,
    answer,
    acknowledge,
    letter,
    report,
))]
pub(crate) struct ReferralApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_open_to_each_party() {
        use ReferralState::*;
        assert_eq!(
            allowed_steps(AwaitingReview, Party::Reviewer),
            ["forward", "return", "ask_question"]
        );
        assert!(allowed_steps(AwaitingReview, Party::Referrer).is_empty());
        assert_eq!(allowed_steps(QuestionAsked, Party::Referrer), ["answer"]);
        assert_eq!(allowed_steps(Returned, Party::Referrer), ["acknowledge"]);
        assert!(allowed_steps(Forwarded, Party::Reviewer).is_empty());
    }

    #[test]
    fn the_letter_escapes_what_it_prints() {
        let r = StoredReferral {
            id: "r".into(),
            organisation_id: "o".into(),
            practice_code: "A1".into(),
            practice_name: "Riverside <Surgery>".into(),
            referrer_id: "u".into(),
            referrer_name: "Dr A".into(),
            patient_id: None,
            nhs_number: "9434765919".into(),
            patient_name: "Ann \"Nan\" O'Neil".into(),
            date_of_birth: "1940-01-01".into(),
            specialty: "Dermatology".into(),
            urgency: "routine".into(),
            condition: "eczema".into(),
            clinical_question: "?".into(),
            relevant_history: "".into(),
            state: "returned".into(),
            received_on: "2026-11-02".into(),
            deadline: "2026-11-05".into(),
            question_asked: false,
            decided_on: Some("2026-11-03".into()),
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let advice =
            json!({ "treatment": "emollient <b>daily</b>", "re_refer_when": "in 6 weeks" });
        let html = letter_html(&r, ReferralState::Returned, Some(&advice));
        assert!(html.contains("Riverside &lt;Surgery&gt;"));
        assert!(html.contains("Ann &quot;Nan&quot; O&#39;Neil"));
        assert!(html.contains("943 476 5919"));
        assert!(html.contains("emollient &lt;b&gt;daily&lt;/b&gt;"));
        assert!(!html.contains("Tests your practice may arrange"));
        assert!(html.contains("closer to home"));
    }
}
