//! HTTP handlers: extract, call the store, map the error.

mod emergency;
mod health;
mod json;
mod login;
mod patients;

use axum::Router;
use axum::routing::{any, get, post};

pub use json::ApiJson;

use crate::error::ApiError;
use crate::startup::AppState;

/// The route of emergency summaries, as the audit log names it.
pub const EMERGENCY_SUMMARY_ROUTE: &str = "/api/v1/emergency/summary/{nhs_number}";

pub(crate) fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/auth/login", post(login::login))
        .route("/patients", get(patients::caseload))
        .route("/emergency/summary/{nhs_number}", any(emergency::summary))
        .route("/sync", get(crate::sync::upgrade))
        .fallback(|| async { ApiError::NotFound("no such API route") });
    Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/api/v1", api)
}
