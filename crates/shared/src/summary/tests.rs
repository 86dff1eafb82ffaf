//! Emergency summary tests: a projection check and data-driven snapshots.

use super::*;
use crate::{ActorId, DnacprStatus, Edit, Editor, NewPlan, PlanDoc};

#[test]
fn summary_shows_what_a_crew_needs() {
    let editor = Editor {
        user_id: "u1".into(),
        user_name: "Nurse One".into(),
    };
    let now = 1_795_960_800_000;
    let new = NewPlan {
        nhs_number: "9999999468".into(),
        name: "Bert Example".into(),
        date_of_birth: "1941-06-01".into(),
        address: "2 Low Road".into(),
    };
    let mut doc = PlanDoc::create(ActorId::from(b"s".as_slice()), &new, &editor, now).unwrap();
    let edits = [
        Edit::SetConsent {
            share_with_mdt: true,
            share_with_emergency_services: true,
        },
        Edit::AddCondition {
            id: "c1".into(),
            name: "COPD".into(),
            treatment: "Inhalers".into(),
        },
        Edit::AddMedication {
            id: "m1".into(),
            name: "Salbutamol".into(),
            dose: "2 puffs PRN".into(),
            notes: String::new(),
        },
        Edit::AddContact {
            id: "k1".into(),
            role: "next of kin".into(),
            name: "Cara Example".into(),
            phone: "01234 567890".into(),
        },
        Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        },
        Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
        Edit::SetExacerbationPlan {
            text: "Rescue pack in kitchen drawer.".into(),
        },
        Edit::SetBaseline {
            pulse_bpm: Some(88),
            systolic_mmhg: Some(132),
            diastolic_mmhg: Some(78),
            respiratory_rate: Some(20),
            spo2_percent: Some(91),
            temperature_decidegrees: Some(368),
        },
    ];
    for e in &edits {
        doc.apply(e, &editor, now).unwrap();
    }
    let s = emergency_summary(&doc.plan().unwrap());
    let rendered = serde_json::to_string(&(
        &s.nhs_number_display,
        &s.name,
        &s.dnacpr_label,
        &s.preferred_place_of_care,
        &s.conditions,
        &s.medications,
        &s.key_contacts,
        &s.baseline.lines,
        &s.exacerbation_plan,
        s.consent_to_emergency_sharing,
        &s.last_updated.as_ref().map(|a| &a.user_name),
    ))
    .unwrap();
    assert_eq!(
        rendered,
        r#"["999 999 9468","Bert Example","DNACPR in place: do not attempt CPR","Home",[{"name":"COPD","treatment":"Inhalers"}],[{"name":"Salbutamol","dose":"2 puffs PRN","notes":"","anticipatory":false,"location":""}],[{"role":"next of kin","name":"Cara Example","phone":"01234 567890"}],["Pulse 88 /min","BP 132/78 mmHg","Respiratory rate 20 /min","SpO2 91%","Temperature 36.8 °C"],"Rescue pack in kitchen drawer.",true,"Nurse One"]"#
    );
}

// Data-driven snapshots: each plan's printed summary is kept in `snapshots/NAME.txt`.
// Run with UPDATE_EXPECT=1 to rewrite them after an intended change, then read the diff.

use crate::{
    AdmissionWish, AllergySeverity, CareFocus, CohortCategory, ConsentGivenBy, ConsentRecipient,
    EndReason, Relationship, Residence, Sex, TeamContactKind, TextTarget, Tier, TreatmentCeiling,
};

const NOW: i64 = 1_795_960_800_000; // 2026-11-29T14:00Z
const HOUR: i64 = 3_600_000;

fn nurse(id: &str, name: &str) -> Editor {
    Editor {
        user_id: id.into(),
        user_name: name.into(),
    }
}

fn created(actor: &str) -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9990000018".into(),
        name: "Edith Haigh".into(),
        date_of_birth: "1936-07-14".into(),
        address: "12 Moorgate, Rotherham S60 2AB".into(),
    };
    PlanDoc::create(
        ActorId::from(actor.as_bytes()),
        &new,
        &nurse("u-sam", "Sam Carter"),
        NOW - 48 * HOUR,
    )
    .unwrap()
}

