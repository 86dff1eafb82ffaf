//! [`Connection`]: the server's side of one sync connection, as a state machine that
//! takes frames and notices in and queues frames out.
//!
//! Reads: a plan is opened on a connection only if [`crate::access::plan_access`] allows
//! it, and the first opening per connection is audited before any of the plan is sent.
//!
//! Writes: incoming changes are applied to a copy of the cached document and checked
//! before anything is stored — every change's actor must belong to this device (the first
//! use binds it), must name this user as its author, an MDT member's change must not
//! write a protected field, and the result must still be a valid plan. A change that fails
//! is refused with `Error{Refused}` naming it; the copy is dropped, so nothing of it is
//! stored, and the refusal is audited.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use redfolder_shared::protocol::{DecodeError, DocId, ErrorCode, Frame, MAX_FRAME_BYTES, features};
use redfolder_shared::{ChangeHash, ChangeNote, PlanDoc, Received, Session, sync_message};

use super::cache::{DocCache, DocGuard, DocPin};
use super::{ConnectionCounts, CountKey, CountPermit, DocNotice, offload};
use crate::access::{PlanAccess, plan_access};
use crate::audit::{AuditEvent, action};
use crate::auth::{lookup_token, token_hash};
use crate::commit::{self, Outcome, Submission};
use crate::domain::{Principal, Role, now_ms, server_actor};
use crate::startup::AppState;
use crate::store::SessionLookup;

/// How long a connection may stay open without authenticating.
const HELLO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Longer ids than this are never documents of ours; refuse them before asking the store.
const MAX_DOC_ID: usize = 128;
/// How many subscribed documents the server syncs at once on one connection. The rest
/// wait their turn in [`Connection::pump`], so that a cold sync of thousands of plans
/// needs only this many in the cache at a time (each is pinned until its exchange
/// settles) instead of loading all of them, having the cache evict them before the device
/// answers, and loading them again for every answer.
const WINDOW: usize = 64;
/// How many fetched documents are read from the store and sent at once: one query, and
/// one compressed batch of snapshots large enough for Brotli to find what they share.
const FETCH_CHUNK: usize = 64;
/// The window over which `Config::max_unknown_docs_per_minute` is counted.
const UNKNOWN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// One WebSocket's sync state: who is connected, which documents are open, and the
/// `Session` that numbers and resynchronises their frames.
#[derive(Debug)]
pub struct Connection {
    state: AppState,
    id: u64,
    opened_at: Instant,
    query_token: Option<String>,
    principal: Option<Principal>,
    token_hash: Option<String>,
    session: Session,
    /// Documents this connection may sync, and in which capacity.
    access: HashMap<DocId, PlanAccess>,
    /// Documents whose opening on this connection has been audited.
    audited: HashSet<DocId>,
    /// Documents whose last change was refused: their frames are ignored until the
    /// client subscribes again, so a device that keeps offering a refused change does not
    /// loop with the server.
    refused: HashSet<DocId>,
    /// Actors (hex) known to belong to this connection's device.
    own_actors: HashSet<String>,
    /// The optional parts of the protocol both sides support ([`features`]).
    features: u64,
    /// Documents the device asked for whole ([`Frame::Fetch`]) not yet sent.
    fetch_queue: VecDeque<DocId>,
    /// Subscribed documents not yet started, in the order the device asked for them.
    queued: VecDeque<DocId>,
    /// Documents started from `queued` whose first exchange has not settled yet, pinned in
    /// the cache meanwhile; at most [`WINDOW`].
    active: HashMap<DocId, DocPin>,
    /// Open documents not known to be in sync with the device: the only ones the timer
    /// looks at, so a connection with thousands of settled documents does not load them
    /// all every tick.
    unsettled: HashSet<DocId>,
    /// Documents a frame was queued for since the last tick: in flight, not lost.
    sent_since_tick: HashSet<DocId>,
    outgoing: Vec<Frame>,
    closing: bool,
    /// This connection's places in the per-user and per-device counts, once authenticated.
    count_permits: Vec<CountPermit>,
    /// Notified when a newer connection of the same device pushed this one out.
    superseded: Arc<tokio::sync::Notify>,
    /// When the current [`UNKNOWN_WINDOW`] began, and how many documents outside
    /// `access` were looked up in it.
    unknown_since: Instant,
    unknown_used: usize,
}

