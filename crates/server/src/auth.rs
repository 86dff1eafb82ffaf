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
use crate::state::AppState;
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

/// How many passwords are hashed or checked at once, at most: Argon2 takes tens of
/// milliseconds of a core and 19 MiB each, so a burst of sign-ins (or an attacker's) would
/// otherwise take every blocking thread and the memory with them. The rest wait their turn.
fn hashing_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}

/// Sign-ins that may wait for a turn at hashing; past this a sign-in is told to come back
/// (429) rather than queue without bound.
const MAX_HASHING_QUEUE: usize = 256;

struct Hashing {
    permits: tokio::sync::Semaphore,
    /// Waiting or hashing now.
    queued: std::sync::atomic::AtomicUsize,
    running: std::sync::atomic::AtomicUsize,
    /// The most ever hashing at once (for the test that shows the bound holds).
    peak: std::sync::atomic::AtomicUsize,
}

static HASHING: std::sync::LazyLock<Hashing> = std::sync::LazyLock::new(|| Hashing {
    permits: tokio::sync::Semaphore::new(hashing_permits()),
    queued: std::sync::atomic::AtomicUsize::new(0),
    running: std::sync::atomic::AtomicUsize::new(0),
    peak: std::sync::atomic::AtomicUsize::new(0),
});

/// The bound on concurrent password hashing, and the most that ever ran at once in this
/// process.
pub fn hashing_bound_and_peak() -> (usize, usize) {
    (
        hashing_permits(),
        HASHING.peak.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// Runs password hashing (`work`) on the blocking pool, at most [`hashing_permits`] at a
/// time across the process. `TooManyRequests` if too many already wait.
pub async fn bounded_hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    use std::sync::atomic::Ordering;
    let hashing = &*HASHING;
    if hashing.queued.fetch_add(1, Ordering::AcqRel) >= MAX_HASHING_QUEUE {
        hashing.queued.fetch_sub(1, Ordering::AcqRel);
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 1,
        });
    }
    let result = async {
        let _permit = hashing
            .permits
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("the hashing semaphore closed: {e}"))?;
        let now = hashing.running.fetch_add(1, Ordering::AcqRel) + 1;
        hashing.peak.fetch_max(now, Ordering::AcqRel);
        let done = tokio::task::spawn_blocking(work).await;
        hashing.running.fetch_sub(1, Ordering::AcqRel);
        done.map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing panicked: {e}")))
    }
    .await;
    hashing.queued.fetch_sub(1, Ordering::AcqRel);
    result
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
///
/// Failures count per account and per client address. A sign-in from a device that
/// signed in to the account before (it presents its `device_id`) counts in that device's
/// own bucket instead of the account's: someone guessing the password elsewhere cannot
/// lock the owner out of the tablet they use, and the owner's own failures lock that
/// device for at most one window (OWASP's "device cookie" defence).
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Failures per account (or per known device of it) within `window_ms` before it is
    /// locked for the rest of it.
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

/// The throttling subjects of a sign-in attempt, each with its limit: the account (or,
/// given a device the account signed in on before, that device's bucket of it), and the
/// address if known. The account's subject comes first.
pub fn throttle_subjects(
    throttle: &Throttle,
    username: &str,
    known_device: Option<&str>,
    addr: Option<IpAddr>,
) -> Vec<(String, i64)> {
    let account = match known_device {
        Some(device) => format!("user:{}@device:{device}", username.to_lowercase()),
        None => format!("user:{}", username.to_lowercase()),
    };
    let mut subjects = vec![(account, throttle.per_account)];
    if let Some(addr) = addr {
        subjects.push((format!("addr:{addr}"), throttle.per_address));
    }
    subjects
}

/// Counts a sign-in attempt before its password is checked (see
/// [`crate::store::Store::reserve_login_attempt`]): the ids of its recorded rows, or
/// `TooManyRequests` with when to come back.
pub async fn reserve_attempt(
    state: &AppState,
    subjects: &[(String, i64)],
    now: i64,
) -> Result<Vec<i64>, ApiError> {
    let window = state.config().throttle.window_ms;
    match state
        .store()
        .reserve_login_attempt(subjects, now, window)
        .await?
    {
        Ok(ids) => Ok(ids),
        Err(until) => {
            // Rounded up: coming back on time finds the lock over.
            let secs = u64::try_from((until - now + 999).max(1000) / 1000).unwrap_or(1);
            Err(ApiError::TooManyRequests {
                retry_after_secs: secs,
            })
        }
    }
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
