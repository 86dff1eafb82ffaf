//! All SQL lives here. The rest of the server sees a [`Store`] with typed methods.
//!
//! Two backends, SQLite (the default, one file) and PostgreSQL, share every statement:
//! the SQL is written in the dialect both accept (`$1` placeholders, `ON CONFLICT`,
//! `BOOLEAN`, `BIGINT` milliseconds) and [`with_pool!`] expands each method body once per
//! native driver. Only the migrations differ, one directory per backend.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::domain::{Role, User};

/// A handle on the database; cheap to clone (it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the native pool of whichever backend is in use.
/// The body is compiled once per backend, so the same SQL is checked against both drivers.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            bail!("unsupported database URL scheme (use sqlite:// or postgres://)")
        }
    }
}

/// A user's stored credentials, for login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A user to create if the username is not taken yet.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub organisation_id: &'a str,
    pub password_hash: &'a str,
}

/// An organisation to create if its code is not taken yet.
#[derive(Debug, Clone)]
pub struct NewOrganisation<'a> {
    pub code: &'a str,
    pub name: &'a str,
    /// `gp_practice` or `ambulance_service`.
    pub kind: &'a str,
}

/// One row of a caseload, read from the `patients` projection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PatientListing {
    pub id: String,
    pub nhs_number: String,
    pub name: String,
    pub date_of_birth: String,
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    pub dnacpr: String,
    pub last_updated: Option<redfolder_shared::Attribution>,
}

/// What the projections hold for one plan: written with every committed change.
#[derive(Debug, Clone)]
pub struct Projection {
    pub nhs_number: String,
    pub name: String,
    pub date_of_birth: String,
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    /// The DNACPR status as its snake_case name.
    pub dnacpr: String,
    pub last_updated: Option<redfolder_shared::Attribution>,
    /// The [`redfolder_shared::EmergencySummary`] as JSON.
    pub summary_json: String,
    /// The document's heads, hex, sorted and comma-separated.
    pub plan_version: String,
}

/// A stored emergency summary.
#[derive(Debug, Clone)]
pub struct StoredSummary {
    pub patient_id: String,
    pub consent: bool,
    pub summary_json: String,
    pub plan_version: String,
}

/// One request for an emergency summary, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub user_id: Option<String>,
    pub organisation_id: Option<String>,
    pub role: Option<String>,
    /// The NHS number exactly as the caller gave it (truncated to 64 characters).
    pub nhs_number: String,
    pub patient_id: Option<String>,
    /// `ok`, `not_found`, `no_consent`, `bad_request`, `unauthorized`, `forbidden` or `error`.
    pub outcome: String,
    pub status: u16,
    pub route: String,
}

/// A patient to register, with the first snapshot of their plan.
#[derive(Debug, Clone)]
pub struct NewPatient {
    pub id: String,
    pub organisation_id: String,
    pub snapshot: Vec<u8>,
    pub projection: Projection,
}

/// One stored piece of a document.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub id: i64,
    pub data: Vec<u8>,
}

