//! Refused changes: dropped with what was built on them, kept for the clinician, and
//! the device rejoins the server's state.

use super::*;

/// A write rule for the refusal tests: user u1 may not change the plan at all (as when
/// their access ended while their tablet was offline).
fn refuse_u1(_: &mut PlanDoc, change: &automerge::Change) -> bool {
    crate::change_note(change).is_some_and(|n| n.user_id == "u1")
}

/// A write rule for the refusal tests: user u1 may not change the DNACPR decision.
fn refuse_u1_dnacpr(doc: &mut PlanDoc, change: &automerge::Change) -> bool {
    refuse_u1(doc, change) && doc.fields_written(change).contains("dnacpr")
}

/// Runs a hostile-network workload in which the hub refuses every change of user u1
/// (device 1) and checks that everyone ends with the hub's document, nothing refused is
/// on the hub, and device 1 kept every edit it made as a refused change, once. Returns
/// whether device 1 made any edit.
fn refusals_converge(seed: u64, clients: usize, steps: usize) -> bool {
    let mut world = World::new(seed, clients);
    world.hub.refuse = Some(refuse_u1);
    world.run(steps);
    world.assert_same_as_hub();

    let refused_actor = world.devices[1].engine.actor().clone();
    let hub = world.hub.docs.get_mut(DOC).unwrap();
    assert!(
        hub.get_changes(&[])
            .iter()
            .all(|c| c.actor_id() != &refused_actor),
        "seed {seed}: the hub holds a refused change"
    );
    let d = &world.devices[1];
    let mut made: Vec<String> = d.made.iter().map(ToString::to_string).collect();
    let refused = d.engine.refused(DOC);
    let mut kept: Vec<String> = refused.iter().map(|r| r.hash.clone()).collect();
    made.sort();
    kept.sort();
    assert_eq!(kept, made, "seed {seed}: every refused edit is kept, once");
    for r in refused {
        assert_eq!(r.edits.len(), 1, "seed {seed}: {r:?}");
        assert_eq!(r.by.as_ref().map(|b| b.user_id.as_str()), Some("u1"));
        assert!(r.reason.contains("nothing of it was stored"), "{r:?}");
        assert!(!r.fields.is_empty(), "{r:?}");
    }
    for (i, other) in world.devices.iter().enumerate() {
        if i != 1 {
            assert!(other.engine.refused(DOC).is_empty(), "device {i}");
        }
    }
    !d.made.is_empty()
}

#[test]
fn refused_changes_are_dropped_and_kept_and_the_device_rejoins_the_server() {
    // Once looped forever: a `Sync` overtook the snapshot it built on, and the device
    // answered with the same Automerge reset message again and again.
    refusals_converge(17450657030506236491, 3, 357);
    // Device 1 may not receive the plan before a short run ends: most seeds must refuse.
    let refusing = (0..8)
        .filter(|&seed| refusals_converge(seed, 3, 400))
        .count();
    assert!(refusing >= 4, "only {refusing} seeds refused anything");
}

proptest! {
    #![proptest_config(config(12))]
    #[test]
    fn refusals_leave_every_replica_with_the_hubs_plan(seed in any::<u64>(), clients in 2usize..=4, steps in 200usize..500) {
        refusals_converge(seed, clients, steps);
    }
}

