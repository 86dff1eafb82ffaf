//! Making a referral: in the app, or from a GP system's FHIR `ServiceRequest`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::referral::{self, ReferralDraft};
use redfolder_shared::{Date, NhsNumber};
use serde::Deserialize;
use serde_json::Value;

use super::views::ReferralView;
use super::{deny, holidays, specialties, today};
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::state::AppState;
use crate::store::referral_notes::NewAttachment;
use crate::store::referrals::{NewReferral, ReferredPatient};

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
    responses((status = 201, body = ReferralView, description = "The referral, awaiting review"),
        (status = 400, description = "Urgent or two-week-wait (they bypass review), not a reviewed specialty, a bad NHS number or missing text"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only case managers"),
        (status = 404, description = "No such patient at your practice")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<ReferralBody>,
) -> Result<(StatusCode, Json<ReferralView>), ApiError> {
    make(&state, &principal, body, &[]).await
}

/// Reads a GP system's referral, a FHIR R4 `ServiceRequest` (UK Core; alone with its
/// Patient `contained`, or in a Bundle with the Patient), and makes it as `POST
/// /referrals` would for that patient by NHS number. Mapping in docs/referrals.md.
#[utoipa::path(post, path = "/api/v1/referrals/fhir", tag = "referrals",
    security(("bearer" = [])),
    request_body(content = Value, content_type = "application/fhir+json", description = "A ServiceRequest, or a Bundle with one ServiceRequest and its Patient"),
    responses((status = 201, body = ReferralView, description = "The referral, awaiting review"),
        (status = 400, description = "Not a ServiceRequest, no patient or NHS number, urgent or two-week-wait (they bypass review), not a reviewed specialty"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only case managers")))]
pub(crate) async fn import_fhir(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(resource): ApiJson<Value>,
) -> Result<(StatusCode, Json<ReferralView>), ApiError> {
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
    let attachments: Vec<NewAttachment> = imported
        .attachments
        .into_iter()
        .map(|a| NewAttachment {
            title: a.title,
            content_type: a.content_type,
            data: a.data,
        })
        .collect();
    make(&state, &principal, body, &attachments).await
}

async fn make(
    state: &AppState,
    principal: &Principal,
    body: ReferralBody,
    attachments: &[NewAttachment],
) -> Result<(StatusCode, Json<ReferralView>), ApiError> {
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
    let received = Date::uk_from_unix_ms(now);
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
                attachments,
                now_ms: now,
            },
            &[ev],
        )
        .await?;
    let r =
        state.store().referral(&id).await?.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a referral just stored is missing"))
        })?;
    Ok((StatusCode::CREATED, Json(ReferralView::of(&r, received))))
}
