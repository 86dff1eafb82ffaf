//! The case management scheme over HTTP: list size and risk-tool uploads, the candidates
//! worklist, reviews due, the monthly data return (JSON or CSV) and its commissioner
//! aggregate, MDT meetings and virtual clinics.
//!
//! Case managers act for their own practice only; commissioners read the aggregate, which
//! holds counts and money, never a patient. Every read that lists patients audits each
//! one, as the caseload does; every write is audited in its own transaction.

mod candidates;
mod clinics;
mod discharges;
mod mdt;
mod mdt_members;
mod over75;
mod returns;
mod reviews;
mod risk;

pub(crate) use clinics::ClinicsApi;

use redfolder_shared::Date;

use crate::audit::{AuditEvent, purpose};
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::state::AppState;

/// Audit actions of this module.
mod act {
    pub(super) const LIST_SIZE: &str = "scheme.list_size";
    pub(super) const RISK_UPLOAD: &str = "scheme.risk_upload";
    pub(super) const EXCLUSION: &str = "scheme.exclusion";
    pub(super) const CANDIDATES: &str = "scheme.candidates";
    pub(super) const REVIEWS_DUE: &str = "scheme.reviews_due";
    pub(super) const RETURN: &str = "scheme.monthly_return";
    pub(super) const MDT: &str = "scheme.mdt_meeting";
    pub(super) const DISCHARGE: &str = "scheme.discharge";
    pub(super) const OVER_75: &str = "scheme.over_75";
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

/// The id of something a route created.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Created {
    id: String,
}

/// The scheme's routes, merged under `/api/v1`.
pub(crate) fn router() -> axum::Router<AppState> {
    use axum::routing::{delete, get, post, put};
    axum::Router::new()
        .route(
            "/scheme/list-size",
            get(risk::list_size).post(risk::set_list_size),
        )
        .route(
            "/scheme/risk-uploads",
            get(risk::risk_uploads).post(risk::upload_risk),
        )
        .route("/scheme/exclusions", post(candidates::add_exclusion))
        .route(
            "/scheme/exclusions/{id}",
            delete(candidates::lift_exclusion),
        )
        .route("/scheme/candidates", get(candidates::candidates))
        .route("/scheme/cohort", get(risk::cohort))
        .route("/scheme/reviews-due", get(reviews::reviews_due))
        .route("/scheme/review-outcome", post(reviews::review_outcome))
        .route("/scheme/over-75-list", post(over75::set_over_75_list))
        .route("/scheme/over-75-register", get(over75::over_75_register))
        .route(
            "/scheme/mdt-meetings/{id}/members",
            post(mdt_members::invite_member),
        )
        .route(
            "/scheme/mdt-meetings/{id}/duration",
            put(mdt_members::record_duration),
        )
        .route("/scheme/my-mdt-meetings", get(mdt_members::my_meetings))
        .route(
            "/scheme/discharges",
            get(discharges::discharges).post(discharges::record_discharge),
        )
        .route("/scheme/returns/{month}", get(returns::monthly_return))
        .route(
            "/scheme/returns/{month}/aggregate",
            get(returns::aggregate_return),
        )
        .route(
            "/scheme/mdt-meetings",
            get(mdt::meetings).post(mdt::create_meeting),
        )
        .route("/scheme/mdt-meetings/{id}", get(mdt::meeting))
        .route(
            "/scheme/mdt-meetings/{id}/patients",
            post(mdt::list_patient),
        )
        .route(
            "/scheme/mdt-meetings/{id}/patients/{patient_id}",
            put(mdt::record_outcome),
        )
        .route(
            "/scheme/mdt-meetings/{id}/attendance",
            post(mdt::record_attendance),
        )
        .merge(clinics::router())
}

/// The scheme's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    risk::set_list_size,
    risk::list_size,
    risk::upload_risk,
    risk::risk_uploads,
    candidates::add_exclusion,
    candidates::lift_exclusion,
    candidates::candidates,
    risk::cohort,
    reviews::reviews_due,
    reviews::review_outcome,
    discharges::record_discharge,
    discharges::discharges,
    over75::set_over_75_list,
    over75::over_75_register,
    mdt_members::invite_member,
    mdt_members::record_duration,
    mdt_members::my_meetings,
    returns::monthly_return,
    returns::aggregate_return,
    mdt::create_meeting,
    mdt::meetings,
    mdt::meeting,
    mdt::list_patient,
    mdt::record_outcome,
    mdt::record_attendance,
))]
pub(crate) struct SchemeApi;
