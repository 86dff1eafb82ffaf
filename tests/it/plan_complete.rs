//! "Plan complete" means what seed 003 step 16 says, on the server too: a device that
//! marks a plan complete with something missing is refused, even when it writes the
//! status by hand, and the same plan completes once the records are there.

use automerge::transaction::CommitOptions;
use redfolder_shared::{ChangeNote, ConsentGivenBy, ConsentRecipient, Edit, PlanStatus, testkit};

use crate::client::now_ms;
use crate::device::{Device, Outcome};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_plan_missing_a_step_16_record_cannot_be_completed_through_sync() {
    let app = spawn_app().await;
    let doc = app.caseload().await[0]["id"].as_str().unwrap().to_owned();
    let token = app.login("cm1.demo").await;
    let mut device = Device::connect(&app.ws_url(), &token, "completer").await;
    device.hello().await.unwrap();
    assert_eq!(device.open(&doc).await, Outcome::Synced);
    for edit in [
        Edit::RecordConsent {
            recipients: vec![ConsentRecipient::Mdt, ConsentRecipient::Ambulance],
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: "2026-01-05".into(),
        },
        Edit::SetCaseManager {
            name: "Casey Manager".into(),
            role: "community matron".into(),
            phone: String::new(),
        },
    ] {
        assert_eq!(device.write(&doc, &edit).await, Outcome::Acked, "{edit:?}");
    }

    // A modified client sets the status itself, with consent and a case manager only (the
    // old rule): refused, naming what is missing.
    let editor = device.editor.clone().unwrap();
    let mut enrolment = device.docs[&doc].plan().unwrap().enrolment;
    enrolment.status = PlanStatus::Complete;
    enrolment.completed = Some(editor.at(now_ms()));
    let note = ChangeNote {
        user_id: editor.user_id.clone(),
        user_name: editor.user_name.clone(),
        at_ms: Some(now_ms()),
    };
    let outcome = device
        .write_raw(&doc, |am| {
            autosurgeon::reconcile_prop(&mut *am, automerge::ROOT, "enrolment", &enrolment)
                .unwrap();
            am.commit_with(
                CommitOptions::default().with_message(serde_json::to_string(&note).unwrap()),
            );
        })
        .await;
    let Outcome::Refused(message) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        message.contains("the plan cannot be marked complete"),
        "{message}"
    );
    assert!(
        message.contains("no face-to-face meeting with the GP is recorded"),
        "{message}"
    );
    let refused = app.audit_of("plan.write").await;
    assert!(
        refused
            .iter()
            .any(|e| e.outcome == "refused" && e.detail.starts_with("completion")),
        "{refused:?}"
    );

    // With the records, a paper copy and "mark complete" as the app makes them, it completes.
    let mut fresh = Device::connect(&app.ws_url(), &token, "completer-2").await;
    fresh.hello().await.unwrap();
    assert_eq!(fresh.open(&doc).await, Outcome::Synced);
    let editor = fresh.editor.clone().unwrap();
    let edits = testkit::completion(&fresh.docs[&doc], &[], &editor, now_ms()).unwrap();
    for edit in &edits {
        assert_eq!(fresh.write(&doc, edit).await, Outcome::Acked, "{edit:?}");
    }
    let mut check = Device::connect(&app.ws_url(), &token, "checker").await;
    check.hello().await.unwrap();
    assert_eq!(check.open(&doc).await, Outcome::Synced);
    let plan = check.docs[&doc].plan().unwrap();
    assert_eq!(plan.status(), PlanStatus::Complete);
    assert!(plan.completion_problems().is_empty());
    assert_eq!(plan.gp_meeting.unwrap().gp, "Dr Patel");
}
