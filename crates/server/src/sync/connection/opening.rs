//! Opening documents on a connection: `Subscribe` and `Fetch`, the window of documents
//! in their first exchange, and fetched plans sent whole as snapshots.

use std::collections::HashSet;
use std::time::Instant;

use redfolder_shared::protocol::{DocId, ErrorCode, Frame, features};

use super::{FETCH_CHUNK, SyncConnection, UNKNOWN_WINDOW, WINDOW};
use crate::access::PlanAccess;

impl SyncConnection {
    /// `Subscribe`, or with `whole` a `Fetch`: the device holds nothing of these
    /// documents, so each is sent as a snapshot (if the device said it reads them).
    ///
    /// An MDT member's access follows the patient's consent and care team, which can
    /// change while the connection sits idle (and on another instance), so it is decided
    /// again here, in one query, before anything is queued: what `Hello` allowed is not
    /// taken on trust.
    pub(super) async fn on_subscribe(
        &mut self,
        doc_ids: Vec<DocId>,
        whole: bool,
    ) -> anyhow::Result<()> {
        // Ids outside the caseload each cost a lookup (and a refusal an audit entry):
        // only so many a minute are looked up; the rest are dropped with one error, never
        // one answer each. Ids of the caseload are always handled.
        let mut left = self.unknown_left();
        let mut over = 0usize;
        let mut kept = Vec::with_capacity(doc_ids.len());
        for doc_id in doc_ids {
            if !self.access.contains_key(&doc_id) {
                if left == 0 {
                    over += 1;
                    continue;
                }
                left -= 1;
                self.unknown_used += 1;
            }
            kept.push(doc_id);
        }
        let doc_ids = kept;
        if over > 0 {
            let frame = if whole { "Fetch" } else { "Subscribe" };
            let limit = self.state.config().max_unknown_docs_per_minute;
            tracing::warn!(
                over,
                limit,
                "too many unknown documents named on one connection"
            );
            self.send_error(
                ErrorCode::BadFrame,
                None,
                format!(
                    "{over} of the documents this {frame} names are outside your caseload, past the {limit} a connection may ask after in a minute: they were not looked up"
                ),
            );
        }
        if doc_ids
            .iter()
            .any(|id| self.access.get(id) == Some(&PlanAccess::Mdt))
        {
            self.recheck_access().await?;
        }
        let mut permitted = Vec::new();
        for doc_id in doc_ids {
            self.refused.remove(&doc_id);
            if let Some(access) = self.permit(&doc_id, true).await? {
                permitted.push((doc_id, access));
            }
        }
        // Audited before a byte of any plan is queued: no record, no read.
        self.audit_reads(&permitted).await?;
        // Started by `pump`, a window at a time, as the device keeps up.
        let ids = permitted.into_iter().map(|(doc_id, _)| doc_id);
        if whole && self.features & features::SNAPSHOT != 0 {
            self.fetch_queue.extend(ids);
        } else {
            self.queued.extend(ids);
        }
        Ok(())
    }

    /// How many more documents outside `access` this connection may have looked up in the
    /// current [`UNKNOWN_WINDOW`] (`Config::max_unknown_docs_per_minute`); the caller adds
    /// what it looks up to `unknown_used`.
    pub(super) fn unknown_left(&mut self) -> usize {
        if self.unknown_since.elapsed() >= UNKNOWN_WINDOW {
            self.unknown_since = Instant::now();
            self.unknown_used = 0;
        }
        let limit = self.state.config().max_unknown_docs_per_minute;
        limit.saturating_sub(self.unknown_used)
    }

    /// Whether subscribed documents wait to be started and there is room to start some.
    pub fn wants_to_start(&self) -> bool {
        !self.closing
            && (!self.fetch_queue.is_empty()
                || (!self.queued.is_empty() && self.active.len() < WINDOW))
    }

    /// Sends the next [`FETCH_CHUNK`] fetched documents whole, straight from the store:
    /// none is loaded or cached here. Each channel then starts in sync at the snapshot's
    /// heads, so a later change is sent to the device without a round trip. A document
    /// already syncing the ordinary way, or whose stored heads cannot be read, is synced
    /// the ordinary way.
    pub(super) async fn send_snapshots(&mut self) {
        let mut ids = Vec::new();
        while ids.len() < FETCH_CHUNK
            && let Some(doc_id) = self.fetch_queue.pop_front()
        {
            if !self.access.contains_key(&doc_id) {
                continue;
            }
            if self.session.is_open(&doc_id) {
                self.queued.push_back(doc_id);
            } else {
                ids.push(doc_id);
            }
        }
        let stored = match self.state.store().stored_docs(&ids).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "could not read stored documents");
                // The ordinary way loads each through the cache and reports its own failures.
                self.queued.extend(ids);
                return;
            }
        };
        let mut sent = HashSet::new();
        for doc in stored {
            self.session.seed(&doc.doc_id, &doc.heads);
            sent.insert(doc.doc_id.clone());
            self.outgoing.push(Frame::Snapshot {
                doc_id: doc.doc_id,
                heads: doc.heads,
                doc: doc.data,
            });
        }
        self.queued
            .extend(ids.into_iter().filter(|id| !sent.contains(id)));
    }

    /// Starts syncing queued documents until [`WINDOW`] of them are in their first
    /// exchange. The caller calls it whenever the device has read most of what was sent.
    pub async fn pump(&mut self) {
        if !self.fetch_queue.is_empty() && !self.closing {
            // One chunk per call: the caller writes it and comes back when the device has
            // read most of it.
            return self.send_snapshots().await;
        }
        while self.wants_to_start()
            && let Some(doc_id) = self.queued.pop_front()
        {
            if !self.access.contains_key(&doc_id) {
                // Access ended while it waited.
                continue;
            }
            let doc = match self.lock(&doc_id).await {
                Ok(Some(mut doc)) => {
                    self.session.open(&doc_id);
                    self.flush(&mut doc, &doc_id, false)
                        .await
                        .map(|in_sync| (doc, in_sync))
                }
                Ok(None) => continue,
                Err(e) => Err(e),
            };
            match doc {
                Ok((doc, in_sync)) => {
                    if !in_sync && !self.active.contains_key(&doc_id) {
                        self.active.insert(doc_id, doc.pin());
                    }
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "could not load a document");
                    self.send_error(
                        ErrorCode::Internal,
                        Some(&doc_id),
                        "the server failed; subscribe again".to_owned(),
                    );
                }
            }
        }
    }
}
