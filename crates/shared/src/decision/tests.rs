//! Safety-critical fields under concurrent edits: never a silent last-writer-wins.

use automerge::ActorId;

use crate::{
    AdmissionWish, AllergySeverity, AllergyStatus, ConsentGivenBy, ConsentRecipient, DnacprStatus,
    Edit, Editor, NewPlan, PlanDoc, SafetyField, TreatmentCeiling, emergency_summary,
};

const NOW: i64 = 1_795_960_800_000;

fn editor(n: u8) -> Editor {
    Editor {
        user_id: format!("u{n}"),
        user_name: format!("Nurse {n}"),
    }
}

fn base() -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9434765919".into(),
        name: "Ada Example".into(),
        date_of_birth: "1938-02-28".into(),
        address: "1 High Street".into(),
    };
    PlanDoc::create(ActorId::from(b"server".as_slice()), &new, &editor(0), NOW).unwrap()
}

fn fork(doc: &mut PlanDoc, actor: &str) -> PlanDoc {
    PlanDoc {
        doc: doc.doc.fork().with_actor(ActorId::from(actor.as_bytes())),
    }
}

/// Two tablets apply `a` and `b` concurrently; returns the merged document.
fn diverge(setup: &[Edit], a: &Edit, b: &Edit) -> PlanDoc {
    let mut doc = base();
    for e in setup {
        doc.apply(e, &editor(0), NOW).unwrap();
    }
    let mut ta = fork(&mut doc, "tablet-a");
    let mut tb = fork(&mut doc, "tablet-b");
    ta.apply(a, &editor(1), NOW + 1_000).unwrap();
    tb.apply(b, &editor(2), NOW + 2_000).unwrap();
    ta.doc.merge(&mut tb.doc).unwrap();
    tb.doc.merge(&mut ta.doc).unwrap();
    assert_eq!(ta.plan().unwrap(), tb.plan().unwrap(), "replicas converge");
    ta
}

fn cases() -> Vec<(SafetyField, Edit, Edit)> {
    vec![
        (
            SafetyField::Dnacpr,
            Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
            Edit::SetDnacpr {
                status: DnacprStatus::ForAttemptedCpr,
            },
        ),
        (
            SafetyField::CeilingOfTreatment,
            Edit::SetCeilingOfTreatment {
                ceiling: TreatmentCeiling::WardBasedCare,
                notes: String::new(),
            },
            Edit::SetCeilingOfTreatment {
                ceiling: TreatmentCeiling::ComfortCareOnly,
                notes: String::new(),
            },
        ),
        (
            SafetyField::AdmissionWanted,
            Edit::SetAdmissionWanted {
                wanted: AdmissionWish::Wanted,
                notes: String::new(),
            },
            Edit::SetAdmissionWanted {
                wanted: AdmissionWish::NotWanted,
                notes: String::new(),
            },
        ),
        (
            SafetyField::PreferredPlaceOfDeath,
            Edit::SetPreferredPlaceOfDeath {
                place: "Home".into(),
            },
            Edit::SetPreferredPlaceOfDeath {
                place: "Hospice".into(),
            },
        ),
        (
            SafetyField::Allergies,
            Edit::RecordNoKnownAllergies,
            Edit::AddAllergy {
                id: "a1".into(),
                substance: "Penicillin".into(),
                reaction: "anaphylaxis".into(),
                severity: AllergySeverity::Severe,
            },
        ),
        (
            SafetyField::Consent,
            Edit::SetConsent {
                share_with_mdt: true,
                share_with_emergency_services: true,
            },
            Edit::WithdrawConsent {
                date: "2026-11-28".into(),
            },
        ),
    ]
}

fn consent_first() -> Vec<Edit> {
    vec![Edit::SetConsent {
        share_with_mdt: true,
        share_with_emergency_services: false,
    }]
}

#[test]
fn every_safety_field_set_differently_at_once_keeps_both_with_who_and_when() {
    for (field, a, b) in cases() {
        let doc = diverge(&consent_first(), &a, &b);
        let plan = doc.plan().unwrap();
        let conflict = plan
            .conflict(field)
            .unwrap_or_else(|| panic!("{field} conflict not reported"));
        let who: Vec<(&str, i64)> = conflict
            .values
            .iter()
            .map(|v| (v.recorded.user_name.as_str(), v.recorded.at_ms))
            .collect();
        assert_eq!(
            who,
            [("Nurse 1", NOW + 1_000), ("Nurse 2", NOW + 2_000)],
            "{field}"
        );
        assert_ne!(conflict.values[0].label, conflict.values[1].label);
        assert_eq!(doc.conflicts().unwrap(), plan.conflicts);

        // The summary shows both values, marked, and the headline names the field.
        let summary = emergency_summary(&plan);
        let item = match field {
            SafetyField::Dnacpr => &summary.resuscitation,
            SafetyField::Allergies => &summary.allergies,
            SafetyField::CeilingOfTreatment => &summary.ceiling_of_treatment,
            SafetyField::AdmissionWanted => &summary.admission_wanted,
            SafetyField::PreferredPlaceOfDeath => &summary.preferred_place_of_death,
            SafetyField::Consent => &summary.consent,
        };
        assert!(item.conflicting, "{field}");
        assert_eq!(item.values.len(), 2, "{field}");
        let text = crate::render_text(&summary);
        assert!(text.contains("CONFLICTING ENTRIES"), "{field}:\n{text}");
        for v in &conflict.values {
            assert!(text.contains(&v.label), "{field}: {} missing", v.label);
        }
        assert!(
            plan.completion_problems()
                .contains(&crate::CompletionProblem::UnresolvedConflict(field))
        );
    }
}

