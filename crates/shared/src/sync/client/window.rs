//! The device's side of one connection: what it announced, the window of plans it is
//! opening, and the snapshots it awaits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::ChangeHash;

use crate::protocol::DocId;
use crate::sync::Session;

/// How many documents a device opens at once: subscribed, but not yet known to be in sync
/// with the server. The server works through a subscription the same number at a time; a
/// device that offered thousands of plans at once would make the server load them all
/// and leave each waiting long enough to be taken for lost.
pub const OPEN_WINDOW: usize = 64;

/// How many documents one [`Frame::Fetch`] names at most.
pub(in crate::sync) const FETCH_CHUNK: usize = 1000;

/// How many ticks in a row documents may be awaited as snapshots while none arrives before
/// the device takes them for lost and syncs them the ordinary way.
pub(in crate::sync) const FETCH_TIMEOUT_TICKS: u32 = 3;

/// A device sends what it has queued as one [`Frame::Batch`] once it is at least this large
/// (and the server supports batches); smaller bursts are not worth compressing.
pub(in crate::sync) const BATCH_MIN_BYTES: usize = 512;
/// At most this much goes into one batch, so that each stays well under the frame limit.
pub(in crate::sync) const BATCH_MAX_BYTES: usize = 4 << 20;

/// How many ticks a document may hold a place in the window without reaching sync. After
/// that it leaves the window (it stays subscribed, and [`Session::tick`] keeps recovering
/// it), so one document the server never settles cannot stall the rest of a caseload.
pub(in crate::sync) const OPEN_TIMEOUT_TICKS: u32 = 5;

#[derive(Debug)]
pub(in crate::sync) struct Connection {
    pub(in crate::sync) session: Session,
    pub(in crate::sync) token: String,
    pub(in crate::sync) welcomed: bool,
    pub(in crate::sync) has_caseload: bool,
    /// Documents announced to the server on this connection: the only ones synced on it.
    pub(in crate::sync) subscribed: BTreeSet<DocId>,
    /// Documents to announce once the window has room, in order.
    pub(in crate::sync) queued: VecDeque<DocId>,
    /// The window: subscribed documents not yet in sync, with the ticks each has spent in
    /// it.
    pub(in crate::sync) opening: BTreeMap<DocId, u32>,
    /// The optional parts of the protocol the server said it supports ([`features`]).
    pub(in crate::sync) features: u64,
    /// Documents asked for whole ([`Frame::Fetch`]) whose snapshot has not arrived yet.
    pub(in crate::sync) fetching: BTreeSet<DocId>,
    /// Ticks in a row at which documents were being fetched and no snapshot had arrived
    /// since the tick before.
    pub(in crate::sync) fetch_quiet_ticks: u32,
    pub(in crate::sync) snapshot_since_tick: bool,
}

impl Connection {
    pub(in crate::sync) fn new(token: &str) -> Connection {
        Connection {
            session: Session::new(),
            token: token.to_owned(),
            welcomed: false,
            has_caseload: false,
            subscribed: BTreeSet::new(),
            queued: VecDeque::new(),
            opening: BTreeMap::new(),
            features: 0,
            fetching: BTreeSet::new(),
            fetch_quiet_ticks: 0,
            snapshot_since_tick: false,
        }
    }

    pub(in crate::sync) fn supports(&self, feature: u64) -> bool {
        self.features & feature != 0
    }

    /// Queues documents to be announced, skipping those announced or queued already.
    pub(in crate::sync) fn enqueue(&mut self, ids: impl IntoIterator<Item = DocId>) {
        let mut queued: BTreeSet<DocId> = self.queued.iter().cloned().collect();
        for id in ids {
            if !self.subscribed.contains(&id) && queued.insert(id.clone()) {
                self.queued.push_back(id);
            }
        }
    }

    /// Takes `doc_id` out of the window if it reached sync. Returns whether it left.
    pub(in crate::sync) fn settle(&mut self, heads: &[ChangeHash], doc_id: &str) -> bool {
        if self.opening.contains_key(doc_id) && self.session.in_sync_at(heads, doc_id) {
            self.opening.remove(doc_id);
            return true;
        }
        false
    }
}
