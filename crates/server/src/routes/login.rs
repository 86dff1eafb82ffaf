//! Sign-in, token refresh and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::audit::{AuditEvent, action, purpose};
use crate::auth::{
    Authenticated, ClientAddr, bounded_hashing, dummy_hash, new_token, reserve_attempt,
    throttle_subjects, token_hash, verify_password,
};
use crate::domain::{Principal, now_ms};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{NewTokens, RefreshLookup};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
    /// The `device_id` of an earlier sign-in on this device, to keep its registration
    /// (and the Automerge actors bound to it). Omit it on a new device.
    #[serde(default)]
    device_id: Option<String>,
    /// A name for a newly registered device, shown to administrators.
    #[serde(default)]
    device_label: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

/// Signs in: checks the password (throttled per account and per address), registers the
/// device or continues its registration, and returns an access token and a refresh token.
///
/// The attempt is counted before the password is hashed, so parallel guesses cannot all
/// slip under the limit while the first are still hashing; hashing itself runs a bounded
/// number at a time (`auth::bounded_hashing`). A device that signed in to the account
/// before has its own bucket of failures (`auth::Throttle`).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = Tokens, description = "Signed in"),
        (status = 401, description = "Wrong username or password"),
        (status = 403, description = "The given device was revoked: erase its data"),
        (status = 429, description = "Too many failed sign-ins; see Retry-After"),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<Tokens>, ApiError> {
    let username = request.username.trim().to_owned();
    let now = now_ms();
    let store = state.store();
    let attempt = |outcome: &str| {
        AuditEvent::new(now, action::LOGIN, purpose::AUTHENTICATION, outcome)
            .subject(username.chars().take(64).collect::<String>())
    };
    let credentials = store.credentials(&username).await?;
    let requested = request
        .device_id
        .filter(|id| !id.is_empty() && id.len() <= 128);
    // A device this account signed in on before, still registered to it.
    let known_device = match (&requested, &credentials) {
        (Some(id), Some(c)) => store
            .device(id)
            .await?
            .filter(|d| d.user_id == c.user.id && d.revoked_at_ms.is_none())
            .map(|d| d.id),
        _ => None,
    };
    let throttle = state.config().throttle;
    let subjects = throttle_subjects(&throttle, &username, known_device.as_deref(), addr);
    // Failed and refused sign-ins are nobody's: audited one by one only up to a rate
    // per address, then counted (`Store::record_unauthenticated_audit`).
    let source = addr.map(|a| a.to_string()).unwrap_or_default();
    let reserved = match reserve_attempt(&state, &subjects, now).await {
        Ok(ids) => ids,
        Err(e) => {
            state.metrics().login("throttled");
            store
                .record_unauthenticated_audit(attempt("throttled"), &source, now)
                .await?;
            return Err(e);
        }
    };
    let stored = credentials
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |c| c.password_hash.clone());
    // Argon2 is deliberately slow: off the async workers, and a bounded number at once.
    let password = request.password;
    let ok = match bounded_hashing(move || verify_password(&password, &stored)).await {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked, so not a failure: the attempt does not count.
            store.forget_login_attempts(&reserved).await?;
            return Err(e);
        }
    };
    let user = match credentials {
        Some(c) if ok && !c.user.disabled && !c.user.roles.is_empty() => c.user,
        _ => {
            // The attempt's rows stay: they are its failure.
            state.metrics().login("failed");
            store
                .record_unauthenticated_audit(attempt("failed"), &source, now)
                .await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    store.forget_login_attempts(&reserved).await?;

    let existing = match &requested {
        Some(id) => store.device(id).await?.filter(|d| d.user_id == user.id),
        None => None,
    };
    let device_id = match existing {
        Some(device) if device.revoked_at_ms.is_some() => {
            let event = attempt("device_revoked");
            store.record_audit(&[event]).await?;
            return Err(ApiError::DeviceRevoked);
        }
        Some(device) => device.id,
        None => {
            let label = request
                .device_label
                .map(|l| l.chars().take(100).collect::<String>())
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(|| "device".to_owned());
            store.register_device(&user.id, &label, now).await?
        }
    };
    let principal = Principal { user, device_id };
    let event = attempt("ok").by(&principal, principal.user.primary_role());
    let body = issue_tokens(&state, &principal, now, &[event]).await?;
    store
        .clear_login_failures(&subjects[0].0, now - throttle.window_ms)
        .await?;
    state.metrics().login("ok");
    tracing::info!(user_id = %principal.user.id, device_id = %principal.device_id, "signed in");
    Ok(Json(body))
}

/// Exchanges a refresh token (used once) for a new access token and refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = Tokens, description = "New tokens, as from login"),
        (status = 401, description = "Unknown, expired or already used refresh token (a reused token ends every token of the device)"),
        (status = 403, description = "The device was revoked or its user disabled: erase its data"),
    ))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    let now = now_ms();
    let token = request.refresh_token.trim();
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthorized);
    }
    let store = state.store();
    match store.use_refresh_token(&token_hash(token), now).await? {
        RefreshLookup::Valid { user_id, device_id } => {
            let user = store
                .user_by_id(&user_id)
                .await?
                .filter(|u| !u.disabled)
                .ok_or(ApiError::DeviceRevoked)?;
            let principal = Principal { user, device_id };
            let event = AuditEvent::new(now, action::REFRESH, purpose::AUTHENTICATION, "ok")
                .by(&principal, principal.user.primary_role());
            Ok(Json(issue_tokens(&state, &principal, now, &[event]).await?))
        }
        RefreshLookup::Reused { device_id } => {
            tracing::warn!(device_id, "a used refresh token was presented again");
            let event = AuditEvent::new(now, action::REFRESH, purpose::AUTHENTICATION, "reused")
                .subject(device_id);
            store.record_audit(&[event]).await?;
            Err(ApiError::Unauthorized)
        }
        RefreshLookup::DeviceRevoked => Err(ApiError::DeviceRevoked),
        RefreshLookup::Invalid => Err(ApiError::Unauthorized),
    }
}

