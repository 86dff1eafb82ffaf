//! HTTP handlers: extract, check who may, call the store, map the error.

pub(crate) mod admin;
pub(crate) mod emergency;
pub(crate) mod fhir;
pub(crate) mod health;
mod json;
pub(crate) mod login;
pub(crate) mod patients;
pub(crate) mod referrals;
pub(crate) mod reports;
pub(crate) mod scheme;

use axum::Json;
use axum::Router;
use axum::routing::{any, delete, get, post};

pub use json::{ApiJson, ApiPath, ApiQuery};
pub(crate) use referrals::record_in_plan as record_referral_decision;

use crate::error::ApiError;
use crate::state::AppState;

/// The route of emergency summaries, as the audit log names it.
pub const EMERGENCY_SUMMARY_ROUTE: &str = "/api/v1/emergency/summary/{nhs_number}";

pub(crate) fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/auth/login", post(login::login))
        .route("/auth/refresh", post(login::refresh))
        .route("/auth/logout", post(login::logout))
        .route("/patients", get(patients::caseload))
        .route(
            "/patients/{id}/care-team",
            get(patients::care_team).post(patients::add_to_care_team),
        )
        .route(
            "/patients/{id}/care-team/{organisation_id}",
            delete(patients::remove_from_care_team),
        )
        .route("/patients/{id}/access-log", get(patients::access_log))
        .route("/patients/{id}/paper-copy", get(patients::paper_copy))
        .route(
            "/patients/{id}/paper-copy/signed",
            get(patients::signed_paper_copy),
        )
        .route("/patients/{id}/fhir", get(fhir::export))
        .route("/patients/{id}/fhir/summary", get(fhir::summary))
        .route("/patients/import", post(fhir::import))
        .route("/emergency/summary/{nhs_number}", any(emergency::summary))
        .route("/emergency/feed", get(emergency::feed))
        .route("/emergency/signing-key", get(emergency::signing_key))
        .route("/emergency/feed/stream", get(emergency::feed_stream))
        .route("/reports/caseload", get(reports::caseload))
        .route(
            "/admin/organisations",
            get(admin::organisations).post(admin::create_organisation),
        )
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route(
            "/admin/users/{username}/reset-password",
            post(admin::reset_password),
        )
        .route("/admin/users/{username}/disable", post(admin::disable_user))
        .route("/admin/users/{username}/devices", get(admin::devices))
        .route(
            "/admin/devices/{device_id}/revoke",
            post(admin::revoke_device),
        )
        .route("/sync", get(crate::sync::upgrade))
        .merge(scheme::router())
        .merge(referrals::router())
        .fallback(|| async { ApiError::not_found("no such API route") });
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route(
            "/api/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .nest("/api/v1", api)
}
