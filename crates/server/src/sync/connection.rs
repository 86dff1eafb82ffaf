//! [`Connection`]: the server's side of one sync connection, as a state machine that
//! takes frames and notices in and queues frames out.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use redfolder_shared::protocol::{DecodeError, DocId, ErrorCode, Frame, MAX_FRAME_BYTES};
use redfolder_shared::{PlanDoc, Received, Session};

use super::DocNotice;
use super::cache::DocGuard;
use crate::auth::{token_hash, user_for_token};
use crate::domain::{Role, User, now_ms, project, server_actor};
use crate::error::ApiError;
use crate::startup::AppState;

/// How long a connection may stay open without authenticating.
const HELLO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Longer ids than this are never documents of ours; refuse them before asking the store.
const MAX_DOC_ID: usize = 128;

/// One WebSocket's sync state: who is connected, which documents are open, and the
/// `Session` that numbers and resynchronises their frames.
#[derive(Debug)]
pub struct Connection {
    state: AppState,
    id: u64,
    opened_at: Instant,
    query_token: Option<String>,
    user: Option<User>,
    token_hash: Option<String>,
    session: Session,
    /// Documents this user may sync, learnt from the caseload and later checks.
    allowed: HashSet<DocId>,
    /// Documents whose last change was refused: their frames are ignored until the
    /// client subscribes again, so a device that keeps offering a refused change does not
    /// loop with the server.
    refused: HashSet<DocId>,
    outgoing: Vec<Frame>,
    closing: bool,
}

impl Connection {
    pub fn new(state: AppState, id: u64, query_token: Option<String>) -> Connection {
        Connection {
            state,
            id,
            opened_at: Instant::now(),
            query_token,
            user: None,
            token_hash: None,
            session: Session::new(),
            allowed: HashSet::new(),
            refused: HashSet::new(),
            outgoing: Vec::new(),
            closing: false,
        }
    }