/// Every group of the plan filled in, as after a first home visit.
fn full_edits() -> Vec<Edit> {
    vec![
        Edit::SetPatientDetails {
            preferred_name: "Edie".into(),
            sex: Some(Sex::Female),
            phone: "01632 960123".into(),
            access_notes: "Key safe 4821 by the back door; dog friendly".into(),
            residence: Some(Residence::OwnHome),
            gp_practice_ods: "Y99901".into(),
            gp_practice_name: "Ashbridge Medical Practice".into(),
            named_gp: "Dr Okafor".into(),
            communication_needs: "Hard of hearing: speak on her left side".into(),
            interpreter_language: String::new(),
        },
        Edit::SetEnrolment {
            cohort: Some(CohortCategory::RiskTool),
            tier: Some(Tier::Severe),
            start_date: Some("2026-11-20".into()),
            review_interval_months: None,
        },
        Edit::SetCaseManager {
            name: "Sam Carter".into(),
            role: "community matron".into(),
            phone: "01632 960001".into(),
        },
        Edit::AddCareTeamMember {
            id: "t-dn".into(),
            kind: TeamContactKind::Member,
            role: "district nurse".into(),
            name: "Jo Firth".into(),
            organisation: "Rotherham Community Health".into(),
            phone: "01632 960010".into(),
            hours: "08:00–18:00".into(),
        },
        Edit::AddCareTeamMember {
            id: "t-bypass".into(),
            kind: TeamContactKind::GpBypass,
            role: "GP bypass".into(),
            name: String::new(),
            organisation: "Ashbridge Medical Practice".into(),
            phone: "01632 960002".into(),
            hours: "08:00–18:30".into(),
        },
        Edit::AddCareTeamMember {
            id: "t-ooh".into(),
            kind: TeamContactKind::OutOfHours,
            role: "out-of-hours GP".into(),
            name: String::new(),
            organisation: "Rotherham OOH".into(),
            phone: "111".into(),
            hours: String::new(),
        },
        Edit::AddPersonalContact {
            id: "k-carer".into(),
            relationship: Relationship::MainCarer,
            name: "Carol Haigh (daughter)".into(),
            phone: "07700 900123".into(),
        },
        Edit::AddPersonalContact {
            id: "k-lpa".into(),
            relationship: Relationship::LpaHealthAndWelfare,
            name: "Carol Haigh".into(),
            phone: "07700 900123".into(),
        },
        Edit::RecordConsent {
            recipients: vec![
                ConsentRecipient::Mdt,
                ConsentRecipient::OutOfHours,
                ConsentRecipient::Ambulance,
                ConsentRecipient::EmergencyDepartment,
            ],
            given_by: ConsentGivenBy::Patient,
            capacity_note: "Has capacity for this decision".into(),
            consent_date: "2026-11-20".into(),
        },
        Edit::AddCondition {
            id: "c-copd".into(),
            name: "COPD".into(),
            treatment: "Salbutamol PRN, tiotropium daily".into(),
        },
        Edit::AddCondition {
            id: "c-hf".into(),
            name: "Heart failure (HFrEF)".into(),
            treatment: "Bisoprolol, ramipril, furosemide".into(),
        },
        Edit::AddCondition {
            id: "c-wrong".into(),
            name: "Asthma".into(),
            treatment: String::new(),
        },
        Edit::MarkEnteredInError {
            list: crate::EntryList::Conditions,
            id: "c-wrong".into(),
        },
        Edit::AddMedication {
            id: "m-furo".into(),
            name: "Furosemide".into(),
            dose: "40 mg OD".into(),
            notes: String::new(),
        },
        Edit::AddAnticipatoryMedication {
            id: "m-midaz".into(),
            name: "Midazolam".into(),
            dose: "2.5 mg SC PRN".into(),
            location: "just-in-case box, kitchen shelf".into(),
            notes: String::new(),
        },
        Edit::AddAllergy {
            id: "a-pen".into(),
            substance: "Penicillin".into(),
            reaction: "anaphylaxis".into(),
            severity: AllergySeverity::Severe,
        },
        Edit::RecordBaseline {
            observed_on: "2026-11-27".into(),
            pulse_bpm: Some(84),
            systolic_mmhg: Some(134),
            diastolic_mmhg: Some(78),
            respiratory_rate: Some(20),
            spo2_percent: Some(92),
            temperature_decidegrees: Some(366),
            peak_flow_l_min: Some(210),
            weight_decikg: Some(612),
            known_af: Some(true),
            usual_cognition: "Alert, mild memory loss".into(),
            usual_mobility: "Frame indoors, wheelchair outside".into(),
        },
        Edit::AddEscalationPlan {
            id: "e-copd".into(),
            condition: "COPD".into(),
            plan: "More breathless or sputum colour change: start rescue pack, tell the practice the same day. SpO2 below 88% on air: call 999.".into(),
            rescue_pack: "amoxicillin and prednisolone, kitchen drawer".into(),
        },
        Edit::SetText {
            target: TextTarget::SelfManagementAdvice,
            text: "Pace activities; use the fan for breathlessness.".into(),
        },
        Edit::AddGoal {
            id: "g1".into(),
            what_matters: "Staying at home with her dog".into(),
            goal: "Stay at home rather than hospital".into(),
            owner: "Sam Carter".into(),
        },
        Edit::SetResuscitation {
            status: crate::DnacprStatus::DoNotAttemptCpr,
            respect_form: true,
            decision_date: Some("2026-11-21".into()),
            decided_by: "Dr Okafor".into(),
            original_location: "red folder, front pocket".into(),
        },
        Edit::SetAdrt {
            in_place: true,
            details: "Refuses mechanical ventilation".into(),
            original_location: "red folder".into(),
        },
        Edit::SetFocusOfCare {
            focus: Some(CareFocus::Comfort),
            notes: "Treat reversible causes at home where possible".into(),
            prognosis: "Months".into(),
        },
        Edit::SetCeilingOfTreatment {
            ceiling: TreatmentCeiling::CommunityCare,
            notes: String::new(),
        },
        Edit::SetAdmissionWanted {
            wanted: AdmissionWish::NotWanted,
            notes: "unless a hip fracture".into(),
        },
        Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
        Edit::SetPreferredPlaceOfDeath {
            place: "Home".into(),
        },
    ]
}