/// Why a change is refused, for the metrics label and the audit entry.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Actor,
    Author,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Actor => "actor",
            Refusal::Author => "author",
        }
    }
}

impl Connection {
    pub fn new(state: AppState, id: u64, query_token: Option<String>) -> Connection {
        let limits = state.config().sync_limits;
        Connection {
            state,
            id,
            opened_at: Instant::now(),
            query_token,
            principal: None,
            token_hash: None,
            session: Session::with_limits(limits),
            access: HashMap::new(),
            audited: HashSet::new(),
            refused: HashSet::new(),
            own_actors: HashSet::new(),
            features: 0,
            fetch_queue: VecDeque::new(),
            queued: VecDeque::new(),
            active: HashMap::new(),
            unsettled: HashSet::new(),
            sent_since_tick: HashSet::new(),
            outgoing: Vec::new(),
            closing: false,
            count_permits: Vec::new(),
            superseded: Arc::default(),
            unknown_since: Instant::now(),
            unknown_used: 0,
        }
    }

    /// What the socket task waits on to learn that [`Connection::superseded`] happened.
    pub fn superseded_signal(&self) -> Arc<tokio::sync::Notify> {
        self.superseded.clone()
    }

    /// A newer connection of this device took this one's place (see
    /// `ConnectionCounts::join_device`): say so and close.
    pub fn superseded(&mut self) {
        self.send_error(
            ErrorCode::TooManyConnections,
            None,
            "this device opened a newer sync connection, which replaces this one".to_owned(),
        );
        self.close();
    }

