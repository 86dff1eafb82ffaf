//! [`ClientEngine`]: a device's documents and its one connection to the server, driven
//! through a [`Session`]. What it keeps per plan is in `record`, the connection's window in
//! `window`, and plans held as snapshot bytes until first use in `lazy`.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, ChangeHash};

use crate::doc::{ApplyError, DocError, PlanDoc};
use crate::edit::{Edit, Editor};
use crate::protocol::{DecodeError, DocId, ErrorCode, Frame, MAX_BATCH_FRAMES, features};

use super::refusal::*;
use super::*;

mod lazy;
mod record;
mod window;

pub(in crate::sync) use lazy::LazyPlan;
use lazy::snapshot_heads;
pub(in crate::sync) use record::{ClientDoc, LocalRecord, doc_actor, is_own};
pub use record::{RefusedChange, StoredDoc};
pub use window::OPEN_WINDOW;
pub(in crate::sync) use window::{
    BATCH_MAX_BYTES, BATCH_MIN_BYTES, Connection, FETCH_CHUNK, FETCH_TIMEOUT_TICKS,
    OPEN_TIMEOUT_TICKS,
};

/// Something the client app should react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server accepted our token.
    Welcome {
        user_id: String,
        user_name: String,
        role: String,
    },
    /// The documents this user may sync.
    Caseload { doc_ids: Vec<DocId> },
    /// Remote changes arrived: refresh the view and persist the document.
    DocChanged { doc_id: DocId },
    /// The server durably holds more of our changes: persist the acked heads.
    Acked { doc_id: DocId },
    /// The server reported an error (for one document, or the connection).
    Error {
        code: ErrorCode,
        doc_id: Option<DocId>,
        message: String,
    },
}

/// A device's side of sync: owns the device's documents and one connection at a time.
///
/// Drive it with [`ClientEngine::connected`], [`ClientEngine::receive`],
/// [`ClientEngine::tick`] and [`ClientEngine::disconnected`]; send what
/// [`ClientEngine::take_outgoing`] returns and react to [`ClientEngine::take_events`].
#[derive(Debug)]
pub struct ClientEngine {
    actor: ActorId,
    /// The optional protocol features this device offers ([`features`]).
    offers: u64,
    docs: BTreeMap<DocId, ClientDoc>,
    pub(super) conn: Option<Connection>,
    outbox: Vec<Vec<u8>>,
    events: Vec<ClientEvent>,
}

