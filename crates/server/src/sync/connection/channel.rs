//! One document's channel on a connection: locking the cached document, running the
//! session's Automerge work off the async workers, flushing, restarting and compacting.

use redfolder_shared::Session;
use redfolder_shared::protocol::ErrorCode;

use super::SyncConnection;
use crate::domain::now_ms;
use crate::sync::cache::{CachedDoc, DocCache, DocGuard};

impl SyncConnection {
    /// Locks a permitted document; `Forbidden` if it does not exist.
    pub(super) async fn lock(&mut self, doc_id: &str) -> anyhow::Result<Option<DocGuard>> {
        let doc = self.state.docs().lock(self.state.store(), doc_id).await?;
        if doc.is_none() {
            self.send_error(
                ErrorCode::Forbidden,
                Some(doc_id),
                "no such plan".to_owned(),
            );
        }
        Ok(doc)
    }

    /// Runs `work` with this connection's session on a locked document, on the blocking
    /// pool ([`DocGuard::offload`]): generating a sync message, testing a peer's bloom
    /// filter or walking heads is Automerge work proportional to the plan's history. If it
    /// panics the channel states went with it: every channel starts over (the device's
    /// next frames find a gap and resynchronise), and the caller returns the error.
    pub(super) async fn with_session<T: Send + 'static>(
        &mut self,
        doc: &mut DocGuard,
        work: impl FnOnce(&mut Session, &mut CachedDoc) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let mut session = std::mem::take(&mut self.session);
        let done = doc
            .offload(move |cached| {
                let out = work(&mut session, cached);
                (session, out)
            })
            .await;
        match done {
            Ok((session, out)) => {
                self.session = session;
                Ok(out)
            }
            Err(e) => {
                self.session = Session::with_limits(self.state.config().sync_limits);
                Err(e)
            }
        }
    }

    /// Queues what the channel has to say about `doc_id` (with `ack`, first the
    /// acknowledgement of what the device sent: the cached document holds only committed
    /// changes, so anything it has is durable). Returns whether the device is in sync.
    pub(super) async fn flush(
        &mut self,
        doc: &mut DocGuard,
        doc_id: &str,
        ack: bool,
    ) -> anyhow::Result<bool> {
        let id = doc_id.to_owned();
        let (frames, generated, in_sync) = self
            .with_session(doc, move |session, cached| {
                let doc = cached.doc.automerge();
                let mut frames = Vec::new();
                if ack && let Some(frame) = session.ack(doc, &id) {
                    frames.push(frame);
                }
                let acks = frames.len();
                while let Some(frame) = session.generate(doc, &id) {
                    frames.push(frame);
                }
                let generated = frames.len() > acks;
                (frames, generated, session.in_sync(doc, &id))
            })
            .await?;
        self.outgoing.extend(frames);
        if generated && !self.sent_since_tick.contains(doc_id) {
            self.sent_since_tick.insert(doc_id.to_owned());
        }
        if in_sync {
            self.unsettled.remove(doc_id);
            self.active.remove(doc_id);
        } else if self.session.is_open(doc_id) && !self.unsettled.contains(doc_id) {
            self.unsettled.insert(doc_id.to_owned());
        }
        Ok(in_sync)
    }

    /// Forgets what this channel's sync state assumed (after a message that was not
    /// adopted) by starting a new epoch, then offers the document afresh.
    pub(super) async fn restart_channel(
        &mut self,
        doc: &mut DocGuard,
        doc_id: &str,
    ) -> anyhow::Result<()> {
        self.session.restart(doc_id);
        self.flush(doc, doc_id, false).await?;
        Ok(())
    }

    /// Replaces a document's chunks with one snapshot once there are many. A failure here
    /// loses nothing (the chunks stay), so it is only logged.
    pub(super) async fn compact_if_needed(&mut self, doc: &mut DocGuard, doc_id: &str) {
        if doc.chunks <= self.state.config().compact_after_chunks {
            return;
        }
        let store = self.state.store().clone();
        let result = async {
            // What other instances committed first, so the snapshot holds every chunk it
            // replaces; then the save, off the async workers, before the transaction.
            DocCache::refresh(&store, doc).await?;
            let seen = doc.last_chunk_id;
            let snapshot = doc.offload(|cached| cached.doc.save_uncompressed()).await?;
            store.compact(doc_id, seen, &snapshot, now_ms()).await
        }
        .await;
        match result {
            Ok(Some(id)) => {
                doc.chunks = 1;
                doc.last_chunk_id = id;
                tracing::debug!(doc_id, "compacted");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(doc_id, error = format!("{e:#}"), "compaction failed");
                // A failed merge or save may have left the copy behind the store, or gone
                // with a panic: loaded afresh next time.
                self.state.docs().evict(doc_id);
            }
        }
    }
}