    /// Frames to send, in order.
    pub fn take_outgoing(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.outgoing)
    }

    /// Whether the device reads [`Frame::Batch`]es.
    pub fn batches(&self) -> bool {
        self.features & features::BATCH != 0
    }

    /// Whether the socket should be closed once the outgoing frames are sent.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    pub fn close(&mut self) {
        self.closing = true;
    }

    pub fn send_error(&mut self, code: ErrorCode, doc_id: Option<&str>, message: String) {
        self.outgoing.push(Frame::Error {
            code,
            doc_id: doc_id.map(str::to_owned),
            message,
        });
    }

    /// One binary WebSocket message from the client.
    pub async fn on_binary(&mut self, bytes: &[u8]) {
        self.state.metrics().frame_received();
        if bytes.len() > MAX_FRAME_BYTES {
            let message = DecodeError::TooLarge(bytes.len()).to_string();
            return self.send_error(ErrorCode::TooLarge, None, message);
        }
        // A stranger gets nothing decoded but one small Features or Hello: no batch is
        // inflated and no list allocated before the token is checked.
        if self.principal.is_none() {
            return match Frame::decode_before_hello(bytes) {
                Ok(frame) => self.on_frame(frame).await,
                Err(e) => {
                    self.send_error(ErrorCode::Unauthorized, None, e.to_string());
                    self.close();
                }
            };
        }
        // Every frame of a batch is decoded before any is handled.
        let frames = match Frame::decode_all(bytes) {
            Ok(frames) => frames,
            Err(e) => {
                let code = match e {
                    DecodeError::TooLarge(_) => ErrorCode::TooLarge,
                    DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
                    _ => ErrorCode::BadFrame,
                };
                return self.send_error(code, None, e.to_string());
            }
        };
        for frame in frames {
            if self.closing {
                break;
            }
            self.on_frame(frame).await;
        }
    }

    async fn on_frame(&mut self, frame: Frame) {
        let result = match frame {
            // Before `Hello` as well: it only says what the device can read.
            Frame::Features { flags } => {
                self.features = flags & features::ALL;
                self.outgoing.push(Frame::Features {
                    flags: self.features,
                });
                Ok(())
            }
            Frame::Hello { token } if self.principal.is_some() => {
                self.on_second_hello(&token);
                Ok(())
            }
            Frame::Hello { token } => self.on_hello(token).await,
            _ if self.principal.is_none() => {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "send Hello with an access token first".to_owned(),
                );
                self.close();
                Ok(())
            }
            Frame::Subscribe { doc_ids } => self.on_subscribe(doc_ids, false).await,
            Frame::Fetch { doc_ids } => self.on_subscribe(doc_ids, true).await,
            Frame::Sync {
                doc_id,
                epoch,
                seq,
                message,
            } => self.on_sync(&doc_id, epoch, seq, &message).await,
            Frame::Welcome { .. }
            | Frame::Caseload { .. }
            | Frame::Ack { .. }
            | Frame::Snapshot { .. }
            | Frame::Batch { .. } => {
                self.send_error(
                    ErrorCode::BadFrame,
                    None,
                    "only the server sends this frame".to_owned(),
                );
                Ok(())
            }
            // A client reporting an error needs no answer.
            Frame::Error { .. } => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(error = format!("{e:#}"), "sync failed");
            self.send_error(
                ErrorCode::Internal,
                None,
                "the server failed; try again".to_owned(),
            );
        }
    }

    async fn on_hello(&mut self, token: String) -> anyhow::Result<()> {
        let token = if token.is_empty() {
            self.query_token.clone().unwrap_or_default()
        } else {
            token
        };
        let principal = match lookup_token(&self.state, &token, true).await? {
            SessionLookup::Valid(principal) => principal,
            SessionLookup::DeviceRevoked => {
                self.device_revoked();
                return Ok(());
            }
            SessionLookup::Invalid => {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "the access token is not valid".to_owned(),
                );
                self.close();
                return Ok(());
            }
        };
        if !self.count(&principal) {
            return Ok(());
        }
        let docs = self.state.store().accessible_docs(&principal.user).await?;
        tracing::info!(user_id = %principal.user.id, device_id = %principal.device_id, documents = docs.len(), "authenticated");
        let ids: Vec<DocId> = docs.iter().map(|(id, _)| id.clone()).collect();
        self.access = docs.into_iter().collect();
        self.outgoing.push(Frame::Welcome {
            user_id: principal.user.id.clone(),
            user_name: principal.user.name.clone(),
            role: principal.user.primary_role().as_str().to_owned(),
        });
        self.outgoing.push(Frame::Caseload { doc_ids: ids });
        self.principal = Some(principal);
        self.token_hash = Some(token_hash(&token));
        Ok(())
    }

    /// Takes this connection's places in the per-user and per-device counts. A user with
    /// too many open is refused (said, then closed); a device with too many has its
    /// oldest connections closed instead (see `ConnectionCounts`).
    fn count(&mut self, principal: &Principal) -> bool {
        let config = self.state.config();
        let (per_user, per_device) = (
            config.max_connections_per_user,
            config.max_connections_per_device,
        );
        let user = CountKey::User(principal.user.id.clone());
        let Some(permit) = ConnectionCounts::acquire(&self.state, user, per_user) else {
            tracing::warn!(limit = per_user, "too many sync connections for one user");
            self.send_error(
                ErrorCode::TooManyConnections,
                None,
                format!("this user has {per_user} sync connections open already"),
            );
            self.close();
            return false;
        };
        self.count_permits.push(permit);
        self.count_permits.push(ConnectionCounts::join_device(
            &self.state,
            &principal.device_id,
            self.id,
            self.superseded.clone(),
            per_device,
        ));
        true
    }

    /// A `Hello` on a connection that has authenticated. The same token again is the
    /// device re-sending a `Hello` whose `Welcome` or `Caseload` it took for lost: it is
    /// answered again from what the connection already knows. Any other token is an
    /// attempt to change who the connection belongs to: an error, and the connection is
    /// closed.
    fn on_second_hello(&mut self, token: &str) {
        // An empty token means the one given at the upgrade, as in the first `Hello`.
        let token = if token.is_empty() {
            self.query_token.as_deref().unwrap_or_default()
        } else {
            token
        };
        let same = self.token_hash.as_deref() == Some(&*token_hash(token));
        let Some(principal) = self.principal.as_ref().filter(|_| same) else {
            self.send_error(
                ErrorCode::BadFrame,
                None,
                "this connection has authenticated already; a second Hello with another token is not allowed".to_owned(),
            );
            self.close();
            return;
        };
        let welcome = Frame::Welcome {
            user_id: principal.user.id.clone(),
            user_name: principal.user.name.clone(),
            role: principal.user.primary_role().as_str().to_owned(),
        };
        let mut ids: Vec<DocId> = self.access.keys().cloned().collect();
        ids.sort();
        self.outgoing.push(welcome);
        self.outgoing.push(Frame::Caseload { doc_ids: ids });
    }

    fn device_revoked(&mut self) {
        self.send_error(
            ErrorCode::DeviceRevoked,
            None,
            "this device was revoked or its user disabled: erase the plans stored on it".to_owned(),
        );
        self.close();
    }

    /// `Subscribe`, or with `whole` a `Fetch`: the device holds nothing of these
    /// documents, so each is sent as a snapshot (if the device said it reads them).
    ///
    /// An MDT member's access follows the patient's consent and care team, which can
    /// change while the connection sits idle (and on another instance), so it is decided
    /// again here, in one query, before anything is queued: what `Hello` allowed is not
    /// taken on trust.
    async fn on_subscribe(&mut self, doc_ids: Vec<DocId>, whole: bool) -> anyhow::Result<()> {
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
    fn unknown_left(&mut self) -> usize {
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
    async fn send_snapshots(&mut self) {
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

    async fn on_sync(
        &mut self,
        doc_id: &str,
        epoch: u32,
        seq: u64,
        message: &[u8],
    ) -> anyhow::Result<()> {
        if self.refused.contains(doc_id) {
            return Ok(());
        }
        if !self.access.contains_key(doc_id) {
            if self.unknown_left() == 0 {
                let limit = self.state.config().max_unknown_docs_per_minute;
                self.send_error(
                    ErrorCode::BadFrame,
                    Some(doc_id),
                    format!(
                        "this connection has asked after {limit} documents outside your caseload this minute, the most it may: this Sync was not looked at"
                    ),
                );
                return Ok(());
            }
            self.unknown_used += 1;
        }
        let Some(access) = self.permit(doc_id, false).await? else {
            return Ok(());
        };
        self.audit_reads(&[(doc_id.to_owned(), access)]).await?;
        let Some(mut doc) = self.lock(doc_id).await? else {
            return Ok(());
        };
        self.session.open(doc_id);
        // A message outside the limits takes the in-place path: `Session::receive` refuses
        // it before Automerge sees it, so nothing is copied or changed for it.
        let has_changes = sync_message::check(message, &self.state.config().sync_limits)
            .is_ok_and(|summary| summary.changes > 0);
        if !has_changes {
            // Without changes the document cannot change: apply it in place (still off the
            // async workers: Automerge tests the peer's bloom filter against its history).
            let (id, message) = (doc_id.to_owned(), message.to_vec());
            let received = self
                .with_session(&mut doc, move |session, cached| {
                    session.receive(cached.doc.automerge(), &id, epoch, seq, &message)
                })
                .await?;
            if let Err(e) = received {
                self.send_error(ErrorCode::BadFrame, Some(doc_id), e.to_string());
            }
            self.flush(&mut doc, doc_id, true).await?;
            return Ok(());
        }

        // Changes other instances committed are merged first, so that a change this
        // device merely passes on is recognised as already stored, not as its own.
        DocCache::refresh(self.state.store(), &mut doc).await?;

        // Apply to a copy first: the cached document only ever holds what is committed
        // and valid, so a refused or uncommitted change is simply dropped with the copy.
        // Copying and applying are the heaviest Automerge work here: off the async workers.
        let before = doc.doc.heads();
        let mut session = std::mem::take(&mut self.session);
        let (id, message) = (doc_id.to_owned(), message.to_vec());
        let applied = offload(move || {
            let mut candidate = PlanDoc::empty(server_actor());
            *candidate.automerge() = doc.doc.automerge().clone();
            let received = session.receive(candidate.automerge(), &id, epoch, seq, &message);
            (session, doc, candidate, received)
        })
        .await;
        let (session, mut doc, candidate, received) = match applied {
            Ok(applied) => applied,
            Err(e) => {
                // The work panicked: the channel state went with it. Start every channel
                // over (the device's next frames find a gap and resynchronise).
                self.session = Session::with_limits(self.state.config().sync_limits);
                return Err(e);
            }
        };
        self.session = session;
        let received = match received {
            Ok(received) => received,
            Err(e) => {
                self.restart_channel(&mut doc, doc_id).await?;
                self.send_error(ErrorCode::BadFrame, Some(doc_id), e.to_string());
                return Ok(());
            }
        };
        match received {
            Received::Ignored => return Ok(()),
            Received::Resync => {}
            Received::Applied { changed: false } => {
                // Changes whose dependencies have not arrived yet wait in the copy's queue.
                doc.doc = candidate;
            }
            Received::Applied { changed: true } => {
                return self.commit(doc, doc_id, access, candidate, before).await;
            }
        }
        self.flush(&mut doc, doc_id, true).await?;
        Ok(())
    }

    /// Checks the changes `candidate` gained over `before` and commits them, or refuses them.
    async fn commit(
        &mut self,
        mut doc: DocGuard,
        doc_id: &str,
        access: PlanAccess,
        mut candidate: PlanDoc,
        before: Vec<ChangeHash>,
    ) -> anyhow::Result<()> {
        let principal = self
            .principal
            .clone()
            .expect("only an authenticated connection commits");
        let changes = candidate.automerge().get_changes(&before);
        let hashes: Vec<String> = changes.iter().map(|c| c.hash().to_string()).collect();

        // 1. Every actor belongs to this device (binding new ones on first use).
        let server = server_actor();
        let mut to_bind = BTreeSet::new();
        for change in &changes {
            let actor = change.actor_id();
            if *actor == server {
                let message = format!(
                    "change {} carries the server's own actor id, which no device may use",
                    change.hash()
                );
                return self
                    .refuse(&mut doc, doc_id, access, Refusal::Actor, message, &hashes)
                    .await;
            }
            let hex = actor.to_hex_string();
            if self.own_actors.contains(&hex) || to_bind.contains(&hex) {
                continue;
            }
            match self.state.store().actor_device(&hex).await? {
                Some(device) if device == principal.device_id => {
                    self.own_actors.insert(hex);
                }
                Some(_) => {
                    let message = format!(
                        "change {} was made by another device (actor {hex}); a device may only submit its own changes",
                        change.hash()
                    );
                    return self
                        .refuse(&mut doc, doc_id, access, Refusal::Actor, message, &hashes)
                        .await;
                }
                None => {
                    to_bind.insert(hex);
                }
            }
        }

        // 2. Every change names this user as its author.
        for change in &changes {
            let author = change
                .message()
                .and_then(|m| serde_json::from_str::<ChangeNote>(m).ok())
                .map(|note| note.user_id);
            if author.as_deref() != Some(principal.user.id.as_str()) {
                let message = format!("change {} does not name you as its author", change.hash());
                return self
                    .refuse(&mut doc, doc_id, access, Refusal::Author, message, &hashes)
                    .await;
            }
        }

        // 3. The plan's rules, projections, patient identity, the commit: the one path.
        let actors: Vec<String> = to_bind.iter().cloned().collect();
        let audit = [
            AuditEvent::new(now_ms(), action::PLAN_WRITE, access.purpose(), "accepted")
                .by(&principal, access.role())
                .patient(doc_id)
                .detail(format!("{} change(s): {}", hashes.len(), hashes.join(","))),
        ];
        let submission = Submission {
            principal: &principal,
            access,
            doc_id,
            before: &before,
            actors: &actors,
            audit: &audit,
            origin: self.id,
            now_ms: now_ms(),
        };
        let (mut doc, outcome) =
            match commit::commit(&self.state, doc, candidate, &submission).await {
                Ok(done) => done,
                Err(e) => {
                    // The checking work failed and took the document's lock with it: nothing
                    // was stored; the device's next frames find the channel restarted.
                    tracing::error!(doc_id, error = format!("{e:#}"), "checking a change failed");
                    self.state.docs().evict(doc_id);
                    self.session.open(doc_id);
                    self.send_error(
                        ErrorCode::Internal,
                        Some(doc_id),
                        "the server could not store the change; it was not acknowledged".to_owned(),
                    );
                    return Ok(());
                }
            };
        match outcome {
            Outcome::Committed => {
                self.own_actors.extend(to_bind);
                self.flush(&mut doc, doc_id, true).await?;
                self.compact_if_needed(&mut doc, doc_id).await;
                Ok(())
            }
            Outcome::Refused { message } => self.reject(&mut doc, doc_id, message).await,
            Outcome::ActorTaken(actor) => {
                let message = format!(
                    "changes by actor {actor} were made by another device; a device may only submit its own changes"
                );
                self.refuse(&mut doc, doc_id, access, Refusal::Actor, message, &hashes)
                    .await
            }
            Outcome::NoSuchPlan => {
                self.revoke(doc_id, "no such plan");
                Ok(())
            }
            Outcome::Failed(e) => {
                tracing::error!(doc_id, error = format!("{e:#}"), "commit failed");
                self.restart_channel(&mut doc, doc_id).await?;
                self.state.docs().evict(doc_id);
                self.send_error(
                    ErrorCode::Internal,
                    Some(doc_id),
                    "the server could not store the change; it was not acknowledged".to_owned(),
                );
                Ok(())
            }
        }
    }

    /// Refuses the changes of one sync message for a reason found before the plan's rules
    /// (whose actor or author they are): audited, then the device is told.
    async fn refuse(
        &mut self,
        doc: &mut DocGuard,
        doc_id: &str,
        access: PlanAccess,
        reason: Refusal,
        message: String,
        hashes: &[String],
    ) -> anyhow::Result<()> {
        if let Some(principal) = &self.principal {
            commit::audit_refusal(
                &self.state,
                principal,
                access,
                doc_id,
                reason.label(),
                &message,
                hashes,
            )
            .await;
        }
        self.reject(doc, doc_id, message).await
    }

    /// Tells the device its changes were refused: nothing of them is stored, its channel
    /// for the document restarts from what the server holds, and its frames for the
    /// document are ignored until it subscribes again.
    async fn reject(
        &mut self,
        doc: &mut DocGuard,
        doc_id: &str,
        message: String,
    ) -> anyhow::Result<()> {
        self.restart_channel(doc, doc_id).await?;
        self.refused.insert(doc_id.to_owned());
        self.send_error(
            ErrorCode::Refused,
            Some(doc_id),
            format!("{message}; nothing of it was stored"),
        );
        Ok(())
    }

    /// Another connection (or instance) committed changes to a document, or changed who
    /// may reach it (its care team).
    pub async fn on_notice(&mut self, notice: &DocNotice) {
        if notice.origin == self.id {
            return;
        }
        // An MDT member's access follows consent and the care team, which the change may
        // have withdrawn: looked at whether or not the document is open, so that a
        // connection that only holds it in its caseload loses it too.
        if self.access.get(&*notice.doc_id) == Some(&PlanAccess::Mdt) {
            match self.still_permitted(&notice.doc_id).await {
                Ok(true) => {}
                Ok(false) => {
                    self.revoke(&notice.doc_id, "your access to this plan has ended");
                    return;
                }
                Err(e) => {
                    // Not known either way: forget it, so that the next use asks again.
                    tracing::warn!(error = format!("{e:#}"), "could not re-check access");
                    self.access.remove(&*notice.doc_id);
                    return;
                }
            }
        }
        if !self.session.is_open(&notice.doc_id) {
            return;
        }
        self.regenerate(&[notice.doc_id.to_string()]).await;
    }

    /// Sessions may have ended or users changed (here or on another instance): look this
    /// connection's session up again now rather than at the next tick, and close it, or
    /// drop the plans its user may no longer reach, as that says.
    pub async fn on_sessions_changed(&mut self) {
        if self.token_hash.is_some() {
            self.check_standing().await;
        }
    }

    /// Notices were lost: offer every open document.
    pub async fn on_lagged(&mut self) {
        let ids: Vec<DocId> = self.session.doc_ids().cloned().collect();
        self.regenerate(&ids).await;
    }

    /// The timer: check the device and user are still in good standing, that access still
    /// holds, and re-send what a lossy link lost. `in_flight` says frames are still queued
    /// to or from the device: then nothing is lost yet, and no channel is restarted.
    pub async fn on_tick(&mut self, in_flight: bool) {
        if self.token_hash.is_none() {
            if self.opened_at.elapsed() > HELLO_TIMEOUT {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "no Hello received".to_owned(),
                );
                self.close();
            }
            return;
        }
        if !self.check_standing().await || in_flight || self.closing {
            return;
        }
        // Only documents not known to be in sync can have lost a frame, and one that was
        // sent on since the last tick is still in flight: `Session::tick` would restart
        // it (it only knows what was heard), re-sending what the device is about to get.
        let sent = std::mem::take(&mut self.sent_since_tick);
        let ids: Vec<DocId> = self
            .unsettled
            .iter()
            .filter(|id| !sent.contains(*id))
            .cloned()
            .collect();
        for doc_id in ids {
            if !self.session.is_open(&doc_id) {
                self.unsettled.remove(&doc_id);
                continue;
            }
            let Ok(Some(mut doc)) = self.state.docs().lock(self.state.store(), &doc_id).await
            else {
                continue;
            };
            let id = doc_id.clone();
            let ticked = self
                .with_session(&mut doc, move |session, cached| {
                    let restarted = session.tick(cached.doc.automerge(), &id, false);
                    (restarted, session.in_sync(cached.doc.automerge(), &id))
                })
                .await;
            match ticked {
                Ok((true, _)) => {
                    // Restarted: it no longer holds a place in the window, so a document
                    // the device never answers for cannot stall the rest of a subscription.
                    self.active.remove(&doc_id);
                    if let Err(e) = self.flush(&mut doc, &doc_id, false).await {
                        tracing::error!(doc_id, error = format!("{e:#}"), "sync work failed");
                    }
                }
                Ok((false, true)) => {
                    self.unsettled.remove(&doc_id);
                    self.active.remove(&doc_id);
                }
                Ok((false, false)) => {}
                Err(e) => tracing::error!(doc_id, error = format!("{e:#}"), "sync work failed"),
            }
        }
    }

    /// Looks the connection's session up again: closes the connection if its device was
    /// signed out or revoked or its user disabled, and rechecks which plans it may reach
    /// if the user's roles or organisation changed or an MDT member's plan is open.
    /// `false` once the connection is closing.
    async fn check_standing(&mut self) -> bool {
        let Some(hash) = self.token_hash.clone() else {
            return !self.closing;
        };
        match self
            .state
            .store()
            .session_principal(&hash, now_ms(), false)
            .await
        {
            Ok(SessionLookup::Valid(principal)) => {
                let changed = self
                    .principal
                    .as_ref()
                    .map(|p| (&p.user.roles, &p.user.organisation_id))
                    != Some((&principal.user.roles, &principal.user.organisation_id));
                self.principal = Some(principal);
                let mdt_open = self
                    .session
                    .doc_ids()
                    .any(|id| self.access.get(id) == Some(&PlanAccess::Mdt));
                if (changed || mdt_open)
                    && let Err(e) = self.recheck_access().await
                {
                    tracing::warn!(error = format!("{e:#}"), "could not re-check access");
                }
            }
            Ok(SessionLookup::DeviceRevoked) => self.device_revoked(),
            Ok(SessionLookup::Invalid) => {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "this device was signed out".to_owned(),
                );
                self.close();
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "could not re-check a session"),
        }
        !self.closing
    }

    /// Recomputes which documents the user may sync and closes those no longer allowed.
    async fn recheck_access(&mut self) -> anyhow::Result<()> {
        let Some(principal) = &self.principal else {
            return Ok(());
        };
        let allowed: HashMap<DocId, PlanAccess> = self
            .state
            .store()
            .accessible_docs(&principal.user)
            .await?
            .into_iter()
            .collect();
        let open: Vec<DocId> = self.session.doc_ids().cloned().collect();
        for doc_id in open {
            if !allowed.contains_key(&doc_id) {
                self.revoke(&doc_id, "your access to this plan has ended");
            }
        }
        self.access = allowed;
        Ok(())
    }

    async fn still_permitted(&self, doc_id: &str) -> anyhow::Result<bool> {
        let Some(principal) = &self.principal else {
            return Ok(false);
        };
        let context = self
            .state
            .store()
            .patient_context(doc_id, &principal.user.organisation_id)
            .await?;
        Ok(context
            .and_then(|c| plan_access(&principal.user, &c))
            .is_some())
    }

    /// Stops syncing a document on this connection and tells the device.
    fn revoke(&mut self, doc_id: &str, why: &str) {
        self.session.close(doc_id);
        self.active.remove(doc_id);
        self.unsettled.remove(doc_id);
        self.access.remove(doc_id);
        self.audited.remove(doc_id);
        self.send_error(ErrorCode::Forbidden, Some(doc_id), why.to_owned());
    }

    async fn regenerate(&mut self, ids: &[DocId]) {
        for doc_id in ids {
            match self.state.docs().lock(self.state.store(), doc_id).await {
                Ok(Some(mut doc)) => {
                    if let Err(e) = self.flush(&mut doc, doc_id, false).await {
                        tracing::error!(doc_id, error = format!("{e:#}"), "sync work failed");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(
                    doc_id,
                    error = format!("{e:#}"),
                    "could not load a document"
                ),
            }
        }
    }

    /// Whether, and as what, this connection may sync `doc_id`. Sends `Forbidden` (and
    /// audits the attempt) when it may not.
    ///
    /// A case manager's access is trusted as remembered (it changes only with the user,
    /// which [`Connection::check_standing`] follows). An MDT member's is decided again
    /// before a document is opened, unless `fresh` says the caller just did so: open
    /// documents follow consent and care-team changes through [`Connection::on_notice`].
    async fn permit(&mut self, doc_id: &str, fresh: bool) -> anyhow::Result<Option<PlanAccess>> {
        if let Some(access) = self.access.get(doc_id).copied() {
            if access == PlanAccess::CaseManager || fresh || self.session.is_open(doc_id) {
                return Ok(Some(access));
            }
            // Decided again below; a refusal there is audited like any other.
            self.access.remove(doc_id);
        }
        let Some(principal) = &self.principal else {
            return Ok(None);
        };
        let context = if doc_id.len() > MAX_DOC_ID {
            None
        } else {
            // A patient registered, or access granted, after the caseload was sent.
            self.state
                .store()
                .patient_context(doc_id, &principal.user.organisation_id)
                .await?
        };
        if let Some(access) = context
            .as_ref()
            .and_then(|c| plan_access(&principal.user, c))
        {
            self.access.insert(doc_id.to_owned(), access);
            return Ok(Some(access));
        }
        let user = &principal.user;
        let message = if !user.has(Role::CaseManager) && !user.has(Role::MdtMember) {
            if user.has(Role::EmergencyClinician) {
                "emergency clinicians read summaries; they do not sync plans"
            } else {
                "your role does not give access to plans"
            }
        } else {
            "this plan is not in your caseload"
        };
        let mut event = AuditEvent::new(
            now_ms(),
            action::PLAN_SYNC,
            crate::audit::purpose::DIRECT_CARE,
            "denied",
        )
        .by(principal, user.primary_role());
        if context.is_some() {
            event = event.patient(doc_id);
        }
        self.state.store().record_audit(&[event]).await?;
        self.send_error(ErrorCode::Forbidden, Some(doc_id), message.to_owned());
        Ok(None)
    }

    /// Audits the first opening of each document on this connection.
    async fn audit_reads(&mut self, docs: &[(DocId, PlanAccess)]) -> anyhow::Result<()> {
        let Some(principal) = &self.principal else {
            return Ok(());
        };
        let now = now_ms();
        let fresh: Vec<&(DocId, PlanAccess)> = docs
            .iter()
            .filter(|(id, _)| !self.audited.contains(id))
            .collect();
        let events: Vec<AuditEvent> = fresh
            .iter()
            .map(|(id, access)| {
                AuditEvent::new(now, action::PLAN_SYNC, access.purpose(), "ok")
                    .by(principal, access.role())
                    .patient(id.clone())
            })
            .collect();
        self.state.store().record_audit(&events).await?;
        self.audited
            .extend(fresh.into_iter().map(|(id, _)| id.clone()));
        Ok(())
    }

    /// Locks a permitted document; `Forbidden` if it does not exist.
    async fn lock(&mut self, doc_id: &str) -> anyhow::Result<Option<DocGuard>> {
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
    async fn with_session<T: Send + 'static>(
        &mut self,
        doc: &mut DocGuard,
        work: impl FnOnce(&mut Session, &mut super::cache::CachedDoc) -> T + Send + 'static,
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
    async fn flush(&mut self, doc: &mut DocGuard, doc_id: &str, ack: bool) -> anyhow::Result<bool> {
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
    async fn restart_channel(&mut self, doc: &mut DocGuard, doc_id: &str) -> anyhow::Result<()> {
        self.session.restart(doc_id);
        self.flush(doc, doc_id, false).await?;
        Ok(())
    }

    /// Replaces a document's chunks with one snapshot once there are many. A failure here
    /// loses nothing (the chunks stay), so it is only logged.
    async fn compact_if_needed(&mut self, doc: &mut DocGuard, doc_id: &str) {
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