impl ClientEngine {
    /// `actor` identifies this device's changes; keep it stable for the device.
    pub fn new(actor: ActorId) -> ClientEngine {
        ClientEngine {
            actor,
            offers: features::ALL,
            docs: BTreeMap::new(),
            conn: None,
            outbox: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Offers only these optional protocol features ([`features`]) from the next
    /// connection on; every feature by default.
    pub fn offer_features(&mut self, flags: u64) {
        self.offers = flags & features::ALL;
    }

    /// Adds a document from local storage (replacing any in memory).
    pub fn load(&mut self, doc_id: &str, stored: &StoredDoc) -> Result<(), DocError> {
        let local = LocalRecord::decode(&stored.local);
        let actor = doc_actor(&self.actor, local.resets);
        let doc = LazyPlan::loaded(if stored.doc.is_empty() {
            PlanDoc::empty(actor)
        } else {
            PlanDoc::load(&stored.doc, actor)?
        });
        let acked = stored
            .acked
            .chunks_exact(32)
            .map(|c| ChangeHash(c.try_into().expect("chunk of 32")))
            .collect();
        self.docs
            .insert(doc_id.to_owned(), ClientDoc { doc, acked, local });
        Ok(())
    }

    /// What to write to local storage for `doc_id`.
    pub fn export(&mut self, doc_id: &str) -> Option<StoredDoc> {
        let d = self.docs.get_mut(doc_id)?;
        Some(StoredDoc {
            doc: d.doc.save(),
            acked: d.acked.iter().flat_map(|h| h.0).collect(),
            local: d.local.encode(),
        })
    }

    pub fn doc_ids(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }

    /// Forgets every document (the device is being wiped); the actor and connection stay.
    pub fn clear(&mut self) {
        self.docs.clear();
        if let Some(conn) = self.conn.as_mut() {
            conn.session = Session::new();
            conn.subscribed.clear();
            conn.queued.clear();
            conn.opening.clear();
            conn.fetching.clear();
        }
    }

    /// The plan, loaded into Automerge now if it is still a snapshot's bytes.
    pub fn doc(&self, doc_id: &str) -> Option<&PlanDoc> {
        self.docs.get(doc_id).map(|d| d.doc.get())
    }

    pub fn doc_mut(&mut self, doc_id: &str) -> Option<&mut PlanDoc> {
        self.docs.get_mut(doc_id).map(|d| d.doc.get_mut())
    }

    /// The plan's heads, without loading it (empty for a plan the device holds nothing of).
    pub fn heads(&mut self, doc_id: &str) -> Option<Vec<ChangeHash>> {
        self.docs.get_mut(doc_id).map(|d| d.doc.heads())
    }

    /// Whether the device holds any of the plan, without loading it.
    pub fn holds(&mut self, doc_id: &str) -> bool {
        self.docs.get_mut(doc_id).is_some_and(|d| !d.doc.is_empty())
    }

    /// Applies an edit locally and, when connected, queues it for the server.
    pub fn apply(
        &mut self,
        doc_id: &str,
        edit: &Edit,
        editor: &Editor,
        now_ms: i64,
    ) -> Result<ChangeHash, ApplyError> {
        let d = self
            .docs
            .get_mut(doc_id)
            .ok_or(ApplyError::Doc(DocError::Empty))?;
        let hash = d.doc.get_mut().apply(edit, editor, now_ms)?;
        // Kept until the server acknowledges the change, so that if it is refused the
        // clinician gets back the edit itself, not only a description of it.
        d.local.journal.insert(hash.to_string(), vec![edit.clone()]);
        // An edit to a document still waiting for the window goes out now, not after the
        // rest of the caseload.
        self.announce_now(doc_id);
        self.flush(doc_id);
        Ok(hash)
    }

    /// Adds a whole new document made on this device (e.g. in tests); it syncs like any other.
    pub fn insert(&mut self, doc_id: &str, doc: PlanDoc) {
        self.docs.insert(doc_id.to_owned(), ClientDoc::new(doc));
        self.announce_now(doc_id);
        self.flush(doc_id);
    }

    /// Local changes to `doc_id` the server has not yet acknowledged as durable.
    pub fn pending(&mut self, doc_id: &str) -> usize {
        self.docs
            .get_mut(doc_id)
            .map_or(0, |d| unacked_own(d, &self.actor).len())
    }

    /// Changes to `doc_id` the server refused and this device dropped, oldest first, until
    /// they are dismissed with [`ClientEngine::dismiss_refused`].
    pub fn refused(&self, doc_id: &str) -> &[RefusedChange] {
        self.docs
            .get(doc_id)
            .map_or(&[], |d| d.local.refused.as_slice())
    }

    /// Forgets one refused change (`hash` in hex), once the clinician has seen it or made
    /// it again. Returns whether there was one; persist the document afterwards.
    pub fn dismiss_refused(&mut self, doc_id: &str, hash: &str) -> bool {
        let Some(d) = self.docs.get_mut(doc_id) else {
            return false;
        };
        let before = d.local.refused.len();
        d.local.refused.retain(|r| r.hash != hash);
        d.local.refused.len() != before
    }

    /// Pending changes over every document.
    pub fn pending_total(&mut self) -> usize {
        let ids: Vec<DocId> = self.docs.keys().cloned().collect();
        ids.iter().map(|id| self.pending(id)).sum()
    }

    pub fn is_connected(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.welcomed)
    }

    /// A transport connected: authenticate with `token`.
    pub fn connected(&mut self, token: &str) {
        self.conn = Some(Connection::new(token));
        // Before `Hello`, so the server's answer arrives before its `Welcome` and the
        // caseload is fetched knowing what the server supports. A server that knows no
        // features answers `Error{bad_frame}` and the device carries on without them.
        self.outbox
            .push(Frame::Features { flags: self.offers }.encode());
        self.outbox.push(
            Frame::Hello {
                token: token.to_owned(),
            }
            .encode(),
        );
    }

    /// The transport closed. Sync state of that connection is dropped; documents are kept.
    pub fn disconnected(&mut self) {
        self.conn = None;
        // Frames queued for the dead connection must not lead the next one: a sync
        // message ahead of the new `Hello` is refused as unauthenticated. What they carried
        // is re-derived from the documents once the next connection is welcomed.
        self.outbox.clear();
    }

    /// Feeds one received frame. A malformed frame is an error and changes nothing. The
    /// frames of a [`Frame::Batch`] are all decoded before any is handled, then handled in
    /// order; if one fails (a malformed Automerge message for one document) the rest are
    /// still handled and the first error is returned.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), SyncError> {
        let frames = Frame::decode_all(bytes)?;
        let mut first_error = None;
        for frame in frames {
            if let Err(e) = self.handle(frame) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn handle(&mut self, frame: Frame) -> Result<(), SyncError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        match frame {
            Frame::Welcome {
                user_id,
                user_name,
                role,
            } => {
                let first = !conn.welcomed;
                conn.welcomed = true;
                self.events.push(ClientEvent::Welcome {
                    user_id,
                    user_name,
                    role,
                });
                if first {
                    // Announce everything held (after what a Caseload that overtook this
                    // Welcome queued), a window at a time. Documents with edits of our
                    // own waiting to upload go first.
                    let mine = self
                        .docs
                        .iter()
                        .filter(|(_, d)| !d.local.journal.is_empty())
                        .map(|(id, _)| id.clone());
                    let rest = self
                        .docs
                        .iter()
                        .filter(|(_, d)| d.local.journal.is_empty())
                        .map(|(id, _)| id.clone());
                    let earlier: Vec<DocId> = conn.queued.drain(..).collect();
                    conn.enqueue(mine);
                    conn.enqueue(earlier);
                    conn.enqueue(rest);
                    self.pump();
                }
            }
            Frame::Caseload { doc_ids } => {
                conn.has_caseload = true;
                for id in &doc_ids {
                    if !self.docs.contains_key(id) {
                        let doc = PlanDoc::empty(self.actor.clone());
                        self.docs.insert(id.clone(), ClientDoc::new(doc));
                    }
                }
                self.events.push(ClientEvent::Caseload {
                    doc_ids: doc_ids.clone(),
                });
                self.subscribe(doc_ids);
            }
            Frame::Sync {
                doc_id,
                epoch,
                seq,
                message,
            } => {
                let Some(d) = self.docs.get_mut(&doc_id) else {
                    return Ok(());
                };
                let received =
                    conn.session
                        .receive(d.doc.automerge(), &doc_id, epoch, seq, &message)?;
                if received == (Received::Applied { changed: true }) {
                    // A change thought refused that the server holds after all (its
                    // refusal was stale) is in the plan again: nothing to redo.
                    let am = d.doc.automerge();
                    d.local.refused.retain(|r| {
                        !r.hash
                            .parse::<ChangeHash>()
                            .is_ok_and(|h| am.get_change_by_hash(&h).is_some())
                    });
                    self.events.push(ClientEvent::DocChanged {
                        doc_id: doc_id.clone(),
                    });
                }
                if received != Received::Ignored {
                    self.flush(&doc_id);
                    let (Some(conn), Some(d)) = (self.conn.as_mut(), self.docs.get_mut(&doc_id))
                    else {
                        return Ok(());
                    };
                    if conn.settle(&d.doc.heads(), &doc_id) {
                        self.pump();
                    }
                }
            }
            Frame::Ack { doc_id, heads } => {
                if let Some(d) = self.docs.get_mut(&doc_id) {
                    d.acked = heads;
                    if !d.local.journal.is_empty() {
                        let waiting: BTreeSet<String> = unacked_own(d, &self.actor)
                            .into_iter()
                            .map(|c| c.to_string())
                            .collect();
                        d.local.journal.retain(|h, _| waiting.contains(h));
                    }
                    self.events.push(ClientEvent::Acked { doc_id });
                }
            }
            Frame::Error {
                code,
                doc_id,
                message,
            } => {
                let mut freed = false;
                if let (Some(id), ErrorCode::Forbidden) = (&doc_id, code) {
                    conn.session.close(id);
                    conn.subscribed.remove(id);
                    conn.queued.retain(|q| q != id);
                    freed = conn.opening.remove(id).is_some();
                }
                let reset = match (&doc_id, code) {
                    (Some(id), ErrorCode::Refused) => self.recover_from_refusal(id, &message),
                    _ => false,
                };
                self.events.push(ClientEvent::Error {
                    code,
                    doc_id: doc_id.clone(),
                    message,
                });
                if let (true, Some(doc_id)) = (reset, doc_id) {
                    self.events.push(ClientEvent::DocChanged { doc_id });
                }
                if freed {
                    self.pump();
                }
            }
            Frame::Features { flags } => conn.features = flags & features::ALL,
            Frame::Snapshot { doc_id, heads, doc } => self.on_snapshot(&doc_id, &heads, &doc)?,
            Frame::Batch { .. } => {
                // `receive` unpacks batches, and a batch cannot hold another.
                return Err(DecodeError::NestedBatch.into());
            }
            Frame::Hello { .. } | Frame::Subscribe { .. } | Frame::Fetch { .. } => {
                self.events.push(ClientEvent::Error {
                    code: ErrorCode::BadFrame,
                    doc_id: None,
                    message: "the server sent a frame only clients send".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// A whole document from the server. Merged into what the device holds (normally
    /// nothing); if its channel has not started, both sides now know the device holds
    /// the snapshot's heads, so the channel starts in sync there.
    fn on_snapshot(
        &mut self,
        doc_id: &str,
        heads: &[ChangeHash],
        bytes: &[u8],
    ) -> Result<(), SyncError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        conn.snapshot_since_tick = true;
        let asked = conn.fetching.remove(doc_id);
        let Some(d) = self.docs.get_mut(doc_id) else {
            return Ok(());
        };
        let before = d.doc.heads();
        // Merged rather than loaded where the channel has started: changes that overtook
        // the snapshot wait in the document for it.
        let fresh = !conn.session.is_open(doc_id);
        let actor = doc_actor(&self.actor, d.local.resets);
        if before.is_empty() && fresh && asked && same_heads(snapshot_heads(bytes), heads) {
            // The usual case, a plan asked for whole: kept as its bytes until first use.
            // Its channel starts in sync at its heads, so nothing is sent for it, and the
            // device holds nothing of its own to offer.
            d.doc = LazyPlan::snapshot(bytes.to_vec(), heads.to_vec(), actor);
            conn.session.seed(doc_id, heads);
            self.events.push(ClientEvent::DocChanged {
                doc_id: doc_id.to_owned(),
            });
            return Ok(());
        }
        if before.is_empty() && fresh {
            let doc = PlanDoc::load(bytes, actor).map_err(|e| SyncError::Message(e.to_string()))?;
            d.doc = LazyPlan::loaded(doc);
        } else {
            d.doc
                .automerge()
                .load_incremental(bytes)
                .map_err(|e| SyncError::Message(e.to_string()))?;
        }
        if asked && fresh {
            conn.session.seed(doc_id, heads);
        }
        if d.doc.heads() != before {
            self.events.push(ClientEvent::DocChanged {
                doc_id: doc_id.to_owned(),
            });
        }
        // Anything of ours the server lacks goes now (normally nothing).
        self.flush(doc_id);
        Ok(())
    }

    /// Run on a timer (every few seconds): re-sends what a lossy link may have lost.
    pub fn tick(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if !conn.welcomed || !conn.has_caseload {
            // The server answers every Hello with Welcome and Caseload; one was lost.
            self.outbox.push(
                Frame::Hello {
                    token: conn.token.clone(),
                }
                .encode(),
            );
            return;
        }
        // Snapshots asked for arrive as fast as the device reads them; if none has arrived
        // for a few ticks, the rest are taken for lost and synced the ordinary way.
        if conn.fetching.is_empty() || std::mem::take(&mut conn.snapshot_since_tick) {
            conn.fetch_quiet_ticks = 0;
        } else {
            conn.fetch_quiet_ticks += 1;
            if conn.fetch_quiet_ticks >= FETCH_TIMEOUT_TICKS {
                conn.fetch_quiet_ticks = 0;
                let lost = std::mem::take(&mut conn.fetching);
                for id in lost {
                    self.flush(&id);
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let ids: Vec<DocId> = conn
            .subscribed
            .iter()
            .filter(|id| !conn.fetching.contains(*id))
            .cloned()
            .collect();
        for id in ids {
            let (Some(conn), Some(d)) = (self.conn.as_mut(), self.docs.get_mut(&id)) else {
                continue;
            };
            let session = &mut conn.session;
            if !session.is_open(&id) {
                // Subscribed, but neither side has spoken yet (an empty document waits
                // for the server's first frame, see `pump`). Opening the channel quietly
                // gives the server until the next tick; then `Session::tick` restarts it
                // from this side.
                session.open(&id);
                continue;
            }
            if d.doc.take_failed() {
                // A snapshot kept unloaded failed to load on first use: the document is
                // empty again, so sync it afresh.
                session.restart(&id);
                self.flush(&id);
                continue;
            }
            // A document in sync whose changes still await an Ack lost the Ack (or the
            // frame that would have prompted it): restart it anyway. Counting unacked
            // changes walks the history, so only for a quiet document in sync.
            let heads = d.doc.heads();
            let force = !session.active_since_tick(&id)
                && session.in_sync_at(&heads, &id)
                && !unacked_own(d, &self.actor).is_empty();
            if session.tick_at(&heads, &id, force) {
                self.flush(&id);
            }
        }
        // Advance the window: documents that reached sync leave it, and so do those that
        // held a place for too long.
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let opening: Vec<DocId> = conn.opening.keys().cloned().collect();
        for id in opening {
            let Some(d) = self.docs.get_mut(&id) else {
                conn.opening.remove(&id);
                continue;
            };
            if conn.settle(&d.doc.heads(), &id) {
                continue;
            }
            let ticks = conn.opening.entry(id.clone()).or_default();
            *ticks += 1;
            if *ticks > OPEN_TIMEOUT_TICKS {
                conn.opening.remove(&id);
            }
        }
        self.pump();
    }

    /// Frames to send, in order. Once the server supports batches, a burst (a window of
    /// subscriptions and their first messages, say) goes as compressed batches.
    pub fn take_outgoing(&mut self) -> Vec<Vec<u8>> {
        let frames = std::mem::take(&mut self.outbox);
        let batching = self
            .conn
            .as_ref()
            .is_some_and(|c| c.supports(features::BATCH));
        if !batching
            || frames.len() < 2
            || frames.iter().map(Vec::len).sum::<usize>() < BATCH_MIN_BYTES
        {
            return frames;
        }
        let mut out = Vec::new();
        let mut group: Vec<Vec<u8>> = Vec::new();
        let mut size = 0;
        for frame in frames {
            if (size + frame.len() > BATCH_MAX_BYTES || group.len() == MAX_BATCH_FRAMES)
                && !group.is_empty()
            {
                out.push(Frame::deflate_batch(&group).encode());
                group.clear();
                size = 0;
            }
            size += frame.len();
            group.push(frame);
        }
        if group.len() == 1 {
            out.extend(group);
        } else if !group.is_empty() {
            out.push(Frame::deflate_batch(&group).encode());
        }
        out
    }

    pub fn take_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.events)
    }

    /// Queues documents to announce to the server, a window at a time.
    fn subscribe(&mut self, ids: Vec<DocId>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        conn.enqueue(ids);
        // Before the Welcome, the Welcome handler starts the window.
        self.pump();
    }

    /// Once at most half the window is in use, announces queued documents until it is full
    /// and starts their sync: one `Subscribe` for the lot, then the first `Sync` of each
    /// document that has something to offer.
    fn pump(&mut self) {
        let Some(conn) = self.conn.as_mut().filter(|c| c.welcomed) else {
            return;
        };
        // Documents this device holds nothing of are fetched whole, all at once: the
        // server streams their snapshots as fast as the device reads them, holding none of
        // them open, so they need no window.
        if conn.supports(features::SNAPSHOT) {
            let docs = &mut self.docs;
            let mut fetch = Vec::new();
            conn.queued.retain(|id| {
                let empty = docs.get_mut(id).is_some_and(|d| d.doc.is_empty());
                if empty && !conn.subscribed.contains(id) {
                    fetch.push(id.clone());
                }
                !empty
            });
            for chunk in fetch.chunks(FETCH_CHUNK) {
                conn.subscribed.extend(chunk.iter().cloned());
                conn.fetching.extend(chunk.iter().cloned());
                self.outbox.push(
                    Frame::Fetch {
                        doc_ids: chunk.to_vec(),
                    }
                    .encode(),
                );
            }
        }
        // Refill when half the window has drained, not one document at a time: each
        // `Subscribe` costs the server a permission check and an audited write, so a few
        // dozen per frame are much cheaper than one.
        if conn.opening.len() > OPEN_WINDOW / 2 {
            return;
        }
        let mut new = Vec::new();
        while conn.opening.len() < OPEN_WINDOW {
            let Some(id) = conn.queued.pop_front() else {
                break;
            };
            if !self.docs.contains_key(&id) || !conn.subscribed.insert(id.clone()) {
                continue;
            }
            conn.opening.insert(id.clone(), 0);
            new.push(id);
        }
        if new.is_empty() {
            return;
        }
        self.outbox.push(
            Frame::Subscribe {
                doc_ids: new.clone(),
            }
            .encode(),
        );
        for id in new {
            // A document this device holds nothing of has nothing to offer: the server
            // starts every subscribed document, so wait for its first frame. Speaking at
            // the same time would cross, and each side would answer both openings. (If
            // the server's frame is lost, the timer opens the channel from this side.)
            let empty = self.docs.get_mut(&id).is_some_and(|d| d.doc.is_empty());
            if !empty {
                self.flush(&id);
            }
        }
    }

    /// Announces `doc_id` at once, outside the window (a document the user is editing or
    /// has just made), if it is not announced yet and the server has welcomed us.
    fn announce_now(&mut self, doc_id: &str) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.subscribed.contains(doc_id) {
            return;
        }
        if !conn.welcomed {
            // The Welcome handler announces it, edited documents first.
            conn.enqueue([doc_id.to_owned()]);
            return;
        }
        conn.queued.retain(|q| q != doc_id);
        conn.subscribed.insert(doc_id.to_owned());
        self.outbox.push(
            Frame::Subscribe {
                doc_ids: vec![doc_id.to_owned()],
            }
            .encode(),
        );
    }

    /// The server refused changes to `doc_id` and will not take anything built on them, so
    /// the document is put back to what the server holds: the refused changes and every
    /// change depending on them are dropped (kept as [`RefusedChange`]s with their edits),
    /// and the document is offered afresh. Returns whether anything was dropped.
    ///
    /// The server names the first refused change in `reason`. Only that change and what
    /// was built on it are dropped; other waiting changes are offered again (if one of them
    /// is refused too, the next refusal names it). A reason that names no change drops
    /// every change the server is not known to hold. The server is known to hold what it
    /// acknowledged and what it last said it has; those are never dropped, so a stale or
    /// repeated refusal drops nothing.
    fn recover_from_refusal(&mut self, doc_id: &str, reason: &str) -> bool {
        let server_heads: Vec<ChangeHash> = self
            .conn
            .as_ref()
            .and_then(|c| c.session.their_heads(doc_id))
            .map(<[ChangeHash]>::to_vec)
            .unwrap_or_default();
        let Some(d) = self.docs.get_mut(doc_id) else {
            return false;
        };
        let dropped = refused_changes(d, &self.actor, &server_heads, reason);
        let mut reset = false;
        if !dropped.is_empty() {
            reset = drop_changes(d, &dropped, reason, &self.actor);
        }
        // The server ignores this document on this connection until it is subscribed
        // again; then both sides start its sync from scratch.
        if let Some(conn) = self.conn.as_mut().filter(|c| c.welcomed) {
            conn.session.restart(doc_id);
            if conn.subscribed.contains(doc_id) {
                self.outbox.push(
                    Frame::Subscribe {
                        doc_ids: vec![doc_id.to_owned()],
                    }
                    .encode(),
                );
                self.flush(doc_id);
            }
        }
        reset
    }

    /// Queues whatever Automerge wants to send for `doc_id` on the current connection.
    fn flush(&mut self, doc_id: &str) {
        let Some(conn) = self.conn.as_mut().filter(|c| c.welcomed) else {
            return;
        };
        if !conn.subscribed.contains(doc_id) {
            return;
        }
        let Some(d) = self.docs.get_mut(doc_id) else {
            return;
        };
        while let Some(frame) = conn.session.generate(d.doc.automerge(), doc_id) {
            self.outbox.push(frame.encode());
        }
    }
}

/// Whether a snapshot's own heads (see [`snapshot_heads`]) are those its frame declared.
fn same_heads<E>(found: Result<Vec<ChangeHash>, E>, declared: &[ChangeHash]) -> bool {
    let Ok(mut found) = found else {
        return false;
    };
    let mut declared = declared.to_vec();
    found.sort();
    declared.sort();
    found == declared
}
