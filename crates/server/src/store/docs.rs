//! Plan documents: their chunks, committing changes with their projections, compaction.
//!
//! Each instance caches documents and remembers the newest chunk its copy includes.
//! Committing locks the patient row first, so commits to one document are serialised
//! across instances and chunk ids grow in commit order per document; chunks committed by
//! another instance since the caller's copy was loaded are handed to the caller to merge
//! before the projections are written, so the projections always describe every
//! committed change.

use anyhow::Context;
use sqlx::Row;

use super::{
    Notice, Pool, Projection, Store, append_audit, append_feed, is_nhs_number_taken, nhs_holder,
    with_pool,
};
use crate::audit::AuditEvent;
use crate::domain::{Committer, published_summary};

/// One stored piece of a document.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub id: i64,
    pub data: Vec<u8>,
}

/// Changes to commit to one document.
#[derive(Debug)]
pub struct CommitRequest<'a> {
    pub doc_id: &'a str,
    /// The newest chunk the caller's copy of the document includes.
    pub seen_chunk_id: i64,
    /// The new changes (an incremental save).
    pub changes: &'a [u8],
    /// Actors (hex) of the changes not yet known to be bound to `device_id`: bound now,
    /// unless another device took one first.
    pub actors: &'a [String],
    pub device_id: &'a str,
    pub user_id: &'a str,
    pub committer: &'a Committer,
    pub audit: &'a [AuditEvent],
    pub now_ms: i64,
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed {
        /// The newest chunk now stored (the caller's copy includes it).
        last_chunk_id: i64,
        /// How many chunks the document has, to decide when to compact.
        chunks: u64,
        /// Whether the emergency feed gained an item.
        fed: bool,
    },
    /// This actor of the changes belongs to another device; nothing was stored.
    ActorTaken(String),
    /// The patient does not exist (any more); nothing was stored.
    NoSuchPlan,
    /// Another live plan holds the NHS number the changes give this one; nothing was
    /// stored. Says whose it is only so the caller can word the refusal for what the
    /// submitter may know.
    NhsNumberTaken(NhsHolder),
}

/// The live plan that already holds an NHS number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NhsHolder {
    pub patient_id: String,
    pub organisation_id: String,
    /// Whether its patient consented to emergency sharing (so the emergency route would
    /// already say a plan exists).
    pub emergency_consent: bool,
}

/// A document as stored, for sending whole: its chunks concatenated (loadable as one) and
/// the heads they add up to.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub doc_id: String,
    pub heads: Vec<redfolder_shared::ChangeHash>,
    pub data: Vec<u8>,
}

