//! The plan's lifecycle: draft → complete → under review → complete … → ended.

use automerge::ActorId;

use crate::{
    ConsentGivenBy, ConsentRecipient, Edit, Editor, EndReason, EntryList, NewPlan, PlanDoc,
    PlanStatus, ReviewOutcome,
};

const NOW: i64 = 1_795_960_800_000; // 2026-11-29
const DAY: i64 = 86_400_000;

fn editor() -> Editor {
    Editor {
        user_id: "u1".into(),
        user_name: "Sam Carter".into(),
    }
}

/// A draft plan with consent and a case manager, the first things "plan complete" needs.
fn consented() -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9434765919".into(),
        name: "Ada Example".into(),
        date_of_birth: "1938-02-28".into(),
        address: "1 High Street".into(),
    };
    let mut doc = PlanDoc::create(ActorId::from(b"s".as_slice()), &new, &editor(), NOW).unwrap();
    let edits = [
        Edit::RecordConsent {
            recipients: vec![ConsentRecipient::Mdt, ConsentRecipient::Ambulance],
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: "2026-11-29".into(),
        },
        Edit::SetCaseManager {
            name: "Sam Carter".into(),
            role: "practice nurse".into(),
            phone: String::new(),
        },
    ];
    doc.apply_all(&edits, &editor(), NOW).unwrap();
    doc
}

fn completed() -> PlanDoc {
    let mut doc = consented();
    let edits = crate::testkit::completion(&doc, &[], &editor(), NOW).unwrap();
    doc.apply_all(&edits, &editor(), NOW).unwrap();
    doc
}

fn review(id: &str, date: &str, outcome: ReviewOutcome) -> Edit {
    Edit::RecordReview {
        id: id.into(),
        date: date.into(),
        face_to_face: true,
        reviewer: "Sam Carter".into(),
        attendees: "patient".into(),
        notes: "Stable.".into(),
        changes: String::new(),
        still_in_top_5_percent: Some(outcome == ReviewOutcome::Continue),
        outcome,
        next_review_due: None,
    }
}

#[test]
fn a_plan_is_reviewed_every_four_months_then_moves_to_annual_review() {
    let mut doc = completed();
    assert_eq!(doc.plan().unwrap().status(), PlanStatus::Complete);
    let later = NOW + 120 * DAY; // 2027-03-29
    doc.apply(&Edit::StartReview, &editor(), later).unwrap();
    assert_eq!(doc.plan().unwrap().status(), PlanStatus::UnderReview);
    doc.apply(
        &review("r1", "2027-03-29", ReviewOutcome::Continue),
        &editor(),
        later,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert_eq!(plan.status(), PlanStatus::Complete);
    assert_eq!(
        plan.enrolment.next_review_due.as_deref(),
        Some("2027-07-29")
    );
    assert_eq!(plan.reviews[0].notes.as_str(), "Stable.");
    // A review can also be recorded straight from "complete".
    doc.apply(
        &review("r2", "2027-07-20", ReviewOutcome::MoveToAnnualReview),
        &editor(),
        later + 120 * DAY,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert_eq!(plan.enrolment.review_interval(), 12);
    assert_eq!(
        plan.enrolment.next_review_due.as_deref(),
        Some("2028-07-20")
    );
}

#[test]
fn a_review_that_ends_case_management_ends_the_plan_which_stays_readable() {
    let mut doc = completed();
    doc.apply(
        &review("r1", "2026-11-29", ReviewOutcome::EndCaseManagement),
        &editor(),
        NOW,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert_eq!(plan.status(), PlanStatus::Ended);
    let ended = plan.enrolment.ended.as_ref().unwrap();
    assert_eq!(ended.reason, EndReason::NoLongerHighRisk);
    assert_eq!(
        plan.enrolment.next_review_due, None,
        "an ended plan has no next review"
    );
    // Still readable, still printable, and still correctable.
    assert_eq!(plan.patient.name, "Ada Example");
    let summary = crate::emergency_summary(&plan);
    assert_eq!(summary.plan_status, "ended");
    doc.apply(
        &Edit::MarkEnteredInError {
            list: EntryList::Reviews,
            id: "r1".into(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    assert!(doc.apply(&Edit::StartReview, &editor(), NOW).is_err());
}

#[test]
fn ending_is_final_even_against_a_concurrent_transition() {
    let mut a = completed();
    let mut b = PlanDoc {
        doc: a.doc.fork().with_actor(ActorId::from(b"b".as_slice())),
    };
    a.apply(
        &Edit::EndPlan {
            reason: EndReason::Died,
            date: "2026-11-29".into(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    // B, offline, starts a review later by the clock: its status write would win alone.
    b.apply(&Edit::StartReview, &editor(), NOW + DAY).unwrap();
    a.doc.merge(&mut b.doc).unwrap();
    let plan = a.plan().unwrap();
    assert_eq!(plan.status(), PlanStatus::Ended);
    assert_eq!(plan.enrolment.ended.unwrap().reason, EndReason::Died);
}

#[test]
fn every_end_reason_is_accepted_from_any_open_state() {
    for reason in [
        EndReason::NoLongerHighRisk,
        EndReason::MovedAway,
        EndReason::Died,
        EndReason::PatientDeclined,
    ] {
        let mut doc = completed();
        doc.apply(
            &Edit::EndPlan {
                reason,
                date: "2026-11-28".into(),
            },
            &editor(),
            NOW,
        )
        .unwrap();
        assert_eq!(doc.plan().unwrap().status(), PlanStatus::Ended);
    }
}

mod completion;
