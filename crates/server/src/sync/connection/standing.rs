//! Keeping a connection's standing true: notices of other connections' commits, the
//! timer, sessions that end, access that changes, and the audit of each plan's opening.

use std::collections::HashMap;

use redfolder_shared::protocol::{DocId, ErrorCode};

use super::{HELLO_TIMEOUT, MAX_DOC_ID, SyncConnection};
use crate::access::{PlanAccess, plan_access};
use crate::audit::{AuditEvent, action};
use crate::domain::{Role, now_ms};
use crate::store::SessionLookup;
use crate::sync::DocNotice;

impl SyncConnection {
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
    pub(super) async fn check_standing(&mut self) -> bool {
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
    pub(super) async fn recheck_access(&mut self) -> anyhow::Result<()> {
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

    pub(super) async fn still_permitted(&self, doc_id: &str) -> anyhow::Result<bool> {
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
    pub(super) fn revoke(&mut self, doc_id: &str, why: &str) {
        self.session.close(doc_id);
        self.active.remove(doc_id);
        self.unsettled.remove(doc_id);
        self.access.remove(doc_id);
        self.audited.remove(doc_id);
        self.send_error(ErrorCode::Forbidden, Some(doc_id), why.to_owned());
    }

    pub(super) async fn regenerate(&mut self, ids: &[DocId]) {
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
    /// which [`SyncConnection::check_standing`] follows). An MDT member's is decided again
    /// before a document is opened, unless `fresh` says the caller just did so: open
    /// documents follow consent and care-team changes through [`SyncConnection::on_notice`].
    pub(super) async fn permit(
        &mut self,
        doc_id: &str,
        fresh: bool,
    ) -> anyhow::Result<Option<PlanAccess>> {
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
    pub(super) async fn audit_reads(&mut self, docs: &[(DocId, PlanAccess)]) -> anyhow::Result<()> {
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
}