#[test]
fn the_same_value_set_twice_at_once_is_not_a_conflict() {
    let edit = Edit::SetCeilingOfTreatment {
        ceiling: TreatmentCeiling::WardBasedCare,
        notes: String::new(),
    };
    let plan = diverge(&[], &edit, &edit).plan().unwrap();
    assert!(plan.conflicts.is_empty());
    assert_eq!(
        plan.ceiling_of_treatment.unwrap().ceiling,
        TreatmentCeiling::WardBasedCare
    );
    // Two allergies added at once both say "allergies recorded": no conflict, both kept.
    let add = |id: &str| Edit::AddAllergy {
        id: id.into(),
        substance: id.into(),
        reaction: String::new(),
        severity: AllergySeverity::Unknown,
    };
    let plan = diverge(&[], &add("x"), &add("y")).plan().unwrap();
    assert!(plan.conflicts.is_empty());
    assert_eq!(plan.active_allergies().count(), 2);
    assert_eq!(plan.allergy_status(), AllergyStatus::AllergiesRecorded);
}

#[test]
fn unrelated_edits_never_resolve_a_conflict() {
    for (field, a, b) in cases() {
        let mut doc = diverge(&consent_first(), &a, &b);
        let unrelated = [
            Edit::SetPreferredPlaceOfCare {
                place: "Home".into(),
            },
            Edit::AddMedication {
                id: "m".into(),
                name: "Furosemide".into(),
                dose: String::new(),
                notes: String::new(),
            },
            Edit::SetCaseManager {
                name: "Sam".into(),
                role: String::new(),
                phone: String::new(),
            },
        ];
        for e in &unrelated {
            doc.apply(e, &editor(3), NOW + 5_000).unwrap();
        }
        assert!(doc.plan().unwrap().conflict(field).is_some(), "{field}");
    }
}

#[test]
fn resolving_keeps_the_chosen_value_as_the_resolvers_decision() {
    for (field, a, b) in cases() {
        let mut doc = diverge(&consent_first(), &a, &b);
        let plan = doc.plan().unwrap();
        let chosen = plan.conflict(field).unwrap().values[1].clone();
        doc.apply(
            &Edit::ResolveConflict {
                field,
                keep: chosen.id.clone(),
            },
            &editor(9),
            NOW + 9_000,
        )
        .unwrap();
        let plan = doc.plan().unwrap();
        assert!(plan.conflicts.is_empty(), "{field}: {:?}", plan.conflicts);
        let summary = emergency_summary(&plan);
        assert!(summary.conflicts.is_empty());
        match field {
            SafetyField::Dnacpr => assert_eq!(plan.dnacpr, DnacprStatus::ForAttemptedCpr),
            SafetyField::Allergies => {
                assert_eq!(plan.allergy_status(), AllergyStatus::AllergiesRecorded)
            }
            SafetyField::CeilingOfTreatment => assert_eq!(
                plan.ceiling_of_treatment.as_ref().unwrap().ceiling,
                TreatmentCeiling::ComfortCareOnly
            ),
            SafetyField::AdmissionWanted => assert_eq!(
                plan.admission_wanted.as_ref().unwrap().wanted,
                AdmissionWish::NotWanted
            ),
            SafetyField::PreferredPlaceOfDeath => {
                assert_eq!(
                    plan.preferred_place_of_death.as_ref().unwrap().place,
                    "Hospice"
                )
            }
            SafetyField::Consent => assert!(plan.consent.withdrawn.is_some()),
        }
        // Resolving again, or an unknown value, is refused.
        let again = doc.apply(
            &Edit::ResolveConflict {
                field,
                keep: chosen.id.clone(),
            },
            &editor(9),
            NOW + 9_500,
        );
        assert_eq!(
            again.unwrap_err().to_string(),
            format!("there is no conflict on {field} to resolve")
        );
    }
}

