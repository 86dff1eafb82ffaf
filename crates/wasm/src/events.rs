//! What the app hears: after the engine has run, [`Inner::relay`] sends its queued frames,
//! stores what changed and tells the app's listener (`status`, `welcome`, `caseload`,
//! `doc_changed`, `error`, `refused`). No `RefCell` borrow is held while the listener
//! runs: it may call straight back into the instance.

use redfolder_shared::ClientEvent;
use redfolder_shared::protocol::ErrorCode;

use wasm_bindgen::prelude::*;
use web_sys::WebSocket;

use crate::idb::CASELOAD_KEY;
use crate::link::with;
use crate::view::{ConnectionState, CoreEvent, SyncStatus};
use crate::{Inner, json_error, to_js};

#[derive(Default)]
pub(crate) struct Status {
    pub(crate) last_synced_ms: Option<f64>,
    pub(crate) error: Option<String>,
    /// The protocol's name for the error (`unauthorized`, `refused` …), or `storage`,
    /// `sync` for errors found on the device.
    pub(crate) error_code: Option<&'static str>,
}

impl Inner {
    pub(crate) fn clear_error(&self) {
        let mut status = self.status.borrow_mut();
        status.error = None;
        status.error_code = None;
    }

    pub(crate) fn set_error(&self, code: &'static str, message: String) {
        let mut status = self.status.borrow_mut();
        status.error = Some(message);
        status.error_code = Some(code);
    }

    /// Sends queued frames, persists and reports what the engine says happened.
    pub(crate) fn relay(&self) {
        let frames = self.engine.borrow_mut().take_outgoing();
        if !frames.is_empty() {
            let link = self.link.borrow();
            if let Some(socket) = link
                .socket
                .as_ref()
                .filter(|s| s.ws.ready_state() == WebSocket::OPEN)
            {
                for frame in &frames {
                    // A failed send surfaces as a close event, which reconnects; the
                    // engine re-derives what was lost on the next connection.
                    let _ = socket.ws.send_with_u8_array(frame);
                }
            }
        }
        let events = self.engine.borrow_mut().take_events();
        let mut to_store: Vec<String> = Vec::new();
        let mut caseload: Option<Vec<String>> = None;
        let mut notices: Vec<CoreEvent> = Vec::new();
        for event in events {
            match event {
                ClientEvent::Welcome {
                    user_id,
                    user_name,
                    role,
                } => {
                    self.link.borrow_mut().attempts = 0;
                    self.clear_error();
                    self.status.borrow_mut().last_synced_ms = Some(js_sys::Date::now());
                    notices.push(CoreEvent::Welcome {
                        user_id,
                        user_name,
                        role,
                    });
                }
                ClientEvent::Caseload { doc_ids } => {
                    notices.push(CoreEvent::Caseload {
                        doc_ids: doc_ids.clone(),
                    });
                    caseload = Some(doc_ids);
                }
                ClientEvent::DocChanged { doc_id } => {
                    notices.push(CoreEvent::DocChanged { id: doc_id.clone() });
                    to_store.push(doc_id);
                }
                ClientEvent::Acked { doc_id } => to_store.push(doc_id),
                ClientEvent::Error {
                    code,
                    doc_id,
                    message,
                } => {
                    if code == ErrorCode::Unauthorized
                        && let Some(s) = self.session.borrow_mut().as_mut()
                    {
                        s.refused = true;
                    }
                    self.set_error(code.name(), message.clone());
                    notices.push(CoreEvent::Error {
                        code: code.name().to_owned(),
                        doc_id: doc_id.clone(),
                        message,
                    });
                    if let (ErrorCode::Refused, Some(id)) = (code, doc_id) {
                        // The core has put the plan back to the server's state and kept
                        // the refused edits: both must be stored.
                        let count = self.engine.borrow().refused(&id).len();
                        notices.push(CoreEvent::Refused {
                            id: id.clone(),
                            count,
                        });
                        to_store.push(id);
                    }
                }
            }
        }
        // The socket is closed when the key goes, so a key is here whenever events are.
        let key = self.key.borrow().clone();
        if let (Some(ids), Some(key)) = (caseload, &key) {
            let bytes = serde_json::to_vec(&ids).map_err(json_error);
            if let Ok(bytes) = bytes {
                self.report_storage_failure(self.store.put_secret(key, CASELOAD_KEY, bytes));
            }
        }
        if let (false, Some(key)) = (to_store.is_empty(), &key) {
            to_store.sort();
            to_store.dedup();
            let docs: Vec<_> = {
                let mut engine = self.engine.borrow_mut();
                let mut docs = Vec::with_capacity(to_store.len());
                for id in to_store {
                    // A plan not downloaded yet holds nothing worth keeping (unless it has
                    // refused edits to show); storing it empty would also make a stored
                    // copy look like a received plan.
                    let received = engine.holds(&id);
                    if !received && engine.refused(&id).is_empty() {
                        continue;
                    }
                    if let Some(stored) = engine.export(&id) {
                        docs.push((id, stored));
                    }
                }
                docs
            };
            let ids: Vec<String> = docs
                .iter()
                .filter(|(_, stored)| !stored.doc.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            let written = self.store.put_docs(key, &docs);
            let me = self.me.clone();
            self.report_storage_failure(async move {
                written.await?;
                with(&me, |inner| {
                    let mut saved = inner.saved.borrow_mut();
                    let before = saved.len();
                    saved.extend(ids);
                    let grew = saved.len() != before;
                    drop(saved);
                    if grew {
                        inner.emit_status();
                    }
                });
                Ok(())
            });
        }
        if self.session.borrow().as_ref().is_some_and(|s| s.refused) {
            self.drop_socket();
        }
        for notice in notices {
            self.emit(&notice);
        }
        self.emit_status();
    }

    /// Tells the app if a background write fails: the plan is then only in memory.
    fn report_storage_failure(
        &self,
        saved: impl std::future::Future<Output = Result<(), JsValue>> + 'static,
    ) {
        let listener = self.listener.borrow().clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = saved.await
                && let Some(listener) = listener
            {
                let message = js_sys::Reflect::get(&e, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
                    .unwrap_or_else(|| "could not save on this device".into());
                let notice = CoreEvent::Error {
                    code: "storage".to_owned(),
                    doc_id: None,
                    message,
                };
                let _ = to_js(&notice).map(|n| listener.call1(&JsValue::NULL, &n));
            }
        });
    }

