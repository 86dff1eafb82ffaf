//! [`LazyPlan`]: a plan the device holds, loaded into Automerge only when something needs
//! it.
//!
//! A device's first sync receives every plan of its caseload as a stored snapshot
//! ([`crate::protocol::Frame::Snapshot`]). Loading a snapshot into Automerge decodes all of
//! its columns (about 0.8 ms per caseload plan natively, more in WebAssembly), and most
//! plans are not opened for days; so a snapshot is kept as its bytes and heads, checked
//! when it arrives, and loaded on first use: a read, an edit, an incoming change or an
//! export after one of those.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use automerge::{ActorId, AutoCommit, ChangeHash};
use sha2::{Digest, Sha256};

use crate::doc::PlanDoc;

/// Why snapshot bytes cannot be kept unloaded. Not an error of the plan: such bytes are
/// loaded at once, the way every snapshot was before, and that load reports a real fault.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SnapshotCheck {
    #[error("not an automerge chunk")]
    NotAChunk,
    #[error("the chunk's checksum does not match its contents")]
    BadChecksum,
    #[error("the chunk is not a whole document")]
    NotADocument,
    #[error("more than one chunk")]
    SeveralChunks,
    #[error("the document chunk ends early")]
    Truncated,
}

/// Automerge's storage format (the "binary document format" of automerge.org): every
/// chunk starts with these bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT_CHUNK: u8 = 0;

/// The heads recorded in `bytes` if they are exactly one whole-document chunk whose
/// checksum matches: the chunk's header, its actor table and its heads are read; the
/// columns (the costly part of a load) are not.
pub(crate) fn snapshot_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>, SnapshotCheck> {
    let rest = bytes.strip_prefix(&MAGIC).ok_or(SnapshotCheck::NotAChunk)?;
    let (checksum, rest) = rest.split_at_checked(4).ok_or(SnapshotCheck::NotAChunk)?;
    let (&kind, rest) = rest.split_first().ok_or(SnapshotCheck::NotAChunk)?;
    let (len, after_len) = uleb(rest).ok_or(SnapshotCheck::NotAChunk)?;
    let len = usize::try_from(len).map_err(|_| SnapshotCheck::Truncated)?;
    let header_len = rest.len() - after_len.len();
    if after_len.len() < len {
        return Err(SnapshotCheck::Truncated);
    }
    if after_len.len() > len {
        return Err(SnapshotCheck::SeveralChunks);
    }
    // The checksum is the first four bytes of the SHA-256 of the type, length and data.
    let mut hasher = Sha256::new();
    hasher.update([kind]);
    hasher.update(&rest[..header_len]);
    hasher.update(after_len);
    if hasher.finalize()[..4] != *checksum {
        return Err(SnapshotCheck::BadChecksum);
    }
    if kind != DOCUMENT_CHUNK {
        return Err(SnapshotCheck::NotADocument);
    }
    let (actors, mut data) = uleb(after_len).ok_or(SnapshotCheck::Truncated)?;
    for _ in 0..actors {
        let (n, rest) = uleb(data).ok_or(SnapshotCheck::Truncated)?;
        let n = usize::try_from(n).map_err(|_| SnapshotCheck::Truncated)?;
        data = rest.get(n..).ok_or(SnapshotCheck::Truncated)?;
    }
    let (count, mut data) = uleb(data).ok_or(SnapshotCheck::Truncated)?;
    let mut heads = Vec::new();
    for _ in 0..count {
        let (hash, rest) = data
            .split_first_chunk::<32>()
            .ok_or(SnapshotCheck::Truncated)?;
        heads.push(ChangeHash(*hash));
        data = rest;
    }
    Ok(heads)
}

