//! The IndexedDB storage adapter: one database with a `docs` store (doc id → the saved
//! Automerge bytes and the heads the server has acknowledged) and a `meta` store (the
//! device's actor id).
//!
//! Requests and transactions are turned into futures by handing a `Promise`'s own
//! `resolve` / `reject` functions to IndexedDB as event handlers, so no Rust closure
//! outlives the call that needs it.

use std::future::Future;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use redfolder_shared::StoredDoc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode, IdbVersionChangeEvent};

const DOCS: &str = "docs";
const META: &str = "meta";
const ACTOR_KEY: &str = "actor";
const SCHEMA: u32 = 1;

/// An open Red Folder database.
#[derive(Debug)]
pub(crate) struct Store {
    db: IdbDatabase,
}

impl Store {
    pub(crate) async fn open(name: &str) -> Result<Store, JsValue> {
        let window = web_sys::window().ok_or_else(|| js_error("no window"))?;
        let factory = window
            .indexed_db()?
            .ok_or_else(|| js_error("this browser has no IndexedDB"))?;
        let request = factory.open_with_u32(name, SCHEMA)?;
        // Runs before `success` when the database is new (or older than SCHEMA); it only
        // has to live until `open` settles, which is awaited below.
        let upgrade =
            Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(|event: IdbVersionChangeEvent| {
                let Some(db) = event
                    .target()
                    .and_then(|t| t.dyn_into::<IdbRequest>().ok())
                    .and_then(|r| r.result().ok())
                    .and_then(|db| db.dyn_into::<IdbDatabase>().ok())
                else {
                    return;
                };
                if event.old_version() < 1.0 {
                    // Errors here abort the upgrade, which rejects the open request.
                    let _ = db.create_object_store(DOCS);
                    let _ = db.create_object_store(META);
                }
            });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = settle(&request).await;
        request.set_onupgradeneeded(None);
        drop(upgrade);
        Ok(Store {
            db: opened?.dyn_into()?,
        })
    }

    /// The device's actor id, generated with `crypto.getRandomValues` the first time and
    /// kept so every change this device makes carries the same actor.
    pub(crate) async fn actor(&self) -> Result<Vec<u8>, JsValue> {
        let tx = self
            .db
            .transaction_with_str_and_mode(META, IdbTransactionMode::Readonly)?;
        let existing = settle(&tx.object_store(META)?.get(&ACTOR_KEY.into())?).await?;
        if let Some(bytes) = existing.dyn_ref::<Uint8Array>()
            && bytes.length() == 16
        {
            return Ok(bytes.to_vec());
        }
        let mut fresh = [0u8; 16];
        let window = web_sys::window().ok_or_else(|| js_error("no window"))?;
        window
            .crypto()?
            .get_random_values_with_u8_array(&mut fresh)?;
        let tx = self
            .db
            .transaction_with_str_and_mode(META, IdbTransactionMode::Readwrite)?;
        tx.object_store(META)?
            .put_with_key(&Uint8Array::from(&fresh[..]), &ACTOR_KEY.into())?;
        completed(&tx).await?;
        Ok(fresh.to_vec())
    }

    /// Every stored document, keyed by doc id.
    pub(crate) async fn load_docs(&self) -> Result<Vec<(String, StoredDoc)>, JsValue> {
        let tx = self
            .db
            .transaction_with_str_and_mode(DOCS, IdbTransactionMode::Readonly)?;
        let store = tx.object_store(DOCS)?;
        // Both requests are issued before either is awaited so the transaction stays
        // active; IndexedDB returns keys and values in the same (key) order.
        let keys = store.get_all_keys()?;
        let values = store.get_all()?;
        let keys: Array = settle(&keys).await?.dyn_into()?;
        let values: Array = settle(&values).await?.dyn_into()?;
        let mut docs = Vec::with_capacity(keys.length() as usize);
        for (key, value) in keys.iter().zip(values.iter()) {
            let Some(id) = key.as_string() else { continue };
            docs.push((
                id,
                StoredDoc {
                    doc: bytes_field(&value, "doc")?,
                    acked: bytes_field(&value, "acked")?,
                },
            ));
        }
        Ok(docs)
    }

    /// Writes documents in one transaction. The transaction is created before this
    /// returns, so writes are applied in call order; the future settles when the
    /// transaction has committed.
    pub(crate) fn put_docs(
        &self,
        docs: &[(String, StoredDoc)],
    ) -> impl Future<Output = Result<(), JsValue>> + use<> {
        let started = (|| -> Result<IdbTransaction, JsValue> {
            let tx = self
                .db
                .transaction_with_str_and_mode(DOCS, IdbTransactionMode::Readwrite)?;
            let store = tx.object_store(DOCS)?;
            for (id, stored) in docs {
                let value = Object::new();
                Reflect::set(
                    &value,
                    &"doc".into(),
                    &Uint8Array::from(stored.doc.as_slice()),
                )?;
                Reflect::set(
                    &value,
                    &"acked".into(),
                    &Uint8Array::from(stored.acked.as_slice()),
                )?;
                store.put_with_key(&value, &id.into())?;
            }
            Ok(tx)
        })();
        let done = started.map(|tx| completed(&tx));
        async move { done?.await }
    }

    /// Removes every stored document (the actor id is kept: it names the device).
    pub(crate) async fn clear_docs(&self) -> Result<(), JsValue> {
        let tx = self
            .db
            .transaction_with_str_and_mode(DOCS, IdbTransactionMode::Readwrite)?;
        tx.object_store(DOCS)?.clear()?;
        completed(&tx).await
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.db.close();
    }
}

/// Waits for a request's `success` and returns its result, or its error.
async fn settle(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    match outcome {
        Ok(_) => request.result(),
        Err(_) => Err(match request.error() {
            Ok(Some(e)) => js_error(&format!("storage: {}", e.message())),
            _ => js_error("storage: a request failed"),
        }),
    }
}

/// A future that settles when `tx` commits (or fails). The handlers are attached now,
/// so the transaction cannot complete unobserved.
fn completed(tx: &IdbTransaction) -> impl Future<Output = Result<(), JsValue>> + use<> {
    let promise = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject));
        tx.set_onabort(Some(&reject));
    });
    let tx = tx.clone();
    async move {
        let outcome = JsFuture::from(promise).await;
        tx.set_oncomplete(None);
        tx.set_onerror(None);
        tx.set_onabort(None);
        outcome.map(drop).map_err(|_| match tx.error() {
            Some(e) => js_error(&format!("could not save on this device: {}", e.message())),
            None => js_error("could not save on this device: the write was aborted"),
        })
    }
}

fn bytes_field(value: &JsValue, name: &str) -> Result<Vec<u8>, JsValue> {
    let field = Reflect::get(value, &name.into())?;
    Ok(field
        .dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .unwrap_or_default())
}

pub(crate) fn js_error(message: &str) -> JsValue {
    js_sys::Error::new(message).into()
}
