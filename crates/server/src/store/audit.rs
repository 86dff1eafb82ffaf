//! The audit log's storage: appending, reading a patient's entries, and walking the chain.

use anyhow::Context;
use sqlx::Row;

use super::{Pool, Store, append_audit, with_pool};
use crate::audit::{AuditEvent, AuditRecord, ChainBreak, Verifier};

const COLUMNS: &str = "seq, at_ms, user_id, username, role, organisation_id, device_id, patient_id,
    subject, action, purpose, outcome, detail, prev_hash, hash";

/// Most entries one group commit writes.
const MAX_BATCH: usize = 512;

/// Requests nobody authenticated (failed or throttled sign-ins, summary lookups without a
/// valid token) are audited one by one up to [`FIRST_PER_WINDOW`] per kind and source in
/// each [`AGGREGATE_WINDOW_MS`]; past that they are only counted, and one entry saying how
/// many were counted is written when the window ends. Anyone can send such requests, so
/// without this they would grow the log (and its disk) as fast as they can be sent.
pub const FIRST_PER_WINDOW: u32 = 10;
pub const AGGREGATE_WINDOW_MS: i64 = 60_000;
/// Kinds and sources tracked at once; past this, new sources share one ("other"), so the
/// tracking itself stays bounded.
const MAX_AGGREGATES: usize = 4096;
/// How often the writer writes the counts of windows that have ended.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The windows of unauthenticated audit entries (see [`FIRST_PER_WINDOW`]).
#[derive(Debug, Default)]
pub(super) struct Unauthenticated {
    windows: std::collections::HashMap<(String, String, String), Window>,
}

#[derive(Debug)]
struct Window {
    started_ms: i64,
    written: u32,
    counted: u64,
    last_ms: i64,
    /// The first counted entry, which the count's entry is written after.
    first_counted: Option<AuditEvent>,
}

impl Window {
    /// The entry that records this window's counted requests, if it counted any.
    fn summary(self, source: &str) -> Option<AuditEvent> {
        let mut event = self.first_counted?;
        let source = if source.is_empty() {
            String::new()
        } else {
            format!(" from {source}")
        };
        event.detail = format!(
            "{} more like this{source} between {} and {} (ms), counted but not written one by one: {} per {} s are",
            self.counted,
            self.started_ms,
            self.last_ms,
            FIRST_PER_WINDOW,
            AGGREGATE_WINDOW_MS / 1000
        );
        event.subject = String::new();
        event.outcome = format!("{}_counted", event.outcome);
        Some(event)
    }
}

impl Unauthenticated {
    /// Takes `event` into its window: `(write now, counts of ended windows to write)`.
    fn take(
        &mut self,
        event: AuditEvent,
        source: &str,
        now_ms: i64,
    ) -> (Option<AuditEvent>, Vec<AuditEvent>) {
        let ended = self.ended(now_ms);
        let mut key = (
            event.action.clone(),
            event.outcome.clone(),
            source.to_owned(),
        );
        if !self.windows.contains_key(&key) && self.windows.len() >= MAX_AGGREGATES {
            key.2 = "other".to_owned();
        }
        let window = self.windows.entry(key).or_insert_with(|| Window {
            started_ms: now_ms,
            written: 0,
            counted: 0,
            last_ms: now_ms,
            first_counted: None,
        });
        if window.written < FIRST_PER_WINDOW {
            window.written += 1;
            return (Some(event), ended);
        }
        window.counted += 1;
        window.last_ms = now_ms;
        if window.first_counted.is_none() {
            window.first_counted = Some(event);
        }
        (None, ended)
    }