fn full() -> PlanDoc {
    let mut doc = created("server");
    let sam = nurse("u-sam", "Sam Carter");
    let mut edits = full_edits();
    edits.extend(crate::testkit::completion(&doc, &edits, &sam, NOW - 24 * HOUR).unwrap());
    doc.apply_all(&edits, &sam, NOW - 24 * HOUR).unwrap();
    doc
}

/// `full`, then three replicas that set DNACPR, allergies and place of death differently.
fn conflicting() -> PlanDoc {
    let mut doc = full();
    let mut a = PlanDoc {
        doc: doc
            .doc
            .fork()
            .with_actor(ActorId::from(b"tablet-a".as_slice())),
    };
    let mut b = PlanDoc {
        doc: doc
            .doc
            .fork()
            .with_actor(ActorId::from(b"tablet-b".as_slice())),
    };
    let priya = nurse("u-priya", "Priya Nair");
    let jo = nurse("u-jo", "Jo Firth");
    a.apply_all(
        &[
            Edit::SetDnacpr {
                status: crate::DnacprStatus::ForAttemptedCpr,
            },
            Edit::MarkEnteredInError {
                list: crate::EntryList::Allergies,
                id: "a-pen".into(),
            },
            Edit::RecordNoKnownAllergies,
        ],
        &priya,
        NOW - 2 * HOUR,
    )
    .unwrap();
    b.apply_all(
        &[
            Edit::SetResuscitation {
                status: crate::DnacprStatus::DoNotAttemptCpr,
                respect_form: true,
                decision_date: Some("2026-11-21".into()),
                decided_by: "Dr Okafor".into(),
                original_location: "taken to hospital with the patient".into(),
            },
            Edit::AddAllergy {
                id: "a-latex".into(),
                substance: "Latex".into(),
                reaction: "rash".into(),
                severity: AllergySeverity::Mild,
            },
        ],
        &jo,
        NOW - 90 * 60_000,
    )
    .unwrap();
    b.apply(
        &Edit::SetPreferredPlaceOfDeath {
            place: "Hospice".into(),
        },
        &nurse("u-jo", "Jo Firth"),
        NOW - HOUR,
    )
    .unwrap();
    doc.apply(
        &Edit::SetPreferredPlaceOfDeath {
            place: "Home, with family".into(),
        },
        &nurse("u-sam", "Sam Carter"),
        NOW - HOUR,
    )
    .unwrap();
    doc.doc.merge(&mut a.doc).unwrap();
    doc.doc.merge(&mut b.doc).unwrap();
    doc
}