impl Store {
    /// Connects to `url`, creating a SQLite file (and its directory) if it is missing.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let pool = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .context("parsing the SQLite database URL")?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit is on disk before it returns, which is what an Ack promises.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let file = options.get_filename();
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
                    && !is_memory(file)
                {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("creating the database directory {}", dir.display())
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .context("opening the SQLite database")?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)
                    .context("parsing the PostgreSQL database URL")?;
                let pool = PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .context("connecting to PostgreSQL")?;
                Pool::Postgres(pool)
            }
        };
        Ok(Store { pool })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .context("running database migrations")
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    // ---- organisations and users ----

    /// Creates the organisation unless one with its code exists; returns its id either way.
    pub async fn ensure_organisation(&self, org: &NewOrganisation<'_>) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO organisations (id, code, name, kind) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (code) DO NOTHING",
            )
            .bind(&id)
            .bind(org.code)
            .bind(org.name)
            .bind(org.kind)
            .execute(pool)
            .await
            .context("inserting an organisation")?;
            let row = sqlx::query("SELECT id FROM organisations WHERE code = $1")
                .bind(org.code)
                .fetch_one(pool)
                .await
                .context("reading an organisation")?;
            Ok(row.try_get("id")?)
        })
    }

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

    /// Creates the user unless the username is taken; returns the user's id either way.
    pub async fn ensure_user(&self, user: &NewUser<'_>, now_ms: i64) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO users (id, username, name, role, organisation_id, password_hash, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(&id)
            .bind(user.username)
            .bind(user.name)
            .bind(user.role.as_str())
            .bind(user.organisation_id)
            .bind(user.password_hash)
            .bind(now_ms)
            .execute(pool)
            .await
            .context("inserting a user")?;
            let row = sqlx::query("SELECT id FROM users WHERE username = $1")
                .bind(user.username)
                .fetch_one(pool)
                .await
                .context("reading a user")?;
            Ok(row.try_get("id")?)
        })
    }

    pub async fn credentials(&self, username: &str) -> anyhow::Result<Option<Credentials>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT u.id, u.name, u.role, u.organisation_id, o.name AS organisation_name, u.password_hash
                 FROM users u JOIN organisations o ON o.id = u.organisation_id
                 WHERE u.username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await
            .context("reading credentials")?;
            row.map(|row| {
                Ok(Credentials { user: user_from_row(&row)?, password_hash: row.try_get("password_hash")? })
            })
            .transpose()
        })
    }

    // ---- sessions ----

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            // Expired sessions are useless; clearing them here keeps the table small.
            sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
                .bind(now_ms)
                .execute(pool)
                .await
                .context("deleting expired sessions")?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(now_ms)
            .bind(expires_at_ms)
            .execute(pool)
            .await
            .context("inserting a session")?;
            Ok(())
        })
    }

    /// The user a token hash belongs to, if the session exists and has not expired.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> anyhow::Result<Option<User>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT u.id, u.name, u.role, u.organisation_id, o.name AS organisation_name
                 FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 JOIN organisations o ON o.id = u.organisation_id
                 WHERE s.token_hash = $1 AND s.expires_at_ms > $2",
            )
            .bind(token_hash)
            .bind(now_ms)
            .fetch_optional(pool)
            .await
            .context("reading a session")?;
            row.map(|row| user_from_row(&row)).transpose()
        })
    }

    // ---- patients and their projections ----

    /// The patients registered at an organisation, from the projection.
    pub async fn caseload(&self, organisation_id: &str) -> anyhow::Result<Vec<PatientListing>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, nhs_number, name, date_of_birth, share_with_mdt, share_with_emergency_services,
                        dnacpr, last_updated_at_ms, last_updated_by_id, last_updated_by_name
                 FROM patients WHERE organisation_id = $1 ORDER BY name, id",
            )
            .bind(organisation_id)
            .fetch_all(pool)
            .await
            .context("reading a caseload")?;
            rows.iter()
                .map(|row| {
                    let at: Option<i64> = row.try_get("last_updated_at_ms")?;
                    let by_id: Option<String> = row.try_get("last_updated_by_id")?;
                    let by_name: Option<String> = row.try_get("last_updated_by_name")?;
                    Ok(PatientListing {
                        id: row.try_get("id")?,
                        nhs_number: row.try_get("nhs_number")?,
                        name: row.try_get("name")?,
                        date_of_birth: row.try_get("date_of_birth")?,
                        share_with_mdt: row.try_get("share_with_mdt")?,
                        share_with_emergency_services: row.try_get("share_with_emergency_services")?,
                        dnacpr: row.try_get("dnacpr")?,
                        last_updated: match (at, by_id, by_name) {
                            (Some(at_ms), Some(user_id), Some(user_name)) => {
                                Some(redfolder_shared::Attribution { user_id, user_name, at_ms })
                            }
                            _ => None,
                        },
                    })
                })
                .collect()
        })
    }

    /// The ids of the patients registered at an organisation.
    pub async fn caseload_ids(&self, organisation_id: &str) -> anyhow::Result<Vec<String>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id FROM patients WHERE organisation_id = $1 ORDER BY name, id")
                .bind(organisation_id)
                .fetch_all(pool)
                .await
                .context("reading caseload ids")?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    /// The organisation a patient is registered at, if the patient exists.
    pub async fn patient_organisation(&self, patient_id: &str) -> anyhow::Result<Option<String>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT organisation_id FROM patients WHERE id = $1")
                .bind(patient_id)
                .fetch_optional(pool)
                .await
                .context("reading a patient's organisation")?;
            row.map(|r| Ok(r.try_get("organisation_id")?)).transpose()
        })
    }

    /// Whether an organisation already has a patient with this NHS number.
    pub async fn has_patient(
        &self,
        organisation_id: &str,
        nhs_number: &str,
    ) -> anyhow::Result<bool> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM patients WHERE organisation_id = $1 AND nhs_number = $2",
            )
            .bind(organisation_id)
            .bind(nhs_number)
            .fetch_one(pool)
            .await
            .context("looking for a patient")?;
            Ok(row.try_get::<i64, _>("n")? > 0)
        })
    }

    /// Creates patients with their first document snapshots and projections, all in one
    /// transaction (one disk sync however many there are).
    pub async fn create_patients(
        &self,
        patients: &[NewPatient],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            for patient in patients {
                let projection = &patient.projection;
                sqlx::query(
                    "INSERT INTO patients (id, organisation_id, nhs_number, name, date_of_birth, share_with_mdt,
                        share_with_emergency_services, dnacpr, last_updated_at_ms, last_updated_by_id,
                        last_updated_by_name, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                )
                .bind(&patient.id)
                .bind(&patient.organisation_id)
                .bind(&projection.nhs_number)
                .bind(&projection.name)
                .bind(&projection.date_of_birth)
                .bind(projection.share_with_mdt)
                .bind(projection.share_with_emergency_services)
                .bind(&projection.dnacpr)
                .bind(projection.last_updated.as_ref().map(|a| a.at_ms))
                .bind(projection.last_updated.as_ref().map(|a| a.user_id.as_str()))
                .bind(projection.last_updated.as_ref().map(|a| a.user_name.as_str()))
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("inserting a patient")?;
                sqlx::query(
                    "INSERT INTO doc_chunks (doc_id, kind, data, created_at_ms) VALUES ($1, 'snapshot', $2, $3)",
                )
                .bind(&patient.id)
                .bind(&patient.snapshot)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("inserting a document snapshot")?;
                sqlx::query(
                    "INSERT INTO emergency_summaries (patient_id, nhs_number, consent, summary_json, plan_version, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&patient.id)
                .bind(&projection.nhs_number)
                .bind(projection.share_with_emergency_services)
                .bind(&projection.summary_json)
                .bind(&projection.plan_version)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .context("inserting an emergency summary")?;
            }
            tx.commit().await.context("committing new patients")?;
            Ok(())
        })
    }

    // ---- documents ----

    /// Every stored chunk of a document, in the order they must be loaded.
    pub async fn load_chunks(&self, doc_id: &str) -> anyhow::Result<Vec<Chunk>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, data FROM doc_chunks WHERE doc_id = $1 ORDER BY id")
                .bind(doc_id)
                .fetch_all(pool)
                .await
                .context("reading document chunks")?;
            rows.iter()
                .map(|r| Ok(Chunk { id: r.try_get("id")?, data: r.try_get("data")? }))
                .collect()
        })
    }

    /// Appends new changes to a document and rewrites its projections, in one transaction.
    /// Returns how many chunks the document now has.
    pub async fn append_changes(
        &self,
        doc_id: &str,
        changes: &[u8],
        projection: &Projection,
        now_ms: i64,
    ) -> anyhow::Result<u64> {
        with_pool!(self, pool => {
            // The first statement writes, so SQLite takes the write lock at once rather than
            // upgrading a read lock later (which can fail without waiting).
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query(
                "INSERT INTO doc_chunks (doc_id, kind, data, created_at_ms) VALUES ($1, 'incremental', $2, $3)",
            )
            .bind(doc_id)
            .bind(changes)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("appending document changes")?;
            sqlx::query(
                "UPDATE patients SET nhs_number = $2, name = $3, date_of_birth = $4, share_with_mdt = $5,
                    share_with_emergency_services = $6, dnacpr = $7, last_updated_at_ms = $8,
                    last_updated_by_id = $9, last_updated_by_name = $10, updated_at_ms = $11
                 WHERE id = $1",
            )
            .bind(doc_id)
            .bind(&projection.nhs_number)
            .bind(&projection.name)
            .bind(&projection.date_of_birth)
            .bind(projection.share_with_mdt)
            .bind(projection.share_with_emergency_services)
            .bind(&projection.dnacpr)
            .bind(projection.last_updated.as_ref().map(|a| a.at_ms))
            .bind(projection.last_updated.as_ref().map(|a| a.user_id.as_str()))
            .bind(projection.last_updated.as_ref().map(|a| a.user_name.as_str()))
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("updating the patient projection")?;
            sqlx::query(
                "INSERT INTO emergency_summaries (patient_id, nhs_number, consent, summary_json, plan_version, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (patient_id) DO UPDATE SET nhs_number = excluded.nhs_number,
                    consent = excluded.consent, summary_json = excluded.summary_json,
                    plan_version = excluded.plan_version, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(doc_id)
            .bind(&projection.nhs_number)
            .bind(projection.share_with_emergency_services)
            .bind(&projection.summary_json)
            .bind(&projection.plan_version)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("updating the emergency summary")?;
            let row = sqlx::query("SELECT COUNT(*) AS n FROM doc_chunks WHERE doc_id = $1")
                .bind(doc_id)
                .fetch_one(&mut *tx)
                .await
                .context("counting document chunks")?;
            let count: i64 = row.try_get("n")?;
            tx.commit().await.context("committing document changes")?;
            Ok(u64::try_from(count).unwrap_or_default())
        })
    }

    /// Replaces the chunks up to `through_id` with one compacted snapshot of the document.
    pub async fn compact(
        &self,
        doc_id: &str,
        through_id: i64,
        snapshot: &[u8],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            sqlx::query("DELETE FROM doc_chunks WHERE doc_id = $1 AND id <= $2")
                .bind(doc_id)
                .bind(through_id)
                .execute(&mut *tx)
                .await
                .context("deleting compacted chunks")?;
            sqlx::query(
                "INSERT INTO doc_chunks (doc_id, kind, data, created_at_ms) VALUES ($1, 'snapshot', $2, $3)",
            )
            .bind(doc_id)
            .bind(snapshot)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .context("inserting a compacted snapshot")?;
            tx.commit().await.context("committing a compaction")?;
            Ok(())
        })
    }

    /// The newest chunk id of a document, the bound for [`Store::compact`].
    pub async fn last_chunk_id(&self, doc_id: &str) -> anyhow::Result<Option<i64>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT MAX(id) AS id FROM doc_chunks WHERE doc_id = $1")
                .bind(doc_id)
                .fetch_one(pool)
                .await
                .context("reading the last chunk id")?;
            Ok(row.try_get("id")?)
        })
    }

    // ---- emergency summaries and their audit ----

    /// The stored summary for an NHS number. Should two plans carry the same number, a
    /// consenting one wins, then the most recently updated.
    pub async fn emergency_summary(
        &self,
        nhs_number: &str,
    ) -> anyhow::Result<Option<StoredSummary>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT patient_id, consent, summary_json, plan_version FROM emergency_summaries
                 WHERE nhs_number = $1
                 ORDER BY consent DESC, updated_at_ms DESC, patient_id LIMIT 1",
            )
            .bind(nhs_number)
            .fetch_optional(pool)
            .await
            .context("reading an emergency summary")?;
            row.map(|r| {
                Ok(StoredSummary {
                    patient_id: r.try_get("patient_id")?,
                    consent: r.try_get("consent")?,
                    summary_json: r.try_get("summary_json")?,
                    plan_version: r.try_get("plan_version")?,
                })
            })
            .transpose()
        })
    }

    pub async fn record_audit(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit (at_ms, user_id, organisation_id, role, nhs_number, patient_id, outcome, status, route)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(entry.at_ms)
            .bind(entry.user_id.as_deref())
            .bind(entry.organisation_id.as_deref())
            .bind(entry.role.as_deref())
            .bind(&entry.nhs_number)
            .bind(entry.patient_id.as_deref())
            .bind(&entry.outcome)
            .bind(i32::from(entry.status))
            .bind(&entry.route)
            .execute(pool)
            .await
            .context("writing an audit entry")?;
            Ok(())
        })
    }

    /// The most recent audit entries, oldest first.
    pub async fn audit_log(&self, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT at_ms, user_id, organisation_id, role, nhs_number, patient_id, outcome, status, route
                 FROM audit ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .context("reading the audit log")?;
            let mut entries = rows
                .iter()
                .map(|r| {
                    Ok(AuditEntry {
                        at_ms: r.try_get("at_ms")?,
                        user_id: r.try_get("user_id")?,
                        organisation_id: r.try_get("organisation_id")?,
                        role: r.try_get("role")?,
                        nhs_number: r.try_get("nhs_number")?,
                        patient_id: r.try_get("patient_id")?,
                        outcome: r.try_get("outcome")?,
                        status: u16::try_from(r.try_get::<i32, _>("status")?).unwrap_or_default(),
                        route: r.try_get("route")?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            entries.reverse();
            Ok(entries)
        })
    }
}

fn user_from_row<R>(row: &R) -> anyhow::Result<User>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .with_context(|| format!("unknown role {role:?} in the users table"))?,
        organisation_id: row.try_get("organisation_id")?,
        organisation_name: row.try_get("organisation_name")?,
    })
}

fn is_memory(file: &Path) -> bool {
    let name = file.to_string_lossy();
    name.is_empty() || name == ":memory:" || name.starts_with("file:sqlx-in-memory")
}
