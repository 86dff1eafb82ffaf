//! Aggregate reports for commissioners: counts per practice, never an identifiable field.

use axum::Json;
use axum::extract::State;

use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::OrganisationReport;

#[utoipa::path(get, path = "/api/v1/reports/caseload", tag = "reports",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<OrganisationReport>, description = "Per practice: plans, consents, DNACPR recorded, updated in the last 30 days, with a care team"),
        (status = 403, description = "Only commissioners"),
    ))]
pub(crate) async fn caseload(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Vec<OrganisationReport>>, ApiError> {
    if !principal.user.has(Role::Commissioner) {
        return Err(ApiError::Forbidden);
    }
    let now = now_ms();
    let event = AuditEvent::new(now, action::REPORT, purpose::COMMISSIONING, "ok")
        .by(&principal, Role::Commissioner)
        .detail("caseload report (aggregates only)");
    state.store().record_audit(&[event]).await?;
    Ok(Json(state.store().organisation_reports(now).await?))
}
