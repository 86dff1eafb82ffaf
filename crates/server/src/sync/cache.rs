//! [`DocCache`]: documents loaded on demand and shared by every connection.

use std::collections::{BTreeMap, HashMap};
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

/// Loaded documents by id, at most `capacity` of them that nobody is using, evicting the
/// least recently used first.
///
/// Each document has its own async lock, held while a sync message is applied and
/// committed, so commits to one document are serialised and no connection ever sees a
/// change that is not yet durable. A document that is locked, waited for or pinned
/// ([`DocPin`], held by a connection while it is in the middle of an exchange on that
/// document) is never evicted, so an exchange does not reload its document at every frame;
/// the cache may then briefly hold more than `capacity`. Everything else is loaded on
/// demand, so memory follows the documents in use, not the documents stored.
#[derive(Debug)]
pub struct DocCache {
    inner: Mutex<Lru>,
    capacity: usize,
}

/// The map and its recency order: `order` maps a use stamp to the document last used
/// then, so the oldest entry is the first key (O(log n) per use, no scans).
#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    order: BTreeMap<u64, String>,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    slot: Slot,
    stamp: u64,
}

impl Lru {
    /// The slot for `doc_id`, created if absent, marked as the most recently used.
    fn touch(&mut self, doc_id: &str) -> Slot {
        self.clock += 1;
        let stamp = self.clock;
        if let Some(entry) = self.entries.get_mut(doc_id) {
            self.order.remove(&entry.stamp);
            entry.stamp = stamp;
            self.order.insert(stamp, doc_id.to_owned());
            return entry.slot.clone();
        }
        let slot = Slot::default();
        self.entries.insert(
            doc_id.to_owned(),
            Entry {
                slot: slot.clone(),
                stamp,
            },
        );
        self.order.insert(stamp, doc_id.to_owned());
        slot
    }

    fn remove(&mut self, doc_id: &str) -> Option<Slot> {
        let entry = self.entries.remove(doc_id)?;
        self.order.remove(&entry.stamp);
        Some(entry.slot)
    }

    /// Evicts idle documents, oldest first, until at most `capacity` remain or every
    /// remaining one is in use. Only the map holds an idle slot: a lock, a waiter or a
    /// pin each hold a clone, and clones are only made under the map's mutex.
    fn shrink(&mut self, capacity: usize) {
        if self.entries.len() <= capacity {
            return;
        }
        let mut excess = self.entries.len() - capacity;
        let idle: Vec<(u64, String)> = self
            .order
            .iter()
            .filter(|(_, id)| {
                self.entries
                    .get(*id)
                    .is_some_and(|e| Arc::strong_count(&e.slot) == 1)
            })
            .take(excess)
            .map(|(stamp, id)| (*stamp, id.clone()))
            .collect();
        for (stamp, id) in idle {
            self.order.remove(&stamp);
            self.entries.remove(&id);
            excess -= 1;
            if excess == 0 {
                break;
            }
        }
    }
}

/// Keeps a document in the cache while held (see [`DocCache`]); it does not lock it.
#[derive(Debug)]
pub struct DocPin {
    _slot: Slot,
}

/// A locked, loaded document.
#[derive(Debug)]
pub struct DocGuard(OwnedMutexGuard<Option<CachedDoc>>, String);

impl DocGuard {
    pub fn doc_id(&self) -> &str {
        &self.1
    }

    /// Keeps this document cached after the guard is dropped, until the pin is dropped.
    pub fn pin(&self) -> DocPin {
        DocPin {
            _slot: OwnedMutexGuard::mutex(&self.0).clone(),
        }
    }
}

