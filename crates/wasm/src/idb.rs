//! The IndexedDB storage adapter. One database with two stores:
//!
//! - `docs`: doc id → the sealed document (the saved Automerge bytes, the heads the
//!   server has acknowledged, and the core's record of edits waiting for the server and
//!   of changes it refused, encrypted together).
//! - `meta`: `actor` (the device's random actor id, not patient data, kept in the clear
//!   so it survives an erase), `keyring` (the wrapped data key, see [`crate::vault`]),
//!   and the sealed `session` (the app's access token and user) and `caseload` (the doc
//!   ids the server last listed, so a first sync interrupted by a reload resumes and its
//!   progress is known before the network returns).
//!
//! Nothing about a patient is written in the clear: every value except `actor` and
//! `keyring` goes through [`DataKey::seal`]. Doc ids are the server's random patient ids.
//!
//! Writes are queued: each starts after the one before it has committed, because
//! sealing is asynchronous and two saves of one document must land in call order.
//!
//! Requests and transactions are turned into futures by handing a `Promise`'s own
//! `resolve` / `reject` functions to IndexedDB as event handlers, so no Rust closure
//! outlives the call that needs it.

use std::cell::RefCell;
use std::future::Future;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use redfolder_shared::StoredDoc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode, IdbVersionChangeEvent};

use crate::vault::{DataKey, Keyring};

const DOCS: &str = "docs";
const META: &str = "meta";
const ACTOR_KEY: &str = "actor";
const KEYRING_KEY: &str = "keyring";
/// Sealed values in `meta` that hold user or patient data; all erased with the key.
pub(crate) const SESSION_KEY: &str = "session";
pub(crate) const CASELOAD_KEY: &str = "caseload";
/// Version 2 seals every document. Version 1 stored them in the clear; its documents
/// are dropped on upgrade (they download again after sign-in).
const SCHEMA: u32 = 2;

/// An open Red Folder database.
#[derive(Debug)]
pub(crate) struct DeviceDb {
    db: IdbDatabase,
    /// Settles when the last queued write has finished (whatever its outcome).
    queue: RefCell<Promise>,
}

