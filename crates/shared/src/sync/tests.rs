//! The sync engine over a hostile in-memory network.
//!
//! A hub (playing the server's part, with the same `Session` calls the real server makes)
//! and several `ClientEngine`s exchange frames through a network that drops, duplicates,
//! reorders and delays them, and disconnects clients at random. Clients edit while
//! partitioned. After the network heals, every replica must converge, keep every entry
//! any replica wrote, and have every local change acknowledged.

use std::collections::BTreeMap;

use automerge::{ActorId, AutoCommit};
use proptest::prelude::*;

use super::*;
use crate::{DnacprStatus, NewPlan};

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
}

struct World {
    rng: Rng,
    hub: Hub,
    devices: Vec<Device>,
    wire: Vec<Packet>,
    medication_ids: Vec<String>,
    text_tokens: Vec<String>,
}

impl Hub {
    fn handle(&mut self, client: usize, bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                let err = Frame::Error {
                    code: ErrorCode::BadFrame,
                    doc_id: None,
                    message: e.to_string(),
                };
                return vec![(client, err.encode())];
            }
        };
        match frame {
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
                let doc = self.docs.get_mut(&doc_id).expect("hub holds every doc");
                let received = session
                    .receive(doc, &doc_id, epoch, seq, &message)
                    .expect("valid message");
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
            })
            .collect();
        World {
            rng: Rng(seed),
            hub: Hub {
                docs,
                sessions: BTreeMap::new(),
            },
            devices,
            wire: Vec::new(),
            medication_ids: Vec::new(),
            text_tokens: Vec::new(),
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
        let edit = match self.rng.below(4) {
            0 => {
                let id = format!("med-{i}-{n}");
                self.medication_ids.push(id.clone());
                Edit::AddMedication {
                    id,
                    name: format!("Drug {i}.{n}"),
                    dose: "1 tablet".into(),
                    notes: String::new(),
                }
            }
            1 => {
                let status = [
                    DnacprStatus::NotRecorded,
                    DnacprStatus::ForAttemptedCpr,
                    DnacprStatus::DoNotAttemptCpr,
                ][self.rng.below(3)];
                Edit::SetDnacpr { status }
            }
            2 => Edit::SetPreferredPlaceOfCare {
                place: format!("place {i}.{n}"),
            },
            _ => {
                let text = plan.exacerbation_plan.as_str();
                // Insert only at token boundaries so every token stays whole and findable.
                let mut bounds: Vec<usize> = vec![0, text.len()];
                bounds.extend(text.match_indices('[').map(|(p, _)| p));
                let index = bounds[self.rng.below(bounds.len())];
                let token = format!("[d{i}e{n}]");
                self.text_tokens.push(token.clone());
                Edit::SpliceExacerbationPlan {
                    index,
                    delete: 0,
                    insert: token,
                }
            }
        };
        let editor = d.editor.clone();
        d.engine
            .apply(DOC, &edit, &editor, NOW + n as i64)
            .expect("valid edit");
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
            if !self.devices[i].online {
                self.connect(i);
            }
        }
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
        for id in &self.medication_ids {
            assert!(
                hub_plan.medications.iter().any(|m| &m.id == id),
                "medication {id} was lost"
            );
        }
        for token in &self.text_tokens {
            assert!(
                hub_plan.exacerbation_plan.as_str().contains(token.as_str()),
                "text {token} was lost"
            );
        }
    }
}

#[test]
fn two_devices_converge_over_a_hostile_network() {
    for seed in 0..20 {
        let mut world = World::new(seed, 2);
        world.run(600);
        world.assert_converged();
    }
}

proptest! {
    // 48 cases of 2–5 devices and 300–900 steps each; a failure prints its seed, and
    // `World::new(seed, n)` replays it exactly.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn replicas_converge_and_lose_nothing(seed in any::<u64>(), clients in 2usize..=5, steps in 300usize..900) {
        let mut world = World::new(seed, clients);
        world.run(steps);
        world.assert_converged();
    }
}

#[test]
fn duplicates_and_stale_epochs_are_ignored_and_gaps_resync() {
    let editor = Editor {
        user_id: "u".into(),
        user_name: "U".into(),
    };
    let new = NewPlan {
        nhs_number: "9999999468".into(),
        name: "B".into(),
        date_of_birth: "1940-01-01".into(),
        address: String::new(),
    };
    let mut a = PlanDoc::create(ActorId::from(b"a".as_slice()), &new, &editor, NOW).unwrap();
    let mut b = PlanDoc::empty(ActorId::from(b"b".as_slice()));
    let (mut sa, mut sb) = (Session::new(), Session::new());
    let Some(Frame::Sync {
        epoch,
        seq,
        message,
        ..
    }) = sa.generate(a.automerge(), DOC)
    else {
        panic!()
    };
    assert_eq!((epoch, seq), (0, 0));
    assert_eq!(
        sb.receive(b.automerge(), DOC, epoch, seq, &message)
            .unwrap(),
        Received::Applied { changed: false }
    );
    // The same frame again is a duplicate.
    assert_eq!(
        sb.receive(b.automerge(), DOC, 0, 0, &message).unwrap(),
        Received::Ignored
    );
    // Seq 5 when 1 is expected: a gap, so b moves to epoch 1 and asks for a resync.
    assert_eq!(
        sb.receive(b.automerge(), DOC, 0, 5, &message).unwrap(),
        Received::Resync
    );
    let Some(Frame::Sync {
        epoch,
        seq,
        message,
        ..
    }) = sb.generate(b.automerge(), DOC)
    else {
        panic!()
    };
    assert_eq!((epoch, seq), (1, 0));
    // a adopts the new epoch; its old-epoch frames are then stale.
    assert!(matches!(
        sa.receive(a.automerge(), DOC, epoch, seq, &message)
            .unwrap(),
        Received::Applied { .. }
    ));
    assert_eq!(
        sa.receive(a.automerge(), DOC, 0, 1, &message).unwrap(),
        Received::Ignored
    );
    let _ = &mut b;
}

#[test]
fn a_garbled_sync_message_is_an_error_not_a_panic() {
    let mut doc = AutoCommit::new();
    let mut s = Session::new();
    assert!(s.receive(&mut doc, DOC, 0, 0, b"\x42garbage").is_err());
    assert!(doc.get_heads().is_empty());
}

#[test]
fn client_reports_malformed_frames_and_keeps_going() {
    let mut c = ClientEngine::new(ActorId::from(b"c".as_slice()));
    c.connected("t");
    assert!(matches!(c.receive(b"nonsense"), Err(SyncError::Decode(_))));
    c.receive(
        &Frame::Welcome {
            user_id: "u".into(),
            user_name: "U".into(),
            role: "r".into(),
        }
        .encode(),
    )
    .unwrap();
    assert!(c.is_connected());
}
