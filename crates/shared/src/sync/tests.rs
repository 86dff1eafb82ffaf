//! The sync engine over a hostile in-memory network, and the plan's merge properties.
//!
//! A hub (playing the server's part, with the same `Session` calls the real server makes)
//! and several `ClientEngine`s exchange frames through a network that drops, duplicates,
//! reorders and delays them, and disconnects clients at random. Clients make random valid
//! edits to every kind of field and list while partitioned. After the network heals, every
//! replica must converge and have every local change acknowledged.
//!
//! An `Oracle` records what the replicas did, independently of how the core merges it:
//! every entry added or marked, every token typed, every write of a safety-critical field
//! and the causal history of every change. The converged plan must hold every entry and
//! token, and list a conflict on a safety-critical field exactly when writes that did not
//! see each other left different values standing, each value with its author; the
//! emergency summary must show the same. A second property runs the same workload over
//! direct change exchange (shuffled, dropped, duplicated), which is cheaper, so more cases.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use proptest::prelude::*;

use super::client::*;
use crate::doc::PlanDoc;
use crate::edit::{Edit, Editor};
use crate::protocol::{ErrorCode, Frame, features};

use super::*;
use crate::protocol::Codec;
use crate::{
    AdmissionWish, AllergySeverity, AllergyStatus, CarePlan, ConsentGivenBy, ConsentRecipient,
    DnacprStatus, EntryList, NewPlan, SafetyField, TeamContactKind, TextTarget, TreatmentCeiling,
    emergency_summary,
};
use oracle::{random_edit, register_heads};

mod channels;
mod convergence;
mod oracle;
mod refusals;

const DOC: &str = "patient-1";
const NOW: i64 = 1_795_960_800_000;

/// SplitMix64: a tiny deterministic generator so any failure replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone, Copy)]
struct Faults {
    drop: u64,
    duplicate: u64,
    disconnect: u64,
}

const HOSTILE: Faults = Faults {
    drop: 10,
    duplicate: 10,
    disconnect: 2,
};
const CALM: Faults = Faults {
    drop: 0,
    duplicate: 0,
    disconnect: 0,
};

/// The server's part, written with the same `Session` calls as `crates/server`.
struct Hub {
    docs: BTreeMap<String, AutoCommit>,
    sessions: BTreeMap<usize, Session>,
    /// Which changes the hub refuses, like the server's write rules; `None` accepts all.
    refuse: Option<fn(&mut PlanDoc, &automerge::Change) -> bool>,
    /// Documents whose last change from a client was refused: like the server, the hub
    /// ignores that client's frames for them until it subscribes again.
    refused: BTreeSet<(usize, String)>,
    /// Every change the hub refused.
    refusals: BTreeSet<ChangeHash>,
    /// The optional protocol features the hub offers, as the server does.
    features: u64,
    /// What each client said it supports, intersected with `features`.
    client_features: BTreeMap<usize, u64>,
}

/// A frame on the wire: to the hub from client `client`, or to the client from the hub.
#[derive(Debug, Clone)]
struct Packet {
    to_hub: bool,
    client: usize,
    generation: u32,
    bytes: Vec<u8>,
}

struct Device {
    engine: ClientEngine,
    editor: Editor,
    online: bool,
    generation: u32,
    edits: usize,
    /// The changes this device made, in order.
    made: Vec<ChangeHash>,
}

struct World {
    rng: Rng,
    hub: Hub,
    devices: Vec<Device>,
    wire: Vec<Packet>,
    oracle: Oracle,
}

/// What the replicas did, recorded independently of how the core merges it, so the end
/// state can be checked against it.
#[derive(Default)]
struct Oracle {
    /// Every entry any replica added, by list.
    entries: Vec<(EntryList, String)>,
    /// Every entry any replica marked entered-in-error.
    marked: Vec<(EntryList, String)>,
    /// Every token typed into a text, with the text.
    tokens: Vec<(TextTarget, String)>,
    /// Every write of a safety-critical register.
    writes: Vec<Write>,
    /// The dependencies of every change the replicas made: the causal history, kept here
    /// so "had the author seen that write?" is answered without asking Automerge.
    deps: BTreeMap<ChangeHash, Vec<ChangeHash>>,
    /// How many conflicts replicas resolved.
    resolutions: usize,
    /// Every correction of a medication's dose or notes in place.
    corrections: Vec<Correction>,
}