#[test]
fn setting_the_field_again_after_seeing_the_conflict_also_resolves_it() {
    let (_, a, b) = cases().remove(0);
    let mut doc = diverge(&[], &a, &b);
    doc.apply(
        &Edit::SetResuscitation {
            status: DnacprStatus::DoNotAttemptCpr,
            respect_form: true,
            decision_date: Some("2026-11-20".into()),
            decided_by: "Dr Okafor".into(),
            original_location: "red folder".into(),
        },
        &editor(3),
        NOW + 3_000,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert!(plan.conflicts.is_empty());
    assert_eq!(plan.resuscitation.unwrap().decided_by, "Dr Okafor");
}

#[test]
fn a_late_concurrent_set_reopens_the_conflict() {
    // A resolves while B, offline, still sets its own value: B never saw the resolution.
    let (_, a, b) = cases().remove(0);
    let mut doc = diverge(&[], &a, &b);
    let mut offline = fork(&mut doc, "tablet-c");
    let keep = doc.plan().unwrap().conflicts[0].values[0].id.clone();
    doc.apply(
        &Edit::ResolveConflict {
            field: SafetyField::Dnacpr,
            keep,
        },
        &editor(1),
        NOW + 5_000,
    )
    .unwrap();
    offline
        .apply(
            &Edit::SetDnacpr {
                status: DnacprStatus::NotRecorded,
            },
            &editor(4),
            NOW + 6_000,
        )
        .unwrap();
    doc.doc.merge(&mut offline.doc).unwrap();
    let plan = doc.plan().unwrap();
    let values = &plan.conflict(SafetyField::Dnacpr).unwrap().values;
    assert_eq!(values.len(), 2);
}

#[test]
fn conflicting_consent_shares_only_what_every_value_allows() {
    let plan = diverge(
        &[],
        &Edit::RecordConsent {
            recipients: vec![ConsentRecipient::Mdt, ConsentRecipient::Ambulance],
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: "2026-11-01".into(),
        },
        &Edit::RecordConsent {
            recipients: vec![
                ConsentRecipient::Ambulance,
                ConsentRecipient::VoluntarySector,
            ],
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: "2026-11-01".into(),
        },
    )
    .plan()
    .unwrap();
    assert!(plan.conflict(SafetyField::Consent).is_some());
    assert_eq!(plan.consent.recipients, [ConsentRecipient::Ambulance]);
    assert!(plan.consent.share_with_emergency_services);
    assert!(!plan.consent.share_with_mdt);

    // A withdrawal on either side stops all sharing at once.
    let plan = diverge(
        &consent_first(),
        &Edit::SetConsent {
            share_with_mdt: true,
            share_with_emergency_services: true,
        },
        &Edit::WithdrawConsent {
            date: "2026-11-28".into(),
        },
    )
    .plan()
    .unwrap();
    assert!(plan.consent.withdrawn.is_some());
    assert!(!plan.consent.share_with_emergency_services && !plan.consent.share_with_mdt);
    assert!(
        ConsentRecipient::ALL
            .iter()
            .all(|r| !plan.consent.permits(*r))
    );
    assert!(!emergency_summary(&plan).consent_to_emergency_sharing);
}

#[test]
fn no_known_allergies_is_refused_while_allergies_are_listed() {
    let mut doc = base();
    doc.apply(
        &Edit::AddAllergy {
            id: "a1".into(),
            substance: "Latex".into(),
            reaction: String::new(),
            severity: AllergySeverity::Mild,
        },
        &editor(1),
        NOW,
    )
    .unwrap();
    let err = doc
        .apply(&Edit::RecordNoKnownAllergies, &editor(1), NOW)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no known allergies cannot be recorded while allergies are listed"
    );
    // Once the only allergy is marked entered-in-error, the plan says nothing about
    // allergies until someone records a statement.
    doc.apply(
        &Edit::MarkEnteredInError {
            list: crate::EntryList::Allergies,
            id: "a1".into(),
        },
        &editor(1),
        NOW,
    )
    .unwrap();
    assert_eq!(
        doc.plan().unwrap().allergy_status(),
        AllergyStatus::NotRecorded
    );
    doc.apply(&Edit::RecordNoKnownAllergies, &editor(1), NOW)
        .unwrap();
    assert_eq!(
        doc.plan().unwrap().allergy_status(),
        AllergyStatus::NoKnownAllergies
    );
}

#[test]
fn marking_the_last_allergy_in_error_while_another_is_added_is_not_a_conflict() {
    let plan = diverge(
        &[Edit::AddAllergy {
            id: "a1".into(),
            substance: "Latex".into(),
            reaction: String::new(),
            severity: AllergySeverity::Mild,
        }],
        &Edit::MarkEnteredInError {
            list: crate::EntryList::Allergies,
            id: "a1".into(),
        },
        &Edit::AddAllergy {
            id: "a2".into(),
            substance: "Codeine".into(),
            reaction: String::new(),
            severity: AllergySeverity::Moderate,
        },
    )
    .plan()
    .unwrap();
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert_eq!(plan.allergy_status(), AllergyStatus::AllergiesRecorded);
    let live: Vec<&str> = plan
        .active_allergies()
        .map(|a| a.substance.as_str())
        .collect();
    assert_eq!(live, ["Codeine"]);
}
