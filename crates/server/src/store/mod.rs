//! All SQL lives here. The rest of the server sees a [`Store`] with typed methods.
//!
//! Two backends, SQLite (the default, one file) and PostgreSQL, share every statement:
//! the SQL is written in the dialect both accept (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`, `BOOLEAN`, `BIGINT` milliseconds) and [`with_pool!`] expands each method
//! body once per native driver. Only the migrations differ, one directory per backend.
//!
//! Numbers that must follow commit order across several server instances (the emergency
//! feed's sequence, the audit chain's head) are handed out by an `UPDATE … RETURNING` on a
//! row of `sequences`: the row lock is held until the transaction commits, so a later
//! number is never visible before an earlier one. Transactions take their locks in one
//! order — the patient row, then `feed`, then `audit` — so they cannot deadlock.

mod accounts;
mod audit;
mod checkpoint;
pub mod clinics;
mod devices;
mod discharges;
mod docs;
mod feed;
pub mod mdt_members;
mod patients;
pub mod referral_notes;
pub mod referrals;
pub mod scheme;
mod session_cache;
mod signing;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use accounts::{Credentials, NewOrganisation, NewUser, Organisation};
pub use audit::{AGGREGATE_WINDOW_MS, FIRST_PER_WINDOW};
pub use devices::{Device, NewTokens, RefreshLookup, SessionLookup};
pub use discharges::{Discharge, Over75List};
pub use docs::{Chunk, CommitOutcome, CommitRequest, NhsHolder, StoredDoc};
pub use feed::{FeedItem, StoredSummary, never_settled};
pub use patients::{CareTeamMember, NewPatient, OrganisationReport, PatientListing};
pub use session_cache::SESSION_CACHE_TTL;
pub use signing::StoredSigningKey;

/// A handle on the database; cheap to clone (it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Names this process in the notices it sends other instances, so it can ignore its own.
    instance: std::sync::Arc<str>,
    /// Where [`Store::record_audit`] queues entries for the group-commit writer; `None`
    /// in the writer's own handle, which writes directly.
    audit: Option<audit::AuditQueue>,
    /// Recent access-token lookups, shared by every clone of this handle.
    sessions: std::sync::Arc<session_cache::SessionCache>,
    /// Counts of unauthenticated requests' audit entries (`store/audit.rs`).
    unauthenticated: std::sync::Arc<std::sync::Mutex<audit::Unauthenticated>>,
    /// On a SQLite file, a few connections that read through a memory map, for the
    /// emergency summary reads (see [`with_read_pool!`]).
    reads: Option<SqlitePool>,
    /// On a SQLite file, the task that checkpoints the write-ahead log off the request
    /// path (`store/checkpoint.rs`); it stops with the last clone of this handle.
    _checkpoints: Option<std::sync::Arc<checkpoint::Checkpoints>>,
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
use with_pool;

/// Like [`with_pool!`], but on a SQLite file `$pool` is the memory-mapped read pool. Every
/// commit elsewhere (an audit group commit each millisecond or so under load) makes SQLite
/// drop a connection's page cache, so a point read fetches its pages again; through the
/// map that is a pointer, not a `pread` system call and a copy per page. Kept to hot point
/// reads: mapped pages count in the server's resident memory.
macro_rules! with_read_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite(main) => {
                let $pool = $store.reads.as_ref().unwrap_or(main);
                $body
            }
            Pool::Postgres($pool) => $body,
        }
    };
}
use with_read_pool;

/// Inside a transaction that ends sessions or changes a user: on PostgreSQL, tells every
/// other instance (delivered only if the transaction commits) to forget its cached
/// sessions and recheck the access it decided from them (`cluster.rs`).
macro_rules! notify_sessions {
    ($store:expr, $tx:ident) => {
        if $store.backend() == $crate::store::Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind($crate::store::NOTIFY_CHANNEL)
                .bind($store.notice_payload(&$crate::store::Notice::Sessions))
                .execute(&mut *$tx)
                .await
                .context("notifying other instances")?;
        }
    };
}
use notify_sessions;

/// How much of a SQLite file the read pool maps (SQLite caps it at its build's maximum,
/// 2 GiB by default; the rest of a larger file is read as usual).
const READ_MMAP_BYTES: u64 = 2 << 30;

/// Audit entries per `INSERT` statement (15 parameters each, far below either database's
/// limit on parameters).
const AUDIT_ROWS_PER_INSERT: usize = 64;

