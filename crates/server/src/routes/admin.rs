//! `/api/v1/admin`: organisations, users, passwords and devices, for administrators.
//! An administrator sees and manages only their own organisation's users and devices; a
//! deployment administrator manages every organisation (see `crate::admin`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::admin::{self, Operator};
use crate::auth::AdminUser;
use crate::domain::{Role, User};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{Device, Organisation};

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "roles": user.role_names(),
        "organisation": { "id": user.organisation_id, "name": user.organisation_name },
        "disabled": user.disabled,
    })
}

#[utoipa::path(get, path = "/api/v1/admin/organisations", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "Every organisation"), (status = 403, description = "Not an admin")))]
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
        (status = 201, description = "Created"),
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
    responses((status = 200, description = "Every user with roles: of the administrator's own organisation, or of every organisation for a deployment administrator"), (status = 403, description = "Not an admin")))]
pub(crate) async fn users(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
) -> Result<Json<Vec<Value>>, ApiError> {
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
        (status = 201, description = "Created: `{user, password}` (password only if generated)"),
        (status = 400, description = "Invalid"),
        (status = 403, description = "Not an admin, or another organisation (or the deployment_admin role) without being a deployment administrator"),
        (status = 404, description = "No such organisation"),
        (status = 409, description = "The username is taken"),
    ))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(json!({ "user": user_json(&user), "password": generated })),
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
        (status = 200, description = "Reset; the user is signed out everywhere: `{password}` (only if generated)"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such user in an organisation the administrator manages"),
    ))]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<Json<Value>, ApiError> {
    let generated = admin::reset_password(
        state.store(),
        Operator::Api(&principal),
        &username,
        body.password,
    )
    .await?;
    Ok(Json(json!({ "password": generated })))
}

#[utoipa::path(post, path = "/api/v1/admin/users/{username}/disable", tag = "admin",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username")),
    responses(
        (status = 204, description = "Disabled: no sign-in; the user's devices are told to erase their data"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such user in an organisation the administrator manages"),
    ))]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin::disable_user(state.store(), Operator::Api(&principal), &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/admin/users/{username}/devices", tag = "admin",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Username")),
    responses(
        (status = 200, description = "The user's registered devices"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such user in an organisation the administrator manages"),
    ))]
pub(crate) async fn devices(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    Path(username): Path<String>,
) -> Result<Json<Vec<Device>>, ApiError> {
    Ok(Json(
        admin::devices(state.store(), Operator::Api(&principal), &username).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/devices/{device_id}/revoke", tag = "admin",
    security(("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "Revoked: its tokens stop working and its next connection is told to erase local data"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such device of a user the administrator manages"),
    ))]
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    AdminUser(principal): AdminUser,
    Path(device_id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    Ok(Json(
        admin::revoke_device(state.store(), Operator::Api(&principal), &device_id).await?,
    ))
}
