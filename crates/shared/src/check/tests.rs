//! Each rule, met the way a modified client would break it: raw Automerge writes.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use autosurgeon::reconcile_prop;

use super::*;
use crate::decision::AllergyStatement;
use crate::{
    AllergySeverity, Attribution, BaselineObservations, Edit, Editor, EndReason, EntryList, NewPlan,
};

const NOW: i64 = 1_795_960_800_000;
const DAY: i64 = 86_400_000;

fn nurse() -> Editor {
    Editor {
        user_id: "u-nurse".into(),
        user_name: "Nurse Jo".into(),
    }
}

fn who(writer: Writer) -> Submitter<'static> {
    Submitter {
        user_id: "u-nurse",
        writer,
        now_ms: NOW + DAY,
    }
}

/// The committed plan: created, with one allergy and one medication.
fn committed() -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9434765919".into(),
        name: "Ada Example".into(),
        date_of_birth: "1938-02-28".into(),
        address: "1 High Street".into(),
    };
    let mut doc =
        PlanDoc::create(ActorId::from(b"server".as_slice()), &new, &nurse(), NOW).unwrap();
    let edits = [
        Edit::AddAllergy {
            id: "a1".into(),
            substance: "Penicillin".into(),
            reaction: "Rash".into(),
            severity: AllergySeverity::Moderate,
        },
        Edit::AddMedication {
            id: "m1".into(),
            name: "Furosemide".into(),
            dose: "40 mg".into(),
            notes: String::new(),
        },
    ];
    doc.apply_all(&edits, &nurse(), NOW + 1).unwrap();
    doc
}

/// What the server does: apply the device's changes to a copy of the committed plan and
/// check them against the plan as it was.
fn submit(
    server: &mut PlanDoc,
    writer: Writer,
    device: impl FnOnce(&mut PlanDoc),
) -> Result<(), Violation> {
    let committed_heads = server.heads();
    let committed_plan = server.plan().unwrap();
    let mut tablet = PlanDoc::load(&server.save(), ActorId::from(b"tablet".as_slice())).unwrap();
    device(&mut tablet);
    let changes = tablet.automerge().get_changes(&committed_heads);
    assert!(!changes.is_empty(), "the device made no change");
    let mut candidate = PlanDoc::load(&server.save(), ActorId::from(b"server".as_slice())).unwrap();
    candidate
        .automerge()
        .apply_changes(changes.clone())
        .unwrap();
    check_submission(
        &mut candidate,
        &committed_heads,
        &committed_plan,
        &changes,
        &who(writer),
    )
}

fn raw(doc: &mut PlanDoc, write: impl FnOnce(&mut AutoCommit)) {
    let am = doc.automerge();
    write(am);
    am.commit();
}

fn rule(result: Result<(), Violation>) -> Rule {
    result
        .expect_err("the change should have been refused")
        .rule
}

fn list(am: &AutoCommit, key: &str) -> automerge::ObjId {
    am.get(ROOT, key).unwrap().unwrap().1
}

#[test]
fn an_edit_the_app_makes_passes() {
    let mut server = committed();
    let edit = Edit::AddAllergy {
        id: "a2".into(),
        substance: "Latex".into(),
        reaction: "Hives".into(),
        severity: AllergySeverity::Mild,
    };
    submit(&mut server, Writer::CaseManager, |d| {
        d.apply(&edit, &nurse(), NOW + DAY).unwrap();
    })
    .unwrap();
    let mark = Edit::MarkEnteredInError {
        list: EntryList::Allergies,
        id: "a1".into(),
    };
    submit(&mut server, Writer::MdtMember, |d| {
        d.apply(&mark, &nurse(), NOW + DAY).unwrap();
    })
    .unwrap();
}

#[test]
fn deleting_an_entry_is_refused() {
    let mut server = committed();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let allergies = list(am, "allergies");
            am.delete(&allergies, 0).unwrap();
        })
    });
    assert_eq!(rule(result), Rule::EntryRemoved);
}

#[test]
fn taking_back_an_entered_in_error_mark_is_refused() {
    let mut server = committed();
    let mark = Edit::MarkEnteredInError {
        list: EntryList::Medications,
        id: "m1".into(),
    };
    server.apply(&mark, &nurse(), NOW + 2).unwrap();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let meds = list(am, "medications");
            let (_, entry) = am.get(&meds, 0).unwrap().unwrap();
            am.put(&entry, "entered_in_error", ()).unwrap();
        })
    });
    assert_eq!(rule(result), Rule::EntryRemoved);
}

