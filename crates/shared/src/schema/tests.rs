//! Migration: a real version-1 document, saved by the version-1 code, read and upgraded.

use automerge::ActorId;

use crate::{
    ConsentRecipient, DnacprStatus, Edit, Editor, PlanDoc, SCHEMA_VERSION, SafetyField,
    emergency_summary, genesis_change,
};

const V1: &[u8] = include_bytes!("../../tests/fixtures/plan-v1.automerge");
const NOW: i64 = 1_795_960_800_000;

fn editor(name: &str) -> Editor {
    Editor {
        user_id: format!("u-{name}"),
        user_name: name.to_owned(),
    }
}

fn load(actor: &str) -> PlanDoc {
    PlanDoc::load(V1, ActorId::from(actor.as_bytes())).unwrap()
}

#[test]
fn a_version_1_plan_reads_as_it_is_without_writing() {
    let mut doc = load("reader");
    let heads = doc.heads();
    let plan = doc.plan().unwrap();
    assert_eq!(plan.schema_version, 1);
    assert_eq!(plan.patient.name, "Edith Haigh");
    assert_eq!(plan.patient.nhs_number, "9990000018");
    let meds: Vec<&str> = plan.medications.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(meds.len(), 5, "{meds:?}");
    assert!(meds.contains(&"m-apix") && meds.contains(&"m-para"));
    assert!(
        plan.conditions
            .iter()
            .any(|c| c.id == "c-typo" && c.entered_in_error.is_some())
    );
    // Version 1 consent flags become recipients.
    assert!(plan.consent.permits(ConsentRecipient::Ambulance));
    assert!(plan.consent.permits(ConsentRecipient::Mdt));
    assert_eq!(plan.baseline.pulse_bpm, Some(84));
    assert!(
        plan.exacerbation_plan
            .as_str()
            .starts_with("Falls: check for head injury. COPD:")
    );
    assert!(
        plan.exacerbation_plan
            .as_str()
            .ends_with("SpO2 below 88% on air: call 999.")
    );
    // New groups read as empty.
    assert!(plan.allergies.is_empty() && plan.reviews.is_empty() && plan.goals.is_empty());
    assert_eq!(plan.enrolment.status, crate::PlanStatus::Draft);
    assert_eq!(doc.heads(), heads, "reading must not write");
}

#[test]
fn the_silent_version_1_dnacpr_divergence_is_now_reported() {
    let plan = load("reader").plan().unwrap();
    let conflict = plan
        .conflict(SafetyField::Dnacpr)
        .expect("a DNACPR conflict");
    let seen: Vec<(&str, &str)> = conflict
        .values
        .iter()
        .map(|v| (v.recorded.user_name.as_str(), v.label.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("Sam Carter", "DNACPR in place: do not attempt CPR"),
            ("Priya Nair", "For attempted CPR"),
        ]
    );
    let summary = emergency_summary(&plan);
    assert!(summary.resuscitation.conflicting);
    assert_eq!(summary.resuscitation.values.len(), 2);
}

#[test]
fn the_first_edit_migrates_in_its_own_change_and_keeps_everything() {
    let mut doc = load("tablet-new");
    let before = doc.plan().unwrap();
    let changes_before = doc.history().len();
    doc.apply(
        &Edit::AddAllergy {
            id: "a1".into(),
            substance: "Penicillin".into(),
            reaction: "rash".into(),
            severity: crate::AllergySeverity::Moderate,
        },
        &editor("Sam Carter"),
        NOW,
    )
    .unwrap();
    let after = doc.plan().unwrap();
    assert_eq!(after.schema_version, SCHEMA_VERSION);
    assert_eq!(after.allergies.len(), 1);
    assert_eq!(after.medications, before.medications);
    assert_eq!(after.exacerbation_plan, before.exacerbation_plan);
    assert_eq!(
        after.conflicts, before.conflicts,
        "migration resolves nothing"
    );
    // The genesis change plus the edit's own change.
    assert_eq!(doc.history().len(), changes_before + 2);
    assert!(
        doc.automerge()
            .get_change_by_hash(&genesis_change().hash())
            .is_some()
    );
}

