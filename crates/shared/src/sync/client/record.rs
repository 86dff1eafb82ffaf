//! What a device keeps of each plan: the document, what the server acknowledged, and its
//! record of its own edits (journal and refused changes).

use std::collections::BTreeMap;

use automerge::{ActorId, ChangeHash};

use crate::edit::Edit;
use crate::plan::Attribution;

use super::lazy::LazyPlan;
use crate::doc::PlanDoc;
/// A document as a device stores it: the Automerge bytes, what the server has acked, and
/// the device's own record of its edits (see [`ClientEngine::refused`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredDoc {
    pub doc: Vec<u8>,
    /// Concatenated 32-byte change hashes.
    pub acked: Vec<u8>,
    /// The typed edits behind changes not yet acknowledged, and the changes the server
    /// refused, as the core encodes them (JSON); empty when there are none. Opaque to
    /// the storage adapter.
    pub local: Vec<u8>,
}

/// A change made on this device that the server refused. The device dropped it (and
/// everything built on it) to get back in step with the server; this record is what is
/// left of it, so the clinician can read what was not stored and make it again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RefusedChange {
    /// The refused change's hash, in hex.
    pub hash: String,
    /// Who made it and when, from the change's note (absent if it had none).
    pub by: Option<Attribution>,
    /// The edits the change recorded, as the app submitted them; empty if this device
    /// did not record them (a change made before this record existed).
    pub edits: Vec<Edit>,
    /// The top-level fields of the plan the change wrote, e.g. `["medications",
    /// "last_updated"]`.
    pub fields: Vec<String>,
    /// The server's reason. A change built on a refused one is dropped with it and says so.
    pub reason: String,
}

/// What a device keeps about its own edits beside the document.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub(in crate::sync) struct LocalRecord {
    /// The edits behind each change not yet acknowledged, by change hash (hex).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(in crate::sync) journal: BTreeMap<String, Vec<Edit>>,
    /// Refused changes not yet dismissed, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(in crate::sync) refused: Vec<RefusedChange>,
    /// How often the document was put back to the server's state. Each reset moves the
    /// device to a new actor for this document (see [`doc_actor`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(in crate::sync) resets: u32,
}

pub(in crate::sync) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The actor a device writes a document with: its own, or after `resets` resets a new one
/// derived from it. A dropped change's sequence number must never be used again by the same
/// actor, because a copy of the dropped change may still be somewhere (a server's queue of
/// changes waiting for their dependencies, an acknowledgement that was lost) and Automerge
/// refuses two different changes with one actor and sequence number.
pub(in crate::sync) fn doc_actor(device: &ActorId, resets: u32) -> ActorId {
    if resets == 0 {
        return device.clone();
    }
    let mut bytes = device.to_bytes().to_vec();
    bytes.extend(resets.to_be_bytes());
    ActorId::from(bytes)
}

/// Whether `actor` is the device's own or one derived from it by [`doc_actor`].
pub(in crate::sync) fn is_own(device: &ActorId, actor: &ActorId) -> bool {
    actor.to_bytes().starts_with(device.to_bytes())
}

impl LocalRecord {
    pub(in crate::sync) fn encode(&self) -> Vec<u8> {
        if *self == LocalRecord::default() {
            return Vec::new();
        }
        serde_json::to_vec(self).expect("edits serialise")
    }

    /// A damaged record must not cost the plan itself, so it reads as empty.
    pub(in crate::sync) fn decode(bytes: &[u8]) -> LocalRecord {
        if bytes.is_empty() {
            return LocalRecord::default();
        }
        serde_json::from_slice(bytes).unwrap_or_default()
    }
}

#[derive(Debug)]
pub(in crate::sync) struct ClientDoc {
    /// Loaded into Automerge on first use (see [`LazyPlan`]).
    pub(in crate::sync) doc: LazyPlan,
    pub(in crate::sync) acked: Vec<ChangeHash>,
    pub(in crate::sync) local: LocalRecord,
}

impl ClientDoc {
    pub(in crate::sync) fn new(doc: PlanDoc) -> ClientDoc {
        ClientDoc {
            doc: LazyPlan::loaded(doc),
            acked: Vec::new(),
            local: LocalRecord::default(),
        }
    }
}
