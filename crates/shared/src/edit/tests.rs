//! Every validation rule, with the error a clinician sees. Each refused edit must leave
//! the document exactly as it was.

use automerge::ActorId;

use crate::{
    AllergySeverity, CohortCategory, ConsentGivenBy, ConsentRecipient, DnacprStatus, Edit, Editor,
    EndReason, EntryList, NewPlan, PlanDoc, ReviewOutcome, SafetyField, TeamContactKind,
    TextTarget, Tier, TreatmentCeiling,
};

mod corrections;

/// 2026-11-29T14:00:00Z.
const NOW: i64 = 1_795_960_800_000;

fn editor() -> Editor {
    Editor {
        user_id: "u1".into(),
        user_name: "Nurse One".into(),
    }
}

fn plan_with(setup: &[Edit]) -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9434765919".into(),
        name: "Ada Example".into(),
        date_of_birth: "1938-02-28".into(),
        address: "1 High Street".into(),
    };
    let mut doc = PlanDoc::create(ActorId::from(b"s".as_slice()), &new, &editor(), NOW).unwrap();
    for e in setup {
        doc.apply(e, &editor(), NOW).unwrap();
    }
    doc
}

/// Applies `edit` after `setup` and checks it is refused with `message`, changing nothing.
/// What step 16 asks for besides consent and a case manager, on a plan given `setup`:
/// the records and a paper copy (without marking the plan complete).
fn step_16(setup: &[Edit]) -> Vec<Edit> {
    let mut edits = crate::testkit::completion(&plan_with(setup), &[], &editor(), NOW).unwrap();
    edits.pop();
    edits
}

fn check(setup: &[Edit], edit: Edit, message: &str) {
    let mut doc = plan_with(setup);
    let heads = doc.heads();
    let err = doc.apply(&edit, &editor(), NOW).unwrap_err();
    assert_eq!(err.to_string(), message, "{edit:?}");
    assert_eq!(doc.heads(), heads, "{edit:?} changed the document");
}

fn patient(nhs: &str, dob: &str, name: &str) -> Edit {
    Edit::SetPatient {
        nhs_number: nhs.into(),
        name: name.into(),
        date_of_birth: dob.into(),
        address: String::new(),
    }
}

fn baseline() -> Edit {
    Edit::RecordBaseline {
        observed_on: "2026-11-29".into(),
        pulse_bpm: None,
        systolic_mmhg: None,
        diastolic_mmhg: None,
        respiratory_rate: None,
        spo2_percent: None,
        temperature_decidegrees: None,
        peak_flow_l_min: None,
        weight_decikg: None,
        known_af: None,
        usual_cognition: String::new(),
        usual_mobility: String::new(),
    }
}

/// A baseline with one observation set through `f`.
fn obs(f: impl FnOnce(&mut Edit)) -> Edit {
    let mut e = baseline();
    f(&mut e);
    e
}

fn consent() -> Edit {
    Edit::RecordConsent {
        recipients: vec![ConsentRecipient::Mdt, ConsentRecipient::Ambulance],
        given_by: ConsentGivenBy::Patient,
        capacity_note: String::new(),
        consent_date: "2026-11-01".into(),
    }
}

fn case_manager() -> Edit {
    Edit::SetCaseManager {
        name: "Sam Carter".into(),
        role: "community matron".into(),
        phone: String::new(),
    }
}

fn review(id: &str, date: &str, next: Option<&str>) -> Edit {
    Edit::RecordReview {
        id: id.into(),
        date: date.into(),
        face_to_face: true,
        reviewer: "Sam Carter".into(),
        attendees: String::new(),
        notes: String::new(),
        changes: String::new(),
        still_in_top_5_percent: Some(true),
        outcome: ReviewOutcome::Continue,
        next_review_due: next.map(Into::into),
    }
}

