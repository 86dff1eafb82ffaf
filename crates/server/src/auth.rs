//! Passwords, access tokens and the `Authorization: Bearer` extractor.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::{User, now_ms};
use crate::error::ApiError;
use crate::startup::AppState;

/// Hashes a password with Argon2id (the crate's default algorithm and parameters).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("encoding a salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored hash. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash to verify against when the username does not exist, so that a wrong username
/// takes as long as a wrong password and usernames cannot be discovered by timing.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// A new random access token (32 bytes, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the `sessions` table stores instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The user a token belongs to, if it is a live session.
pub async fn user_for_token(state: &AppState, token: &str) -> Result<User, ApiError> {
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthorized);
    }
    state
        .store()
        .session_user(&token_hash(token), now_ms())
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates a request from its `Authorization` header.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<User, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
    user_for_token(state, token).await
}

/// Extractor for handlers that need a signed-in user.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await.map(Authenticated)
    }
}