impl Store {
    /// The stored documents among `doc_ids`, whole, without loading any of them: their
    /// chunks and the heads recorded with the projections, read in one statement so the
    /// two agree (both are written in the same transaction). A document whose recorded
    /// heads cannot be read is left out; the caller syncs it the ordinary way.
    pub async fn stored_docs(&self, doc_ids: &[String]) -> anyhow::Result<Vec<StoredDoc>> {
        if doc_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=doc_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT c.doc_id, c.data, s.plan_version FROM doc_chunks c
             JOIN emergency_summaries s ON s.patient_id = c.doc_id
             WHERE c.doc_id IN ({}) ORDER BY c.doc_id, c.id",
            placeholders.join(", ")
        );
        let rows: Vec<(String, Vec<u8>, String)> = with_pool!(self, pool => {
            // Only numbered placeholders are spliced in; every id is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for id in doc_ids {
                query = query.bind(id);
            }
            let rows = query.fetch_all(pool).await.context("reading stored documents")?;
            rows.iter()
                .map(|r| Ok((r.try_get("doc_id")?, r.try_get("data")?, r.try_get("plan_version")?)))
                .collect::<anyhow::Result<Vec<_>>>()?
        });
        let mut docs: Vec<StoredDoc> = Vec::new();
        let mut unreadable = None;
        for (doc_id, data, version) in rows {
            if let Some(last) = docs.last_mut().filter(|d| d.doc_id == doc_id) {
                last.data.extend_from_slice(&data);
                continue;
            }
            if unreadable.as_ref() == Some(&doc_id) {
                continue;
            }
            let heads: Result<Vec<_>, _> = version
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::parse)
                .collect();
            match heads {
                Ok(heads) if !heads.is_empty() => docs.push(StoredDoc {
                    doc_id,
                    heads,
                    data,
                }),
                _ => unreadable = Some(doc_id),
            }
        }
        Ok(docs)
    }

    /// Every stored chunk of a document, in the order they must be loaded.
    pub async fn load_chunks(&self, doc_id: &str) -> anyhow::Result<Vec<Chunk>> {
        self.load_chunks_after(doc_id, 0).await
    }

    /// The chunks of a document newer than `after_id`, in order.
    pub async fn load_chunks_after(
        &self,
        doc_id: &str,
        after_id: i64,
    ) -> anyhow::Result<Vec<Chunk>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, data FROM doc_chunks WHERE doc_id = $1 AND id > $2 ORDER BY id")
                .bind(doc_id)
                .bind(after_id)
                .fetch_all(pool)
                .await
                .context("reading document chunks")?;
            rows.iter()
                .map(|r| Ok(Chunk { id: r.try_get("id")?, data: r.try_get("data")? }))
                .collect()
        })
    }

    /// Commits new changes to a document in one transaction: the chunk, the actor
    /// bindings, the projections, the emergency feed item (a summary for a consenting
    /// patient, a withdrawal when consent was just withdrawn) and the audit entries.
    ///
    /// `merge` receives the chunks other instances committed since the caller's copy was
    /// loaded (usually none), must merge them into that copy and return its projection.
    pub async fn commit_changes<F>(
        &self,
        req: &CommitRequest<'_>,
        merge: F,
    ) -> anyhow::Result<CommitOutcome>
    where
        F: FnOnce(&[Chunk]) -> anyhow::Result<Projection>,
    {
        let notify = self.backend() == super::Backend::Postgres;
        let doc_notice = self.notice_payload(&Notice::Doc(req.doc_id.to_owned()));
        let feed_notice = self.notice_payload(&Notice::Feed);
        with_pool!(self, pool => {
            // The first statement writes, so SQLite takes the write lock at once, and
            // PostgreSQL locks the patient row until the commit.
            let mut tx = pool.begin().await.context("starting a transaction")?;
            let locked = sqlx::query("UPDATE patients SET updated_at_ms = $2 WHERE id = $1")
                .bind(req.doc_id)
                .bind(req.now_ms)
                .execute(&mut *tx)
                .await
                .context("locking a patient")?;
            if locked.rows_affected() == 0 {
                return Ok(CommitOutcome::NoSuchPlan);
            }
            let rows = sqlx::query("SELECT id, data FROM doc_chunks WHERE doc_id = $1 AND id > $2 ORDER BY id")
                .bind(req.doc_id)
                .bind(req.seen_chunk_id)
                .fetch_all(&mut *tx)
                .await
                .context("reading newer chunks")?;
            let foreign = rows
                .iter()
                .map(|r| Ok(Chunk { id: r.try_get("id")?, data: r.try_get("data")? }))
                .collect::<anyhow::Result<Vec<Chunk>>>()?;
            let projection = merge(&foreign)?;
            if projection.live
                && let Some(holder) = nhs_holder!(tx, &projection.nhs_number, req.doc_id)
            {
                return Ok(CommitOutcome::NhsNumberTaken(holder));
            }

            for actor in req.actors {
                sqlx::query(
                    "INSERT INTO actors (actor, device_id, user_id, first_seen_at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (actor) DO NOTHING",
                )
                .bind(actor)
                .bind(req.device_id)
                .bind(req.user_id)
                .bind(req.now_ms)
                .execute(&mut *tx)
                .await
                .context("binding an actor")?;
                let row = sqlx::query("SELECT device_id FROM actors WHERE actor = $1")
                    .bind(actor)
                    .fetch_one(&mut *tx)
                    .await
                    .context("reading an actor")?;
                if row.try_get::<String, _>("device_id")? != req.device_id {
                    return Ok(CommitOutcome::ActorTaken(actor.clone()));
                }
            }

            let row = sqlx::query(
                "INSERT INTO doc_chunks (doc_id, kind, data, created_at_ms) VALUES ($1, 'incremental', $2, $3)
                 RETURNING id",
            )
            .bind(req.doc_id)
            .bind(req.changes)
            .bind(req.now_ms)
            .fetch_one(&mut *tx)
            .await
            .context("appending document changes")?;
            let chunk_id: i64 = row.try_get("id")?;

            let previous = sqlx::query("SELECT consent FROM emergency_summaries WHERE patient_id = $1")
                .bind(req.doc_id)
                .fetch_optional(&mut *tx)
                .await
                .context("reading the previous consent")?;
            let consented_before = match previous {
                Some(r) => r.try_get::<bool, _>("consent")?,
                None => false,
            };
            let updated = sqlx::query(
                "UPDATE patients SET nhs_number = $2, name = $3, date_of_birth = $4, share_with_mdt = $5,
                    share_with_emergency_services = $6, dnacpr = $7, last_updated_at_ms = $8,
                    last_updated_by_id = $9, last_updated_by_name = $10, updated_at_ms = $11, live = $12,
                    paper_copy = $13, paper_copy_label = $14
                 WHERE id = $1",
            )
            .bind(req.doc_id)
            .bind(&projection.nhs_number)
            .bind(&projection.name)
            .bind(&projection.date_of_birth)
            .bind(projection.share_with_mdt)
            .bind(projection.share_with_emergency_services)
            .bind(&projection.dnacpr)
            .bind(projection.last_updated.as_ref().map(|a| a.at_ms))
            .bind(projection.last_updated.as_ref().map(|a| a.user_id.as_str()))
            .bind(projection.last_updated.as_ref().map(|a| a.user_name.as_str()))
            .bind(req.now_ms)
            .bind(projection.live)
            .bind(&projection.paper_copy)
            .bind(&projection.paper_copy_label)
            .execute(&mut *tx)
            .await;
            // Two instances giving two plans one number at the same moment both pass the
            // check above; the unique index stops the second.
            if let Err(e) = &updated
                && is_nhs_number_taken(e)
            {
                return Ok(CommitOutcome::NhsNumberTaken(NhsHolder {
                    patient_id: String::new(),
                    organisation_id: String::new(),
                    emergency_consent: false,
                }));
            }
            updated.context("updating the patient projection")?;
            sqlx::query(
                "INSERT INTO emergency_summaries (patient_id, nhs_number, consent, summary_json, plan_version,
                    updated_at_ms, updated_by_user_id, updated_by_name, updated_by_organisation)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (patient_id) DO UPDATE SET nhs_number = excluded.nhs_number,
                    consent = excluded.consent, summary_json = excluded.summary_json,
                    plan_version = excluded.plan_version, updated_at_ms = excluded.updated_at_ms,
                    updated_by_user_id = excluded.updated_by_user_id,
                    updated_by_name = excluded.updated_by_name,
                    updated_by_organisation = excluded.updated_by_organisation",
            )
            .bind(req.doc_id)
            .bind(&projection.nhs_number)
            .bind(projection.share_with_emergency_services)
            .bind(&projection.summary_json)
            .bind(&projection.plan_version)
            .bind(req.now_ms)
            .bind(&req.committer.user_id)
            .bind(&req.committer.name)
            .bind(&req.committer.organisation)
            .execute(&mut *tx)
            .await
            .context("updating the emergency summary")?;

            let mut fed = false;
            if projection.share_with_emergency_services {
                let published = published_summary(
                    &projection.summary_json,
                    req.doc_id,
                    &projection.plan_version,
                    req.now_ms,
                    Some(req.committer),
                )?
                .to_string();
                append_feed!(tx, req.doc_id, &projection.nhs_number, "summary", Some(published.as_str()), req.now_ms);
                fed = true;
            } else if consented_before {
                // Withdrawal: downstream copies are to be purged, and so are ours.
                sqlx::query("UPDATE emergency_feed SET summary_json = NULL WHERE patient_id = $1")
                    .bind(req.doc_id)
                    .execute(&mut *tx)
                    .await
                    .context("purging withdrawn summaries from the feed")?;
                append_feed!(tx, req.doc_id, &projection.nhs_number, "withdrawal", None, req.now_ms);
                fed = true;
            }

            let row = sqlx::query("SELECT COUNT(*) AS n FROM doc_chunks WHERE doc_id = $1")
                .bind(req.doc_id)
                .fetch_one(&mut *tx)
                .await
                .context("counting document chunks")?;
            let count: i64 = row.try_get("n")?;
            append_audit!(tx, req.audit);
            if notify {
                for payload in std::iter::once(&doc_notice).chain(fed.then_some(&feed_notice)) {
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(super::NOTIFY_CHANNEL)
                        .bind(payload)
                        .execute(&mut *tx)
                        .await
                        .context("notifying other instances")?;
                }
            }
            tx.commit().await.context("committing document changes")?;
            Ok(CommitOutcome::Committed {
                last_chunk_id: chunk_id,
                chunks: u64::try_from(count).unwrap_or_default(),
                fed,
            })
        })
    }

    /// Replaces a document's chunks, up to and including `seen_chunk_id`, with
    /// `snapshot`, a save of the document as of that chunk. The caller saves it off the
    /// async workers, before this transaction, so if another instance committed a chunk
    /// since (which the snapshot lacks) nothing is replaced: the next commit tries again.
    /// Returns the snapshot's chunk id, or `None` if nothing was replaced (the plan is
    /// gone, or has newer chunks).
    pub async fn compact(
        &self,
        doc_id: &str,
        seen_chunk_id: i64,
        snapshot: &[u8],
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            // Commits lock the same row: no chunk can be added while this runs.
            let locked = sqlx::query("UPDATE patients SET updated_at_ms = updated_at_ms WHERE id = $1")
                .bind(doc_id)
                .execute(&mut *tx)
                .await
                .context("locking a patient")?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let newer = sqlx::query("SELECT 1 AS one FROM doc_chunks WHERE doc_id = $1 AND id > $2 LIMIT 1")
                .bind(doc_id)
                .bind(seen_chunk_id)
                .fetch_optional(&mut *tx)
                .await
                .context("looking for newer chunks")?;
            if newer.is_some() {
                return Ok(None);
            }
            sqlx::query("DELETE FROM doc_chunks WHERE doc_id = $1 AND id <= $2")
                .bind(doc_id)
                .bind(seen_chunk_id)
                .execute(&mut *tx)
                .await
                .context("deleting compacted chunks")?;
            let row = sqlx::query(
                "INSERT INTO doc_chunks (doc_id, kind, data, created_at_ms) VALUES ($1, 'snapshot', $2, $3) RETURNING id",
            )
            .bind(doc_id)
            .bind(snapshot)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .context("inserting a compacted snapshot")?;
            let id: i64 = row.try_get("id")?;
            tx.commit().await.context("committing a compaction")?;
            Ok(Some(id))
        })
    }
}