fn ended() -> PlanDoc {
    let mut doc = full();
    doc.apply(
        &Edit::EndPlan {
            reason: EndReason::MovedAway,
            date: "2026-11-29".into(),
        },
        &nurse("u-sam", "Sam Carter"),
        NOW,
    )
    .unwrap();
    doc
}

fn version_1() -> PlanDoc {
    PlanDoc::load(
        include_bytes!("../../tests/fixtures/plan-v1.automerge"),
        ActorId::from(b"reader".as_slice()),
    )
    .unwrap()
}

fn plans() -> Vec<(&'static str, PlanDoc)> {
    vec![
        ("new", created("server")),
        ("full", full()),
        ("conflicting", conflicting()),
        ("ended", ended()),
        ("version-1", version_1()),
    ]
}

#[test]
fn printed_summaries_match_their_snapshots() {
    for (name, doc) in plans() {
        let summary = emergency_summary(&doc.plan().unwrap());
        expect_test::expect_file![format!("snapshots/{name}.txt")]
            .assert_eq(&render_text(&summary));
    }
    let summary = emergency_summary(&full().plan().unwrap());
    expect_test::expect_file!["snapshots/full.html"].assert_eq(&render_html(&summary));
}

#[test]
fn the_summary_follows_the_domain_order() {
    let text = render_text(&emergency_summary(&full().plan().unwrap()));
    let order = [
        "1. PATIENT",
        "2. RESUSCITATION AND LEGAL DECISIONS",
        "DNACPR/ReSPECT",
        "ADRT",
        "LPA",
        "3. TREATMENT AND ESCALATION",
        "Focus of care",
        "Ceiling of treatment",
        "Hospital admission",
        "COPD: More breathless",
        "4. PREFERRED PLACES OF CARE AND DEATH",
        "5. KEY CONTACTS",
        "main carer",
        "case manager",
        "GP bypass",
        "out-of-hours",
        "access / key safe",
        "6. PROBLEMS AND PROGNOSIS",
        "Prognosis",
        "7. MEDICATIONS",
        "[ANTICIPATORY]",
        "8. ALLERGIES",
        "9. BASELINE OBSERVATIONS",
        "Usual cognition",
        "Usual mobility",
        "10. COMMUNICATION NEEDS",
        "11. ABOUT THIS PLAN",
        "Last updated",
        "Next review due",
        "Consent",
        "Plan version",
    ];
    let mut from = 0;
    for item in order {
        let at = text[from..]
            .find(item)
            .unwrap_or_else(|| panic!("{item:?} missing or out of order in\n{text}"));
        from += at + item.len();
    }
    // Entered-in-error entries are not printed.
    assert!(!text.contains("Asthma"));
}

#[test]
fn a_busy_plan_still_fits_two_a4_pages() {
    // Two A4 pages at 9 pt hold about 140 lines of 100 characters; long free text is cut.
    let mut doc = full();
    let long = "Breathless on exertion, worse at night. ".repeat(60);
    doc.apply_all(
        &[
            Edit::SetText {
                target: TextTarget::ExacerbationPlan,
                text: long.clone(),
            },
            Edit::SetText {
                target: TextTarget::EscalationPlan {
                    id: "e-copd".into(),
                },
                text: long,
            },
        ],
        &nurse("u-sam", "Sam Carter"),
        NOW,
    )
    .unwrap();
    for p in crate::testkit::caseload(30, 1) {
        let plan = p
            .build(ActorId::from(b"x".as_slice()))
            .unwrap()
            .plan()
            .unwrap();
        let lines = wrapped_lines(&render_text(&emergency_summary(&plan)));
        assert!(lines <= 140, "{} takes {lines} lines", p.id);
    }
    let text = render_text(&emergency_summary(&doc.plan().unwrap()));
    assert!(text.contains("(full text in the red folder)"));
    let lines = wrapped_lines(&text);
    assert!(lines <= 140, "{lines} lines:\n{text}");
}

fn wrapped_lines(text: &str) -> usize {
    text.lines()
        .map(|l| l.chars().count().div_ceil(100).max(1))
        .sum()
}