/// Appends audit events to the hash chain inside the open transaction `$tx` (use inside
/// [`with_pool!`]). Takes the `audit` row lock, so it must be the last lock a transaction
/// takes.
macro_rules! append_audit {
    ($tx:expr, $events:expr) => {{
        let events: &[$crate::audit::AuditEvent] = $events;
        if !events.is_empty() {
            let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
            let row = sqlx::query(
                "UPDATE sequences SET value = value + $1 WHERE name = 'audit' RETURNING value, hash",
            )
            .bind(count)
            .fetch_one(&mut *$tx)
            .await
            .context("advancing the audit chain")?;
            let last: i64 = sqlx::Row::try_get(&row, "value")?;
            let mut prev: String = sqlx::Row::try_get(&row, "hash")?;
            let mut seq = last - count;
            let mut entries = Vec::with_capacity(events.len());
            for event in events {
                seq += 1;
                let hash = $crate::audit::chain_hash(&prev, seq, event);
                entries.push((seq, event, std::mem::replace(&mut prev, hash.clone()), hash));
            }
            // Many rows per statement: a group commit of hundreds of reads is then a
            // handful of round trips to the database instead of one per entry.
            for chunk in entries.chunks($crate::store::AUDIT_ROWS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_log (seq, at_ms, user_id, username, role, organisation_id,
                        device_id, patient_id, subject, action, purpose, outcome, detail, prev_hash, hash) ",
                );
                insert.push_values(chunk, |mut row, (seq, event, prev_hash, hash)| {
                    row.push_bind(*seq)
                        .push_bind(event.at_ms)
                        .push_bind(event.user_id.as_deref())
                        .push_bind(event.username.as_deref())
                        .push_bind(event.role.as_deref())
                        .push_bind(event.organisation_id.as_deref())
                        .push_bind(event.device_id.as_deref())
                        .push_bind(event.patient_id.as_deref())
                        .push_bind(event.subject.as_str())
                        .push_bind(event.action.as_str())
                        .push_bind(event.purpose.as_str())
                        .push_bind(event.outcome.as_str())
                        .push_bind(event.detail.as_str())
                        .push_bind(prev_hash.as_str())
                        .push_bind(hash.as_str());
                });
                insert
                    .build()
                    .execute(&mut *$tx)
                    .await
                    .context("writing audit entries")?;
            }
            sqlx::query("UPDATE sequences SET hash = $1 WHERE name = 'audit'")
                .bind(&prev)
                .execute(&mut *$tx)
                .await
                .context("moving the audit chain's head")?;
        }
    }};
}
use append_audit;

/// Appends one item to the emergency feed inside the open transaction `$tx` and evaluates
/// to its sequence number. Takes the `feed` row lock (after any patient row, before `audit`).
macro_rules! append_feed {
    ($tx:expr, $patient_id:expr, $nhs_number:expr, $kind:expr, $summary:expr, $at_ms:expr) => {{
        let row = sqlx::query(
            "UPDATE sequences SET value = value + 1 WHERE name = 'feed' RETURNING value",
        )
        .fetch_one(&mut *$tx)
        .await
        .context("advancing the feed")?;
        let seq: i64 = sqlx::Row::try_get(&row, "value")?;
        let summary: Option<&str> = $summary;
        sqlx::query(
            "INSERT INTO emergency_feed (seq, patient_id, nhs_number, kind, summary_json, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(seq)
        .bind($patient_id)
        .bind($nhs_number)
        .bind($kind)
        .bind(summary)
        .bind($at_ms)
        .execute(&mut *$tx)
        .await
        .context("writing a feed item")?;
        seq
    }};
}
use append_feed;

/// The live plan other than `$patient_id` that holds `$nhs_number`, read inside the open
/// transaction `$tx`; evaluates to `Option<NhsHolder>`.
macro_rules! nhs_holder {
    ($tx:expr, $nhs_number:expr, $patient_id:expr) => {{
        let row = sqlx::query(
            "SELECT p.id, p.organisation_id, COALESCE(s.consent, FALSE) AS consent
             FROM patients p LEFT JOIN emergency_summaries s ON s.patient_id = p.id
             WHERE p.nhs_number = $1 AND p.live AND p.id <> $2
             ORDER BY p.id LIMIT 1",
        )
        .bind($nhs_number)
        .bind($patient_id)
        .fetch_optional(&mut *$tx)
        .await
        .context("looking for another plan with the NHS number")?;
        match row {
            Some(r) => Some($crate::store::NhsHolder {
                patient_id: sqlx::Row::try_get(&r, "id")?,
                organisation_id: sqlx::Row::try_get(&r, "organisation_id")?,
                emergency_consent: sqlx::Row::try_get(&r, "consent")?,
            }),
            None => None,
        }
    }};
}
use nhs_holder;

/// Whether a statement failed on the unique index of live plans' NHS numbers (two
/// instances racing to give two plans one number).
pub(crate) fn is_nhs_number_taken(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e)
        if e.is_unique_violation()
            && (e.constraint() == Some("patients_live_nhs_number")
                || e.message().contains("patients.nhs_number")))
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