impl DeviceDb {
    pub(crate) async fn open(name: &str) -> Result<DeviceDb, JsValue> {
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
                // Errors here abort the upgrade, which rejects the open request.
                if event.old_version() < 1.0 {
                    let _ = db.create_object_store(DOCS);
                    let _ = db.create_object_store(META);
                } else if event.old_version() < 2.0 {
                    // Plaintext documents from before encryption: remove them rather
                    // than leave patient data readable on the device.
                    let _ = db.delete_object_store(DOCS);
                    let _ = db.create_object_store(DOCS);
                }
            });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = settle(&request).await;
        request.set_onupgradeneeded(None);
        drop(upgrade);
        Ok(DeviceDb {
            db: opened?.dyn_into()?,
            queue: RefCell::new(Promise::resolve(&JsValue::UNDEFINED)),
        })
    }

    /// The device's actor id, generated with `crypto.getRandomValues` the first time and
    /// kept so every change this device makes carries the same actor.
    pub(crate) async fn actor(&self) -> Result<Vec<u8>, JsValue> {
        let existing = self.get_meta(ACTOR_KEY).await?;
        if let Some(bytes) = existing.dyn_ref::<Uint8Array>()
            && bytes.length() == 16
        {
            return Ok(bytes.to_vec());
        }
        let fresh = crate::vault::random(16)?;
        let tx = self
            .db
            .transaction_with_str_and_mode(META, IdbTransactionMode::Readwrite)?;
        tx.object_store(META)?
            .put_with_key(&Uint8Array::from(&fresh[..]), &ACTOR_KEY.into())?;
        completed(&tx).await?;
        Ok(fresh)
    }

    pub(crate) async fn keyring(&self) -> Result<Option<Keyring>, JsValue> {
        let value = self.get_meta(KEYRING_KEY).await?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        let number = |name: &str| -> Result<u32, JsValue> {
            Reflect::get(&value, &name.into())?
                .as_f64()
                .map(|n| n as u32)
                .ok_or_else(|| js_error("the stored keyring is damaged"))
        };
        Ok(Some(Keyring {
            salt: bytes_field(&value, "salt")?,
            iterations: number("iterations")?,
            wrapped: bytes_field(&value, "wrapped")?,
            failed_attempts: number("failed_attempts")?,
        }))
    }

    /// Queues a write of the keyring (after any write already queued).
    pub(crate) fn put_keyring(
        &self,
        keyring: &Keyring,
    ) -> impl Future<Output = Result<(), JsValue>> + use<> {
        let value = Object::new();
        let fields: [(&str, JsValue); 6] = [
            ("format", "redfolder-keyring-v1".into()),
            ("kdf", "PBKDF2-HMAC-SHA256".into()),
            ("iterations", keyring.iterations.into()),
            ("salt", Uint8Array::from(keyring.salt.as_slice()).into()),
            (
                "wrapped",
                Uint8Array::from(keyring.wrapped.as_slice()).into(),
            ),
            ("failed_attempts", keyring.failed_attempts.into()),
        ];
        for (name, v) in fields {
            let _ = Reflect::set(&value, &name.into(), &v);
        }
        let db = self.db.clone();
        self.enqueue(async move {
            let tx = db.transaction_with_str_and_mode(META, IdbTransactionMode::Readwrite)?;
            tx.object_store(META)?
                .put_with_key(&value, &KEYRING_KEY.into())?;
            completed(&tx).await
        })
    }

    /// Every stored document, decrypted, keyed by doc id. A document that fails to open
    /// is reported in the second list rather than failing the whole load.
    pub(crate) async fn load_docs(
        &self,
        key: &DataKey,
    ) -> Result<(Vec<(String, StoredDoc)>, Vec<String>), JsValue> {
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
        // Start every decryption before awaiting any: WebCrypto runs them off the main
        // thread.
        let mut opening = Vec::with_capacity(keys.length() as usize);
        for (k, value) in keys.iter().zip(values.iter()) {
            let Some(id) = k.as_string() else { continue };
            let sealed = value
                .dyn_ref::<Uint8Array>()
                .map(Uint8Array::to_vec)
                .unwrap_or_default();
            let plain = key.open(&sealed, &doc_record(&id));
            opening.push((id, plain));
        }
        let mut docs = Vec::with_capacity(opening.len());
        let mut unreadable = Vec::new();
        for (id, plain) in opening {
            match plain
                .await
                .and_then(|p| decode_doc(&p).map_err(|e| js_error(&e)))
            {
                Ok(stored) => docs.push((id, stored)),
                Err(_) => unreadable.push(id),
            }
        }
        Ok((docs, unreadable))
    }

    /// Seals and writes documents in one transaction, after any write already queued.
    /// The documents are captured now; the future settles when the write has committed.
    pub(crate) fn put_docs(
        &self,
        key: &DataKey,
        docs: &[(String, StoredDoc)],
    ) -> impl Future<Output = Result<(), JsValue>> + use<> {
        let db = self.db.clone();
        let key = key.clone();
        let docs: Vec<(String, Vec<u8>)> = docs
            .iter()
            .map(|(id, stored)| (id.clone(), encode_doc(stored)))
            .collect();
        self.enqueue(async move {
            let sealing: Vec<_> = docs
                .iter()
                .map(|(id, plain)| (id, key.seal(plain, &doc_record(id))))
                .collect();
            let mut sealed = Vec::with_capacity(sealing.len());
            for (id, s) in sealing {
                sealed.push((id, s.await?));
            }
            // The transaction is opened only now, with every value ready: an IndexedDB
            // transaction commits as soon as it has no request pending across an await.
            let tx = db.transaction_with_str_and_mode(DOCS, IdbTransactionMode::Readwrite)?;
            let store = tx.object_store(DOCS)?;
            for (id, bytes) in &sealed {
                store.put_with_key(&Uint8Array::from(bytes.as_slice()), &(*id).into())?;
            }
            completed(&tx).await
        })
    }

    /// Seals `plaintext` under `meta/<name>` (after any write already queued).
    pub(crate) fn put_secret(
        &self,
        key: &DataKey,
        name: &'static str,
        plaintext: Vec<u8>,
    ) -> impl Future<Output = Result<(), JsValue>> + use<> {
        let db = self.db.clone();
        let key = key.clone();
        self.enqueue(async move {
            let sealed = key.seal(&plaintext, &meta_record(name)).await?;
            let tx = db.transaction_with_str_and_mode(META, IdbTransactionMode::Readwrite)?;
            tx.object_store(META)?
                .put_with_key(&Uint8Array::from(sealed.as_slice()), &name.into())?;
            completed(&tx).await
        })
    }

    /// The plaintext stored by [`DeviceDb::put_secret`], or `None` if there is none.
    pub(crate) async fn get_secret(
        &self,
        key: &DataKey,
        name: &'static str,
    ) -> Result<Option<Vec<u8>>, JsValue> {
        let value = self.get_meta(name).await?;
        let Some(sealed) = value.dyn_ref::<Uint8Array>() else {
            return Ok(None);
        };
        key.open(&sealed.to_vec(), &meta_record(name))
            .await
            .map(Some)
    }

    /// Erases every document, the keyring and every sealed value, after any write
    /// already queued (so a save in flight cannot bring data back). The actor id stays:
    /// it names the device, not a patient.
    pub(crate) fn erase(&self) -> impl Future<Output = Result<(), JsValue>> + use<> {
        let db = self.db.clone();
        self.enqueue(async move {
            let names: Array = [DOCS, META].iter().map(|s| JsValue::from_str(s)).collect();
            let tx =
                db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite)?;
            tx.object_store(DOCS)?.clear()?;
            let meta = tx.object_store(META)?;
            for name in [KEYRING_KEY, SESSION_KEY, CASELOAD_KEY] {
                meta.delete(&name.into())?;
            }
            completed(&tx).await
        })
    }

    /// Runs `write` once every write queued before it has settled.
    fn enqueue<W>(&self, write: W) -> impl Future<Output = Result<(), JsValue>> + use<W>
    where
        W: Future<Output = Result<(), JsValue>> + 'static,
    {
        let previous = self.queue.borrow().clone();
        let promise = wasm_bindgen_futures::future_to_promise(async move {
            // An earlier write's failure is reported to its own caller.
            let _ = JsFuture::from(previous).await;
            write.await.map(|()| JsValue::UNDEFINED)
        });
        // Both futures attach their handlers now, so a failed write is never an
        // unhandled rejection; the queue itself waits on a promise that never rejects.
        let done = JsFuture::from(promise.clone());
        let settled = JsFuture::from(promise);
        *self.queue.borrow_mut() = wasm_bindgen_futures::future_to_promise(async move {
            let _ = settled.await;
            Ok(JsValue::UNDEFINED)
        });
        async move { done.await.map(drop) }
    }

    async fn get_meta(&self, name: &str) -> Result<JsValue, JsValue> {
        let tx = self
            .db
            .transaction_with_str_and_mode(META, IdbTransactionMode::Readonly)?;
        settle(&tx.object_store(META)?.get(&name.into())?).await
    }
}

