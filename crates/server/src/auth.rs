//! Passwords, tokens, sign-in throttling and the `Authorization: Bearer` extractors.
//!
//! Access tokens are short-lived and refresh tokens long-lived and single use; both are
//! random, bound to a registered device, and stored only as SHA-256 hashes.

use std::net::{IpAddr, SocketAddr};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::SessionLookup;

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

/// A new random token (32 bytes, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new random password for an account created or reset without one (16 bytes,
/// base32-like, easy to read out).
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!(
        "{}-{}-{}-{}",
        &chars[0..5],
        &chars[5..10],
        &chars[10..15],
        &chars[15..20]
    )
}

/// What the token tables store instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Looks a presented access token up. `check_expiry` is off for re-checking an open sync
/// connection, which outlives its token until the device is revoked or signed out.
pub async fn lookup_token(
    state: &AppState,
    token: &str,
    check_expiry: bool,
) -> anyhow::Result<SessionLookup> {
    if token.is_empty() || token.len() > 256 {
        return Ok(SessionLookup::Invalid);
    }
    state
        .store()
        .session_principal(&token_hash(token), now_ms(), check_expiry)
        .await
}

/// The principal a live access token belongs to.
pub async fn principal_for_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    match lookup_token(state, token, true).await? {
        SessionLookup::Valid(principal) => Ok(principal),
        SessionLookup::DeviceRevoked => Err(ApiError::DeviceRevoked),
        SessionLookup::Invalid => Err(ApiError::Unauthorized),
    }
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
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
    principal_for_token(state, token).await
}

/// Extractor for handlers that need a signed-in user.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers).await.map(Authenticated)
    }
}

/// Extractor for handlers only an administrator (of an organisation or of the
/// deployment) may use; `crate::admin` confines each to what they may manage.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        if !principal.user.has(Role::Admin) && !principal.user.has(Role::DeploymentAdmin) {
            return Err(ApiError::Forbidden);
        }
        Ok(AdminUser(principal))
    }
}

/// The address a request came from, if the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// Limits on failed sign-ins.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Failures per account within `window_ms` before it is locked for the rest of it.
    pub per_account: i64,
    /// Failures per client address within `window_ms`.
    pub per_address: i64,
    pub window_ms: i64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            per_account: 5,
            per_address: 20,
            window_ms: 15 * 60 * 1000,
        }
    }
}

/// The throttling subjects of a sign-in attempt: the account, and the address if known.
pub fn throttle_subjects(username: &str, addr: Option<IpAddr>) -> Vec<(String, bool)> {
    let mut subjects = vec![(format!("user:{}", username.to_lowercase()), true)];
    if let Some(addr) = addr {
        subjects.push((format!("addr:{addr}"), false));
    }
    subjects
}

/// Refuses a sign-in attempt while its account or address has too many recent failures.
pub async fn check_throttle(
    state: &AppState,
    subjects: &[(String, bool)],
    now: i64,
) -> Result<(), ApiError> {
    let throttle = state.config().throttle;
    let since = now - throttle.window_ms;
    for (subject, is_account) in subjects {
        let limit = if *is_account {
            throttle.per_account
        } else {
            throttle.per_address
        };
        let (count, oldest) = state.store().login_failures(subject, since).await?;
        if count >= limit {
            let until = oldest.unwrap_or(now) + throttle.window_ms;
            let secs = u64::try_from((until - now).max(1000) / 1000).unwrap_or(1);
            return Err(ApiError::TooManyRequests {
                retry_after_secs: secs,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_differ_and_hash_stably() {
        assert_ne!(new_token(), new_token());
        assert_eq!(new_token().len(), 64);
        assert_eq!(token_hash("a"), token_hash("a"));
        let password = new_password();
        assert_eq!(password.len(), 23, "{password}");
        assert_ne!(password, new_password());
    }
}