/// The channel on which PostgreSQL instances tell each other about commits.
pub const NOTIFY_CHANNEL: &str = "redfolder";

/// What one instance tells the others (sent with `pg_notify` inside the committing
/// transaction, so it is delivered only if the commit happens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A plan gained committed changes.
    Doc(String),
    /// The emergency feed gained items.
    Feed,
    /// Sessions may have ended, a device been revoked or a user disabled or changed:
    /// forget cached sessions and look again at what was decided from them.
    Sessions,
}

impl Notice {
    fn encode(&self, instance: &str) -> String {
        match self {
            Notice::Doc(doc_id) => format!("{instance}|doc|{doc_id}"),
            Notice::Feed => format!("{instance}|feed|"),
            Notice::Sessions => format!("{instance}|sessions|"),
        }
    }

    /// The sending instance and the notice, from a notification payload.
    pub fn decode(payload: &str) -> Option<(&str, Notice)> {
        let mut parts = payload.splitn(3, '|');
        let instance = parts.next()?;
        let notice = match (parts.next()?, parts.next()?) {
            ("doc", doc_id) => Notice::Doc(doc_id.to_owned()),
            ("feed", _) => Notice::Feed,
            ("sessions", _) => Notice::Sessions,
            _ => return None,
        };
        Some((instance, notice))
    }
}

/// What the projections hold for one plan: written with every committed change.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Ten digits, whatever the document holds.
    pub nhs_number: String,
    /// Whether the plan is live (not ended): live plans' NHS numbers are unique.
    pub live: bool,
    pub name: String,
    pub date_of_birth: String,
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    /// The DNACPR status as its snake_case name.
    pub dnacpr: String,
    pub last_updated: Option<redfolder_shared::Attribution>,
    /// Whether the paper copy in the home is current: [`redfolder_shared::PaperState`]'s
    /// key, and the line the caseload and reviews-due list show.
    pub paper_copy: String,
    pub paper_copy_label: String,
    /// The [`redfolder_shared::EmergencySummary`] as JSON.
    pub summary_json: String,
    /// The document's heads, hex, sorted and comma-separated.
    pub plan_version: String,
}

impl Store {
    /// Connects to `url`, creating a SQLite file (and its directory) if it is missing.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let mut reads = None;
        let mut checkpoints = None;
        let pool = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let mut options = SqliteConnectOptions::from_str(url)
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
                if !is_memory(file) {
                    // Checkpoints run on their own connection, not on whichever commit
                    // crosses the threshold (see `store/checkpoint.rs`).
                    checkpoints = Some(std::sync::Arc::new(checkpoint::start(&options).await?));
                    options = options.pragma("wal_autocheckpoint", "0");
                    let mapped = options
                        .clone()
                        .pragma("mmap_size", READ_MMAP_BYTES.to_string());
                    reads = Some(
                        SqlitePoolOptions::new()
                            .max_connections(4)
                            .connect_with(mapped)
                            .await
                            .context("opening the SQLite database for reads")?,
                    );
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
        let direct = Store {
            pool,
            instance: uuid::Uuid::new_v4().to_string().into(),
            audit: None,
            sessions: std::sync::Arc::default(),
            unauthenticated: std::sync::Arc::default(),
            reads,
            _checkpoints: checkpoints,
        };
        Ok(Store {
            audit: Some(audit::AuditQueue::start(direct.clone())),
            ..direct
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// This process's name in notices.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn notice_payload(&self, notice: &Notice) -> String {
        notice.encode(&self.instance)
    }

    /// Changes whenever sessions may have ended or users changed, here or (on
    /// PostgreSQL, once [`Store::forget_sessions`] is called on hearing of it) elsewhere.
    pub fn session_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sessions.changes()
    }

    /// Forgets cached sessions and wakes [`Store::session_changes`]: another instance
    /// ended a session or changed a user.
    pub fn forget_sessions(&self) {
        self.sessions.invalidate();
    }

    /// The PostgreSQL pool, for `LISTEN`; `None` on SQLite.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
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
        if let Some(reads) = &self.reads {
            reads.close().await;
        }
        with_pool!(self, pool => pool.close().await)
    }
}

fn is_memory(file: &Path) -> bool {
    let name = file.to_string_lossy();
    name.is_empty() || name == ":memory:" || name.starts_with("file:sqlx-in-memory")
}
