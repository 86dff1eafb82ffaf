//! Convergence: replicas over the hostile network and over direct change exchange
//! converge and lose nothing, and the random workload really makes conflicts.

use super::*;

#[test]
fn two_devices_converge_over_a_hostile_network() {
    for seed in 0..8 {
        let mut world = World::new(seed, 2);
        world.run(400);
        world.assert_converged();
    }
}

proptest! {
    // 2–5 devices edit every kind of field and list while a hub relays frames that are
    // dropped, duplicated, reordered and cut off; then the network heals. A failure prints
    // its seed, and `World::new(seed, n).run(steps)` replays it exactly.
    #![proptest_config(config(48))]
    #[test]
    fn replicas_converge_and_lose_nothing(seed in any::<u64>(), clients in 2usize..=5, steps in 200usize..500) {
        let mut world = World::new(seed, clients);
        world.run(steps);
        world.assert_converged();
    }
}

/// Replicas that exchange Automerge changes directly, in rounds: each edits while
/// partitioned, then some pairs exchange changes in random order with drops and
/// duplicates (Automerge queues a change until its dependencies arrive).
struct Partitioned {
    rng: Rng,
    replicas: Vec<(PlanDoc, Editor, usize)>,
    oracle: Oracle,
}

impl Partitioned {
    fn new(seed: u64, n: usize) -> Partitioned {
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
        let mut base =
            PlanDoc::create(ActorId::from(b"hub".as_slice()), &new, &server, NOW).unwrap();
        let replicas = (0..n)
            .map(|i| {
                let doc = PlanDoc::load(
                    &base.save(),
                    ActorId::from(format!("replica-{i}").as_bytes()),
                )
                .unwrap();
                let editor = Editor {
                    user_id: format!("u{i}"),
                    user_name: format!("Nurse {i}"),
                };
                (doc, editor, 0)
            })
            .collect();
        Partitioned {
            rng: Rng(seed),
            replicas,
            oracle: Oracle::default(),
        }
    }

    fn edit(&mut self, i: usize) {
        let (doc, editor, edits) = &mut self.replicas[i];
        *edits += 1;
        let n = *edits;
        let plan = doc.plan().unwrap();
        let Some(edit) = random_edit(&mut self.rng, &plan, i, n, &mut self.oracle) else {
            return;
        };
        let before = register_heads(&doc.doc);
        let deps = doc.heads();
        let at = NOW + n as i64;
        let hash = doc
            .apply(&edit, editor, at)
            .unwrap_or_else(|e| panic!("{edit:?} was refused: {e}"));
        self.oracle.record(doc, hash, deps, &before, editor, at);
    }

    /// Sends what `from` has and `to` lacks, shuffled, dropping and duplicating some.
    fn exchange(&mut self, from: usize, to: usize, drop: u64, duplicate: u64) {
        let mut changes = {
            let (a, b) = if from < to {
                let (l, r) = self.replicas.split_at_mut(to);
                (&mut l[from].0, &mut r[0].0)
            } else {
                let (l, r) = self.replicas.split_at_mut(from);
                (&mut r[0].0, &mut l[to].0)
            };
            b.doc.get_changes_added(&mut a.doc)
        };
        for k in (1..changes.len()).rev() {
            changes.swap(k, self.rng.below(k + 1));
        }
        let doc = &mut self.replicas[to].0.doc;
        for c in changes {
            if self.rng.chance(drop) {
                continue;
            }
            let copies = if self.rng.chance(duplicate) { 2 } else { 1 };
            for _ in 0..copies {
                doc.apply_changes([c.clone()]).unwrap();
            }
        }
    }

    fn run(&mut self, rounds: usize) {
        let n = self.replicas.len();
        for _ in 0..rounds {
            for _ in 0..self.rng.below(3 * n) {
                let i = self.rng.below(n);
                self.edit(i);
            }
            for _ in 0..self.rng.below(n + 1) {
                let (a, b) = (self.rng.below(n), self.rng.below(n));
                if a != b {
                    self.exchange(a, b, 20, 20);
                }
            }
        }
        // Heal: everyone sends everyone everything, duplicates and all, in random order.
        for _ in 0..2 {
            for a in 0..n {
                for b in 0..n {
                    if a != b {
                        self.exchange(a, b, 0, 20);
                    }
                }
            }
        }
    }

    fn assert_converged(&mut self) {
        let mut heads: Vec<Vec<ChangeHash>> = self
            .replicas
            .iter_mut()
            .map(|(d, _, _)| {
                let mut h = d.heads();
                h.sort();
                h
            })
            .collect();
        heads.dedup();
        assert_eq!(heads.len(), 1, "replicas did not converge");
        let plan = self.replicas[0].0.plan().unwrap();
        for (doc, _, _) in &self.replicas[1..] {
            assert_eq!(doc.plan().unwrap(), plan);
        }
        self.oracle.check(&plan);
    }
}

proptest! {
    // Cheaper than the network test, so more cases: 2–5 replicas, 4–12 rounds.
    // `Partitioned::new(seed, n).run(rounds)` replays a failure.
    #![proptest_config(config(192))]
    #[test]
    fn partitioned_replicas_merge_in_any_order(seed in any::<u64>(), replicas in 2usize..=5, rounds in 4usize..12) {
        let mut world = Partitioned::new(seed, replicas);
        world.run(rounds);
        world.assert_converged();
    }
}

#[test]
fn the_random_workload_really_makes_conflicts_and_resolves_them() {
    // Guards the property tests above against passing vacuously.
    let (mut conflicts, mut resolutions) = (0, 0);
    for seed in 0..12 {
        let mut world = Partitioned::new(seed, 3);
        world.run(8);
        world.assert_converged();
        conflicts += world.replicas[0].0.plan().unwrap().conflicts.len();
        resolutions += world.oracle.resolutions;
    }
    assert!(
        conflicts >= 3,
        "only {conflicts} conflicts left standing in the sample"
    );
    assert!(
        resolutions >= 3,
        "only {resolutions} resolutions in the sample"
    );
}
