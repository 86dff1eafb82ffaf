use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::auth::{dummy_hash, new_token, token_hash, verify_password};
use crate::domain::now_ms;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<Value>, ApiError> {
    let credentials = state.store().credentials(request.username.trim()).await?;
    let stored = credentials
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |c| c.password_hash.clone());
    // Argon2 is deliberately slow: keep it off the async workers.
    let password = request.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| anyhow::anyhow!("password check panicked: {e}"))?;
    let user = match credentials {
        Some(c) if ok => c.user,
        _ => return Err(ApiError::InvalidCredentials),
    };
    let token = new_token();
    let ttl = state.config().session_ttl;
    let now = now_ms();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    state
        .store()
        .create_session(&token_hash(&token), &user.id, now, expires_at)
        .await?;
    tracing::info!(user_id = %user.id, "signed in");
    Ok(Json(json!({
        "token": token,
        "expires_in": ttl.as_secs(),
        "user": {
            "id": user.id,
            "name": user.name,
            "role": user.role.as_str(),
            "organisation": { "id": user.organisation_id, "name": user.organisation_name },
        },
    })))
}