#[test]
fn an_attribution_naming_someone_else_is_refused() {
    let mut server = committed();
    let forger = Editor {
        user_id: "u-consultant".into(),
        user_name: "Dr Somebody Else".into(),
    };
    let edit = Edit::AddMedication {
        id: "m2".into(),
        name: "Morphine".into(),
        dose: "10 mg".into(),
        notes: String::new(),
    };
    let result = submit(&mut server, Writer::CaseManager, |d| {
        d.apply(&edit, &forger, NOW + DAY).unwrap();
    });
    assert_eq!(rule(result), Rule::Attribution);
}

#[test]
fn an_attribution_in_the_future_or_long_past_is_refused() {
    for at in [NOW + 2 * DAY, NOW - 400 * DAY] {
        let mut server = committed();
        let edit = Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        };
        let result = submit(&mut server, Writer::CaseManager, |d| {
            d.apply(&edit, &nurse(), at).unwrap();
        });
        assert_eq!(rule(result), Rule::Attribution, "at {at}");
    }
}

#[test]
fn an_implausible_observation_is_refused() {
    let mut server = committed();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let baseline = BaselineObservations {
                pulse_bpm: Some(800),
                recorded: Some(nurse().at(NOW + DAY)),
                ..BaselineObservations::default()
            };
            am.put_object(ROOT, "baseline", ObjType::Map).unwrap();
            reconcile_prop(am, ROOT, "baseline", &baseline).unwrap();
        })
    });
    let violation = result.unwrap_err();
    assert_eq!(violation.rule, Rule::Plausibility);
    assert!(violation.message.contains("pulse"), "{violation}");
}

#[test]
fn a_future_date_is_refused() {
    let mut server = committed();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let patient = list(am, "patient");
            am.put(&patient, "date_of_birth", "2999-01-01").unwrap();
        })
    });
    assert_eq!(rule(result), Rule::Plausibility);
}

#[test]
fn no_known_allergies_beside_a_listed_allergy_is_refused() {
    let mut server = committed();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let statement = AllergyStatement {
                status: AllergyStatus::NoKnownAllergies,
                recorded: nurse().at(NOW + DAY),
            };
            am.put_object(ROOT, "allergy_status", ObjType::Map).unwrap();
            reconcile_prop(am, ROOT, "allergy_status", &statement).unwrap();
        })
    });
    assert_eq!(rule(result), Rule::Register);
}

#[test]
fn an_mdt_member_writing_a_protected_field_by_raw_key_is_refused() {
    let mut server = committed();
    let result = submit(&mut server, Writer::MdtMember, |d| {
        raw(d, |am| {
            let patient = list(am, "patient");
            am.put(&patient, "name", "Someone Else").unwrap();
        })
    });
    let violation = result.unwrap_err();
    assert_eq!(violation.rule, Rule::WriteScope);
    assert!(
        violation.message.contains("patient identity"),
        "{violation}"
    );
    // The same write by a case manager is theirs to make.
    submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let patient = list(am, "patient");
            am.put(&patient, "name", "Ada Example-Jones").unwrap();
        })
    })
    .unwrap();
}

#[test]
fn a_write_outside_the_plan_is_refused() {
    let mut server = committed();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            am.put(ROOT, "backdoor", "anything").unwrap();
        })
    });
    assert_eq!(rule(result), Rule::WriteScope);
}

#[test]
fn an_nhs_number_must_be_valid_and_ten_digits() {
    for number in ["943 476 5919", "9434765918"] {
        let mut server = committed();
        let result = submit(&mut server, Writer::CaseManager, |d| {
            raw(d, |am| {
                let patient = list(am, "patient");
                am.put(&patient, "nhs_number", number).unwrap();
            })
        });
        assert_eq!(rule(result), Rule::Identity, "{number}");
    }
}

#[test]
fn an_ended_plan_takes_only_entered_in_error_marks() {
    let mut server = committed();
    let end = Edit::EndPlan {
        reason: EndReason::MovedAway,
        date: "2026-11-01".into(),
    };
    server.apply(&end, &nurse(), NOW + 2).unwrap();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            am.put(ROOT, "preferred_place_of_care", "Hospice").unwrap();
        })
    });
    assert_eq!(rule(result), Rule::PlanEnded);
    let mark = Edit::MarkEnteredInError {
        list: EntryList::Allergies,
        id: "a1".into(),
    };
    submit(&mut server, Writer::CaseManager, |d| {
        d.apply(&mark, &nurse(), NOW + DAY).unwrap();
    })
    .unwrap();
}