#[test]
fn identity_rules() {
    check(
        &[],
        patient("9434765918", "1938-02-28", "A"),
        "invalid NHS number: the check digit of this NHS number is wrong",
    );
    check(
        &[],
        patient("943476591", "1938-02-28", "A"),
        "invalid NHS number: an NHS number has 10 digits, this has 9",
    );
    check(
        &[],
        patient("94347659x9", "1938-02-28", "A"),
        "invalid NHS number: an NHS number holds only digits (spaces and dashes between groups are allowed)",
    );
    check(
        &[],
        patient("9434765919", "2030-01-01", "A"),
        "date of birth cannot be in the future",
    );
    check(
        &[],
        patient("9434765919", "1938-02-30", "A"),
        "date of birth must be a date written YYYY-MM-DD, not \"1938-02-30\"",
    );
    check(
        &[],
        patient("9434765919", "1938-02-28", " "),
        "name is required",
    );
    check(
        &[],
        patient("9434765919", "1938-02-28", &"x".repeat(201)),
        "name is longer than 200 characters",
    );
    check(
        &[],
        crate::testkit::practice_details("Y99-01", ""),
        "GP practice ODS code may hold only letters and digits",
    );
}

#[test]
fn observations_must_be_plausible() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            obs(|e| {
                if let Edit::RecordBaseline { pulse_bpm, .. } = e {
                    *pulse_bpm = Some(400)
                }
            }),
            "pulse of 400 is outside the plausible range 20–250",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline { systolic_mmhg, .. } = e {
                    *systolic_mmhg = Some(30)
                }
            }),
            "systolic blood pressure of 30 is outside the plausible range 50–300",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline { diastolic_mmhg, .. } = e {
                    *diastolic_mmhg = Some(250)
                }
            }),
            "diastolic blood pressure of 250 is outside the plausible range 20–200",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline {
                    systolic_mmhg,
                    diastolic_mmhg,
                    ..
                } = e
                {
                    *systolic_mmhg = Some(90);
                    *diastolic_mmhg = Some(95);
                }
            }),
            "diastolic pressure must be below systolic",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline {
                    respiratory_rate, ..
                } = e
                {
                    *respiratory_rate = Some(2)
                }
            }),
            "respiratory rate of 2 is outside the plausible range 4–70",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline { spo2_percent, .. } = e {
                    *spo2_percent = Some(101)
                }
            }),
            "SpO2 of 101 is outside the plausible range 50–100",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline {
                    temperature_decidegrees,
                    ..
                } = e
                {
                    *temperature_decidegrees = Some(37)
                }
            }),
            "temperature (tenths of °C) of 37 is outside the plausible range 300–450",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline {
                    peak_flow_l_min, ..
                } = e
                {
                    *peak_flow_l_min = Some(1200)
                }
            }),
            "peak flow (L/min) of 1200 is outside the plausible range 30–900",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline { weight_decikg, .. } = e {
                    *weight_decikg = Some(72)
                }
            }),
            "weight (tenths of kg) of 72 is outside the plausible range 200–3000",
        ),
        (
            obs(|e| {
                if let Edit::RecordBaseline { observed_on, .. } = e {
                    *observed_on = "2026-12-01".into()
                }
            }),
            "observation date cannot be in the future",
        ),
        (
            Edit::SetBaseline {
                pulse_bpm: Some(10),
                systolic_mmhg: None,
                diastolic_mmhg: None,
                respiratory_rate: None,
                spo2_percent: None,
                temperature_decidegrees: None,
            },
            "pulse of 10 is outside the plausible range 20–250",
        ),
    ];
    for (edit, message) in cases {
        check(&[], edit, message);
    }
}