/// One correction of one field of a medication: (id, field, value, change).
struct Correction {
    id: String,
    field: &'static str,
    value: String,
    /// Filled in by [`Oracle::record`] once the edit is a change.
    hash: Option<ChangeHash>,
}

/// One write of a safety-critical field, and the earlier writes its author had seen.
struct Write {
    field: SafetyField,
    /// What the value says (the part that decides a conflict).
    says: String,
    user_id: String,
    at_ms: i64,
    hash: ChangeHash,
}

impl Hub {
    /// One message from `client`: a frame, or a batch of them. As the server does, a
    /// client that reads batches gets each answer's frames to it as one batch.
    fn handle(&mut self, client: usize, bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let frames = match Frame::decode_all(bytes) {
            Ok(frames) => frames,
            Err(e) => {
                let err = Frame::Error {
                    code: ErrorCode::BadFrame,
                    doc_id: None,
                    message: e.to_string(),
                };
                return vec![(client, err.encode())];
            }
        };
        let mut out = Vec::new();
        for frame in frames {
            out.extend(self.handle_frame(client, frame));
        }
        let mut by_client: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for (to, bytes) in out {
            by_client.entry(to).or_default().push(bytes);
        }
        let mut batched = Vec::new();
        for (to, frames) in by_client {
            let reads_batches = self
                .client_features
                .get(&to)
                .is_some_and(|f| f & features::BATCH != 0);
            if reads_batches && frames.len() > 1 {
                // As the server chooses: Brotli only for large batches.
                let size: usize = frames.iter().map(Vec::len).sum();
                let codec = if size >= 16 * 1024 {
                    Codec::Brotli
                } else {
                    Codec::Deflate
                };
                batched.push((to, Frame::batch(&frames, codec).encode()));
            } else {
                batched.extend(frames.into_iter().map(|f| (to, f)));
            }
        }
        batched
    }

