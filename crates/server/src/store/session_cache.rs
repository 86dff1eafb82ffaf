//! A short-lived in-memory cache of access-token lookups.
//!
//! Every authenticated request looks its token up: a session row, its device, its user
//! and the user's roles, three queries. An emergency service reads summaries at thousands
//! of requests a second with a handful of tokens, so [`Store::session_principal`] keeps
//! the answer for a live session for at most [`SESSION_CACHE_TTL`].
//!
//! Revocation stays immediate on this instance: every store method that ends sessions,
//! revokes a device, disables a user or changes roles clears the cache once it has
//! committed, and a lookup that read the database before such a clear cannot put its
//! stale answer back (the generation check in [`SessionCache::insert`]). Those methods
//! also send a `NOTIFY` (on PostgreSQL) in their transaction; every other instance clears
//! its cache when it hears it (`cluster.rs`), so there a revoked token works only until
//! the notice arrives, and for at most [`SESSION_CACHE_TTL`] if the notice is lost
//! (docs/hazard-log.md, H10; docs/operations.md). Only sessions that were valid when read
//! are cached; an expired token is refused from the cached expiry time, exactly as from
//! the row.
//!
//! Every invalidation also ticks [`SessionCache::changes`], so whatever holds access
//! decided earlier (sync connections, emergency feed streams and long-polls) can look its
//! session up again at once instead of keeping it until its next timer.
//!
//! [`Store::session_principal`]: super::Store::session_principal

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::Principal;

/// How long a looked-up session is reused before the database is asked again: the
/// longest a revocation made through another instance can go unnoticed here.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(2);

/// Entries kept at most; past this, expired entries are dropped, and if that is not
/// enough the cache starts again empty (a burst of distinct tokens only costs queries).
const MAX_ENTRIES: usize = 16_384;

#[derive(Debug)]
pub(super) struct SessionCache {
    inner: Mutex<Inner>,
    /// Ticked by every [`SessionCache::invalidate`]: sessions may have ended.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            inner: Mutex::default(),
            changes: tokio::sync::watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every [`SessionCache::invalidate`].
    generation: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    principal: Principal,
    /// The session's own expiry (epoch milliseconds), checked on every hit.
    expires_at_ms: i64,
    /// When this entry stops being used.
    fresh_until: Instant,
}

/// A cached live session: its principal and when the token expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CachedSession {
    pub(super) principal: Principal,
    pub(super) expires_at_ms: i64,
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is valid after any panic mid-update (at worst an entry is missing).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation to pass to [`SessionCache::insert`]; read it before the database.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub(super) fn get(&self, token_hash: &str, now: Instant) -> Option<CachedSession> {
        let inner = self.lock();
        let entry = inner.entries.get(token_hash)?;
        (now < entry.fresh_until).then(|| CachedSession {
            principal: entry.principal.clone(),
            expires_at_ms: entry.expires_at_ms,
        })
    }

    /// Remembers a live session read from the database, unless the cache was invalidated
    /// since `generation` was read (the row may then predate the revocation).
    pub(super) fn insert(
        &self,
        token_hash: &str,
        session: CachedSession,
        generation: u64,
        now: Instant,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.retain(|_, e| now < e.fresh_until);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        inner.entries.insert(
            token_hash.to_owned(),
            Entry {
                principal: session.principal,
                expires_at_ms: session.expires_at_ms,
                fresh_until: now + SESSION_CACHE_TTL,
            },
        );
    }

    /// Forgets every entry; call after committing anything that can end a session or
    /// change who its user is.
    pub(super) fn invalidate(&self) {
        {
            let mut inner = self.lock();
            inner.generation += 1;
            inner.entries.clear();
        }
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever the cache is invalidated: a session may have ended, a device been
    /// revoked, a user disabled or their roles changed.
    pub(super) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Invalidates when the returned guard is dropped: at the end of a store method,
    /// after its commit, whichever way the method returns.
    pub(super) fn forget_on_return(&self) -> ForgetOnReturn<'_> {
        ForgetOnReturn(self)
    }
}

/// See [`SessionCache::forget_on_return`].
#[derive(Debug)]
pub(super) struct ForgetOnReturn<'a>(&'a SessionCache);

impl Drop for ForgetOnReturn<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, User};

    fn session(name: &str) -> CachedSession {
        CachedSession {
            principal: Principal {
                user: User {
                    id: format!("id-{name}"),
                    username: name.to_owned(),
                    name: name.to_owned(),
                    roles: vec![Role::EmergencyClinician],
                    organisation_id: "org".to_owned(),
                    organisation_name: "Org".to_owned(),
                    disabled: false,
                },
                device_id: "device".to_owned(),
            },
            expires_at_ms: 1_000,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = SessionCache::default();
        let now = Instant::now();
        cache.insert("a", session("a"), cache.generation(), now);
        assert_eq!(cache.get("a", now), Some(session("a")));
        assert_eq!(cache.get("b", now), None);
        assert_eq!(cache.get("a", now + SESSION_CACHE_TTL), None);
    }

    #[test]
    fn invalidation_clears_and_refuses_lookups_that_started_before_it() {
        let cache = SessionCache::default();
        let now = Instant::now();
        cache.insert("a", session("a"), cache.generation(), now);
        let before = cache.generation();
        cache.invalidate();
        assert_eq!(cache.get("a", now), None);
        // A lookup that read the database before the revocation committed.
        cache.insert("b", session("b"), before, now);
        assert_eq!(cache.get("b", now), None);
        cache.insert("b", session("b"), cache.generation(), now);
        assert_eq!(cache.get("b", now), Some(session("b")));
    }

    #[test]
    fn invalidation_wakes_whoever_holds_a_session() {
        let cache = SessionCache::default();
        let mut changes = cache.changes();
        assert!(!changes.has_changed().unwrap());
        cache.invalidate();
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        let _guard = cache.forget_on_return();
        drop(_guard);
        assert!(changes.has_changed().unwrap());
    }
}