#[test]
fn a_device_that_was_behind_is_judged_on_what_it_did() {
    let mut server = committed();
    let heads = server.heads();
    let plan = server.plan().unwrap();
    let mut tablet = PlanDoc::load(&server.save(), ActorId::from(b"tablet".as_slice())).unwrap();
    // While the tablet was offline, a colleague added an allergy and changed the place of
    // care; the tablet knows nothing of either.
    let colleague = Editor {
        user_id: "u-colleague".into(),
        user_name: "Nurse Sam".into(),
    };
    let theirs = [
        Edit::AddAllergy {
            id: "a-sam".into(),
            substance: "Aspirin".into(),
            reaction: "Wheeze".into(),
            severity: AllergySeverity::Severe,
        },
        Edit::SetPreferredPlaceOfCare {
            place: "Hospice".into(),
        },
    ];
    server.apply_all(&theirs, &colleague, NOW + 3).unwrap();
    let committed_heads = server.heads();
    let committed_plan = server.plan().unwrap();
    assert_ne!(heads, committed_heads);
    assert_ne!(plan, committed_plan);

    let mine = Edit::AddMedication {
        id: "m-jo".into(),
        name: "Bisoprolol".into(),
        dose: "2.5 mg".into(),
        notes: String::new(),
    };
    tablet.apply(&mine, &nurse(), NOW + DAY).unwrap();
    let changes = tablet.automerge().get_changes(&heads);
    let mut candidate = PlanDoc::load(&server.save(), ActorId::from(b"server".as_slice())).unwrap();
    candidate
        .automerge()
        .apply_changes(changes.clone())
        .unwrap();
    check_submission(
        &mut candidate,
        &committed_heads,
        &committed_plan,
        &changes,
        &who(Writer::CaseManager),
    )
    .unwrap();

    // Had the same tablet deleted the allergy it did see, its own view shows it.
    let mut rogue = PlanDoc::load(&tablet.save(), ActorId::from(b"rogue".as_slice())).unwrap();
    let seen = rogue.heads();
    raw(&mut rogue, |am| {
        let allergies = list(am, "allergies");
        am.delete(&allergies, 0).unwrap();
    });
    let mut changes = tablet.automerge().get_changes(&heads);
    changes.extend(rogue.automerge().get_changes(&seen));
    let mut candidate = PlanDoc::load(&server.save(), ActorId::from(b"server".as_slice())).unwrap();
    candidate
        .automerge()
        .apply_changes(changes.clone())
        .unwrap();
    let result = check_submission(
        &mut candidate,
        &committed_heads,
        &committed_plan,
        &changes,
        &who(Writer::CaseManager),
    );
    assert_eq!(rule(result), Rule::EntryRemoved);
}

#[test]
fn attributions_are_found_wherever_they_are() {
    let plan = committed().plan().unwrap();
    let mut found = HashSet::new();
    attributions(&serde_json::to_value(&plan).unwrap(), &mut found);
    assert!(found.contains(&("u-nurse".to_owned(), NOW + 1)));
    let a = Attribution {
        user_id: "u".into(),
        user_name: "n".into(),
        at_ms: 1,
    };
    let v = serde_json::to_value(&a).unwrap();
    assert!(is_attribution(v.as_object().unwrap()));
}

