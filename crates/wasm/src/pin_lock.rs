//! The PIN lock: setting the device's PIN, unlocking (loading every stored plan under
//! the data key the PIN opens), locking and erasing. The keyring's cryptography is in
//! [`crate::vault`]; this is what the lock does to the instance's state.

use std::collections::{BTreeSet, HashSet};

use redfolder_shared::StoredDoc;

use wasm_bindgen::prelude::*;

use crate::events::Status;
use crate::idb::{CASELOAD_KEY, SESSION_KEY, js_error};
use crate::view::UnlockResult;
use crate::{Inner, new_engine, to_js, vault};

impl Inner {
    pub(crate) async fn set_pin(&self, pin: &str) -> Result<(), JsValue> {
        if self.keyring.borrow().is_some() {
            return Err(js_error("a PIN is already set on this device"));
        }
        if self.busy.replace(true) {
            return Err(js_error("a PIN is already being set"));
        }
        let outcome = self.create_keyring(pin).await;
        self.busy.set(false);
        outcome
    }

    pub(crate) async fn create_keyring(&self, pin: &str) -> Result<(), JsValue> {
        let (keyring, key) = vault::create(pin).await?;
        self.store.put_keyring(&keyring).await?;
        *self.keyring.borrow_mut() = Some(keyring);
        *self.key.borrow_mut() = Some(key);
        *self.engine.borrow_mut() = new_engine(self.actor.clone());
        self.emit_status();
        Ok(())
    }

    pub(crate) async fn unlock(&self, pin: &str) -> Result<JsValue, JsValue> {
        if self.key.borrow().is_some() {
            return Err(js_error("the app is already unlocked"));
        }
        if self.busy.replace(true) {
            return Err(js_error("an unlock is already in progress"));
        }
        let outcome = self.try_unlock(pin).await;
        self.busy.set(false);
        outcome
    }

    pub(crate) async fn try_unlock(&self, pin: &str) -> Result<JsValue, JsValue> {
        let Some(mut keyring) = self.keyring.borrow().clone() else {
            return Err(js_error("no PIN is set on this device"));
        };
        // Count the attempt before making it: closing the app mid-attempt must not
        // earn a free guess.
        keyring.failed_attempts += 1;
        self.store.put_keyring(&keyring).await?;
        *self.keyring.borrow_mut() = Some(keyring.clone());
        let key = match vault::check_pin(pin) {
            Ok(()) => vault::open_keyring(&keyring, pin).await?,
            Err(_) => None,
        };
        let Some(key) = key else {
            if keyring.attempts_left() == 0 {
                self.erase().await?;
                return to_js(&UnlockResult::Refused {
                    ok: false,
                    attempts_left: 0,
                    erased: true,
                });
            }
            self.emit_status();
            return to_js(&UnlockResult::Refused {
                ok: false,
                attempts_left: keyring.attempts_left(),
                erased: false,
            });
        };
        keyring.failed_attempts = 0;
        self.store.put_keyring(&keyring).await?;
        *self.keyring.borrow_mut() = Some(keyring);

        let (docs, unreadable) = self.store.load_docs(&key).await?;
        // A caseload or session that cannot be opened is treated as missing: the
        // caseload comes again with the next sync, the session with the next sign-in.
        let caseload: Vec<String> = self
            .store
            .get_secret(&key, CASELOAD_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let session = self
            .store
            .get_secret(&key, SESSION_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|bytes| String::from_utf8(bytes).ok());

        let mut engine = new_engine(self.actor.clone());
        let mut load_error = (!unreadable.is_empty()).then(|| {
            format!(
                "{} stored plans could not be decrypted; they download again when online",
                unreadable.len()
            )
        });
        let mut saved = HashSet::new();
        for (id, stored) in &docs {
            match engine.load(id, stored) {
                Ok(()) if !stored.doc.is_empty() => {
                    saved.insert(id.clone());
                }
                Ok(()) => {}
                Err(e) => load_error = Some(format!("a stored plan could not be read: {e}")),
            }
        }
        *self.saved.borrow_mut() = saved;
        // Plans listed by the server but not downloaded yet: holding them empty makes a
        // first sync interrupted by a reload resume with the right progress.
        let held: BTreeSet<String> = engine.doc_ids().cloned().collect();
        for id in caseload.iter().filter(|id| !held.contains(*id)) {
            engine
                .load(id, &StoredDoc::default())
                .map_err(|e| js_error(&e.to_string()))?;
        }
        *self.engine.borrow_mut() = engine;
        *self.key.borrow_mut() = Some(key);
        *self.status.borrow_mut() = Status {
            last_synced_ms: None,
            error_code: load_error.as_ref().map(|_| "storage"),
            error: load_error,
        };
        self.emit_status();
        to_js(&UnlockResult::Unlocked { ok: true, session })
    }

    pub(crate) fn lock(&self) {
        *self.session.borrow_mut() = None;
        self.drop_socket();
        self.link.borrow_mut().retry = None;
        *self.key.borrow_mut() = None;
        *self.engine.borrow_mut() = new_engine(self.actor.clone());
        self.saved.borrow_mut().clear();
        *self.status.borrow_mut() = Status::default();
        self.emit_status();
    }

    pub(crate) async fn erase(&self) -> Result<(), JsValue> {
        self.lock();
        *self.keyring.borrow_mut() = None;
        self.store.erase().await?;
        self.emit_status();
        Ok(())
    }
}
