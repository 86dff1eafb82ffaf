//! `/api/v1/admin`: organisations, users, passwords and devices, for administrators.
//! An administrator sees and manages only their own organisation's users and devices; a
//! deployment administrator manages every organisation (see `crate::admin`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath};
use crate::admin::{self, Operator};
use crate::auth::AdminUser;
use crate::domain::{Role, User};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Device, Organisation};

/// A user as administrators see them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UserView {
    id: String,
    username: String,
    name: String,
    roles: Vec<&'static str>,
    organisation: OrganisationRef,
    disabled: bool,
}

/// An organisation named in another answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OrganisationRef {
    pub(crate) id: String,
    pub(crate) name: String,
}

fn user_json(user: &User) -> UserView {
    UserView {
        id: user.id.clone(),
        username: user.username.clone(),
        name: user.name.clone(),
        roles: user.role_names(),
        organisation: OrganisationRef {
            id: user.organisation_id.clone(),
            name: user.organisation_name.clone(),
        },
        disabled: user.disabled,
    }
}

/// A new user, with their password when the server generated it (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedUser {
    user: UserView,
    password: Option<String>,
}

/// The generated password (shown this once), or null when the administrator chose it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PasswordReset {
    password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/organisations", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Organisation>, description = "Every organisation"), (status = 403, description = "Not an admin")))]
pub(crate) async fn organisations(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<Json<Vec<Organisation>>, ApiError> {
    Ok(Json(state.store().organisations().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewOrganisationRequest {
    code: String,
    name: String,
    /// gp_practice, community_health_service, social_care, voluntary_sector,
    /// out_of_hours_provider, ambulance_service, emergency_department or commissioner.
    kind: String,
}

#[utoipa::path(post, path = "/api/v1/admin/organisations", tag = "admin",
    security(("bearer" = [])),
    request_body = NewOrganisationRequest,
    responses(
        (status = 201, body = Organisation, description = "Created"),
        (status = 400, description = "Invalid"),
        (status = 403, description = "Not a deployment administrator"),
        (status = 409, description = "The code is taken"),
    ))]
pub(crate) async fn create_organisation(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiJson(body): ApiJson<NewOrganisationRequest>,
) -> Result<(StatusCode, Json<Organisation>), ApiError> {
    let org = admin::create_organisation(
        state.store(),
        Operator::Api(&principal),
        &body.code,
        &body.name,
        &body.kind,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>, description = "Every user with roles: of the administrator's own organisation, or of every organisation for a deployment administrator"), (status = 403, description = "Not an admin")))]
pub(crate) async fn users(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let everyone = principal.user.has(Role::DeploymentAdmin);
    Ok(Json(
        state
            .store()
            .users()
            .await?
            .iter()
            .filter(|u| everyone || u.organisation_id == principal.user.organisation_id)
            .map(user_json)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewUserRequest {
    username: String,
    name: String,
    /// The organisation's code or id.
    organisation: String,
    /// case_manager, mdt_member, gp_reviewer, emergency_clinician, commissioner, admin.
    roles: Vec<String>,
    /// Omit to have one generated and returned once.
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = [])),
    request_body = NewUserRequest,
    responses(
        (status = 201, body = CreatedUser, description = "Created (the password only if generated)"),
        (status = 429, description = "Too many passwords being hashed at once; see Retry-After"),
        (status = 400, description = "Invalid"),
        (status = 403, description = "Not an admin, or another organisation (or the deployment_admin role) without being a deployment administrator"),
        (status = 404, description = "No such organisation"),
        (status = 409, description = "The username is taken"),
    ))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let (user, generated) = admin::create_user(
        state.store(),
        Operator::Api(&principal),
        &body.username,
        &body.name,
        &body.organisation,
        &body.roles,
        body.password,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: user_json(&user),
            password: generated,
        }),
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordRequest {
    /// Omit to have one generated and returned once.
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/users/{username}/reset-password", tag = "admin",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username")),
    request_body = PasswordRequest,
    responses(
        (status = 200, body = PasswordReset, description = "Reset; the user is signed out everywhere (the password only if generated)"),
        (status = 429, description = "Too many passwords being hashed at once; see Retry-After"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such user in an organisation the administrator manages"),
    ))]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiPath(username): ApiPath<String>,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<Json<PasswordReset>, ApiError> {
    let generated = admin::reset_password(
        state.store(),
        Operator::Api(&principal),
        &username,
        body.password,
    )
    .await?;
    Ok(Json(PasswordReset {
        password: generated,
    }))
}

#[utoipa::path(post, path = "/api/v1/admin/users/{username}/disable", tag = "admin",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username")),
    responses(
        (status = 204, description = "Disabled: no sign-in; the user's devices are told to erase their data"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such user in an organisation the administrator manages"),
        (status = 409, description = "Administrators cannot disable their own account"),
    ))]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    admin::disable_user(state.store(), Operator::Api(&principal), &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/admin/users/{username}/devices", tag = "admin",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username")),
    responses(
        (status = 200, body = Vec<Device>, description = "The user's registered devices"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such user in an organisation the administrator manages"),
    ))]
pub(crate) async fn devices(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Vec<Device>>, ApiError> {
    Ok(Json(
        admin::devices(state.store(), Operator::Api(&principal), &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/devices/{device_id}/revoke", tag = "admin",
    security(("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id")),
    responses(
        (status = 200, body = Device, description = "Revoked: its tokens stop working and its next connection is told to erase local data"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such device of a user the administrator manages"),
    ))]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiPath(device_id): ApiPath<String>,
) -> Result<Json<Device>, ApiError> {
    Ok(Json(
        admin::revoke_device(state.store(), Operator::Api(&principal), &device_id).await?,
    ))
}
