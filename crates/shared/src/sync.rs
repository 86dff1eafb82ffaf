//! The sans-IO sync engine.
//!
//! A [`Session`] is one connection's view of many documents: for each it keeps Automerge's
//! per-peer `sync::State` plus an epoch and sequence numbers. Automerge's sync protocol
//! assumes a reliable, in-order stream per document; the sequence numbers make that true
//! over any transport. A duplicate or stale frame is discarded; a gap (a frame lost or
//! overtaken) resets the document's channel on both sides by starting a new epoch, and
//! Automerge then re-derives what each side lacks from scratch. A lost *last* frame is
//! found by [`Session::tick`], which the caller runs on a timer.
//!
//! The server drives a `Session` per WebSocket with its own document cache and storage;
//! the browser and the Rust test client drive one through [`ClientEngine`]. Neither the
//! session nor the engine does I/O: bytes come in, frames go out.

use std::collections::HashMap;

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};

use crate::protocol::{DecodeError, DocId, Frame};
use crate::sync_message::{self as message_check, SyncLimits, SyncMessageError};

/// Errors from feeding a frame into the engine.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("malformed frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("malformed automerge sync message: {0}")]
    Message(String),
    #[error("automerge refused the sync message: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("refused sync message: {0}")]
    Refused(#[from] SyncMessageError),
    #[error(
        "the document holds {changes} changes ({bytes} bytes) whose dependencies have not arrived, more than the limit"
    )]
    TooManyPending { changes: usize, bytes: usize },
}

/// What happened when a sync frame was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The message was applied; `changed` says whether the document gained changes.
    Applied { changed: bool },
    /// A duplicate or a frame from an abandoned epoch: nothing to do.
    Ignored,
    /// A gap was found; the channel was reset to a new epoch and the caller should
    /// [`Session::generate`] to start the resynchronisation.
    Resync,
}

/// How many consecutive quiet ticks a channel waits for the peer's answer to its last
/// frame before [`Session::tick`] gives the frame up for lost and restarts the channel.
/// The tick runs every few seconds (3 s on the device, `TICK_MS` in the wasm crate), so an
/// answer has 6 to 9 s: long enough for a peer that is working through a window of other
/// documents, short enough that a lost frame costs seconds, not minutes.
pub const ANSWER_TIMEOUT_TICKS: u32 = 2;

#[derive(Debug, Default)]
struct Channel {
    state: sync::State,
    epoch: u32,
    next_send: u64,
    next_recv: u64,
    heard_since_tick: bool,
    /// A frame was generated on this channel since the last tick.
    sent_since_tick: bool,
    /// The last thing that happened on the channel was a frame we sent: the peer owes an
    /// answer (or its silence means the frame, or the answer, was lost).
    awaiting: bool,
    /// Consecutive ticks at which nothing had been heard or sent since the tick before.
    quiet_ticks: u32,
    /// A fingerprint of the last message sent, until the peer is heard from again.
    last_sent: Option<u64>,
    last_ack: Option<Vec<ChangeHash>>,
    /// Changes this channel delivered whose dependencies have not arrived (Automerge
    /// queues them in the document), and their bytes: bounded by [`SyncLimits`].
    pending_changes: usize,
    pending_bytes: usize,
}

impl Channel {
    fn reset(&mut self, epoch: u32) {
        *self = Channel {
            epoch,
            heard_since_tick: self.heard_since_tick,
            sent_since_tick: self.sent_since_tick,
            // The queued changes stay in the document whatever the epoch.
            pending_changes: self.pending_changes,
            pending_bytes: self.pending_bytes,
            ..Channel::default()
        };
    }

    /// Whether anything was heard or sent since the last tick; clears both marks.
    fn take_activity(&mut self) -> bool {
        let heard = std::mem::take(&mut self.heard_since_tick);
        let sent = std::mem::take(&mut self.sent_since_tick);
        heard || sent
    }
}

/// One connection's sync bookkeeping for many documents. Documents are owned by the caller.
#[derive(Debug, Default)]
pub struct Session {
    channels: HashMap<DocId, Channel>,
    limits: SyncLimits,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// A session that refuses sync messages outside `limits` (see
    /// [`crate::sync_message`]); [`Session::new`] uses the defaults.
    pub fn with_limits(limits: SyncLimits) -> Session {
        Session {
            channels: HashMap::new(),
            limits,
        }
    }

    /// Starts tracking a document on this connection (idempotent).
    pub fn open(&mut self, doc_id: &str) {
        self.channels.entry(doc_id.to_owned()).or_default();
    }

    pub fn close(&mut self, doc_id: &str) {
        self.channels.remove(doc_id);
    }

    pub fn is_open(&self, doc_id: &str) -> bool {
        self.channels.contains_key(doc_id)
    }