    pub(crate) fn status(&self) -> SyncStatus {
        let (pending, docs_total, docs_waiting, connected, refused) = {
            let mut engine = self.engine.borrow_mut();
            let ids: Vec<String> = engine.doc_ids().cloned().collect();
            // A plan is received once its content is saved on the device, not before.
            let saved = self.saved.borrow();
            let waiting = ids.iter().filter(|id| !saved.contains(*id)).count();
            let refused: usize = ids.iter().map(|id| engine.refused(id).len()).sum();
            (
                engine.pending_total(),
                ids.len(),
                waiting,
                engine.is_connected(),
                refused,
            )
        };
        let has_socket = self.link.borrow().socket.is_some();
        let state = match (has_socket, connected) {
            (true, true) => ConnectionState::Online,
            (true, false) => ConnectionState::Connecting,
            (false, _) => ConnectionState::Offline,
        };
        let session = self.session.borrow();
        let status = self.status.borrow();
        SyncStatus {
            state,
            online: state == ConnectionState::Online,
            network: self.window.navigator().on_line(),
            pending,
            last_synced_ms: status.last_synced_ms,
            error: status.error.clone(),
            error_code: status.error_code.map(str::to_owned),
            signed_in: session.is_some(),
            sign_in_refused: session.as_ref().is_some_and(|s| s.refused),
            locked: self.key.borrow().is_none(),
            docs_total,
            docs_waiting,
            docs_received: docs_total - docs_waiting,
            refused,
        }
    }

    pub(crate) fn emit_status(&self) {
        self.emit(&CoreEvent::Status(self.status()));
    }

    /// Calls the app's listener. No `RefCell` borrow is held here: the listener may call
    /// straight back into [`RedFolder`].
    pub(crate) fn emit(&self, notice: &CoreEvent) {
        let listener = self.listener.borrow().clone();
        if let (Some(listener), Ok(value)) = (listener, to_js(notice))
            && let Err(e) = listener.call1(&JsValue::NULL, &value)
        {
            web_sys::console::error_2(&"Red Folder listener failed".into(), &e);
        }
    }
}