    /// Frames to send, in order.
    pub fn take_outgoing(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.outgoing)
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
        if bytes.len() > MAX_FRAME_BYTES {
            let message = DecodeError::TooLarge(bytes.len()).to_string();
            return self.send_error(ErrorCode::TooLarge, None, message);
        }
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => {
                let code = match e {
                    DecodeError::TooLarge(_) => ErrorCode::TooLarge,
                    DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
                    _ => ErrorCode::BadFrame,
                };
                return self.send_error(code, None, e.to_string());
            }
        };
        let result = match frame {
            Frame::Hello { token } => self.on_hello(token).await,
            _ if self.user.is_none() => {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "send Hello with an access token first".to_owned(),
                );
                self.close();
                Ok(())
            }
            Frame::Subscribe { doc_ids } => self.on_subscribe(doc_ids).await,
            Frame::Sync {
                doc_id,
                epoch,
                seq,
                message,
            } => self.on_sync(&doc_id, epoch, seq, &message).await,
            Frame::Welcome { .. } | Frame::Caseload { .. } | Frame::Ack { .. } => {
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
        let user = match user_for_token(&self.state, &token).await {
            Ok(user) => user,
            Err(ApiError::Internal(e)) => return Err(e),
            Err(_) => {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "the access token is not valid".to_owned(),
                );
                self.close();
                return Ok(());
            }
        };
        let caseload = match user.role {
            Role::CaseManager => {
                self.state
                    .store()
                    .caseload_ids(&user.organisation_id)
                    .await?
            }
            Role::EmergencyClinician => Vec::new(),
        };
        tracing::info!(user_id = %user.id, documents = caseload.len(), "authenticated");
        self.allowed.extend(caseload.iter().cloned());
        self.outgoing.push(Frame::Welcome {
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            role: user.role.as_str().to_owned(),
        });
        self.outgoing.push(Frame::Caseload { doc_ids: caseload });
        self.user = Some(user);
        self.token_hash = Some(token_hash(&token));
        Ok(())
    }

    async fn on_subscribe(&mut self, doc_ids: Vec<DocId>) -> anyhow::Result<()> {
        for doc_id in doc_ids {
            self.refused.remove(&doc_id);
            let Some(mut doc) = self.open(&doc_id).await? else {
                continue;
            };
            self.flush(&mut doc, &doc_id);
        }
        Ok(())
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
        let Some(mut doc) = self.open(doc_id).await? else {
            return Ok(());
        };
        let has_changes = automerge_message_has_changes(message);
        if !has_changes {
            // Without changes the document cannot change: apply it in place.
            match self
                .session
                .receive(doc.doc.automerge(), doc_id, epoch, seq, message)
            {
                Ok(_) => {}
                Err(e) => self.send_error(ErrorCode::BadFrame, Some(doc_id), e.to_string()),
            }
            self.ack_and_flush(&mut doc, doc_id);
            return Ok(());
        }

        // Apply to a copy first: the cached document only ever holds what is committed
        // and valid, so a refused or uncommitted change is simply dropped with the copy.
        let before = doc.doc.heads();
        let mut candidate = PlanDoc::empty(server_actor());
        *candidate.automerge() = doc.doc.automerge().clone();
        let received =
            match self
                .session
                .receive(candidate.automerge(), doc_id, epoch, seq, message)
            {
                Ok(received) => received,
                Err(e) => {
                    self.restart_channel(&mut doc, doc_id);
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
                let projection = match project(&mut candidate) {
                    Ok(projection) => projection,
                    Err(e) => {
                        tracing::warn!(doc_id, error = %e, "refused a change");
                        self.restart_channel(&mut doc, doc_id);
                        self.refused.insert(doc_id.to_owned());
                        self.send_error(
                            ErrorCode::Refused,
                            Some(doc_id),
                            format!("change refused: {e}"),
                        );
                        return Ok(());
                    }
                };
                let changes = candidate.automerge().save_after(&before);
                let store = self.state.store().clone();
                match store
                    .append_changes(doc_id, &changes, &projection, now_ms())
                    .await
                {
                    Ok(chunks) => {
                        doc.doc = candidate;
                        doc.chunks = chunks;
                    }
                    Err(e) => {
                        tracing::error!(doc_id, error = format!("{e:#}"), "commit failed");
                        self.restart_channel(&mut doc, doc_id);
                        self.state.docs().evict(doc_id);
                        self.send_error(
                            ErrorCode::Internal,
                            Some(doc_id),
                            "the server could not store the change; it was not acknowledged"
                                .to_owned(),
                        );
                        return Ok(());
                    }
                }
                // Only now, with the change durable, may anyone hear of it.
                self.state.notify(DocNotice {
                    doc_id: Arc::from(doc_id),
                    origin: self.id,
                });
                self.ack_and_flush(&mut doc, doc_id);
                self.compact_if_needed(&mut doc, doc_id).await;
                return Ok(());
            }
        }
        self.ack_and_flush(&mut doc, doc_id);
        Ok(())
    }

    /// Another connection committed changes to a document.
    pub async fn on_notice(&mut self, notice: &DocNotice) {
        if notice.origin == self.id || !self.session.is_open(&notice.doc_id) {
            return;
        }
        self.regenerate(&[notice.doc_id.to_string()]).await;
    }

    /// Notices were lost: offer every open document.
    pub async fn on_lagged(&mut self) {
        let ids: Vec<DocId> = self.session.doc_ids().cloned().collect();
        self.regenerate(&ids).await;
    }

    /// The timer: check the session is still valid and re-send what a lossy link lost.
    pub async fn on_tick(&mut self) {
        let Some(hash) = self.token_hash.clone() else {
            if self.opened_at.elapsed() > HELLO_TIMEOUT {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "no Hello received".to_owned(),
                );
                self.close();
            }
            return;
        };
        match self.state.store().session_user(&hash, now_ms()).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.send_error(
                    ErrorCode::Unauthorized,
                    None,
                    "the session has expired".to_owned(),
                );
                self.close();
                return;
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "could not re-check a session"),
        }
        let ids: Vec<DocId> = self.session.doc_ids().cloned().collect();
        for doc_id in ids {
            let Ok(Some(mut doc)) = self.state.docs().lock(self.state.store(), &doc_id).await
            else {
                continue;
            };
            if self.session.tick(doc.doc.automerge(), &doc_id, false) {
                self.flush(&mut doc, &doc_id);
            }
        }
    }

    async fn regenerate(&mut self, ids: &[DocId]) {
        for doc_id in ids {
            match self.state.docs().lock(self.state.store(), doc_id).await {
                Ok(Some(mut doc)) => self.flush(&mut doc, doc_id),
                Ok(None) => {}
                Err(e) => tracing::error!(
                    doc_id,
                    error = format!("{e:#}"),
                    "could not load a document"
                ),
            }
        }
    }

    /// Checks permission and locks the document, opening its channel. Sends `Forbidden`
    /// (and returns `None`) for a document this user may not sync or that does not exist.
    async fn open(&mut self, doc_id: &str) -> anyhow::Result<Option<DocGuard>> {
        if !self.may_sync(doc_id).await? {
            let message = match self.user.as_ref().map(|u| u.role) {
                Some(Role::EmergencyClinician) => {
                    "emergency clinicians read summaries; they do not sync plans"
                }
                _ => "this plan is not in your caseload",
            };
            self.send_error(ErrorCode::Forbidden, Some(doc_id), message.to_owned());
            return Ok(None);
        }
        let Some(doc) = self.state.docs().lock(self.state.store(), doc_id).await? else {
            self.send_error(
                ErrorCode::Forbidden,
                Some(doc_id),
                "no such plan".to_owned(),
            );
            return Ok(None);
        };
        self.session.open(doc_id);
        Ok(Some(doc))
    }

    async fn may_sync(&mut self, doc_id: &str) -> anyhow::Result<bool> {
        let Some(user) = &self.user else {
            return Ok(false);
        };
        if user.role != Role::CaseManager || doc_id.len() > MAX_DOC_ID {
            return Ok(false);
        }
        if self.allowed.contains(doc_id) {
            return Ok(true);
        }
        // A patient registered after this connection's caseload was sent.
        let org = self.state.store().patient_organisation(doc_id).await?;
        let ok = org.as_deref() == Some(user.organisation_id.as_str());
        if ok {
            self.allowed.insert(doc_id.to_owned());
        }
        Ok(ok)
    }

    fn ack_and_flush(&mut self, doc: &mut DocGuard, doc_id: &str) {
        // The cached document holds only committed changes, so anything it has is durable.
        if let Some(ack) = self.session.ack(doc.doc.automerge(), doc_id) {
            self.outgoing.push(ack);
        }
        self.flush(doc, doc_id);
    }

    fn flush(&mut self, doc: &mut DocGuard, doc_id: &str) {
        while let Some(frame) = self.session.generate(doc.doc.automerge(), doc_id) {
            self.outgoing.push(frame);
        }
    }

    /// Forgets what this channel's sync state assumed (after a message that was not
    /// adopted) by starting a new epoch, then offers the document afresh. `Session` has
    /// no direct reset; `tick(force)` resets once nothing was heard since the last tick,
    /// so the first call clears that flag and the second resets.
    fn restart_channel(&mut self, doc: &mut DocGuard, doc_id: &str) {
        self.session.open(doc_id);
        if !self.session.tick(doc.doc.automerge(), doc_id, true) {
            self.session.tick(doc.doc.automerge(), doc_id, true);
        }
        self.flush(doc, doc_id);
    }

    /// Replaces a document's chunks with one snapshot once there are many. A failure here
    /// loses nothing (the chunks stay), so it is only logged.
    async fn compact_if_needed(&mut self, doc: &mut DocGuard, doc_id: &str) {
        if doc.chunks <= self.state.config().compact_after_chunks {
            return;
        }
        let store = self.state.store().clone();
        let result = async {
            let Some(through) = store.last_chunk_id(doc_id).await? else {
                return Ok(());
            };
            let snapshot = doc.doc.save();
            store.compact(doc_id, through, &snapshot, now_ms()).await
        }
        .await;
        match result {
            Ok(()) => {
                doc.chunks = 1;
                tracing::debug!(doc_id, "compacted");
            }
            Err(e) => tracing::warn!(doc_id, error = format!("{e:#}"), "compaction failed"),
        }
    }
}

/// Whether an Automerge sync message carries changes. An undecodable message counts as
/// having changes, so it takes the careful path (and fails there).
fn automerge_message_has_changes(message: &[u8]) -> bool {
    automerge::sync::Message::decode(message).map_or(true, |m| !m.changes.is_empty())
}