    pub fn doc_ids(&self) -> impl Iterator<Item = &DocId> {
        self.channels.keys()
    }

    /// Feeds one `Sync` frame's fields into `doc`. Opens the channel if needed.
    ///
    /// The message is checked against the session's [`SyncLimits`] before Automerge
    /// decodes it: a refused message is an error and leaves `doc` untouched. A message
    /// whose changes leave the channel's dependency-missing changes over the limit is an
    /// error too, after Automerge has queued them in `doc`: the caller applies to a copy
    /// and drops it (as the server does) or restarts the channel.
    pub fn receive(
        &mut self,
        doc: &mut AutoCommit,
        doc_id: &str,
        epoch: u32,
        seq: u64,
        message: &[u8],
    ) -> Result<Received, SyncError> {
        let ch = self.channels.entry(doc_id.to_owned()).or_default();
        ch.heard_since_tick = true;
        if epoch < ch.epoch {
            return Ok(Received::Ignored);
        }
        if epoch > ch.epoch {
            ch.reset(epoch);
        }
        if seq < ch.next_recv {
            return Ok(Received::Ignored);
        }
        if seq > ch.next_recv {
            ch.reset(ch.epoch + 1);
            return Ok(Received::Resync);
        }
        ch.next_recv += 1;
        ch.awaiting = false;
        ch.last_sent = None;
        let summary = message_check::check(message, &self.limits)?;
        let message =
            sync::Message::decode(message).map_err(|e| SyncError::Message(e.to_string()))?;
        let before = doc.get_heads();
        doc.sync().receive_sync_message(&mut ch.state, message)?;
        if summary.changes > 0 {
            // Anything still missing means some changes wait in Automerge's queue; they
            // are counted against this channel until nothing is missing.
            if doc.get_missing_deps(&[]).is_empty() {
                ch.pending_changes = 0;
                ch.pending_bytes = 0;
            } else {
                ch.pending_changes += summary.changes;
                ch.pending_bytes += summary.change_bytes;
                if ch.pending_changes > self.limits.max_pending_changes
                    || ch.pending_bytes > self.limits.max_pending_bytes
                {
                    return Err(SyncError::TooManyPending {
                        changes: ch.pending_changes,
                        bytes: ch.pending_bytes,
                    });
                }
            }
        }
        Ok(Received::Applied {
            changed: doc.get_heads() != before,
        })
    }