/// `full`, then two tablets that each set `field` without seeing the other: `a` and `b`
/// are the two edits. Returns the merged plan.
fn diverged(a: &[Edit], b: &[Edit]) -> CarePlan {
    let mut base = full();
    let mut one = PlanDoc {
        doc: base
            .doc
            .fork()
            .with_actor(ActorId::from(b"tablet-1".as_slice())),
    };
    let mut two = PlanDoc {
        doc: base
            .doc
            .fork()
            .with_actor(ActorId::from(b"tablet-2".as_slice())),
    };
    one.apply_all(a, &nurse("u-priya", "Priya Nair"), NOW - 2 * HOUR)
        .unwrap();
    two.apply_all(b, &nurse("u-jo", "Jo Firth"), NOW - HOUR)
        .unwrap();
    one.doc.merge(&mut two.doc).unwrap();
    one.plan().unwrap()
}

/// A register, what each of two tablets does to it, and how each value must read.
type RegisterCase = (SafetyField, Vec<Edit>, Vec<Edit>, [&'static str; 2]);

/// For each register: two different values, and the short form each must show as.
fn register_cases() -> Vec<RegisterCase> {
    vec![
        (
            SafetyField::Dnacpr,
            vec![Edit::SetDnacpr {
                status: DnacprStatus::ForAttemptedCpr,
            }],
            vec![Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            }],
            ["For attempted CPR", "DNACPR in place: do not attempt CPR"],
        ),
        (
            SafetyField::Allergies,
            vec![
                Edit::MarkEnteredInError {
                    list: crate::EntryList::Allergies,
                    id: "a-pen".into(),
                },
                Edit::RecordNoKnownAllergies,
            ],
            vec![Edit::AddAllergy {
                id: "a-latex".into(),
                substance: "Latex".into(),
                reaction: "rash".into(),
                severity: AllergySeverity::Mild,
            }],
            ["No known allergies", "Allergies recorded"],
        ),
        (
            SafetyField::CeilingOfTreatment,
            vec![Edit::SetCeilingOfTreatment {
                ceiling: TreatmentCeiling::FullEscalation,
                notes: String::new(),
            }],
            vec![Edit::SetCeilingOfTreatment {
                ceiling: TreatmentCeiling::ComfortCareOnly,
                notes: String::new(),
            }],
            [
                "Full escalation including intensive care",
                "Comfort and symptom control only",
            ],
        ),
        (
            SafetyField::AdmissionWanted,
            vec![Edit::SetAdmissionWanted {
                wanted: AdmissionWish::Wanted,
                notes: String::new(),
            }],
            vec![Edit::SetAdmissionWanted {
                wanted: AdmissionWish::NotWanted,
                notes: String::new(),
            }],
            [
                "Admission wanted if needed",
                "Does not want hospital admission",
            ],
        ),
        (
            SafetyField::PreferredPlaceOfDeath,
            vec![Edit::SetPreferredPlaceOfDeath {
                place: "Hospice".into(),
            }],
            vec![Edit::SetPreferredPlaceOfDeath {
                place: "Home, with family".into(),
            }],
            ["Hospice", "Home, with family"],
        ),
        (
            SafetyField::Consent,
            vec![Edit::WithdrawConsent {
                date: "2026-11-29".into(),
            }],
            vec![Edit::SetConsent {
                share_with_mdt: true,
                share_with_emergency_services: false,
            }],
            [
                "Consent withdrawn on 2026-11-29",
                "Consent to share with MDT",
            ],
        ),
    ]
}

fn summary_decision(s: &EmergencySummary, field: SafetyField) -> &SummaryDecision {
    match field {
        SafetyField::Dnacpr => &s.resuscitation,
        SafetyField::Allergies => &s.allergies,
        SafetyField::CeilingOfTreatment => &s.ceiling_of_treatment,
        SafetyField::AdmissionWanted => &s.admission_wanted,
        SafetyField::PreferredPlaceOfDeath => &s.preferred_place_of_death,
        SafetyField::Consent => &s.consent,
    }
}

#[test]
fn no_register_reads_as_one_side_of_a_conflict() {
    for (field, a, b, shown) in register_cases() {
        let plan = diverged(&a, &b);
        let r = plan.reading(field);
        assert_eq!(r.state, crate::RegisterState::Conflicting, "{field}");
        assert_eq!(
            r.label,
            format!(
                "Conflicting: {} / {} \u{2014} confirm with the care team",
                shown[0], shown[1]
            ),
            "{field}"
        );
        assert_eq!(r.recorded, None, "{field}: a conflict has no single author");
        assert_eq!(r.values.len(), 2, "{field}");

        let s = emergency_summary(&plan);
        let d = summary_decision(&s, field);
        assert!(d.conflicting, "{field}");
        assert_eq!(d.label, r.label, "{field}: the summary shows the reading");
        assert_eq!(d.recorded, None, "{field}");
        // The printed pages name both sides under the item and in the headline.
        for text in [render_text(&s), render_html(&s)] {
            assert!(
                text.contains("CONFLICTING ENTRIES ("),
                "{field}: no headline"
            );
            for side in shown {
                assert!(text.contains(side), "{field}: {side} not printed");
            }
        }
    }
}

#[test]
fn a_register_set_alike_on_two_tablets_reads_as_settled() {
    for (field, a, _, shown) in register_cases() {
        let plan = diverged(&a, &a);
        let r = plan.reading(field);
        assert_eq!(r.state, crate::RegisterState::Recorded, "{field}");
        assert!(r.values.is_empty(), "{field}");
        assert!(r.recorded.is_some(), "{field}");
        if field != SafetyField::Allergies {
            // The allergy reading names the substances rather than the statement.
            assert!(r.label.starts_with(shown[0]), "{field}: {}", r.label);
        }
    }
    let plan = created("server").plan().unwrap();
    for field in SafetyField::ALL {
        let r = plan.reading(field);
        assert_eq!(r.state, crate::RegisterState::NotRecorded, "{field}");
        assert!(!r.label.is_empty(), "{field}");
    }
}

#[test]
fn the_dnacpr_flag_is_conflicting_never_a_winner() {
    let plan = diverged(
        &[Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        }],
        &[Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        }],
    );
    // Automerge still holds a winner in the typed field: the reading must not use it.
    assert_ne!(plan.dnacpr, DnacprStatus::NotRecorded);
    assert_eq!(plan.dnacpr_reading(), DnacprReading::Conflicting);
    let s = emergency_summary(&plan);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["dnacpr"], "conflicting");
    assert_eq!(
        json["dnacpr_label"],
        "Conflicting: For attempted CPR / DNACPR in place: do not attempt CPR \u{2014} confirm with the care team"
    );
    assert_eq!(json["resuscitation"]["values"].as_array().unwrap().len(), 2);
    // A stored summary reads back with its flag (the server's FHIR and feed paths do this).
    let back: EmergencySummary = serde_json::from_value(json).unwrap();
    assert_eq!(back.dnacpr, DnacprReading::Conflicting);

    // Settled, the flag is the status.
    let settled = diverged(
        &[Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        }],
        &[Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        }],
    );
    assert_eq!(settled.dnacpr_reading(), DnacprReading::DoNotAttemptCpr);
    assert_eq!(
        settled.dnacpr_label(),
        "DNACPR in place: do not attempt CPR"
    );
}

