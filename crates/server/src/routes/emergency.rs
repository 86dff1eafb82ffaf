use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use redfolder_shared::NhsNumber;
use serde_json::Value;

use super::EMERGENCY_SUMMARY_ROUTE;
use crate::auth::authenticate;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::AuditEntry;

/// One body for "no plan" and "no consent", so the response never reveals whether a
/// patient without consent has a plan.
const NOT_AVAILABLE: &str = "no emergency summary is available for this NHS number";

/// `GET /api/v1/emergency/summary/{nhs_number}`: every request is audited, whatever its
/// outcome; if the audit entry cannot be written the request fails.
pub(crate) async fn summary(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let given = path.as_ref().map(|Path(p)| p.clone()).unwrap_or_default();
    let mut audit = AuditEntry {
        at_ms: now_ms(),
        user_id: None,
        organisation_id: None,
        role: None,
        nhs_number: given.chars().take(64).collect(),
        patient_id: None,
        outcome: String::new(),
        status: 0,
        route: EMERGENCY_SUMMARY_ROUTE.to_owned(),
    };
    let (outcome, response) = match lookup(&state, &method, &headers, &given, &mut audit).await {
        Ok(summary) => ("ok", Json(summary).into_response()),
        Err((outcome, error)) => (outcome, error.into_response()),
    };
    audit.outcome = outcome.to_owned();
    audit.status = response.status().as_u16();
    if let Err(e) = state.store().record_audit(&audit).await {
        return ApiError::Internal(e).into_response();
    }
    response
}

type Refusal = (&'static str, ApiError);

async fn lookup(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    given: &str,
    audit: &mut AuditEntry,
) -> Result<Value, Refusal> {
    if method != Method::GET && method != Method::HEAD {
        return Err(("method_not_allowed", ApiError::MethodNotAllowed));
    }
    let user = authenticate(state, headers)
        .await
        .map_err(|e| (outcome_of(&e), e))?;
    audit.user_id = Some(user.id.clone());
    audit.organisation_id = Some(user.organisation_id.clone());
    audit.role = Some(user.role.as_str().to_owned());
    if user.role != Role::EmergencyClinician {
        return Err(("forbidden", ApiError::Forbidden));
    }
    let nhs = NhsNumber::parse(given).map_err(|e| {
        (
            "bad_request",
            ApiError::BadRequest(format!("invalid NHS number: {e}")),
        )
    })?;
    let stored = state
        .store()
        .emergency_summary(&nhs.digits())
        .await
        .map_err(|e| ("error", ApiError::Internal(e)))?
        .ok_or(("not_found", ApiError::NotFound(NOT_AVAILABLE)))?;
    audit.patient_id = Some(stored.patient_id.clone());
    if !stored.consent {
        return Err(("no_consent", ApiError::NotFound(NOT_AVAILABLE)));
    }
    let mut summary: Value = serde_json::from_str(&stored.summary_json).map_err(|e| {
        (
            "error",
            ApiError::Internal(anyhow::anyhow!("stored summary is not JSON: {e}")),
        )
    })?;
    if let Some(object) = summary.as_object_mut() {
        object.insert("patient_id".to_owned(), Value::String(stored.patient_id));
        object.insert(
            "plan_version".to_owned(),
            Value::String(stored.plan_version),
        );
    }
    Ok(summary)
}

fn outcome_of(error: &ApiError) -> &'static str {
    match error {
        ApiError::Unauthorized | ApiError::InvalidCredentials => "unauthorized",
        ApiError::Internal(_) => "error",
        _ => "denied",
    }
}