/// An unsigned LEB128 number and what follows it.
fn uleb(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// A snapshot held as received.
#[derive(Debug)]
struct Unloaded {
    bytes: Vec<u8>,
    heads: Vec<ChangeHash>,
}

/// A plan document, loaded or still the checked bytes of a snapshot.
///
/// Reading through a shared reference ([`LazyPlan::get`]) loads it on the spot, which is
/// why the document sits in a [`OnceLock`]. If the load fails after all (bytes whose
/// framing, checksum and heads were sound but whose columns are not: a server fault), the
/// document is left empty and [`LazyPlan::take_failed`] says so once, so the engine can
/// sync it again the ordinary way.
#[derive(Debug)]
pub(crate) struct LazyPlan {
    loaded: OnceLock<PlanDoc>,
    unloaded: Option<Unloaded>,
    actor: ActorId,
    failed: AtomicBool,
}

impl LazyPlan {
    pub(crate) fn loaded(doc: PlanDoc) -> LazyPlan {
        let actor = doc.actor().clone();
        LazyPlan {
            loaded: OnceLock::from(doc),
            unloaded: None,
            actor,
            failed: AtomicBool::new(false),
        }
    }

    /// Snapshot bytes whose heads [`snapshot_heads`] read; loaded on first use.
    pub(crate) fn snapshot(bytes: Vec<u8>, heads: Vec<ChangeHash>, actor: ActorId) -> LazyPlan {
        LazyPlan {
            loaded: OnceLock::new(),
            unloaded: Some(Unloaded { bytes, heads }),
            actor,
            failed: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    /// The document, loaded now if it was not.
    pub(crate) fn get(&self) -> &PlanDoc {
        self.loaded.get_or_init(|| {
            let bytes = self.unloaded.as_ref().map_or(&[][..], |u| &u.bytes);
            PlanDoc::load(bytes, self.actor.clone()).unwrap_or_else(|_| {
                self.failed.store(true, Ordering::Relaxed);
                PlanDoc::empty(self.actor.clone())
            })
        })
    }

    pub(crate) fn get_mut(&mut self) -> &mut PlanDoc {
        self.get();
        // Loaded: the bytes are no longer needed.
        self.unloaded = None;
        self.loaded.get_mut().expect("loaded just now")
    }

    pub(crate) fn automerge(&mut self) -> &mut AutoCommit {
        self.get_mut().automerge()
    }

    /// The document's heads, without loading it.
    pub(crate) fn heads(&mut self) -> Vec<ChangeHash> {
        match (&self.unloaded, self.loaded.get_mut()) {
            (_, Some(doc)) => doc.heads(),
            (Some(u), None) => u.heads.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// Whether the device holds nothing of the plan yet, without loading it.
    pub(crate) fn is_empty(&mut self) -> bool {
        self.heads().is_empty()
    }

    /// What to keep in local storage: a snapshot not yet loaded is kept as it came (a
    /// document without per-column compression, which loads the same way).
    pub(crate) fn save(&mut self) -> Vec<u8> {
        match (&self.unloaded, self.loaded.get_mut()) {
            (_, Some(doc)) => doc.save(),
            (Some(u), None) => u.bytes.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// Whether a lazy load failed since this was last asked (once).
    pub(crate) fn take_failed(&mut self) -> bool {
        std::mem::take(self.failed.get_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    fn plan_bytes() -> (Vec<u8>, Vec<ChangeHash>) {
        let mut doc = testkit::caseload(1, 7)
            .remove(0)
            .build(ActorId::random())
            .expect("a generated plan builds");
        (doc.save_uncompressed(), doc.heads())
    }

    #[test]
    fn reads_the_heads_of_a_saved_document_without_loading_it() {
        let (bytes, heads) = plan_bytes();
        assert_eq!(snapshot_heads(&bytes), Ok(heads.clone()));
        let mut compressed = PlanDoc::load(&bytes, ActorId::random()).unwrap();
        assert_eq!(snapshot_heads(&compressed.save()), Ok(heads));
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        let (bytes, _) = plan_bytes();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(snapshot_heads(&flipped), Err(SnapshotCheck::BadChecksum));
        assert_eq!(
            snapshot_heads(&bytes[..bytes.len() - 1]),
            Err(SnapshotCheck::Truncated)
        );
        let mut two = bytes.clone();
        two.extend(&bytes);
        assert_eq!(snapshot_heads(&two), Err(SnapshotCheck::SeveralChunks));
        assert_eq!(snapshot_heads(b"{}"), Err(SnapshotCheck::NotAChunk));
        assert_eq!(snapshot_heads(&[]), Err(SnapshotCheck::NotAChunk));
    }

    #[test]
    fn loads_on_first_use_and_saves_the_bytes_until_then() {
        let (bytes, heads) = plan_bytes();
        let mut lazy = LazyPlan::snapshot(bytes.clone(), heads.clone(), ActorId::random());
        assert!(!lazy.is_loaded());
        assert_eq!(lazy.heads(), heads);
        assert!(!lazy.is_empty());
        assert_eq!(lazy.save(), bytes);
        assert!(!lazy.is_loaded());
        assert!(lazy.get().plan().is_ok());
        assert!(lazy.is_loaded());
        assert_eq!(lazy.heads(), heads);
        assert!(!lazy.take_failed());
    }

    #[test]
    fn a_failed_load_leaves_an_empty_document_and_says_so_once() {
        let (bytes, heads) = plan_bytes();
        let mut lazy = LazyPlan::snapshot(bytes[..40].to_vec(), heads, ActorId::random());
        assert!(lazy.get_mut().is_empty());
        assert!(lazy.take_failed());
        assert!(!lazy.take_failed());
        assert!(lazy.is_empty());
    }
}
