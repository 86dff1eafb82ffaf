//! Organisations, users and their roles (devices and tokens: `devices.rs`).

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, notify_sessions, with_pool};
use crate::audit::AuditEvent;
use crate::domain::{OrganisationKind, Role, User};

/// An organisation to create.
#[derive(Debug, Clone)]
pub struct NewOrganisation<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub kind: OrganisationKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Organisation {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub roles: &'a [Role],
    pub organisation_id: &'a str,
    pub password_hash: &'a str,
}

/// A user's stored credentials, for login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

impl Store {
    // ---- organisations ----

    /// Creates the organisation unless one with its code exists; returns its id either way.
    pub async fn ensure_organisation(&self, org: &NewOrganisation<'_>) -> anyhow::Result<String> {
        self.create_organisation(org).await?;
        Ok(self
            .organisation_by_code(org.code)
            .await?
            .context("an organisation just ensured is missing")?
            .id)
    }

    /// Creates an organisation; `None` if its code is taken.
    pub async fn create_organisation(
        &self,
        org: &NewOrganisation<'_>,
    ) -> anyhow::Result<Option<String>> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO organisations (id, code, name, kind) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (code) DO NOTHING",
            )
            .bind(&id)
            .bind(org.code)
            .bind(org.name)
            .bind(org.kind.as_str())
            .execute(pool)
            .await
            .context("inserting an organisation")?;
            Ok((done.rows_affected() == 1).then_some(id))
        })
    }

    pub async fn organisation_by_code(&self, code: &str) -> anyhow::Result<Option<Organisation>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT id, code, name, kind FROM organisations WHERE code = $1")
                .bind(code)
                .fetch_optional(pool)
                .await
                .context("reading an organisation")?;
            row.map(|r| organisation_from_row(&r)).transpose()
        })
    }

    pub async fn organisation_by_id(&self, id: &str) -> anyhow::Result<Option<Organisation>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT id, code, name, kind FROM organisations WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
                .context("reading an organisation")?;
            row.map(|r| organisation_from_row(&r)).transpose()
        })
    }

    pub async fn organisations(&self) -> anyhow::Result<Vec<Organisation>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, code, name, kind FROM organisations ORDER BY code")
                .fetch_all(pool)
                .await
                .context("listing organisations")?;
            rows.iter().map(organisation_from_row).collect()
        })
    }

    // ---- users ----

    pub async fn user_exists(&self, username: &str) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE username = $1")
                .bind(username)
                .fetch_one(pool)
                .await
                .context("counting users")?;
            Ok(row.try_get::<i64, _>("n")? > 0)
        })
    }

    /// Creates the user unless the username is taken, and gives them any of `roles` they
    /// lack; returns the user's id either way.
    pub async fn ensure_user(&self, user: &NewUser<'_>, now_ms: i64) -> anyhow::Result<String> {
        let _forget = self.sessions.forget_on_return();
        self.create_user(user, now_ms, &[]).await?;
        let id = with_pool!(self, pool => {
            let row = sqlx::query("SELECT id FROM users WHERE username = $1")
                .bind(user.username)
                .fetch_one(pool)
                .await
                .context("reading a user")?;
            row.try_get::<String, _>("id")?
        });
        with_pool!(self, pool => {
            for role in user.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&id)
                    .bind(role.as_str())
                    .execute(pool)
                    .await
                    .context("adding a role")?;
            }
        });
        Ok(id)
    }

    /// Creates a user with their roles (and audit entries) in one transaction; `None` if
    /// the username is taken.
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<Option<String>> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let done = sqlx::query(
                "INSERT INTO users (id, username, name, organisation_id, password_hash, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(&id)
            .bind(user.username)
            .bind(user.name)
            .bind(user.organisation_id)
            .bind(user.password_hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("inserting a user")?;
            if done.rows_affected() != 1 {
                return Ok(None);
            }
            for role in user.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .context("adding a role")?;
            }
            append_audit!(tx, audit);
            tx.commit().await.context("committing a new user")?;
            Ok(Some(id))
        })
    }

    pub async fn credentials(&self, username: &str) -> anyhow::Result<Option<Credentials>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT u.id, u.username, u.name, u.organisation_id, o.name AS organisation_name,
                        u.disabled_at_ms, u.password_hash
                 FROM users u JOIN organisations o ON o.id = u.organisation_id
                 WHERE u.username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await
            .context("reading credentials")?;
            let Some(row) = row else { return Ok(None) };
            let id: String = row.try_get("id")?;
            let roles = self.roles_of(&id).await?;
            Ok(Some(Credentials {
                user: User {
                    id,
                    username: row.try_get("username")?,
                    name: row.try_get("name")?,
                    roles,
                    organisation_id: row.try_get("organisation_id")?,
                    organisation_name: row.try_get("organisation_name")?,
                    disabled: row.try_get::<Option<i64>, _>("disabled_at_ms")?.is_some(),
                },
                password_hash: row.try_get("password_hash")?,
            }))
        })
    }

    pub async fn user_by_username(&self, username: &str) -> anyhow::Result<Option<User>> {
        Ok(self.credentials(username).await?.map(|c| c.user))
    }

    pub async fn user_by_id(&self, user_id: &str) -> anyhow::Result<Option<User>> {
        let username = with_pool!(self, pool => {
            let row = sqlx::query("SELECT username FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await
                .context("reading a user")?;
            row.map(|r| r.try_get::<String, _>("username")).transpose()?
        });
        match username {
            Some(username) => self.user_by_username(&username).await,
            None => Ok(None),
        }
    }

    async fn roles_of(&self, user_id: &str) -> anyhow::Result<Vec<Role>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(pool)
                .await
                .context("reading roles")?;
            let mut roles = rows
                .iter()
                .map(|r| {
                    let name: String = r.try_get("role")?;
                    Role::parse(&name).with_context(|| format!("unknown role {name:?} stored"))
                })
                .collect::<anyhow::Result<Vec<Role>>>()?;
            roles.sort();
            roles.dedup();
            Ok(roles)
        })
    }

    /// Every user, with roles, ordered by username.
    pub async fn users(&self) -> anyhow::Result<Vec<User>> {
        let names: Vec<String> = with_pool!(self, pool => {
            let rows = sqlx::query("SELECT username FROM users ORDER BY username")
                .fetch_all(pool)
                .await
                .context("listing users")?;
            rows.iter().map(|r| r.try_get("username")).collect::<Result<_, _>>()?
        });
        let mut users = Vec::with_capacity(names.len());
        for name in names {
            if let Some(user) = self.user_by_username(&name).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    /// Sets a new password hash and ends every session and refresh token of the user.
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        let _forget = self.sessions.forget_on_return();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await
                .context("setting a password")?;
            sqlx::query("UPDATE sessions SET revoked_at_ms = $2 WHERE user_id = $1 AND revoked_at_ms IS NULL")
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("ending sessions")?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at_ms = $2 WHERE user_id = $1 AND revoked_at_ms IS NULL")
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("ending refresh tokens")?;
            append_audit!(tx, audit);
            notify_sessions!(self, tx);
            tx.commit().await.context("committing a password reset")?;
            Ok(())
        })
    }

    /// Disables a user: they cannot sign in, and their devices are told to erase their data.
    pub async fn disable_user(
        &self,
        user_id: &str,
        now_ms: i64,
        audit: &[AuditEvent],
    ) -> anyhow::Result<()> {
        let _forget = self.sessions.forget_on_return();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query("UPDATE users SET disabled_at_ms = $2 WHERE id = $1 AND disabled_at_ms IS NULL")
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("disabling a user")?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at_ms = $2 WHERE user_id = $1 AND revoked_at_ms IS NULL")
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("ending refresh tokens")?;
            append_audit!(tx, audit);
            notify_sessions!(self, tx);
            tx.commit().await.context("committing a disabled user")?;
            Ok(())
        })
    }
}

fn organisation_from_row<R>(row: &R) -> anyhow::Result<Organisation>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Organisation {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
    })
}
