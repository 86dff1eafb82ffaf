//! Devices and the tokens bound to them: registration, revocation, sessions and refresh,
//! sign-out, sign-in throttling, and the Automerge actors a device writes with.

use anyhow::Context;
use sqlx::Row;

use super::session_cache::CachedSession;
use super::{Pool, Store, append_audit, notify_sessions, with_pool};
use crate::audit::AuditEvent;
use crate::domain::Principal;

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub label: String,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A new access token and refresh token, as hashes, with their expiry times.
#[derive(Debug, Clone)]
pub struct NewTokens<'a> {
    pub access_hash: &'a str,
    pub access_expires_ms: i64,
    pub refresh_hash: &'a str,
    pub refresh_expires_ms: i64,
}

/// What an access token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    Valid(Principal),
    /// The token was real but its device is revoked or its user disabled: the device
    /// must erase its data.
    DeviceRevoked,
    /// Unknown, expired or signed out.
    Invalid,
}

/// What a refresh token turned out to be (it is used up by the lookup if valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshLookup {
    Valid {
        user_id: String,
        device_id: String,
    },
    /// Already used once: it may have been stolen. Every token of the device is revoked.
    Reused {
        device_id: String,
    },
    DeviceRevoked,
    Invalid,
}

impl Store {
    // ---- devices and tokens ----