#[test]
fn entries_need_ids_and_content() {
    let med = |id: &str| Edit::AddMedication {
        id: id.into(),
        name: "Furosemide".into(),
        dose: String::new(),
        notes: String::new(),
    };
    check(&[], med(""), "id is required");
    check(&[], med(&"x".repeat(65)), "id is longer than 64 characters");
    check(
        &[med("m1")],
        med("m1"),
        "an entry with id \"m1\" already exists",
    );
    check(
        &[],
        Edit::AddAnticipatoryMedication {
            id: "a".into(),
            name: "Midazolam".into(),
            dose: "2.5mg SC".into(),
            location: " ".into(),
            notes: String::new(),
        },
        "where the medicine is kept is required",
    );
    check(
        &[],
        Edit::AddAllergy {
            id: "a".into(),
            substance: String::new(),
            reaction: String::new(),
            severity: AllergySeverity::Unknown,
        },
        "allergen is required",
    );
    check(
        &[],
        Edit::AddCareTeamMember {
            id: "t".into(),
            kind: TeamContactKind::GpBypass,
            role: "GP bypass".into(),
            name: String::new(),
            organisation: String::new(),
            phone: String::new(),
            hours: String::new(),
        },
        "phone is required",
    );
    check(
        &[],
        Edit::MarkEnteredInError {
            list: EntryList::Goals,
            id: "nope".into(),
        },
        "no entry with id \"nope\"",
    );
    let mark = Edit::MarkEnteredInError {
        list: EntryList::Medications,
        id: "m1".into(),
    };
    check(
        &[med("m1"), mark.clone()],
        mark,
        "entry \"m1\" is already marked entered in error",
    );
    check(
        &[],
        Edit::SetGoalStatus {
            id: "g".into(),
            status: crate::GoalStatus::Achieved,
        },
        "no entry with id \"g\"",
    );
    check(
        &[],
        Edit::AddMdtDiscussion {
            id: "m".into(),
            date: "2027-01-01".into(),
            attendees: "GP".into(),
            outcome: "x".into(),
            referrals: String::new(),
        },
        "MDT date cannot be in the future",
    );
    check(
        &[],
        Edit::AddAdvice {
            id: "a".into(),
            from_name: "Dr Lee".into(),
            from_role: String::new(),
            advice: " ".into(),
        },
        "advice is required",
    );
    check(
        &[],
        Edit::SetAdrt {
            in_place: true,
            details: String::new(),
            original_location: String::new(),
        },
        "ADRT details is required",
    );
    check(
        &[],
        Edit::SetEnrolment {
            cohort: Some(CohortCategory::RiskTool),
            tier: None,
            start_date: None,
            review_interval_months: Some(0),
        },
        "review interval (months) of 0 is outside the plausible range 1–12",
    );
    check(
        &[],
        Edit::SetPreferredPlaceOfDeath {
            place: String::new(),
        },
        "preferred place of death is required",
    );
}

#[test]
fn text_edits_stay_inside_the_text() {
    check(
        &[],
        Edit::SpliceExacerbationPlan {
            index: 5,
            delete: 0,
            insert: "x".into(),
        },
        "the text splice at 5 (deleting 0) is outside the text or splits a character",
    );
    check(
        &[Edit::SetText {
            target: TextTarget::SelfManagementAdvice,
            text: "é".into(),
        }],
        Edit::SpliceText {
            target: TextTarget::SelfManagementAdvice,
            index: 1,
            delete: 0,
            insert: "x".into(),
        },
        "the text splice at 1 (deleting 0) is outside the text or splits a character",
    );
    check(
        &[],
        Edit::SetText {
            target: TextTarget::EquipmentAndServices,
            text: "x".repeat(20_001),
        },
        "equipment and services is longer than 20000 characters",
    );
    check(
        &[],
        Edit::SetText {
            target: TextTarget::EscalationPlan { id: "e9".into() },
            text: "x".into(),
        },
        "no entry with id \"e9\"",
    );
}

#[test]
fn decisions_need_their_provenance() {
    let resus = |date: Option<&str>, by: &str, loc: &str| Edit::SetResuscitation {
        status: DnacprStatus::DoNotAttemptCpr,
        respect_form: true,
        decision_date: date.map(Into::into),
        decided_by: by.into(),
        original_location: loc.into(),
    };
    check(
        &[],
        resus(None, "Dr A", "folder"),
        "a DNACPR recommendation needs a decision date",
    );
    check(
        &[],
        resus(Some("2026-11-01"), "", "folder"),
        "a DNACPR recommendation needs the clinician who decided",
    );
    check(
        &[],
        resus(Some("2026-11-01"), "Dr A", ""),
        "a DNACPR recommendation needs where the original form is kept",
    );
    check(
        &[],
        resus(Some("2026-12-25"), "Dr A", "folder"),
        "decision date cannot be in the future",
    );
    check(
        &[],
        Edit::RecordConsent {
            recipients: vec![],
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: "2026-11-01".into(),
        },
        "consent must be shared with at least one recipient or withdrawn",
    );
    check(
        &[],
        Edit::RecordConsent {
            recipients: vec![ConsentRecipient::Mdt],
            given_by: ConsentGivenBy::LpaHolder,
            capacity_note: String::new(),
            consent_date: "2026-11-30".into(),
        },
        "consent date cannot be in the future",
    );
    check(
        &[],
        Edit::WithdrawConsent {
            date: "2026-11-01".into(),
        },
        "there is no recorded consent to withdraw",
    );
    let withdraw = Edit::WithdrawConsent {
        date: "2026-11-02".into(),
    };
    check(
        &[consent(), withdraw.clone()],
        withdraw,
        "consent is already withdrawn",
    );
    check(
        &[],
        Edit::ResolveConflict {
            field: SafetyField::Dnacpr,
            keep: "1@ab".into(),
        },
        "there is no conflict on DNACPR/ReSPECT to resolve",
    );
}