    fn handle_frame(&mut self, client: usize, frame: Frame) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        match frame {
            Frame::Features { flags } => {
                let flags = flags & self.features;
                self.client_features.insert(client, flags);
                out.push((client, Frame::Features { flags }.encode()));
            }
            Frame::Fetch { doc_ids } => {
                let Some(session) = self.sessions.get_mut(&client) else {
                    return out;
                };
                for id in doc_ids {
                    let Some(doc) = self.docs.get_mut(&id) else {
                        continue;
                    };
                    if session.is_open(&id) {
                        while let Some(f) = session.generate(doc, &id) {
                            out.push((client, f.encode()));
                        }
                        continue;
                    }
                    let heads = doc.get_heads();
                    session.seed(&id, &heads);
                    let snapshot = Frame::Snapshot {
                        doc_id: id,
                        heads,
                        doc: doc.save_nocompress(),
                    };
                    out.push((client, snapshot.encode()));
                }
            }
            Frame::Hello { .. } => {
                self.sessions.entry(client).or_default();
                let welcome = Frame::Welcome {
                    user_id: format!("u{client}"),
                    user_name: "x".into(),
                    role: "case_manager".into(),
                };
                out.push((client, welcome.encode()));
                out.push((
                    client,
                    Frame::Caseload {
                        doc_ids: self.docs.keys().cloned().collect(),
                    }
                    .encode(),
                ));
            }
            Frame::Subscribe { doc_ids } => {
                let Some(session) = self.sessions.get_mut(&client) else {
                    return out;
                };
                for id in doc_ids {
                    self.refused.remove(&(client, id.clone()));
                    let Some(doc) = self.docs.get_mut(&id) else {
                        continue;
                    };
                    session.open(&id);
                    while let Some(f) = session.generate(doc, &id) {
                        out.push((client, f.encode()));
                    }
                }
            }
            Frame::Sync {
                doc_id,
                epoch,
                seq,
                message,
            } => {
                let Some(session) = self.sessions.get_mut(&client) else {
                    return out;
                };
                if self.refused.contains(&(client, doc_id.clone())) {
                    return out;
                }
                let doc = self.docs.get_mut(&doc_id).expect("hub holds every doc");
                let received = match self.refuse {
                    None => {
                        // Every change a real app makes keeps the plan's rules: the hub
                        // checks each like the server does, and a refusal here is a false
                        // refusal (the server would have refused an honest clinician).
                        let before = doc.get_heads();
                        let mut candidate = PlanDoc { doc: doc.clone() };
                        let received = session
                            .receive(&mut candidate.doc, &doc_id, epoch, seq, &message)
                            .expect("valid message");
                        let gained = candidate.doc.get_changes(&before);
                        if !gained.is_empty() && candidate.plan().is_ok() {
                            let committed_plan = PlanDoc { doc: doc.clone() }.plan().unwrap();
                            let user = format!("u{client}");
                            let who = crate::check::Submitter {
                                user_id: &user,
                                writer: crate::check::Writer::CaseManager,
                                now_ms: NOW + 10_000,
                            };
                            if let Err(v) = crate::check::check_submission(
                                &mut candidate,
                                &before,
                                &committed_plan,
                                &gained,
                                &who,
                            ) {
                                panic!(
                                    "an honest device's changes were refused (client {client}): {v:?}"
                                );
                            }
                        }
                        *doc = candidate.doc;
                        received
                    }
                    Some(refuse) => {
                        // As the server does: apply to a copy, check what it gained, and
                        // adopt it only if nothing is refused.
                        let before = doc.get_heads();
                        let mut candidate = PlanDoc { doc: doc.clone() };
                        let received = session
                            .receive(&mut candidate.doc, &doc_id, epoch, seq, &message)
                            .expect("valid message");
                        let gained = candidate.doc.get_changes(&before);
                        if let Some(bad) = gained.iter().find(|c| refuse(&mut candidate, c)) {
                            self.refusals.insert(bad.hash());
                            session.restart(&doc_id);
                            while let Some(f) = session.generate(doc, &doc_id) {
                                out.push((client, f.encode()));
                            }
                            self.refused.insert((client, doc_id.clone()));
                            let refusal = Frame::Error {
                                code: ErrorCode::Refused,
                                doc_id: Some(doc_id.clone()),
                                message: format!(
                                    "change {} may not be made by this user; nothing of it was stored",
                                    bad.hash()
                                ),
                            };
                            out.push((client, refusal.encode()));
                            return out;
                        }
                        *doc = candidate.doc;
                        received
                    }
                };
                // Here the real server commits to its database before acknowledging.
                if let Some(ack) = session.ack(doc, &doc_id) {
                    out.push((client, ack.encode()));
                }
                while let Some(f) = session.generate(doc, &doc_id) {
                    out.push((client, f.encode()));
                }
                if received == (Received::Applied { changed: true }) {
                    for (&other, s) in self.sessions.iter_mut().filter(|(c, _)| **c != client) {
                        if s.is_open(&doc_id) {
                            while let Some(f) = s.generate(doc, &doc_id) {
                                out.push((other, f.encode()));
                            }
                        }
                    }
                }
            }
            other => panic!("hub got a server frame {other:?}"),
        }
        out
    }

    fn tick(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for (&client, session) in &mut self.sessions {
            let ids: Vec<String> = session.doc_ids().cloned().collect();
            for id in ids {
                let doc = self.docs.get_mut(&id).expect("doc");
                if session.tick(doc, &id, false) {
                    while let Some(f) = session.generate(doc, &id) {
                        out.push((client, f.encode()));
                    }
                }
            }
        }
        out
    }
}

