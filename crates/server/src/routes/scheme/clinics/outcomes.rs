//! The specialist's outcome for each patient, and the outcome letters.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{clinic_audit, in_open_clinic, practice_clinic, specialist_clinic};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::scheme::{act, date_param, event};
use crate::routes::{ApiJson, ApiPath, ApiQuery};
use crate::scheme::clinic::{self, Audience, LetterPatient, Outcome};
use crate::scheme::rules::days_between;
use crate::state::AppState;
use crate::store::clinics::ClinicOutcome;

/// How far ahead a follow-up may be set.
const FOLLOW_UP_MAX_DAYS: i64 = 2 * 366;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct OutcomeBody {
    outcome: Outcome,
    /// The plan the practice follows, or what the referral is for (required, up to 4000
    /// characters).
    plan: String,
    /// `YYYY-MM-DD`, after the clinic and at most two years on: when the practice follows
    /// the patient up.
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    follow_up_on: Option<String>,
}

/// The specialist records (or corrects) the outcome for a patient on the list while the
/// clinic is open: keep in the practice with a plan, a locality clinic, or a referral to
/// the hub, and a follow-up date.
#[utoipa::path(put, path = "/api/v1/scheme/virtual-clinics/{id}/patients/{patient_id}/outcome", tag = "scheme",
    security(("bearer" = [])), request_body = OutcomeBody,
    params(("id" = String, Path, description = "Clinic id"), ("patient_id" = String, Path, description = "Patient id")),
    responses((status = 200, body = ClinicOutcome, description = "Recorded"),
        (status = 400, description = "No plan, too long, or a follow-up date not after the clinic or over two years on"),
        (status = 404, description = "Not a patient in an open clinic of yours")))]
pub(crate) async fn record_outcome(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> Result<Json<ClinicOutcome>, ApiError> {
    let now = now_ms();
    let store = state.store();
    let clinic = specialist_clinic(&state, &principal, &id, now).await?;
    let Some(clinic) = clinic else {
        store
            .record_audit(&[clinic_audit(&principal, now, &id, "denied")])
            .await?;
        return Err(ApiError::not_found(
            "no such patient in an open clinic of yours",
        ));
    };
    if !in_open_clinic(&state, &principal, &id, &patient_id, now).await? {
        store
            .record_audit(&[clinic_audit(&principal, now, &id, "denied").patient(patient_id)])
            .await?;
        return Err(ApiError::not_found(
            "no such patient in an open clinic of yours",
        ));
    }
    let plan = body.plan.trim();
    if plan.is_empty() || plan.chars().count() > 4000 {
        return Err(ApiError::BadRequest(
            "plan is required (up to 4000 characters)".into(),
        ));
    }
    let follow_up = match &body.follow_up_on {
        Some(d) if !d.trim().is_empty() => {
            let day = date_param("follow_up_on", d.trim())?;
            let clinic_day = date_param("clinic date", &clinic.clinic_date)?;
            let ahead = days_between(clinic_day, day);
            if !(1..=FOLLOW_UP_MAX_DAYS).contains(&ahead) {
                return Err(ApiError::BadRequest(
                    "follow_up_on must be after the clinic and at most two years on".into(),
                ));
            }
            Some(day.to_string())
        }
        _ => None,
    };
    let audit = [clinic_audit(&principal, now, &clinic.id, "outcome")
        .patient(patient_id.clone())
        .detail(body.outcome.key())];
    store
        .record_clinic_outcome(
            &clinic.id,
            &patient_id,
            body.outcome.key(),
            plan,
            follow_up.as_deref(),
            &principal.user.id,
            now,
            &audit,
        )
        .await?;
    Ok(Json(ClinicOutcome {
        outcome: body.outcome.key().to_owned(),
        plan: plan.to_owned(),
        follow_up_on: follow_up,
        recorded_by: principal.user.name.clone(),
        recorded_at_ms: now,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LetterParams {
    /// `gp` (the default) or `patient` (in plain words).
    #[param(inline)]
    audience: Option<Audience>,
}

/// The outcome letter for a patient, once the specialist has recorded an outcome: to the
/// GP, or a patient-friendly version. For the practice's case managers (to print and
/// send) and for the specialist while the clinic is open. Every read is audited.
#[utoipa::path(get, path = "/api/v1/scheme/virtual-clinics/{id}/patients/{patient_id}/letter", tag = "scheme",
    security(("bearer" = [])), params(("id" = String, Path, description = "Clinic id"), ("patient_id" = String, Path, description = "Patient id"), LetterParams),
    responses((status = 200, body = clinic::Letter, description = "The letter, for the app to print"),
        (status = 404, description = "Not a patient of a clinic of yours"),
        (status = 409, description = "No outcome recorded yet")))]
pub(crate) async fn letter(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath((id, patient_id)): ApiPath<(String, String)>,
    ApiQuery(params): ApiQuery<LetterParams>,
) -> Result<Json<clinic::Letter>, ApiError> {
    let now = now_ms();
    let store = state.store();
    let practice = principal.user.has(Role::CaseManager);
    let clinic = if practice {
        Some(practice_clinic(&state, &principal, &id).await?)
    } else if in_open_clinic(&state, &principal, &id, &patient_id, now).await? {
        specialist_clinic(&state, &principal, &id, now).await?
    } else {
        None
    };
    let Some(clinic) = clinic else {
        store
            .record_audit(&[clinic_audit(&principal, now, &id, "denied")])
            .await?;
        return Err(ApiError::not_found("no such patient in a clinic of yours"));
    };
    let Some(patient) = store
        .clinic_patients(&clinic.id)
        .await?
        .into_iter()
        .find(|p| p.patient_id == patient_id)
    else {
        return Err(ApiError::not_found("no such patient on the clinic's list"));
    };
    let Some(outcome) = &patient.outcome else {
        return Err(ApiError::Conflict(
            "the specialist has not recorded an outcome for this patient yet".into(),
        ));
    };
    let audience = params.audience.unwrap_or(Audience::Gp);
    let readings = store.clinic_readings(&clinic.id, &patient_id).await?;
    let letter = clinic::letter(
        audience,
        &clinic,
        &LetterPatient {
            name: &patient.name,
            nhs_number: &patient.nhs_number,
            date_of_birth: &patient.date_of_birth,
        },
        outcome,
        &readings,
    );
    let detail = format!("letter to {}", letter.audience);
    let audit = if practice {
        event(
            &principal,
            act::VIRTUAL_CLINIC,
            crate::audit::purpose::DIRECT_CARE,
        )
        .subject(clinic.id.clone())
        .patient(patient_id)
        .detail(detail)
    } else {
        clinic_audit(&principal, now, &clinic.id, "ok")
            .patient(patient_id)
            .detail(detail)
    };
    store.record_audit(&[audit]).await?;
    Ok(Json(letter))
}