/// Signs this device out: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, description = "Not signed in")))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    let now = now_ms();
    let event = AuditEvent::new(now, action::LOGOUT, purpose::AUTHENTICATION, "ok")
        .by(&principal, principal.user.primary_role());
    state
        .store()
        .sign_out_device(&principal.device_id, now, &[event])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn issue_tokens(
    state: &AppState,
    principal: &Principal,
    now: i64,
    audit: &[AuditEvent],
) -> Result<Tokens, ApiError> {
    let config = state.config();
    let access = new_token();
    let refresh = new_token();
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    state
        .store()
        .create_tokens(
            principal,
            &NewTokens {
                access_hash: &token_hash(&access),
                access_expires_ms: now.saturating_add(ms(config.access_ttl)),
                refresh_hash: &token_hash(&refresh),
                refresh_expires_ms: now.saturating_add(ms(config.refresh_ttl)),
            },
            now,
            audit,
        )
        .await?;
    let user = &principal.user;
    Ok(Tokens {
        token: access,
        refresh_token: refresh,
        expires_in: config.access_ttl.as_secs(),
        refresh_expires_in: config.refresh_ttl.as_secs(),
        device_id: principal.device_id.clone(),
        user: SignedInUser {
            id: user.id.clone(),
            username: user.username.clone(),
            name: user.name.clone(),
            role: user.primary_role().as_str(),
            roles: user.role_names(),
            organisation: super::admin::OrganisationRef {
                id: user.organisation_id.clone(),
                name: user.organisation_name.clone(),
            },
        },
    })
}

/// A sign-in's or a refresh's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Tokens {
    /// The access token, sent as `Authorization: Bearer …`.
    token: String,
    /// Used once, for the next pair (`POST /api/v1/auth/refresh`).
    refresh_token: String,
    /// Seconds the access token lasts.
    expires_in: u64,
    /// Seconds the refresh token lasts.
    refresh_expires_in: u64,
    /// The device's registration: send it with the next sign-in on this device.
    device_id: String,
    user: SignedInUser,
}

/// Who signed in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SignedInUser {
    id: String,
    username: String,
    name: String,
    /// The role the app opens with.
    role: &'static str,
    roles: Vec<&'static str>,
    organisation: super::admin::OrganisationRef,
}