impl Drop for DeviceDb {
    fn drop(&mut self) {
        self.db.close();
    }
}

fn doc_record(id: &str) -> String {
    format!("redfolder/docs/{id}")
}

fn meta_record(name: &str) -> String {
    format!("redfolder/meta/{name}")
}

/// Marks the second layout of a stored document. A first-layout record starts with the
/// document's length, which is never this (a 4 GiB plan).
const LAYOUT_2: [u8; 4] = [0xff; 4];

/// A stored document as one byte string: [`LAYOUT_2`], then the document, the
/// acknowledged heads and the core's local record (see [`StoredDoc::local`]), each
/// preceded by its length (u32, little-endian). The first layout, still read, was the
/// document's length, the document, then the acknowledged heads.
fn encode_doc(stored: &StoredDoc) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + stored.doc.len() + stored.acked.len() + stored.local.len());
    out.extend(LAYOUT_2);
    for part in [&stored.doc, &stored.acked, &stored.local] {
        out.extend((part.len() as u32).to_le_bytes());
        out.extend(part);
    }
    out
}

fn decode_doc(bytes: &[u8]) -> Result<StoredDoc, String> {
    let truncated = || "stored document is truncated".to_owned();
    let take = |bytes: &mut &[u8]| -> Result<Vec<u8>, String> {
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(truncated());
        }
        let (part, rest) = rest.split_at(len);
        *bytes = rest;
        Ok(part.to_vec())
    };
    let mut rest = bytes;
    if let Some(after) = bytes.strip_prefix(LAYOUT_2.as_slice()) {
        rest = after;
        let doc = take(&mut rest)?;
        let acked = take(&mut rest)?;
        let local = take(&mut rest)?;
        if !rest.is_empty() {
            return Err("stored document has trailing bytes".to_owned());
        }
        return Ok(StoredDoc { doc, acked, local });
    }
    let doc = take(&mut rest)?;
    Ok(StoredDoc {
        doc,
        acked: rest.to_vec(),
        local: Vec::new(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_docs_round_trip() {
        for stored in [
            StoredDoc::default(),
            StoredDoc {
                doc: vec![1, 2, 3],
                acked: vec![9; 64],
                local: vec![],
            },
            StoredDoc {
                doc: vec![5; 1000],
                acked: vec![],
                local: b"{\"refused\":[]}".to_vec(),
            },
        ] {
            assert_eq!(decode_doc(&encode_doc(&stored)).unwrap(), stored);
        }
    }

    #[test]
    fn first_layout_records_still_read() {
        let mut old = 3u32.to_le_bytes().to_vec();
        old.extend([1, 2, 3]);
        old.extend([9; 32]);
        assert_eq!(
            decode_doc(&old).unwrap(),
            StoredDoc {
                doc: vec![1, 2, 3],
                acked: vec![9; 32],
                local: vec![],
            }
        );
    }

    #[test]
    fn truncated_docs_are_refused() {
        assert!(decode_doc(&[1, 0]).is_err());
        assert!(decode_doc(&[5, 0, 0, 0, 1, 2]).is_err());
        let whole = encode_doc(&StoredDoc {
            doc: vec![1; 10],
            acked: vec![2; 32],
            local: vec![3; 5],
        });
        for cut in 4..whole.len() {
            assert!(decode_doc(&whole[..cut]).is_err(), "cut at {cut}");
        }
    }
}
