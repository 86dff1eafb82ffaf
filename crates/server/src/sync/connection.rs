//! [`SyncConnection`]: the server's side of one sync connection, as a state machine that
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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use redfolder_shared::Session;
use redfolder_shared::protocol::{DecodeError, DocId, ErrorCode, Frame, MAX_FRAME_BYTES, features};

use super::cache::DocPin;
use super::{CountKey, CountPermit};
use crate::access::PlanAccess;
use crate::auth::{lookup_token, token_hash};
use crate::domain::Principal;
use crate::state::AppState;
use crate::store::SessionLookup;

mod changes;
mod channel;
mod opening;
mod standing;

/// How long a connection may stay open without authenticating.
const HELLO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Longer ids than this are never documents of ours; refuse them before asking the store.
const MAX_DOC_ID: usize = 128;
/// How many subscribed documents the server syncs at once on one connection. The rest
/// wait their turn in [`SyncConnection::pump`], so that a cold sync of thousands of plans
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
pub struct SyncConnection {
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

impl SyncConnection {
    pub fn new(state: AppState, id: u64, query_token: Option<String>) -> SyncConnection {
        let limits = state.config().sync_limits;
        SyncConnection {
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

    /// What the socket task waits on to learn that [`SyncConnection::superseded`] happened.
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
        let Some(permit) = self.state.connection_counts().acquire(user, per_user) else {
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
        self.count_permits
            .push(self.state.connection_counts().join_device(
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
}