impl World {
    fn new(seed: u64, clients: usize) -> World {
        let server = Editor {
            user_id: "server".into(),
            user_name: "Server".into(),
        };
        let new = NewPlan {
            nhs_number: "9434765919".into(),
            name: "Ada Example".into(),
            date_of_birth: "1938-02-28".into(),
            address: "1 High Street".into(),
        };
        let mut plan =
            PlanDoc::create(ActorId::from(b"hub".as_slice()), &new, &server, NOW).unwrap();
        let mut docs = BTreeMap::new();
        docs.insert(DOC.to_owned(), plan.automerge().clone());
        let devices = (0..clients)
            .map(|i| Device {
                engine: ClientEngine::new(ActorId::from(format!("device-{i}").as_bytes())),
                editor: Editor {
                    user_id: format!("u{i}"),
                    user_name: format!("Nurse {i}"),
                },
                online: false,
                generation: 0,
                edits: 0,
                made: Vec::new(),
            })
            .collect();
        World {
            rng: Rng(seed),
            hub: Hub {
                docs,
                sessions: BTreeMap::new(),
                refuse: None,
                refused: BTreeSet::new(),
                refusals: BTreeSet::new(),
                // Every third world's hub is an older server without the optional
                // features: the devices must sync with it the ordinary way.
                features: if seed.is_multiple_of(3) {
                    0
                } else {
                    features::ALL
                },
                client_features: BTreeMap::new(),
            },
            devices,
            wire: Vec::new(),
            oracle: Oracle::default(),
        }
    }

    fn connect(&mut self, i: usize) {
        let d = &mut self.devices[i];
        d.generation += 1;
        d.online = true;
        d.engine.connected("token");
        self.hub.sessions.remove(&i);
        self.collect_from(i);
    }

    fn disconnect(&mut self, i: usize) {
        let d = &mut self.devices[i];
        d.online = false;
        d.engine.disconnected();
        self.hub.sessions.remove(&i);
    }

    fn collect_from(&mut self, i: usize) {
        let d = &mut self.devices[i];
        for bytes in d.engine.take_outgoing() {
            if d.online {
                self.wire.push(Packet {
                    to_hub: true,
                    client: i,
                    generation: d.generation,
                    bytes,
                });
            }
        }
        d.engine.take_events();
    }

    fn send_from_hub(&mut self, frames: Vec<(usize, Vec<u8>)>) {
        let bytes: usize = self.wire.iter().map(|p| p.bytes.len()).sum();
        assert!(
            self.wire.len() < 20_000 && bytes < 64 << 20,
            "the network is flooded: {} packets, {bytes} bytes",
            self.wire.len()
        );
        for (client, bytes) in frames {
            let generation = self.devices[client].generation;
            self.wire.push(Packet {
                to_hub: false,
                client,
                generation,
                bytes,
            });
        }
    }

    /// Delivers one packet chosen at random (so frames overtake each other), applying faults.
    fn deliver_one(&mut self, faults: Faults) -> bool {
        if self.wire.is_empty() {
            return false;
        }
        let idx = if faults.drop > 0 {
            self.rng.below(self.wire.len())
        } else {
            0
        };
        let packet = if self.rng.chance(faults.duplicate) {
            self.wire[idx].clone()
        } else {
            self.wire.remove(idx)
        };
        if self.rng.chance(faults.drop) {
            return true;
        }
        let device = &self.devices[packet.client];
        if !device.online || device.generation != packet.generation {
            return true; // the connection it belonged to is gone
        }
        if packet.to_hub {
            let replies = self.hub.handle(packet.client, &packet.bytes);
            self.send_from_hub(replies);
        } else {
            self.devices[packet.client]
                .engine
                .receive(&packet.bytes)
                .expect("valid frame");
            self.collect_from(packet.client);
        }
        true
    }

    fn random_edit(&mut self, i: usize) {
        let d = &mut self.devices[i];
        let Some(doc) = d.engine.doc(DOC) else { return };
        let Ok(plan) = doc.plan() else { return };
        d.edits += 1;
        let n = d.edits;
        let Some(edit) = random_edit(&mut self.rng, &plan, i, n, &mut self.oracle) else {
            return;
        };
        let editor = d.editor.clone();
        let before = register_heads(&d.engine.doc(DOC).expect("held").doc);
        let deps = d.engine.doc_mut(DOC).expect("held").heads();
        let hash = d
            .engine
            .apply(DOC, &edit, &editor, NOW + n as i64)
            .unwrap_or_else(|e| panic!("{edit:?} was refused: {e}"));
        d.made.push(hash);
        let doc = d.engine.doc(DOC).expect("held");
        self.oracle
            .record(doc, hash, deps, &before, &editor, NOW + n as i64);
        self.collect_from(i);
    }