    /// Removes the windows that have ended by `now_ms`; the entries recording their counts.
    fn ended(&mut self, now_ms: i64) -> Vec<AuditEvent> {
        let over: Vec<_> = self
            .windows
            .iter()
            .filter(|(_, w)| now_ms >= w.started_ms + AGGREGATE_WINDOW_MS)
            .map(|(k, _)| k.clone())
            .collect();
        over.into_iter()
            .filter_map(|key| {
                let window = self.windows.remove(&key)?;
                let mut event = window.summary(&key.2)?;
                event.at_ms = now_ms;
                Some(event)
            })
            .collect()
    }
}

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
            let mut flush = tokio::time::interval(FLUSH_EVERY);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let first = tokio::select! {
                    first = rx.recv() => match first {
                        Some(first) => first,
                        None => break,
                    },
                    _ = flush.tick() => {
                        // Counts of ended windows; a failure keeps nothing back but them.
                        if let Err(e) = direct
                            .flush_unauthenticated_audit(crate::domain::now_ms())
                            .await
                        {
                            tracing::warn!(error = format!("{e:#}"), "could not write audit counts");
                        }
                        continue;
                    }
                };
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
    /// Audits a request nobody authenticated: written at once while its kind (action and
    /// outcome) and `source` (a client address, or empty) are within
    /// [`FIRST_PER_WINDOW`] this window, otherwise counted into one entry written when the
    /// window ends.
    pub async fn record_unauthenticated_audit(
        &self,
        event: AuditEvent,
        source: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let (now, ended) = {
            let mut windows = self
                .unauthenticated
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            windows.take(event, source, now_ms)
        };
        let events: Vec<AuditEvent> = ended.into_iter().chain(now).collect();
        self.record_audit(&events).await
    }

    /// Writes the counts of the unauthenticated-request windows that have ended by
    /// `now_ms` (the audit writer calls it every few seconds).
    pub async fn flush_unauthenticated_audit(&self, now_ms: i64) -> anyhow::Result<()> {
        let ended = self
            .unauthenticated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ended(now_ms);
        if ended.is_empty() {
            return Ok(());
        }
        self.append_audit_now(&ended).await
    }

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

#[cfg(test)]
mod unauthenticated_tests {
    use super::*;

    fn event(outcome: &str) -> AuditEvent {
        AuditEvent::new(0, "auth.login", "authentication", outcome)
    }

    #[test]
    fn entries_past_the_rate_are_counted_into_one_per_window() {
        let mut windows = Unauthenticated::default();
        let mut written = 0;
        for i in 0..25 {
            let (now, ended) = windows.take(event("failed"), "10.0.0.1", 1_000 + i);
            written += usize::from(now.is_some());
            assert!(ended.is_empty());
        }
        assert_eq!(written, FIRST_PER_WINDOW as usize);
        // Another kind or source has its own allowance.
        assert!(
            windows
                .take(event("throttled"), "10.0.0.1", 1_100)
                .0
                .is_some()
        );
        assert!(windows.take(event("failed"), "10.0.0.2", 1_100).0.is_some());
        assert!(windows.ended(1_000 + AGGREGATE_WINDOW_MS - 1).is_empty());
        let ended = windows.ended(1_000 + AGGREGATE_WINDOW_MS);
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].outcome, "failed_counted");
        assert!(
            ended[0]
                .detail
                .starts_with("15 more like this from 10.0.0.1"),
            "{}",
            ended[0].detail
        );
        // The next window starts afresh.
        assert!(
            windows
                .take(event("failed"), "10.0.0.1", 1_000 + AGGREGATE_WINDOW_MS)
                .0
                .is_some()
        );
    }

    #[test]
    fn sources_past_the_cap_share_one_window() {
        let mut windows = Unauthenticated::default();
        for i in 0..MAX_AGGREGATES {
            windows.take(event("failed"), &format!("s{i}"), 0);
        }
        for _ in 0..FIRST_PER_WINDOW {
            assert!(windows.take(event("failed"), "new-1", 0).0.is_some());
        }
        // A further new source lands in the same shared window, already used up.
        assert!(windows.take(event("failed"), "new-2", 0).0.is_none());
        assert_eq!(windows.windows.len(), MAX_AGGREGATES + 1);
    }
}
