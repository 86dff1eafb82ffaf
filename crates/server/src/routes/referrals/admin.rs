//! Which specialties are reviewed, and who reviews them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::referral;
use serde::Deserialize;

use super::views::{ReviewersView, SpecialtiesView};
use super::{deny, specialties};
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::Authenticated;
use crate::domain::{Role, now_ms};
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::state::AppState;

/// The reviewed specialties, in the order offered.
#[utoipa::path(get, path = "/api/v1/referrals/specialties", tag = "referrals",
    security(("bearer" = [])),
    responses((status = 200, body = SpecialtiesView, description = "The reviewed specialties"),
        (status = 401, description = "Not signed in")))]
pub(crate) async fn list_specialties(
    State(state): State<AppState>,
    Authenticated(_principal): Authenticated,
) -> Result<Json<SpecialtiesView>, ApiError> {
    let list = specialties(&state).await?;
    Ok(Json(SpecialtiesView {
        specialties: list.names().to_vec(),
        review_working_days: referral::REVIEW_WORKING_DAYS,
    }))
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
    responses((status = 200, body = ReviewersView, description = "Who reviews which specialty, mentored or not"),
        (status = 401, description = "Not signed in"), (status = 403, description = "Only administrators and GP reviewers")))]
pub(crate) async fn reviewers(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<ReviewersView>, ApiError> {
    let u = &principal.user;
    if !(u.has(Role::Admin) || u.has(Role::DeploymentAdmin) || u.has(Role::GpReviewer)) {
        return Err(deny(&state, &principal, action::REFERRAL_ADMIN, "list reviewers").await);
    }
    Ok(Json(ReviewersView {
        reviewers: state.store().reviewer_assignments(None).await?,
    }))
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