#[test]
fn completion_needs_consent_a_case_manager_and_for_severe_an_emergency_plan() {
    check(
        &[],
        Edit::MarkComplete,
        "the plan cannot be marked complete: consent is not recorded; no case manager is named; \
         no MDT discussion is recorded, and nobody has stated that no wider action is needed; \
         no face-to-face meeting with the GP is recorded; \
         no mental health assessment is recorded (or why one is not indicated); \
         no paper copy of the plan is recorded as left in the home",
    );
    let severe = Edit::SetEnrolment {
        cohort: Some(CohortCategory::RiskTool),
        tier: Some(Tier::Severe),
        start_date: Some("2026-10-01".into()),
        review_interval_months: None,
    };
    let base = [consent(), case_manager(), severe.clone()];
    check(
        &[&base[..], &step_16(&base)[..]].concat(),
        Edit::MarkComplete,
        "the plan cannot be marked complete: tier severe needs an emergency treatment plan (resuscitation decision and ceiling of treatment)",
    );
    let withdrawn = [
        consent(),
        case_manager(),
        Edit::WithdrawConsent {
            date: "2026-11-20".into(),
        },
    ];
    check(
        &[&withdrawn[..], &step_16(&withdrawn)[..]].concat(),
        Edit::MarkComplete,
        "the plan cannot be marked complete: consent has been withdrawn",
    );
    // With everything in place it completes, and the next review is four months away.
    let base = [
        consent(),
        case_manager(),
        severe,
        Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        },
        Edit::SetCeilingOfTreatment {
            ceiling: TreatmentCeiling::FullEscalation,
            notes: String::new(),
        },
    ];
    let mut doc = plan_with(&[&base[..], &step_16(&base)[..]].concat());
    doc.apply(&Edit::MarkComplete, &editor(), NOW).unwrap();
    let plan = doc.plan().unwrap();
    assert_eq!(plan.enrolment.status, crate::PlanStatus::Complete);
    assert_eq!(
        plan.enrolment.next_review_due.as_deref(),
        Some("2027-03-29")
    );
}

#[test]
fn lifecycle_transitions_are_checked() {
    check(
        &[],
        Edit::StartReview,
        "a draft plan cannot be put under review",
    );
    check(
        &[],
        review("r1", "2026-11-01", None),
        "a draft plan cannot be reviewed",
    );
    let base = [consent(), case_manager()];
    let ready = [&base[..], &step_16(&base)[..], &[Edit::MarkComplete][..]].concat();
    check(
        &ready,
        Edit::MarkComplete,
        "a complete plan cannot be marked complete",
    );
    check(
        &ready,
        review("r1", "2026-11-01", Some("2026-10-01")),
        "next review due must be after the review date",
    );
    check(
        &ready,
        review("r1", "2026-12-01", None),
        "review date cannot be in the future",
    );
    let ended = [Edit::EndPlan {
        reason: EndReason::MovedAway,
        date: "2026-11-20".into(),
    }];
    check(
        &ended,
        Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
        "the plan has ended: it can be read and corrected but not changed",
    );
    check(
        &[],
        Edit::EndPlan {
            reason: EndReason::Died,
            date: "2026-12-20".into(),
        },
        "end date cannot be in the future",
    );
}
