//! [`DocCache`]: documents loaded on demand and shared by every connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use redfolder_shared::PlanDoc;
use tokio::sync::OwnedMutexGuard;

use crate::domain::server_actor;
use crate::store::Store;

/// A document as the server holds it: exactly what is committed to the database, never
/// more (changes are committed before they are adopted here).
#[derive(Debug)]
pub struct CachedDoc {
    pub doc: PlanDoc,
    /// How many chunk rows the document has in the database, to decide when to compact.
    pub chunks: u64,
    /// The newest chunk this copy includes: anything newer was committed elsewhere (by
    /// another instance) and is merged by [`DocCache::refresh`].
    pub last_chunk_id: i64,
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedDoc>>>;

/// Loaded documents by id. Each document has its own async lock, held while a sync
/// message is applied and committed, so commits to one document are serialised and no
/// connection ever sees a change that is not yet durable.
#[derive(Debug)]
pub struct DocCache {
    slots: Mutex<HashMap<String, Slot>>,
    capacity: usize,
}

/// A locked, loaded document.
#[derive(Debug)]
pub struct DocGuard(OwnedMutexGuard<Option<CachedDoc>>, String);

impl DocGuard {
    pub fn doc_id(&self) -> &str {
        &self.1
    }
}

impl std::ops::Deref for DocGuard {
    type Target = CachedDoc;
    fn deref(&self) -> &CachedDoc {
        self.0
            .as_ref()
            .expect("a DocGuard always holds a loaded document")
    }
}

impl std::ops::DerefMut for DocGuard {
    fn deref_mut(&mut self) -> &mut CachedDoc {
        self.0
            .as_mut()
            .expect("a DocGuard always holds a loaded document")
    }
}

impl DocCache {
    pub fn new(capacity: usize) -> DocCache {
        DocCache {
            slots: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Locks a document, loading it from the store first if needed. `None` if the store
    /// has no such document.
    pub async fn lock(&self, store: &Store, doc_id: &str) -> anyhow::Result<Option<DocGuard>> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.len() >= self.capacity && !slots.contains_key(doc_id) {
                evict_idle(&mut slots, self.capacity / 2);
            }
            slots.entry(doc_id.to_owned()).or_default().clone()
        };
        let mut guard = slot.lock_owned().await;
        if guard.is_none() {
            let chunks = store.load_chunks(doc_id).await?;
            if chunks.is_empty() {
                return Ok(None);
            }
            let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
            let doc = PlanDoc::load(&bytes, server_actor()).context("loading a stored document")?;
            *guard = Some(CachedDoc {
                doc,
                chunks: chunks.len() as u64,
                last_chunk_id: chunks.last().map_or(0, |c| c.id),
            });
        }
        Ok(Some(DocGuard(guard, doc_id.to_owned())))
    }

    /// Merges into a locked document whatever other instances committed since it was
    /// loaded. Returns whether it gained anything.
    pub async fn refresh(store: &Store, doc: &mut DocGuard) -> anyhow::Result<bool> {
        let chunks = store
            .load_chunks_after(doc.doc_id(), doc.last_chunk_id)
            .await?;
        if chunks.is_empty() {
            return Ok(false);
        }
        let before = doc.doc.heads();
        for chunk in &chunks {
            doc.doc
                .automerge()
                .load_incremental(&chunk.data)
                .context("merging a chunk committed elsewhere")?;
        }
        doc.last_chunk_id = chunks.last().map_or(doc.last_chunk_id, |c| c.id);
        doc.chunks += chunks.len() as u64;
        Ok(doc.doc.heads() != before)
    }

    /// Refreshes a document if it is loaded here (see [`DocCache::refresh`]); a document
    /// that is not loaded will be read fresh when it is needed.
    pub async fn refresh_if_cached(&self, store: &Store, doc_id: &str) -> anyhow::Result<bool> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(doc_id)
            .cloned();
        let Some(slot) = slot else { return Ok(false) };
        let guard = slot.lock_owned().await;
        if guard.is_none() {
            return Ok(false);
        }
        let mut doc = DocGuard(guard, doc_id.to_owned());
        DocCache::refresh(store, &mut doc).await
    }

    /// The ids of the documents currently held.
    pub fn cached_ids(&self) -> Vec<String> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Forgets a document so the next [`DocCache::lock`] reloads it from the store.
    pub fn evict(&self, doc_id: &str) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(doc_id);
    }

    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops documents nobody is using until at most `target` remain (or none are idle).
fn evict_idle(slots: &mut HashMap<String, Slot>, target: usize) {
    let idle: Vec<String> = slots
        .iter()
        .filter(|(_, slot)| Arc::strong_count(slot) == 1)
        .map(|(id, _)| id.clone())
        .collect();
    for id in idle {
        if slots.len() <= target {
            break;
        }
        slots.remove(&id);
    }
}
