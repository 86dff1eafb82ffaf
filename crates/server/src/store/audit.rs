//! The audit log's storage: appending, reading a patient's entries, and walking the chain.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::{AuditEvent, AuditRecord, ChainBreak, Verifier};

const COLUMNS: &str = "seq, at_ms, user_id, username, role, organisation_id, device_id, patient_id,
    subject, action, purpose, outcome, detail, prev_hash, hash";

/// Most entries one group commit writes.
const MAX_BATCH: usize = 512;

/// Group commit for audit entries written on their own (every read of a summary or a
/// plan writes one). Callers queue their entries and wait; one task writes whatever has
/// queued in a single transaction and answers them all when it has committed. With the
/// database's `synchronous = FULL` every commit is a disk flush, so 64 concurrent readers
/// cost one flush instead of 64 and no longer queue on the write lock. The promise is
/// unchanged: `record_audit` returns only when its entries are durably committed, and
/// fails if they were not.
#[derive(Clone, Debug)]
pub(super) struct AuditQueue(tokio::sync::mpsc::UnboundedSender<Pending>);

#[derive(Debug)]
struct Pending {
    events: Vec<AuditEvent>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

impl AuditQueue {
    /// Starts the writer on the current runtime. It stops when every [`Store`] holding
    /// the queue has been dropped.
    pub(super) fn start(direct: Store) -> AuditQueue {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(pending) => batch.push(pending),
                        Err(_) => break,
                    }
                }
                let events: Vec<AuditEvent> = batch
                    .iter_mut()
                    .flat_map(|p| std::mem::take(&mut p.events))
                    .collect();
                let outcome = direct
                    .append_audit_now(&events)
                    .await
                    .map_err(|e| format!("{e:#}"));
                for pending in batch {
                    // A caller that gave up waiting no longer needs the answer.
                    let _ = pending.done.send(outcome.clone());
                }
            }
        });
        AuditQueue(tx)
    }
}

impl Store {
    /// Appends events to the audit chain, returning once they are committed. Entries
    /// queued together by concurrent callers share one transaction ([`AuditQueue`]); one
    /// call's entries are always contiguous in the chain.
    pub async fn record_audit(&self, events: &[AuditEvent]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let Some(queue) = &self.audit else {
            return self.append_audit_now(events).await;
        };
        let (done, answer) = tokio::sync::oneshot::channel();
        queue
            .0
            .send(Pending {
                events: events.to_vec(),
                done,
            })
            .map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!("writing audit entries: {e}")),
            Err(_) => Err(anyhow::anyhow!(
                "the audit writer stopped before committing"
            )),
        }
    }

    /// Appends events to the audit chain in one transaction of this call's own.
    async fn append_audit_now(&self, events: &[AuditEvent]) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            append_audit!(tx, events);
            tx.commit().await.context("committing audit entries")?;
            Ok(())
        })
    }

    /// Entries after `after_seq`, in order, at most `limit`.
    pub async fn audit_page(&self, after_seq: i64, limit: i64) -> anyhow::Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after_seq)
                .bind(limit)
                .fetch_all(pool)
                .await
                .context("reading the audit log")?;
            rows.iter().map(record_from_row).collect()
        })
    }

    /// The most recent `limit` entries, oldest first.
    pub async fn recent_audit(&self, limit: i64) -> anyhow::Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1");
        let mut records: Vec<AuditRecord> = with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(pool)
                .await
                .context("reading the audit log")?;
            rows.iter().map(record_from_row).collect::<anyhow::Result<_>>()?
        });
        records.reverse();
        Ok(records)
    }

    /// A patient's entries, newest first, at most `limit`.
    pub async fn patient_audit(
        &self,
        patient_id: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE patient_id = $1 ORDER BY seq DESC LIMIT $2"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(patient_id)
                .bind(limit)
                .fetch_all(pool)
                .await
                .context("reading a patient's audit entries")?;
            rows.iter().map(record_from_row).collect()
        })
    }

    /// The chain's head: the last sequence number and its hash.
    pub async fn audit_head(&self) -> anyhow::Result<(i64, String)> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT value, hash FROM sequences WHERE name = 'audit'")
                .fetch_one(pool)
                .await
                .context("reading the audit head")?;
            Ok((row.try_get("value")?, row.try_get("hash")?))
        })
    }

    /// Walks the whole chain. `Ok(Err(break))` names the first altered, removed or
    /// reordered entry; `Ok(Ok((entries, head)))` means the log is intact.
    pub async fn verify_audit(&self) -> anyhow::Result<Result<(i64, String), ChainBreak>> {
        // Read the head first: entries appended while we walk are then simply beyond it.
        let (head_seq, head_hash) = self.audit_head().await?;
        let mut verifier = Verifier::new();
        let mut after = 0;
        loop {
            let page = self.audit_page(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for record in page.iter().filter(|r| r.seq <= head_seq) {
                if let Err(e) = verifier.check(record) {
                    return Ok(Err(e));
                }
            }
            if after >= head_seq {
                break;
            }
        }
        Ok(verifier
            .finish(head_seq, &head_hash)
            .map(|n| (n, head_hash)))
    }
}

fn record_from_row<R>(row: &R) -> anyhow::Result<AuditRecord>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        event: AuditEvent {
            at_ms: row.try_get("at_ms")?,
            user_id: row.try_get("user_id")?,
            username: row.try_get("username")?,
            role: row.try_get("role")?,
            organisation_id: row.try_get("organisation_id")?,
            device_id: row.try_get("device_id")?,
            patient_id: row.try_get("patient_id")?,
            subject: row.try_get("subject")?,
            action: row.try_get("action")?,
            purpose: row.try_get("purpose")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
