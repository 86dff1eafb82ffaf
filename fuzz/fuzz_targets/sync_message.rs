//! The sync message path as the server runs it: `Session::receive` of arbitrary bytes on
//! a document that has history (so bloom filters are tested against real changes), then
//! `generate` and `in_sync`. Nothing may panic or allocate without bound.
#![no_main]

use std::sync::OnceLock;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use libfuzzer_sys::fuzz_target;
use redfolder_shared::Session;

/// A document with a few changes by two actors, saved once and loaded per input.
fn hub_doc() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut a = AutoCommit::new();
        for i in 0..8 {
            a.put(ROOT, format!("k{i}"), i).unwrap();
            a.commit();
        }
        let mut b = a.fork();
        b.put(ROOT, "other", "x").unwrap();
        b.commit();
        a.merge(&mut b).unwrap();
        a.save()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut doc = AutoCommit::load(hub_doc()).expect("the hub document loads");
    let mut session = Session::new();
    // The first byte picks the sequence number, so gaps and duplicates are explored too.
    let (seq, message) = match data.split_first() {
        Some((first, rest)) => (u64::from(*first % 3), rest),
        None => (0, data),
    };
    let _ = session.receive(&mut doc, "doc", 0, seq, message);
    while session.generate(&mut doc, "doc").is_some() {}
    let _ = session.in_sync(&mut doc, "doc");
    let _ = session.receive(&mut doc, "doc", 0, seq + 1, message);
    let _ = session.generate(&mut doc, "doc");
});
