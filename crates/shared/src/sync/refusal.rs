//! What a device does with the server's refusal of its changes: find them, drop them and
//! what was built on them, and keep a record the clinician can read.

use std::collections::BTreeSet;

use automerge::{ActorId, AutoCommit, ChangeHash};

use crate::doc::PlanDoc;
use crate::history::attribution_of;

use super::client::*;

/// This device's changes to a document not covered by the server's acknowledgement.
pub(super) fn unacked_own(d: &mut ClientDoc, device: &ActorId) -> Vec<ChangeHash> {
    if !d.doc.is_loaded() {
        // A snapshot not yet loaded holds only what the server stored.
        return Vec::new();
    }
    let am = d.doc.automerge();
    let known: Vec<ChangeHash> = d
        .acked
        .iter()
        .filter(|h| am.get_change_by_hash(h).is_some())
        .copied()
        .collect();
    am.get_changes(&known)
        .iter()
        .filter(|c| is_own(device, c.actor_id()))
        .map(|c| c.hash())
        .collect()
}

/// The changes to drop after a refusal with `reason`: the refused ones the server does not
/// hold (see [`ClientEngine::recover_from_refusal`]) and every change that depends on them,
/// dependencies first.
pub(super) fn refused_changes(
    d: &mut ClientDoc,
    device: &ActorId,
    server_heads: &[ChangeHash],
    reason: &str,
) -> Vec<ChangeHash> {
    let am = d.doc.automerge();
    let known: Vec<ChangeHash> = d
        .acked
        .iter()
        .chain(server_heads)
        .filter(|h| am.get_change_by_hash(h).is_some())
        .copied()
        .collect();
    // Only changes the server is not known to hold can have been refused.
    let unknown = am.get_changes(&known);
    let named: Vec<ChangeHash> = hashes_in(reason);
    let mut dropped: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut order = Vec::new();
    for change in &unknown {
        let hash = change.hash();
        let refused = if named.is_empty() {
            is_own(device, change.actor_id())
        } else {
            named.contains(&hash)
        };
        if refused || change.deps().iter().any(|dep| dropped.contains(dep)) {
            dropped.insert(hash);
            order.push(hash);
        }
    }
    order
}

/// Every 64-hex-digit word in `text`, as change hashes.
pub(super) fn hashes_in(text: &str) -> Vec<ChangeHash> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Rebuilds `d`'s document without `dropped` (dependencies first) and records each as a
/// [`RefusedChange`]. Returns whether the document changed.
pub(super) fn drop_changes(
    d: &mut ClientDoc,
    dropped: &[ChangeHash],
    reason: &str,
    device: &ActorId,
) -> bool {
    let gone: BTreeSet<ChangeHash> = dropped.iter().copied().collect();
    // What stays is every change not dropped; its heads are the changes nothing else kept
    // depends on.
    let am = d.doc.automerge();
    let kept: Vec<automerge::Change> = am
        .get_changes(&[])
        .into_iter()
        .filter(|c| !gone.contains(&c.hash()))
        .collect();
    let depended: BTreeSet<ChangeHash> = kept.iter().flat_map(|c| c.deps().to_vec()).collect();
    let heads: Vec<ChangeHash> = kept
        .iter()
        .map(automerge::Change::hash)
        .filter(|h| !depended.contains(h))
        .collect();
    let rebuilt = if heads.is_empty() {
        AutoCommit::new()
    } else {
        match am.fork_at(&heads) {
            Ok(doc) => doc,
            Err(_) => return false,
        }
    };
    let first = dropped.first().copied();
    for hash in dropped {
        let Some(change) = d.doc.automerge().get_change_by_hash(hash) else {
            continue;
        };
        let fields = d
            .doc
            .get_mut()
            .fields_written(&change)
            .into_iter()
            .collect();
        let reason = match first {
            Some(f) if f != *hash => {
                format!("built on change {f}, which the server refused: {reason}")
            }
            _ => reason.to_owned(),
        };
        d.local.refused.push(RefusedChange {
            hash: hash.to_string(),
            by: attribution_of(&change),
            edits: d
                .local
                .journal
                .remove(&hash.to_string())
                .unwrap_or_default(),
            fields,
            reason,
        });
    }
    d.local.resets += 1;
    d.doc = LazyPlan::loaded(PlanDoc {
        doc: rebuilt.with_actor(doc_actor(device, d.local.resets)),
    });
    true
}
