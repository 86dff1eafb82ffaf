//! The write path: a device's sync messages applied to a copy, checked, and committed or
//! refused.

use std::collections::BTreeSet;

use redfolder_shared::protocol::ErrorCode;
use redfolder_shared::{ChangeHash, ChangeNote, PlanDoc, Received, Session, sync_message};

use super::{Refusal, SyncConnection};
use crate::access::PlanAccess;
use crate::audit::{AuditEvent, action};
use crate::commit::{self, Outcome, Submission};
use crate::domain::{now_ms, server_actor};
use crate::sync::cache::{DocCache, DocGuard};
use crate::sync::offload;

impl SyncConnection {
    pub(super) async fn on_sync(
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
    pub(super) async fn commit(
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
    pub(super) async fn refuse(
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
    pub(super) async fn reject(
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
}
