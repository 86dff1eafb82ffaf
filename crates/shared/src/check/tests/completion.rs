//! "Plan complete" against a modified client: records that break their edits' rules, and
//! a plan marked complete with something step 16 needs missing, written as raw changes.

use super::*;
use crate::{
    ConsentGivenBy, ConsentRecipient, GpMeeting, MentalHealthAssessment, MentalHealthStatus,
    NoWiderAction,
};

/// The committed plan with consent and a case manager: what the old rule asked for.
fn consented() -> PlanDoc {
    let mut server = committed();
    let edits = [
        Edit::RecordConsent {
            recipients: vec![ConsentRecipient::Mdt],
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: "2026-11-29".into(),
        },
        Edit::SetCaseManager {
            name: "Nurse Jo".into(),
            role: "community matron".into(),
            phone: String::new(),
        },
    ];
    server.apply_all(&edits, &nurse(), NOW + 2).unwrap();
    server
}

/// Writes `value` at root `key` as a register, the way an edit would.
fn put<T: autosurgeon::Reconcile>(am: &mut AutoCommit, key: &str, value: &T) {
    am.put_object(ROOT, key, ObjType::Map).unwrap();
    reconcile_prop(am, ROOT, key, value).unwrap();
}

/// Sets the plan's status to complete by hand, as a modified client would.
fn mark_complete_raw(d: &mut PlanDoc) {
    let mut enrolment = d.plan().unwrap().enrolment;
    enrolment.status = PlanStatus::Complete;
    enrolment.completed = Some(nurse().at(NOW + DAY));
    raw(d, |am| {
        reconcile_prop(am, ROOT, "enrolment", &enrolment).unwrap()
    });
}

fn meeting(gp: &str, date: &str) -> GpMeeting {
    GpMeeting {
        date: date.into(),
        gp: gp.into(),
        attendees: "Nurse Jo and the patient".into(),
        recorded: nurse().at(NOW + DAY),
    }
}

fn assessment(status: MentalHealthStatus, tool: &str, reason: &str) -> MentalHealthAssessment {
    MentalHealthAssessment {
        status,
        date: if status == MentalHealthStatus::Done {
            "2026-11-29".into()
        } else {
            String::new()
        },
        tool: tool.into(),
        outcome: if status == MentalHealthStatus::Done {
            "Minimal symptoms".into()
        } else {
            String::new()
        },
        reason: reason.into(),
        recorded: nurse().at(NOW + DAY),
    }
}

#[test]
fn marking_a_plan_complete_by_raw_write_with_records_missing_is_refused() {
    let mut server = consented();
    let result = submit(&mut server, Writer::CaseManager, mark_complete_raw);
    let violation = result.unwrap_err();
    assert_eq!(violation.rule, Rule::Completion);
    assert_eq!(violation.rule.label(), "completion");
    assert!(
        violation
            .message
            .contains("no face-to-face meeting with the GP is recorded"),
        "{violation}"
    );
    assert!(violation.message.contains("no paper copy"), "{violation}");
}

#[test]
fn completing_with_every_record_passes_by_edit_and_by_raw_write() {
    let mut server = consented();
    let plan = server.plan().unwrap();
    assert_eq!(plan.completion_problems().len(), 4);
    let setup = crate::testkit::completion(&server, &[], &nurse(), NOW + DAY).unwrap();
    // The app's way: the records, the paper copy and "mark complete" as edits.
    submit(&mut server, Writer::CaseManager, |d| {
        d.apply_all(&setup, &nurse(), NOW + DAY).unwrap();
    })
    .unwrap();
    // A client writing the same records and status by hand is held to the same rule, and
    // passes it.
    let records = &setup[..setup.len() - 1];
    submit(&mut server, Writer::CaseManager, |d| {
        d.apply_all(records, &nurse(), NOW + DAY).unwrap();
        mark_complete_raw(d);
    })
    .unwrap();
}

#[test]
fn a_record_breaking_its_edits_rules_is_refused() {
    type Write = Box<dyn Fn(&mut AutoCommit)>;
    let cases: Vec<(&str, Write, &str)> = vec![
        (
            "a GP meeting without the GP",
            Box::new(|am| put(am, "gp_meeting", &meeting(" ", "2026-11-29"))),
            "GP is required",
        ),
        (
            "a GP meeting in the future",
            Box::new(|am| put(am, "gp_meeting", &meeting("Dr Patel", "2027-06-01"))),
            "cannot be in the future",
        ),
        (
            "an assessment done without a tool",
            Box::new(|am| {
                put(
                    am,
                    "mental_health_assessment",
                    &assessment(MentalHealthStatus::Done, "", ""),
                )
            }),
            "assessment tool is required",
        ),
        (
            "an assessment not indicated without a reason",
            Box::new(|am| {
                put(
                    am,
                    "mental_health_assessment",
                    &assessment(MentalHealthStatus::NotIndicated, "", ""),
                )
            }),
            "why no assessment is indicated is required",
        ),
        (
            "an assessment not indicated that names a tool",
            Box::new(|am| {
                put(
                    am,
                    "mental_health_assessment",
                    &assessment(MentalHealthStatus::NotIndicated, "PHQ-9", "Seen last month"),
                )
            }),
            "an assessment tool is recorded only when the assessment was done",
        ),
        (
            "no wider action without a reason",
            Box::new(|am| {
                put(
                    am,
                    "no_wider_action",
                    &NoWiderAction {
                        reason: String::new(),
                        recorded: nurse().at(NOW + DAY),
                    },
                )
            }),
            "why no wider action is needed is required",
        ),
    ];
    for (what, write, message) in cases {
        let mut server = consented();
        let result = submit(&mut server, Writer::MdtMember, |d| raw(d, |am| write(am)));
        let violation = result.expect_err(what);
        assert_eq!(violation.rule, Rule::Plausibility, "{what}: {violation}");
        assert!(violation.message.contains(message), "{what}: {violation}");
    }
}

#[test]
fn a_record_in_someone_elses_name_or_with_an_unknown_status_is_refused() {
    let mut server = consented();
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            let mut m = meeting("Dr Patel", "2026-11-29");
            m.recorded.user_id = "u-someone-else".into();
            put(am, "gp_meeting", &m);
        })
    });
    assert_eq!(rule(result), Rule::Attribution);
    let result = submit(&mut server, Writer::CaseManager, |d| {
        raw(d, |am| {
            put(
                am,
                "mental_health_assessment",
                &assessment(MentalHealthStatus::Done, "PHQ-9", ""),
            );
            let record = list(am, "mental_health_assessment");
            am.put(&record, "status", "probably_fine").unwrap();
        })
    });
    assert_eq!(rule(result), Rule::Schema);
}