#[test]
fn only_the_refused_change_and_what_was_built_on_it_are_dropped_and_can_be_made_again() {
    let mut world = World::new(7, 2);
    world.hub.refuse = Some(refuse_u1_dnacpr);
    for i in 0..2 {
        world.connect(i);
    }
    world.settle();
    let editor = world.devices[1].editor.clone();
    let medication = |id: &str| Edit::AddMedication {
        id: id.into(),
        name: format!("Drug {id}"),
        dose: "1 tablet".into(),
        notes: String::new(),
    };
    let dnacpr = Edit::SetDnacpr {
        status: DnacprStatus::DoNotAttemptCpr,
    };
    // Three edits in a row, sent together: the hub refuses the whole message.
    let engine = &mut world.devices[1].engine;
    engine
        .apply(DOC, &medication("before"), &editor, NOW + 1)
        .unwrap();
    let refused = engine.apply(DOC, &dnacpr, &editor, NOW + 2).unwrap();
    let built_on = engine
        .apply(DOC, &medication("after"), &editor, NOW + 3)
        .unwrap();
    world.collect_from(1);
    world.settle();

    let plan = world.assert_same_as_hub();
    assert!(plan.medications.iter().any(|m| m.id == "before"));
    assert!(!plan.medications.iter().any(|m| m.id == "after"));
    assert_ne!(plan.dnacpr, DnacprStatus::DoNotAttemptCpr);
    assert_eq!(world.hub.refusals, BTreeSet::from([refused]));
    let engine = &mut world.devices[1].engine;
    let kept = engine.refused(DOC).to_vec();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0].hash, refused.to_string());
    assert_eq!(kept[0].edits, vec![dnacpr]);
    assert!(kept[0].reason.starts_with(&format!("change {refused}")));
    assert!(kept[0].fields.contains(&"dnacpr".to_owned()));
    assert_eq!(kept[1].hash, built_on.to_string());
    assert_eq!(kept[1].edits, vec![medication("after")]);
    assert!(
        kept[1]
            .reason
            .starts_with(&format!("built on change {refused}")),
        "{}",
        kept[1].reason
    );

    // The device writes this plan with a new actor from now on, so no sequence number of
    // a dropped change is used again.
    let actor = engine.doc(DOC).unwrap().actor().clone();
    assert_ne!(&actor, engine.actor());

    // The refused edits and the new actor survive a reload of the device.
    let stored = engine.export(DOC).unwrap();
    let mut reloaded = ClientEngine::new(engine.actor().clone());
    reloaded.load(DOC, &stored).unwrap();
    assert_eq!(reloaded.refused(DOC), kept.as_slice());
    assert_eq!(reloaded.doc(DOC).unwrap().actor(), &actor);

    // The clinician makes the medication edit again; it goes through this time.
    let again = kept[1].edits[0].clone();
    engine.apply(DOC, &again, &editor, NOW + 4).unwrap();
    assert!(engine.dismiss_refused(DOC, &kept[1].hash));
    assert!(!engine.dismiss_refused(DOC, &kept[1].hash));
    world.collect_from(1);
    world.settle();
    let plan = world.assert_same_as_hub();
    assert!(plan.medications.iter().any(|m| m.id == "after"));
    let engine = &mut world.devices[1].engine;
    assert_eq!(engine.refused(DOC).len(), 1);
    // Nothing the server acknowledged is kept in the journal.
    let stored = engine.export(DOC).unwrap();
    let local: serde_json::Value = serde_json::from_slice(&stored.local).unwrap();
    assert!(local.get("journal").is_none(), "{local}");
}

#[test]
fn a_stale_refusal_drops_nothing() {
    let mut world = World::new(3, 1);
    for i in 0..1 {
        world.connect(i);
    }
    world.settle();
    let editor = world.devices[0].editor.clone();
    let engine = &mut world.devices[0].engine;
    let hash = engine
        .apply(
            DOC,
            &Edit::SetPreferredPlaceOfCare {
                place: "Home".into(),
            },
            &editor,
            NOW + 1,
        )
        .unwrap();
    world.collect_from(0);
    world.settle();
    assert_eq!(world.devices[0].engine.pending(DOC), 0);
    // A refusal naming a change the server acknowledged (a duplicate from long ago, say).
    let stale = Frame::Error {
        code: ErrorCode::Refused,
        doc_id: Some(DOC.into()),
        message: format!("change {hash} was refused; nothing of it was stored"),
    };
    let engine = &mut world.devices[0].engine;
    engine.receive(&stale.encode()).unwrap();
    assert!(engine.refused(DOC).is_empty());
    assert!(engine.doc_mut(DOC).unwrap().heads().contains(&hash));
    world.collect_from(0);
    world.settle();
    world.assert_converged();
}