    pub async fn register_device(
        &self,
        user_id: &str,
        label: &str,
        now_ms: i64,
    ) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO devices (id, user_id, label, created_at_ms, last_seen_at_ms)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(&id)
            .bind(user_id)
            .bind(label)
            .bind(now_ms)
            .execute(pool)
            .await
            .context("registering a device")?;
            Ok(id)
        })
    }

    pub async fn device(&self, device_id: &str) -> anyhow::Result<Option<Device>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, user_id, label, created_at_ms, last_seen_at_ms, revoked_at_ms FROM devices WHERE id = $1",
            )
            .bind(device_id)
            .fetch_optional(pool)
            .await
            .context("reading a device")?;
            row.map(|r| device_from_row(&r)).transpose()
        })
    }

    pub async fn devices_of(&self, user_id: &str) -> anyhow::Result<Vec<Device>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, user_id, label, created_at_ms, last_seen_at_ms, revoked_at_ms FROM devices
                 WHERE user_id = $1 ORDER BY created_at_ms, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .context("listing devices")?;
            rows.iter().map(device_from_row).collect()
        })
    }

    /// Revokes a device: every token bound to it stops working, and its next connection is
    /// told to erase local data. `false` if there is no such device.
    pub async fn revoke_device(
        &self,
        device_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<bool> {
        let _forget = self.sessions.forget_on_return();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query("UPDATE devices SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE id = $1")
                .bind(device_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("revoking a device")?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE refresh_tokens SET revoked_at_ms = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL")
                .bind(device_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("ending refresh tokens")?;
            append_audit!(tx, audit);
            notify_sessions!(self, tx);
            tx.commit().await.context("committing a device revocation")?;
            Ok(true)
        })
    }

    /// Stores a new access token and refresh token for a device, forgetting long-expired
    /// ones. Tokens of revoked devices and disabled users are kept until they expire so
    /// that the device can still be told to erase its data.
    pub async fn create_tokens(
        &self,
        principal: &Principal,
        tokens: &NewTokens<'_>,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, device_id, created_at_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tokens.access_hash)
            .bind(&principal.user.id)
            .bind(&principal.device_id)
            .bind(now_ms)
            .bind(tokens.access_expires_ms)
            .execute(&mut *tx)
            .await
            .context("inserting a session")?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_at_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tokens.refresh_hash)
            .bind(&principal.user.id)
            .bind(&principal.device_id)
            .bind(now_ms)
            .bind(tokens.refresh_expires_ms)
            .execute(&mut *tx)
            .await
            .context("inserting a refresh token")?;
            sqlx::query("UPDATE devices SET last_seen_at_ms = $2 WHERE id = $1")
                .bind(&principal.device_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("touching a device")?;
            append_audit!(tx, audit);
            tx.commit().await.context("committing new tokens")?;
        });
        // Housekeeping outside the transaction: a failure here costs nothing.
        let cutoff = now_ms - 7 * 24 * 60 * 60 * 1000;
        with_pool!(self, pool => {
            let _ = sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
                .bind(cutoff)
                .execute(pool)
                .await;
        });
        Ok(())
    }

    /// The principal an access token belongs to. With `check_expiry` off, an expired
    /// token still counts (an open sync connection outlives its token; revocation ends it).
    /// A live session is answered from memory for up to [`super::SESSION_CACHE_TTL`]
    /// (`store/session_cache.rs`: revocations through this instance take effect at once).
    pub async fn session_principal(
        &self,
        token_hash: &str,
        now_ms: i64,
        check_expiry: bool,
    ) -> anyhow::Result<SessionLookup> {
        let now = std::time::Instant::now();
        if let Some(cached) = self.sessions.get(token_hash, now) {
            if check_expiry && cached.expires_at_ms <= now_ms {
                return Ok(SessionLookup::Invalid);
            }
            return Ok(SessionLookup::Valid(cached.principal));
        }
        // Read before the database: a revocation committed after this point makes the
        // cache refuse what the rows below say.
        let generation = self.sessions.generation();
        let row = with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT s.user_id, s.device_id, s.expires_at_ms, s.revoked_at_ms AS session_revoked,
                        d.revoked_at_ms AS device_revoked, u.username, u.disabled_at_ms
                 FROM sessions s
                 JOIN devices d ON d.id = s.device_id
                 JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
            .context("reading a session")?;
            match row {
                None => None,
                Some(r) => Some((
                    r.try_get::<String, _>("device_id")?,
                    r.try_get::<i64, _>("expires_at_ms")?,
                    r.try_get::<Option<i64>, _>("session_revoked")?,
                    r.try_get::<Option<i64>, _>("device_revoked")?,
                    r.try_get::<String, _>("username")?,
                    r.try_get::<Option<i64>, _>("disabled_at_ms")?,
                )),
            }
        });
        let Some((device_id, expires, session_revoked, device_revoked, username, disabled)) = row
        else {
            return Ok(SessionLookup::Invalid);
        };
        if device_revoked.is_some() || disabled.is_some() {
            return Ok(SessionLookup::DeviceRevoked);
        }
        if session_revoked.is_some() || (check_expiry && expires <= now_ms) {
            return Ok(SessionLookup::Invalid);
        }
        let Some(user) = self.user_by_username(&username).await? else {
            return Ok(SessionLookup::Invalid);
        };
        let principal = Principal { user, device_id };
        self.sessions.insert(
            token_hash,
            CachedSession {
                principal: principal.clone(),
                expires_at_ms: expires,
            },
            generation,
            now,
        );
        Ok(SessionLookup::Valid(principal))
    }

    /// Uses up a refresh token.
    pub async fn use_refresh_token(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> anyhow::Result<RefreshLookup> {
        let lookup = with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "UPDATE refresh_tokens SET used_at_ms = $2
                 WHERE token_hash = $1 AND used_at_ms IS NULL AND revoked_at_ms IS NULL AND expires_at_ms > $2",
            )
            .bind(token_hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("using a refresh token")?;
            let row = sqlx::query(
                "SELECT r.user_id, r.device_id, r.used_at_ms, d.revoked_at_ms AS device_revoked, u.disabled_at_ms
                 FROM refresh_tokens r
                 JOIN devices d ON d.id = r.device_id
                 JOIN users u ON u.id = r.user_id
                 WHERE r.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .context("reading a refresh token")?;
            let Some(row) = row else {
                return Ok(RefreshLookup::Invalid);
            };
            let user_id: String = row.try_get("user_id")?;
            let device_id: String = row.try_get("device_id")?;
            let lookup = if row.try_get::<Option<i64>, _>("device_revoked")?.is_some()
                || row.try_get::<Option<i64>, _>("disabled_at_ms")?.is_some()
            {
                RefreshLookup::DeviceRevoked
            } else if done.rows_affected() == 1 {
                RefreshLookup::Valid { user_id, device_id }
            } else if row.try_get::<Option<i64>, _>("used_at_ms")?.is_some() {
                // A used token presented again: whoever holds it may not be the device.
                sqlx::query("UPDATE refresh_tokens SET revoked_at_ms = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL")
                    .bind(&device_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("revoking a device's refresh tokens")?;
                sqlx::query("UPDATE sessions SET revoked_at_ms = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL")
                    .bind(&device_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("revoking a device's sessions")?;
                notify_sessions!(self, tx);
                RefreshLookup::Reused { device_id }
            } else {
                RefreshLookup::Invalid
            };
            tx.commit().await.context("committing a refresh")?;
            lookup
        });
        if matches!(lookup, RefreshLookup::Reused { .. }) {
            self.sessions.invalidate();
        }
        Ok(lookup)
    }

    /// Signs a device out: its access and refresh tokens stop working (the device is not
    /// revoked and may sign in again).
    pub async fn sign_out_device(
        &self,
        device_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        let _forget = self.sessions.forget_on_return();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query("UPDATE sessions SET revoked_at_ms = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL")
                .bind(device_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("ending sessions")?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at_ms = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL")
                .bind(device_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("ending refresh tokens")?;
            append_audit!(tx, audit);
            notify_sessions!(self, tx);
            tx.commit().await.context("committing a sign-out")?;
            Ok(())
        })
    }

    // ---- sign-in throttling ----

    /// Records one failed sign-in against each subject (`user:NAME`, `addr:IP`).
    pub async fn record_login_failure(
        &self,
        subjects: &[String],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            for subject in subjects {
                sqlx::query("INSERT INTO login_failures (subject, at_ms) VALUES ($1, $2)")
                    .bind(subject)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .context("recording a failed sign-in")?;
            }
            tx.commit().await.context("committing a failed sign-in")?;
            Ok(())
        })
    }

    /// Counts a sign-in attempt against its subjects *before* its password is checked:
    /// one row per subject is written (and committed) first, then each subject's rows in
    /// the window are counted. Rows are committed before counting, so of any number of
    /// parallel attempts at most `limit` see a count within their limit: whichever wrote
    /// the `limit + 1`-th row sees it. An attempt over a limit takes its own rows back
    /// (refused attempts do not extend a lock, so it ends a window after the failures
    /// that caused it) and gets the time the oldest failure leaves the window; an attempt
    /// within every limit gets its rows' ids, which stay as its failure if the password
    /// is wrong and are forgotten if it is right.
    ///
    /// `subjects` holds each subject with its limit.
    pub async fn reserve_login_attempt(
        &self,
        subjects: &[(String, i64)],
        now_ms: i64,
        window_ms: i64,
    ) -> anyhow::Result<Result<Vec<i64>, i64>> {
        let mut ids = Vec::with_capacity(subjects.len());
        with_pool!(self, pool => {
            for (subject, _) in subjects {
                let row = sqlx::query(
                    "INSERT INTO login_failures (subject, at_ms) VALUES ($1, $2) RETURNING id",
                )
                .bind(subject)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .context("recording a sign-in attempt")?;
                ids.push(row.try_get::<i64, _>("id")?);
            }
        });
        let since = now_ms - window_ms;
        for (subject, limit) in subjects {
            let (count, oldest) = self.login_failures(subject, since).await?;
            if count > *limit {
                self.forget_login_attempts(&ids).await?;
                return Ok(Err(oldest.unwrap_or(now_ms) + window_ms));
            }
        }
        Ok(Ok(ids))
    }

    /// Forgets attempts [`Store::reserve_login_attempt`] recorded (a refused or a
    /// successful one).
    pub async fn forget_login_attempts(&self, ids: &[i64]) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            for id in ids {
                sqlx::query("DELETE FROM login_failures WHERE id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .context("forgetting a sign-in attempt")?;
            }
            Ok(())
        })
    }

    /// How many failures a subject has had since `since_ms`, and the oldest of them.
    pub async fn login_failures(
        &self,
        subject: &str,
        since_ms: i64,
    ) -> anyhow::Result<(i64, Option<i64>)> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, MIN(at_ms) AS oldest FROM login_failures WHERE subject = $1 AND at_ms > $2",
            )
            .bind(subject)
            .bind(since_ms)
            .fetch_one(pool)
            .await
            .context("counting failed sign-ins")?;
            Ok((row.try_get("n")?, row.try_get("oldest")?))
        })
    }

    /// Forgets a subject's failures (after a successful sign-in), and everyone's old ones.
    pub async fn clear_login_failures(&self, subject: &str, before_ms: i64) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM login_failures WHERE subject = $1 OR at_ms <= $2")
                .bind(subject)
                .bind(before_ms)
                .execute(pool)
                .await
                .context("clearing failed sign-ins")?;
            Ok(())
        })
    }

    // ---- actors ----

    /// The device an Automerge actor (hex) is bound to, if any.
    pub async fn actor_device(&self, actor: &str) -> anyhow::Result<Option<String>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT device_id FROM actors WHERE actor = $1")
                .bind(actor)
                .fetch_optional(pool)
                .await
                .context("reading an actor")?;
            row.map(|r| r.try_get::<String, _>("device_id")).transpose().map_err(Into::into)
        })
    }
}

fn device_from_row<R>(row: &R) -> anyhow::Result<Device>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Device {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        label: row.try_get("label")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_seen_at_ms: row.try_get("last_seen_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}
