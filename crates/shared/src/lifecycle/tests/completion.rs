//! "Plan complete" as step 16 means it: each requirement blocks completion until its
//! record is there, in the clinician's words, and each record is validated.

use super::*;
use crate::{CompletionProblem, EditError, MentalHealthStatus};

fn problems(doc: &PlanDoc) -> Vec<CompletionProblem> {
    doc.plan().unwrap().completion_problems()
}

fn gp_meeting() -> Edit {
    Edit::RecordGpMeeting {
        date: "2026-11-20".into(),
        gp: "Dr Patel".into(),
        attendees: "Sam Carter (case manager), the patient and her daughter".into(),
    }
}

fn assessed() -> Edit {
    Edit::RecordMentalHealthAssessment {
        status: MentalHealthStatus::Done,
        date: Some("2026-11-20".into()),
        tool: "PHQ-9".into(),
        outcome: "Score 4: minimal symptoms".into(),
        reason: String::new(),
    }
}

fn paper_copy(doc: &PlanDoc) -> Edit {
    Edit::RecordPaperCopy {
        fingerprint: doc.plan().unwrap().summary_fingerprint().whole,
    }
}

#[test]
fn a_plan_without_step_16s_records_cannot_be_completed_and_says_what_is_missing() {
    let mut doc = consented();
    let err = doc.apply(&Edit::MarkComplete, &editor(), NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the plan cannot be marked complete: \
         no MDT discussion is recorded, and nobody has stated that no wider action is needed; \
         no face-to-face meeting with the GP is recorded; \
         no mental health assessment is recorded (or why one is not indicated); \
         no paper copy of the plan is recorded as left in the home"
    );
    assert_eq!(doc.plan().unwrap().status(), PlanStatus::Draft);
}