#[test]
fn two_tablets_migrating_the_same_old_plan_offline_lose_nothing() {
    let mut a = load("tablet-a");
    let mut b = load("tablet-b");
    let allergy = |id: &str, substance: &str| Edit::AddAllergy {
        id: id.into(),
        substance: substance.into(),
        reaction: String::new(),
        severity: crate::AllergySeverity::Unknown,
    };
    a.apply(&allergy("a1", "Penicillin"), &editor("Sam Carter"), NOW)
        .unwrap();
    b.apply(&allergy("b1", "Latex"), &editor("Priya Nair"), NOW)
        .unwrap();
    b.apply(
        &Edit::SetText {
            target: crate::TextTarget::SelfManagementAdvice,
            text: "Pace activities.".into(),
        },
        &editor("Priya Nair"),
        NOW,
    )
    .unwrap();
    a.automerge().merge(b.automerge()).unwrap();
    let plan = a.plan().unwrap();
    let ids: Vec<&str> = plan.allergies.iter().map(|x| x.id.as_str()).collect();
    assert!(ids.contains(&"a1") && ids.contains(&"b1"), "{ids:?}");
    assert_eq!(plan.self_management_advice.as_str(), "Pace activities.");
    // Both tablets made the same genesis change: it is stored once.
    let genesis = genesis_change().hash();
    let count = a.history().iter().filter(|c| c.hash == genesis).count();
    assert_eq!(count, 1);
}

#[test]
fn resolving_the_inherited_conflict_takes_an_explicit_edit() {
    let mut doc = load("tablet-new");
    // An unrelated edit does not resolve it.
    doc.apply(
        &Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
        &editor("Sam Carter"),
        NOW,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    let conflict = plan.conflict(SafetyField::Dnacpr).unwrap().clone();
    let keep = conflict
        .values
        .iter()
        .find(|v| v.label.starts_with("DNACPR"))
        .unwrap();
    doc.apply(
        &Edit::ResolveConflict {
            field: SafetyField::Dnacpr,
            keep: keep.id.clone(),
        },
        &editor("Dr Patel"),
        NOW + 1,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert!(plan.conflicts.is_empty());
    assert_eq!(plan.dnacpr, DnacprStatus::DoNotAttemptCpr);
    assert_eq!(plan.resuscitation.unwrap().recorded.user_name, "Dr Patel");
}

#[test]
fn the_genesis_change_is_the_same_everywhere() {
    // Its hash is part of every version-2 document: a build that made a different one
    // would split every plan's containers in two. Pinned, so any change to it fails here.
    assert_eq!(
        genesis_change().hash().to_string(),
        "e6d7d122564e83ce60233410adaeeeea4928e3f7dee525ae07e547d83d0702de"
    );
    let a = PlanDoc::create(
        ActorId::from(b"one".as_slice()),
        &crate::NewPlan {
            nhs_number: "9434765919".into(),
            name: "A".into(),
            date_of_birth: "1940-01-01".into(),
            address: String::new(),
        },
        &editor("x"),
        NOW,
    );
    let mut a = a.unwrap();
    assert!(
        a.automerge()
            .get_change_by_hash(&genesis_change().hash())
            .is_some()
    );
}

/// Two tablets naming a case manager at the same time (found by the sync property test
/// once printing joined its random edits): written key by key, the merge could show one
/// tablet's manager attributed to the other tablet's user, which the server refuses as a
/// forged attribution. Each record is now written whole, so it stays one user's.
#[test]
fn concurrent_case_managers_each_stay_with_their_author() {
    let set = |name: &str, phone: &str| Edit::SetCaseManager {
        name: name.into(),
        role: String::new(),
        phone: phone.into(),
    };
    // Either tablet may win the merge (actor order), so both ways round.
    for (first, second) in [("Ann", "Bob"), ("Bob", "Ann")] {
        let mut one = load("tablet-1");
        one.apply(&set("Earlier", ""), &editor(first), NOW).unwrap();
        let mut two = PlanDoc {
            doc: one
                .doc
                .fork()
                .with_actor(ActorId::from(b"tablet-2".as_slice())),
        };
        one.apply(&set(&format!("By {first}"), ""), &editor(first), NOW + 2)
            .unwrap();
        two.apply(
            &set(&format!("By {second}"), "0100"),
            &editor(second),
            NOW + 1,
        )
        .unwrap();
        one.doc.merge(&mut two.doc).unwrap();
        let cm = one.plan().unwrap().enrolment.case_manager.unwrap();
        let expected = if cm.name == format!("By {first}") {
            (format!("u-{first}"), NOW + 2, "")
        } else {
            (format!("u-{second}"), NOW + 1, "0100")
        };
        assert_eq!(
            (
                cm.recorded.user_id.clone(),
                cm.recorded.at_ms,
                cm.phone.as_str()
            ),
            expected,
            "{cm:?}"
        );
    }
}