impl DocGuard {
    /// Runs `work` on the document on the blocking pool ([`super::offload`]): Automerge
    /// work on a plan with a long history (generating a sync message, merging chunks,
    /// saving) takes milliseconds of CPU that the async workers, which also answer
    /// emergency reads, should not spend. The document is moved there and back; the lock
    /// stays held meanwhile.
    ///
    /// If `work` panics, the document is gone from the cache (the next
    /// [`DocCache::lock`] loads it again from the store, which holds everything the cache
    /// did) and this guard must not be read again: callers return the error at once.
    pub async fn offload<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut CachedDoc) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let mut cached = self
            .0
            .take()
            .expect("a DocGuard always holds a loaded document");
        let (cached, out) = super::offload(move || {
            let out = work(&mut cached);
            (cached, out)
        })
        .await?;
        *self.0 = Some(cached);
        Ok(out)
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
            inner: Mutex::new(Lru::default()),
            capacity: capacity.max(1),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks a document, loading it from the store first if needed. `None` if the store
    /// has no such document.
    pub async fn lock(&self, store: &Store, doc_id: &str) -> anyhow::Result<Option<DocGuard>> {
        let slot = {
            let mut inner = self.inner();
            let slot = inner.touch(doc_id);
            inner.shrink(self.capacity);
            slot
        };
        let mut guard = slot.lock_owned().await;
        if guard.is_none() {
            let chunks = store.load_chunks(doc_id).await?;
            if chunks.is_empty() {
                drop(guard);
                self.forget_empty(doc_id);
                return Ok(None);
            }
            let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
            // Loading a large plan takes milliseconds of CPU: off the async workers.
            let doc = super::offload(move || PlanDoc::load(&bytes, server_actor()))
                .await?
                .context("loading a stored document")?;
            *guard = Some(CachedDoc {
                doc,
                chunks: chunks.len() as u64,
                last_chunk_id: chunks.last().map_or(0, |c| c.id),
            });
        }
        Ok(Some(DocGuard(guard, doc_id.to_owned())))
    }

    /// Drops the entry made for a document the store does not have, unless someone else
    /// is using it (or has loaded it meanwhile).
    fn forget_empty(&self, doc_id: &str) {
        let mut inner = self.inner();
        let unused = inner.entries.get(doc_id).is_some_and(|e| {
            Arc::strong_count(&e.slot) == 1 && e.slot.try_lock().is_ok_and(|g| g.is_none())
        });
        if unused {
            inner.remove(doc_id);
        }
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
        let last_chunk_id = chunks.last().map_or(doc.last_chunk_id, |c| c.id);
        let count = chunks.len() as u64;
        let gained = doc
            .offload(move |cached| -> anyhow::Result<bool> {
                let before = cached.doc.heads();
                for chunk in &chunks {
                    cached
                        .doc
                        .automerge()
                        .load_incremental(&chunk.data)
                        .context("merging a chunk committed elsewhere")?;
                }
                Ok(cached.doc.heads() != before)
            })
            .await??;
        doc.last_chunk_id = last_chunk_id;
        doc.chunks += count;
        Ok(gained)
    }

    /// Refreshes a document if it is loaded here (see [`DocCache::refresh`]); a document
    /// that is not loaded will be read fresh when it is needed.
    pub async fn refresh_if_cached(&self, store: &Store, doc_id: &str) -> anyhow::Result<bool> {
        let slot = self.inner().entries.get(doc_id).map(|e| e.slot.clone());
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
        self.inner().entries.keys().cloned().collect()
    }

    /// Forgets a document so the next [`DocCache::lock`] reloads it from the store.
    pub fn evict(&self, doc_id: &str) {
        self.inner().remove(doc_id);
    }

    pub fn len(&self) -> usize {
        self.inner().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(lru: &Lru) -> Vec<&str> {
        lru.order.values().map(String::as_str).collect()
    }

    #[test]
    fn evicts_the_least_recently_used_idle_documents() {
        let mut lru = Lru::default();
        for id in ["a", "b", "c"] {
            lru.touch(id);
        }
        lru.touch("a");
        assert_eq!(ids(&lru), ["b", "c", "a"]);
        lru.touch("d");
        lru.shrink(3);
        assert_eq!(ids(&lru), ["c", "a", "d"]);
        assert_eq!(lru.entries.len(), 3);
    }

    #[test]
    fn never_evicts_a_document_in_use() {
        let mut lru = Lru::default();
        let held = lru.touch("a");
        for id in ["b", "c", "d"] {
            lru.touch(id);
        }
        lru.shrink(2);
        assert_eq!(ids(&lru), ["a", "d"]);
        let also_held = lru.touch("e");
        lru.shrink(1);
        // Both are in use: the cache goes over capacity rather than drop them.
        assert_eq!(ids(&lru), ["a", "e"]);
        drop((held, also_held));
        lru.shrink(1);
        assert_eq!(ids(&lru), ["e"]);
    }
}