#[test]
fn each_record_clears_its_own_blocker_and_then_the_plan_completes() {
    let mut doc = consented();
    let all = [
        CompletionProblem::NoMdtDiscussion,
        CompletionProblem::NoGpMeeting,
        CompletionProblem::NoMentalHealthAssessment,
        CompletionProblem::NoPaperCopy,
    ];
    assert_eq!(problems(&doc), all);
    doc.apply(
        &Edit::AddMdtDiscussion {
            id: "m1".into(),
            date: "2026-11-18".into(),
            attendees: "GP, district nurse, social worker".into(),
            outcome: "Falls referral".into(),
            referrals: String::new(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    assert_eq!(problems(&doc), all[1..]);
    doc.apply(&gp_meeting(), &editor(), NOW).unwrap();
    assert_eq!(problems(&doc), all[2..]);
    doc.apply(&assessed(), &editor(), NOW).unwrap();
    assert_eq!(problems(&doc), all[3..]);
    let print = paper_copy(&doc);
    doc.apply(&print, &editor(), NOW).unwrap();
    assert!(problems(&doc).is_empty());
    doc.apply(&Edit::MarkComplete, &editor(), NOW).unwrap();
    let plan = doc.plan().unwrap();
    assert_eq!(plan.status(), PlanStatus::Complete);
    let meeting = plan.gp_meeting.unwrap();
    assert_eq!(
        (meeting.date.as_str(), meeting.gp.as_str()),
        ("2026-11-20", "Dr Patel")
    );
    assert_eq!(meeting.recorded, editor().at(NOW));
    assert_eq!(plan.mental_health_assessment.unwrap().tool, "PHQ-9");
}

#[test]
fn no_wider_action_stands_in_for_an_mdt_discussion_and_a_withdrawn_discussion_does_not_count() {
    let mut doc = consented();
    doc.apply(
        &Edit::AddMdtDiscussion {
            id: "m1".into(),
            date: "2026-11-18".into(),
            attendees: "GP, district nurse".into(),
            outcome: "Nothing further".into(),
            referrals: String::new(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    assert!(!problems(&doc).contains(&CompletionProblem::NoMdtDiscussion));
    doc.apply(
        &Edit::MarkEnteredInError {
            list: EntryList::MdtDiscussions,
            id: "m1".into(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    assert!(problems(&doc).contains(&CompletionProblem::NoMdtDiscussion));
    doc.apply(
        &Edit::RecordNoWiderAction {
            reason: "  Needs met by the practice; family support in place ".into(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert!(
        !plan
            .completion_problems()
            .contains(&CompletionProblem::NoMdtDiscussion)
    );
    let stated = plan.no_wider_action.unwrap();
    assert_eq!(
        stated.reason,
        "Needs met by the practice; family support in place"
    );
    assert_eq!(stated.recorded, editor().at(NOW));
}

#[test]
fn a_mental_health_assessment_not_indicated_counts_with_its_reason() {
    let mut doc = consented();
    doc.apply(
        &Edit::RecordMentalHealthAssessment {
            status: MentalHealthStatus::NotIndicated,
            date: None,
            tool: String::new(),
            outcome: String::new(),
            reason: "Assessed by the memory clinic last month".into(),
        },
        &editor(),
        NOW,
    )
    .unwrap();
    let plan = doc.plan().unwrap();
    assert!(
        !plan
            .completion_problems()
            .contains(&CompletionProblem::NoMentalHealthAssessment)
    );
    assert_eq!(
        plan.mental_health_assessment.unwrap().status,
        MentalHealthStatus::NotIndicated
    );
}

#[test]
fn the_records_are_validated_before_anything_is_written() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Edit::RecordNoWiderAction {
                reason: "  ".into(),
            },
            "why no wider action is needed is required",
        ),
        (
            Edit::RecordGpMeeting {
                date: "2026-11-20".into(),
                gp: String::new(),
                attendees: "case manager".into(),
            },
            "GP is required",
        ),
        (
            Edit::RecordGpMeeting {
                date: "2026-11-20".into(),
                gp: "Dr Patel".into(),
                attendees: String::new(),
            },
            "who met the GP is required",
        ),
        (
            Edit::RecordGpMeeting {
                date: "2026-12-25".into(),
                gp: "Dr Patel".into(),
                attendees: "case manager".into(),
            },
            "GP meeting date cannot be in the future",
        ),
        (
            Edit::RecordGpMeeting {
                date: "20/11/2026".into(),
                gp: "Dr Patel".into(),
                attendees: "case manager".into(),
            },
            "GP meeting date must be a date written YYYY-MM-DD, not \"20/11/2026\"",
        ),
        (
            Edit::RecordMentalHealthAssessment {
                status: MentalHealthStatus::Done,
                date: None,
                tool: "PHQ-9".into(),
                outcome: "Minimal".into(),
                reason: String::new(),
            },
            "assessment date must be a date written YYYY-MM-DD, not \"\"",
        ),
        (
            Edit::RecordMentalHealthAssessment {
                status: MentalHealthStatus::Done,
                date: Some("2026-11-20".into()),
                tool: String::new(),
                outcome: "Minimal".into(),
                reason: String::new(),
            },
            "assessment tool is required",
        ),
        (
            Edit::RecordMentalHealthAssessment {
                status: MentalHealthStatus::Done,
                date: Some("2026-11-20".into()),
                tool: "PHQ-9".into(),
                outcome: String::new(),
                reason: String::new(),
            },
            "assessment outcome is required",
        ),
        (
            Edit::RecordMentalHealthAssessment {
                status: MentalHealthStatus::Done,
                date: Some("2026-11-20".into()),
                tool: "PHQ-9".into(),
                outcome: "Minimal".into(),
                reason: "Not needed".into(),
            },
            "a reason is recorded only when no assessment is indicated",
        ),
        (
            Edit::RecordMentalHealthAssessment {
                status: MentalHealthStatus::NotIndicated,
                date: None,
                tool: String::new(),
                outcome: String::new(),
                reason: String::new(),
            },
            "why no assessment is indicated is required",
        ),
        (
            Edit::RecordMentalHealthAssessment {
                status: MentalHealthStatus::NotIndicated,
                date: None,
                tool: "PHQ-9".into(),
                outcome: String::new(),
                reason: "Seen last month".into(),
            },
            "an assessment tool is recorded only when the assessment was done",
        ),
    ];
    for (edit, message) in cases {
        let mut doc = consented();
        let heads = doc.heads();
        let err = doc.apply(&edit, &editor(), NOW).unwrap_err();
        assert_eq!(err.to_string(), message, "{edit:?}");
        assert_eq!(doc.heads(), heads, "{edit:?} changed the document");
    }
}

#[test]
fn the_new_edits_read_from_the_apps_json() {
    let edits = [
        r#"{"op":"record_no_wider_action","reason":"Practice team only"}"#,
        r#"{"op":"record_gp_meeting","date":"2026-11-20","gp":"Dr Patel","attendees":"case manager"}"#,
        r#"{"op":"record_mental_health_assessment","status":"not_indicated","date":null,"reason":"Seen last month"}"#,
        r#"{"op":"record_mental_health_assessment","status":"done","date":"2026-11-20","tool":"GAD-7","outcome":"Mild anxiety"}"#,
    ];
    let mut doc = consented();
    for json in edits {
        let edit: Edit = serde_json::from_str(json).unwrap();
        doc.apply(&edit, &editor(), NOW).unwrap();
    }
    let plan = doc.plan().unwrap();
    assert_eq!(
        plan.mental_health_assessment.unwrap().outcome,
        "Mild anxiety"
    );
    let json = serde_json::to_value(doc.plan().unwrap()).unwrap();
    assert_eq!(json["gp_meeting"]["gp"], "Dr Patel");
    assert_eq!(json["mental_health_assessment"]["status"], "done");
    assert_eq!(json["no_wider_action"]["reason"], "Practice team only");
}

/// A plan completed under the old rule (consent and a case manager only), as an older
/// build wrote it: no key for the new records.
fn completed_under_the_old_rule() -> PlanDoc {
    let mut doc = consented();
    let mut enrolment = doc.plan().unwrap().enrolment;
    enrolment.status = PlanStatus::Complete;
    enrolment.completed = Some(editor().at(NOW));
    enrolment.next_review_due = Some("2027-03-29".into());
    let am = doc.automerge();
    autosurgeon::reconcile_prop(&mut *am, automerge::ROOT, "enrolment", &enrolment).unwrap();
    am.commit();
    doc
}

#[test]
fn a_plan_written_before_these_records_existed_loads_without_them() {
    let mut doc = completed_under_the_old_rule();
    for key in ["gp_meeting", "mental_health_assessment", "no_wider_action"] {
        let am: &automerge::AutoCommit = doc.automerge();
        assert!(
            automerge::ReadDoc::get(am, &automerge::ROOT, key)
                .unwrap()
                .is_none(),
            "{key} is written only by its edit"
        );
    }
    let plan = doc.plan().unwrap();
    assert_eq!(plan.status(), PlanStatus::Complete);
    assert_eq!(plan.gp_meeting, None);
    assert_eq!(plan.mental_health_assessment, None);
    assert_eq!(plan.no_wider_action, None);
    assert_eq!(plan.completion_problems().len(), 4);
}

#[test]
fn a_review_that_keeps_an_old_plan_complete_needs_step_16s_records_but_ending_does_not() {
    let mut doc = completed_under_the_old_rule();
    doc.apply(&Edit::StartReview, &editor(), NOW).unwrap();
    let err = doc
        .apply(
            &review("r1", "2026-11-29", ReviewOutcome::Continue),
            &editor(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(&err, crate::ApplyError::Invalid(EditError::NotReadyToComplete(p)) if p.len() == 4),
        "{err}"
    );
    assert_eq!(doc.plan().unwrap().status(), PlanStatus::UnderReview);
    doc.apply(
        &review("r1", "2026-11-29", ReviewOutcome::EndCaseManagement),
        &editor(),
        NOW,
    )
    .unwrap();
    assert_eq!(doc.plan().unwrap().status(), PlanStatus::Ended);
}