#[test]
fn keeping_a_colleagues_withdrawal_in_a_consent_conflict_passes() {
    // Found by the sync property test: resolving a consent conflict by keeping a
    // colleague's withdrawal wrote the withdrawal back under the colleague's name.
    let mut server = committed();
    server
        .apply(
            &Edit::SetConsent {
                share_with_mdt: true,
                share_with_emergency_services: true,
            },
            &nurse(),
            NOW + 2,
        )
        .unwrap();
    let mut tablet = PlanDoc::load(&server.save(), ActorId::from(b"tablet".as_slice())).unwrap();
    let colleague = Editor {
        user_id: "u-colleague".into(),
        user_name: "Nurse Sam".into(),
    };
    let withdraw = Edit::WithdrawConsent {
        date: "2026-11-28".into(),
    };
    server.apply(&withdraw, &colleague, NOW + 3).unwrap();
    let narrow = Edit::SetConsent {
        share_with_mdt: true,
        share_with_emergency_services: false,
    };
    tablet.apply(&narrow, &nurse(), NOW + 4).unwrap();
    tablet
        .automerge()
        .merge(&mut server.automerge().clone())
        .unwrap();
    let plan = tablet.plan().unwrap();
    let conflict = plan
        .conflict(crate::SafetyField::Consent)
        .expect("the two consent writes conflict");
    let kept = conflict
        .values
        .iter()
        .find(|v| {
            matches!(&v.value, crate::decision::DecisionValue::Consent(c) if c.withdrawn.is_some())
        })
        .expect("the withdrawal is one side")
        .id
        .clone();
    let resolve = Edit::ResolveConflict {
        field: crate::SafetyField::Consent,
        keep: kept,
    };
    tablet.apply(&resolve, &nurse(), NOW + DAY).unwrap();

    let committed_heads = server.heads();
    let committed_plan = server.plan().unwrap();
    let changes = tablet.automerge().get_changes(&committed_heads);
    let mut candidate = PlanDoc::load(&server.save(), ActorId::from(b"server".as_slice())).unwrap();
    candidate
        .automerge()
        .apply_changes(changes.clone())
        .unwrap();
    check_submission(
        &mut candidate,
        &committed_heads,
        &committed_plan,
        &changes,
        &who(Writer::CaseManager),
    )
    .unwrap();
    let after = candidate.plan().unwrap();
    let withdrawal = after.consent.withdrawn.expect("the withdrawal was kept");
    assert_eq!(withdrawal.recorded.user_id, "u-nurse");
}

#[test]
fn concurrent_updates_of_one_entry_keep_each_attribution_whole() {
    // Found by the sync property test: two clinicians updating the same medication at
    // once merged their attributions field by field (one's name, the other's time), and
    // the server then refused the next honest change as naming someone else.
    let mut server = committed();
    let colleague = Editor {
        user_id: "u-colleague".into(),
        user_name: "Nurse Sam".into(),
    };
    let update = |dose: &str| Edit::UpdateMedication {
        id: "m1".into(),
        name: None,
        dose: Some(dose.into()),
        notes: None,
        location: None,
    };
    // The nurse had updated it before; the colleague then updates it on the server while
    // the nurse, offline, adds medications (which moves her counter ahead) and updates
    // it again. Field by field, her second write touched only the time.
    server.apply(&update("40 mg"), &nurse(), NOW + 5).unwrap();
    let mut tablet = PlanDoc::load(&server.save(), ActorId::from(b"tablet".as_slice())).unwrap();
    server
        .apply(&update("80 mg"), &colleague, NOW + 10)
        .unwrap();
    for id in ["m3", "m4", "m5"] {
        let add = Edit::AddMedication {
            id: id.into(),
            name: "Paracetamol".into(),
            dose: "1 g".into(),
            notes: String::new(),
        };
        tablet.apply(&add, &nurse(), NOW + 15).unwrap();
    }
    tablet.apply(&update("20 mg"), &nurse(), NOW + 20).unwrap();
    let mut merged = PlanDoc::load(&tablet.save(), ActorId::from(b"merged".as_slice())).unwrap();
    merged
        .automerge()
        .merge(&mut server.automerge().clone())
        .unwrap();
    let updated = merged.plan().unwrap().medications[0]
        .updated
        .clone()
        .expect("updated");
    let whole = [("u-colleague", NOW + 10), ("u-nurse", NOW + 20)];
    assert!(
        whole.contains(&(updated.user_id.as_str(), updated.at_ms)),
        "a mixed attribution: {updated:?}"
    );

    // The tablet, having merged, writes on: judged on its own view, it passes.
    let committed_heads = server.heads();
    let committed_plan = server.plan().unwrap();
    tablet
        .automerge()
        .merge(&mut server.automerge().clone())
        .unwrap();
    let next = Edit::AddMedication {
        id: "m2".into(),
        name: "Bisoprolol".into(),
        dose: "2.5 mg".into(),
        notes: String::new(),
    };
    tablet.apply(&next, &nurse(), NOW + DAY).unwrap();
    let changes = tablet.automerge().get_changes(&committed_heads);
    let mut candidate = PlanDoc::load(&server.save(), ActorId::from(b"server".as_slice())).unwrap();
    candidate
        .automerge()
        .apply_changes(changes.clone())
        .unwrap();
    check_submission(
        &mut candidate,
        &committed_heads,
        &committed_plan,
        &changes,
        &who(Writer::CaseManager),
    )
    .unwrap();
}

mod completion;