    fn tick_all(&mut self) {
        for i in 0..self.devices.len() {
            self.devices[i].engine.tick();
            self.collect_from(i);
        }
        let frames = self.hub.tick();
        self.send_from_hub(frames);
    }

    fn run(&mut self, steps: usize) {
        for i in 0..self.devices.len() {
            self.connect(i);
        }
        for step in 0..steps {
            let i = self.rng.below(self.devices.len());
            match self.rng.below(10) {
                0..=3 => self.random_edit(i),
                4 if self.rng.chance(HOSTILE.disconnect * 10) => {
                    if self.devices[i].online {
                        self.disconnect(i)
                    } else {
                        self.connect(i)
                    }
                }
                _ => {
                    self.deliver_one(HOSTILE);
                }
            }
            if step % 25 == 0 {
                self.tick_all();
            }
        }
        // Heal: everyone online, no faults, deliver and tick until nothing moves.
        for i in 0..self.devices.len() {
            // A refusal lost on a link that stayed up would leave the hub ignoring that
            // device for good; a real WebSocket loses nothing while it is open, so where
            // the hub refuses, every device reconnects (and hears it again).
            if self.hub.refuse.is_some() && self.devices[i].online {
                self.disconnect(i);
            }
            if !self.devices[i].online {
                self.connect(i);
            }
        }
        self.settle();
    }

    /// Delivers without faults and ticks until nothing moves.
    fn settle(&mut self) {
        let mut quiet_ticks = 0;
        for _ in 0..10_000 {
            while self.deliver_one(CALM) {}
            self.tick_all();
            if self.wire.is_empty() {
                quiet_ticks += 1;
                if quiet_ticks == 3 {
                    return;
                }
            } else {
                quiet_ticks = 0;
            }
        }
        panic!("the network never went quiet");
    }

    fn assert_converged(&mut self) {
        let hub_plan = self.assert_same_as_hub();
        self.oracle.check(&hub_plan);
    }

    /// Every device holds exactly the hub's document and has nothing waiting; returns the
    /// hub's plan.
    fn assert_same_as_hub(&mut self) -> CarePlan {
        let mut hub_doc = self.hub.docs.get(DOC).unwrap().clone();
        let mut hub_heads = hub_doc.get_heads();
        hub_heads.sort();
        let hub_plan = PlanDoc::load(&hub_doc.save(), ActorId::random())
            .unwrap()
            .plan()
            .unwrap();
        for (i, d) in self.devices.iter_mut().enumerate() {
            let doc = d.engine.doc_mut(DOC).unwrap();
            let mut heads = doc.heads();
            heads.sort();
            assert_eq!(heads, hub_heads, "device {i} heads differ from the hub");
            assert_eq!(doc.plan().unwrap(), hub_plan, "device {i} plan differs");
            assert_eq!(
                d.engine.pending_total(),
                0,
                "device {i} has unacknowledged changes"
            );
        }
        hub_plan
    }
}

/// Cases per property test: `REDFOLDER_PROPTEST_CASES` raises it for a longer soak.
fn cases(default: u32) -> u32 {
    std::env::var("REDFOLDER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The property tests' configuration. The random stream is fixed unless
/// `REDFOLDER_PROPTEST_SEED` says otherwise (`random`, or a number), so `cargo xtask test`
/// runs the same cases on every machine and a failure there is a regression, never luck.
/// New cases are explored by soaks (`REDFOLDER_PROPTEST_SEED=random
/// REDFOLDER_PROPTEST_CASES=2000`); what they find is kept in `proptest-regressions/`,
/// which every run replays first.
fn config(default_cases: u32) -> ProptestConfig {
    let rng_seed = match std::env::var("REDFOLDER_PROPTEST_SEED").ok().as_deref() {
        Some("random") => proptest::test_runner::RngSeed::Random,
        Some(n) => proptest::test_runner::RngSeed::Fixed(
            n.parse()
                .expect("REDFOLDER_PROPTEST_SEED is `random` or a number"),
        ),
        None => proptest::test_runner::RngSeed::Fixed(0x5EED_2026_1203),
    };
    ProptestConfig {
        cases: cases(default_cases),
        rng_seed,
        ..ProptestConfig::default()
    }
}