    /// The next `Sync` frame for `doc_id`, if Automerge has something to say.
    pub fn generate(&mut self, doc: &mut AutoCommit, doc_id: &str) -> Option<Frame> {
        let ch = self.channels.entry(doc_id.to_owned()).or_default();
        let message = doc.sync().generate_sync_message(&mut ch.state)?.encode();
        // Automerge answers a peer that says it shares changes this document lacks (a
        // `Sync` that overtook the snapshot it builds on, say) with a reset, and asked
        // again before the peer answers, sends the same reset again, forever. Never send
        // the same message twice in a row without hearing from the peer: it would say
        // nothing new, and a lost one is recovered by the timer.
        let fingerprint = {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&message, &mut h);
            std::hash::Hasher::finish(&h)
        };
        if ch.last_sent == Some(fingerprint) {
            return None;
        }
        ch.last_sent = Some(fingerprint);
        let seq = ch.next_send;
        ch.next_send += 1;
        ch.sent_since_tick = true;
        ch.awaiting = true;
        Some(Frame::Sync {
            doc_id: doc_id.to_owned(),
            epoch: ch.epoch,
            seq,
            message,
        })
    }

    /// Whether the peer last said it has exactly our heads.
    pub fn in_sync(&self, doc: &mut AutoCommit, doc_id: &str) -> bool {
        self.in_sync_at(&doc.get_heads(), doc_id)
    }

    /// [`Session::in_sync`] for a document whose heads are `heads` (one the caller has not
    /// loaded, say).
    pub fn in_sync_at(&self, heads: &[ChangeHash], doc_id: &str) -> bool {
        let Some(ch) = self.channels.get(doc_id) else {
            return false;
        };
        let mut ours = heads.to_vec();
        ours.sort();
        ch.state.their_heads.as_ref().is_some_and(|theirs| {
            let mut theirs = theirs.clone();
            theirs.sort();
            theirs == ours
        })
    }

    /// Run on a timer (every few seconds) to find frames a lossy link lost. Returns `true`
    /// when it restarted the channel in a new epoch: the caller should then
    /// [`Session::generate`]. The rule, in order:
    ///
    /// 1. A channel on which anything was heard *or sent* since the last tick is live and
    ///    is left alone. This covers a channel opened, restarted or answered since then:
    ///    its frame may simply not have had time to be answered.
    /// 2. Otherwise it has been quiet for one more tick. If the two sides are known to be
    ///    in sync, there is nothing to recover (unless `force` is set: the caller knows of
    ///    something else outstanding, such as an acknowledgement).
    /// 3. If our frame was the last thing on the channel, the peer owes an answer; it gets
    ///    [`ANSWER_TIMEOUT_TICKS`] quiet ticks to give it (a peer may be busy with other
    ///    documents) before the frame is taken as lost. `force` skips this wait.
    /// 4. Otherwise (the peer spoke last, yet we are not in sync, so its next frame was
    ///    lost) one quiet tick is enough.
    ///
    /// A restart re-sends a whole exchange, so rules 1 and 3 keep a slow but working link
    /// from being flooded with restarts; rules 3 and 4 still recover every lost frame
    /// within a few ticks.
    pub fn tick(&mut self, doc: &mut AutoCommit, doc_id: &str, force: bool) -> bool {
        self.tick_at(&doc.get_heads(), doc_id, force)
    }

    /// [`Session::tick`] for a document whose heads are `heads`.
    pub fn tick_at(&mut self, heads: &[ChangeHash], doc_id: &str, force: bool) -> bool {
        let in_sync = self.in_sync_at(heads, doc_id);
        let Some(ch) = self.channels.get_mut(doc_id) else {
            return false;
        };
        if ch.take_activity() {
            ch.quiet_ticks = 0;
            return false;
        }
        ch.quiet_ticks = ch.quiet_ticks.saturating_add(1);
        if in_sync && !force {
            return false;
        }
        if ch.awaiting && !force && ch.quiet_ticks < ANSWER_TIMEOUT_TICKS {
            return false;
        }
        ch.reset(ch.epoch + 1);
        true
    }

    /// Whether anything was heard or sent on `doc_id` since the last tick (so a tick now
    /// would leave it alone).
    fn active_since_tick(&self, doc_id: &str) -> bool {
        self.channels
            .get(doc_id)
            .is_some_and(|ch| ch.heard_since_tick || ch.sent_since_tick)
    }

    /// Forgets what this document's sync state assumed and starts a new epoch, so the
    /// next [`Session::generate`] begins the conversation afresh (after the document was
    /// replaced underneath the session, or a message was not adopted). Opens the channel
    /// if needed.
    pub fn restart(&mut self, doc_id: &str) {
        let ch = self.channels.entry(doc_id.to_owned()).or_default();
        ch.reset(ch.epoch + 1);
    }

    /// Records that the peer holds exactly `heads` of `doc_id`, as if a sync exchange had
    /// just ended there: one side sent the other the whole document at those heads (a
    /// [`Frame::Snapshot`]). Nothing is sent while the document stays at `heads`; changes
    /// made after are sent at once, without a round trip to learn what the peer has. If
    /// the peer turns out not to hold them after all, Automerge's sync resets and
    /// re-derives what each side lacks. Opens the channel if needed.
    pub fn seed(&mut self, doc_id: &str, heads: &[ChangeHash]) {
        let ch = self.channels.entry(doc_id.to_owned()).or_default();
        let mut heads = heads.to_vec();
        heads.sort();
        ch.state = sync::State {
            shared_heads: heads.clone(),
            last_sent_heads: heads.clone(),
            their_heads: Some(heads.clone()),
            their_need: Some(Vec::new()),
            their_have: Some(vec![sync::Have {
                last_sync: heads,
                bloom: sync::BloomFilter::default(),
            }]),
            have_responded: true,
            ..sync::State::new()
        };
        ch.heard_since_tick = true;
        ch.awaiting = false;
    }

    /// The heads the peer last reported for `doc_id` on this connection, if any.
    pub fn their_heads(&self, doc_id: &str) -> Option<&[ChangeHash]> {
        self.channels.get(doc_id)?.state.their_heads.as_deref()
    }

    /// After the caller has durably stored `doc`, the acknowledgement to send: the peer's
    /// last reported heads, if the document holds all of them and they were not acked yet.
    pub fn ack(&mut self, doc: &mut AutoCommit, doc_id: &str) -> Option<Frame> {
        let ch = self.channels.get_mut(doc_id)?;
        let theirs = ch.state.their_heads.clone()?;
        if theirs.is_empty() || ch.last_ack.as_ref() == Some(&theirs) {
            return None;
        }
        if theirs.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            return None;
        }
        ch.last_ack = Some(theirs.clone());
        Some(Frame::Ack {
            doc_id: doc_id.to_owned(),
            heads: theirs,
        })
    }
}

mod client;
mod refusal;

pub use client::{ClientEngine, ClientEvent, OPEN_WINDOW, RefusedChange, StoredDoc};

#[cfg(test)]
mod tests;
