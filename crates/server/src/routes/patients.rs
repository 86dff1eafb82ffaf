use axum::Json;
use axum::extract::State;

use crate::auth::Authenticated;
use crate::domain::Role;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::PatientListing;

/// The caller's caseload: the patients registered at their organisation, read from the
/// `patients` projection without loading any document.
pub(crate) async fn caseload(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> Result<Json<Vec<PatientListing>>, ApiError> {
    if user.role != Role::CaseManager {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(state.store().caseload(&user.organisation_id).await?))
}