#[test]
fn two_values_that_differ_only_in_detail_are_told_apart() {
    let resus = |by: &str| Edit::SetResuscitation {
        status: DnacprStatus::DoNotAttemptCpr,
        respect_form: false,
        decision_date: Some("2026-11-21".into()),
        decided_by: by.into(),
        original_location: "red folder".into(),
    };
    let plan = diverged(&[resus("Dr Okafor")], &[resus("Dr Shah")]);
    let label = plan.reading(SafetyField::Dnacpr).label;
    assert!(
        label.contains("by Dr Okafor") && label.contains("by Dr Shah"),
        "{label}"
    );
}

#[test]
fn an_ended_summary_is_served_for_ninety_days() {
    let summary = emergency_summary(&ended().plan().unwrap());
    let end = summary
        .case_management_ended
        .clone()
        .expect("an ended plan says so");
    assert_eq!(end.date, "2026-11-29");
    assert_eq!(end.reason, "moved away");
    assert_eq!(end.served_until, "2027-02-27");
    assert!(
        end.notice
            .starts_with("Case management ended on 2026-11-29 (moved away)")
    );
    let day = |s: &str| crate::Date::parse(s).unwrap();
    assert!(end.served_on(day("2026-11-29")));
    assert!(end.served_on(day("2027-02-27")));
    assert!(!end.served_on(day("2027-02-28")));
    assert!(
        render_text(&summary).contains("Case management ended"),
        "the printed pages carry the notice"
    );
    assert_eq!(
        emergency_summary(&full().plan().unwrap()).case_management_ended,
        None
    );
}
