//! A modified client writing raw Automerge changes, one for each rule of the plan: each
//! is refused whole with its rule, nothing of it is stored, and the refusal is audited.
//! The same scenario runs on SQLite and, where `REDFOLDER_TEST_POSTGRES` is set, on
//! PostgreSQL.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use autosurgeon::reconcile_prop;
use redfolder_shared::{AllergySeverity, BaselineObservations, ChangeNote, Edit, Editor};
use serde_json::Value;

use crate::client::now_ms;
use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};

#[tokio::test]
async fn every_rule_holds_against_a_raw_client_on_sqlite() {
    let app = spawn_app().await;
    every_rule_holds(&app).await;
    identity_is_unique_across_practices(&app).await;
}

#[tokio::test]
async fn every_rule_holds_against_a_raw_client_on_postgres() {
    let Some((app, database)) = spawn_postgres_app().await else {
        return;
    };
    every_rule_holds(&app).await;
    identity_is_unique_across_practices(&app).await;
    drop(app);
    drop_database(&database).await;
}

async fn device(app: &TestApp, user: &str, actor: &str, doc: &str) -> Device {
    let token = app.login(user).await;
    let mut d = Device::connect(&app.ws_url(), &token, actor).await;
    d.hello().await.unwrap();
    assert_eq!(d.open(doc).await, Outcome::Synced);
    d
}

/// The plan as the server holds it, read by a fresh device.
async fn stored_plan(app: &TestApp, doc: &str) -> redfolder_shared::CarePlan {
    let mut reader = device(app, "cm2.demo", &format!("reader-{}", now_ms()), doc).await;
    reader.docs.get_mut(doc).unwrap().plan().unwrap()
}

fn refused(outcome: Outcome, rule_words: &str) -> String {
    let Outcome::Refused(message) = outcome else {
        panic!("expected a refusal ({rule_words}), got {outcome:?}")
    };
    assert!(message.contains(rule_words), "{message}");
    assert!(message.contains("nothing of it was stored"), "{message}");
    message
}

async fn assert_audited(app: &TestApp, rule: &str, doc: &str) {
    let entries = app.audit_of("plan.write").await;
    assert!(
        entries.iter().any(|e| e.outcome == "refused"
            && e.detail.starts_with(&format!("{rule}:"))
            && e.patient_id.as_deref() == Some(doc)),
        "no refused plan.write audit entry for {rule}: {entries:?}"
    );
}

fn obj(am: &automerge::AutoCommit, key: &str) -> automerge::ObjId {
    am.get(ROOT, key).unwrap().unwrap().1
}

async fn every_rule_holds(app: &TestApp) {
    let doc = app.caseload().await[0]["id"].as_str().unwrap().to_owned();
    let mut tablet = device(app, "cm1.demo", "rogue-tablet", &doc).await;
    let allergy = Edit::AddAllergy {
        id: "adv-allergy".into(),
        substance: "Penicillin".into(),
        reaction: "Anaphylaxis".into(),
        severity: AllergySeverity::Severe,
    };
    assert_eq!(tablet.write(&doc, &allergy).await, Outcome::Acked);
    let before = stored_plan(app, &doc).await;
    assert!(before.allergies.iter().any(|a| a.id == "adv-allergy"));

    // 1. Deleting an allergy outright.
    let index = before
        .allergies
        .iter()
        .position(|a| a.id == "adv-allergy")
        .unwrap();
    let mut t = device(app, "cm1.demo", "rogue-delete-2", &doc).await;
    let outcome = {
        let editor = t.editor.clone().unwrap();
        t.write_raw(&doc, |am| {
            let list = obj(am, "allergies");
            am.delete(&list, index).unwrap();
            commit_as(&editor, am);
        })
        .await
    };
    refused(outcome, "entries are never removed");
    assert_audited(app, "entry_removed", &doc).await;

    // 2. An attribution naming another clinician.
    let mut t = device(app, "cm1.demo", "rogue-forge", &doc).await;
    let outcome = {
        let editor = t.editor.clone().unwrap();
        t.write_raw(&doc, |am| {
            let forged = Editor {
                user_id: "u-consultant-who-never-saw-this".into(),
                user_name: "Dr Elsewhere".into(),
            };
            let list = obj(am, "medications");
            let n = am.length(&list);
            let med = redfolder_shared::Medication {
                id: "adv-forged".into(),
                name: "Diamorphine".into(),
                dose: "5 mg".into(),
                notes: String::new(),
                recorded: forged.at(now_ms()),
                entered_in_error: None,
                anticipatory: true,
                location: String::new(),
                updated: None,
            };
            autosurgeon::reconcile_insert(am, list, n, &med).unwrap();
            commit_as(&editor, am);
        })
        .await
    };
    refused(outcome, "may only be attributed to the user who submits it");
    assert_audited(app, "attribution", &doc).await;

    // 3. An implausible observation.
    let mut t = device(app, "cm1.demo", "rogue-obs", &doc).await;
    let outcome = {
        let editor = t.editor.clone().unwrap();
        t.write_raw(&doc, |am| {
            let baseline = BaselineObservations {
                pulse_bpm: Some(800),
                recorded: Some(editor.at(now_ms())),
                ..BaselineObservations::default()
            };
            am.put_object(ROOT, "baseline", ObjType::Map).unwrap();
            reconcile_prop(am, ROOT, "baseline", &baseline).unwrap();
            commit_as(&editor, am);
        })
        .await
    };
    refused(outcome, "pulse");
    assert_audited(app, "plausibility", &doc).await;

    // 4. "No known allergies" beside a listed allergy.
    let mut t = device(app, "cm1.demo", "rogue-nka", &doc).await;
    let outcome = {
        let editor = t.editor.clone().unwrap();
        t.write_raw(&doc, |am| {
            let statement = redfolder_shared::AllergyStatement {
                status: redfolder_shared::AllergyStatus::NoKnownAllergies,
                recorded: editor.at(now_ms()),
            };
            am.put_object(ROOT, "allergy_status", ObjType::Map).unwrap();
            reconcile_prop(am, ROOT, "allergy_status", &statement).unwrap();
            commit_as(&editor, am);
        })
        .await
    };
    refused(outcome, "no known allergies");
    assert_audited(app, "register", &doc).await;

    // 5. A spaced NHS number written straight into the document.
    let mut t = device(app, "cm1.demo", "rogue-spaces", &doc).await;
    let spaced = {
        let d = before.patient.nhs_number.as_str();
        format!("{} {} {}", &d[..3], &d[3..6], &d[6..])
    };
    let outcome = {
        let editor = t.editor.clone().unwrap();
        t.write_raw(&doc, |am| {
            let patient = obj(am, "patient");
            am.put(&patient, "nhs_number", spaced.as_str()).unwrap();
            commit_as(&editor, am);
        })
        .await
    };
    refused(outcome, "ten digits");
    assert_audited(app, "identity", &doc).await;

    // 6. An MDT member writing a protected field by its raw key.
    let mdt = app.login("mdt.demo").await;
    let listing = app.get("/api/v1/patients", Some(&mdt)).await.json();
    let mdt_doc = listing[0]["id"].as_str().unwrap().to_owned();
    let mut member = device(app, "mdt.demo", "rogue-mdt", &mdt_doc).await;
    let outcome = {
        let editor = member.editor.clone().unwrap();
        member
            .write_raw(&mdt_doc, |am| {
                let consent = obj(am, "consent");
                am.put(&consent, "share_with_emergency_services", false)
                    .unwrap();
                commit_as(&editor, am);
            })
            .await
    };
    refused(outcome, "which an MDT member may not change");
    assert_audited(app, "write_scope", &mdt_doc).await;

    // Nothing of any of it was stored; the honest edit before them was.
    let after = stored_plan(app, &doc).await;
    assert!(after.allergies.iter().any(|a| a.id == "adv-allergy"));
    assert!(!after.medications.iter().any(|m| m.id == "adv-forged"));
    assert_eq!(after.baseline, before.baseline);
    assert_eq!(after.allergy_status, before.allergy_status);
    assert_eq!(after.patient.nhs_number, before.patient.nhs_number);
    assert_eq!(after.plan_version, before.plan_version);
    // And the refused device's edits made through the app still go through afterwards.
    let mut honest = device(app, "cm1.demo", "honest-after", &doc).await;
    let again = Edit::AddMedication {
        id: "adv-honest".into(),
        name: "Paracetamol".into(),
        dose: "1 g".into(),
        notes: String::new(),
    };
    assert_eq!(honest.write(&doc, &again).await, Outcome::Acked);
}

/// Commits what a closure wrote with a change note naming `editor`, as the app does, so
/// that only the plan's rules (not authorship) are in question.
fn commit_as(editor: &Editor, am: &mut automerge::AutoCommit) {
    let note = ChangeNote {
        user_id: editor.user_id.clone(),
        user_name: editor.user_name.clone(),
        at_ms: Some(now_ms()),
    };
    let message = serde_json::to_string(&note).unwrap();
    am.commit_with(automerge::transaction::CommitOptions::default().with_message(message));
}

/// A case manager at another practice gives their plan the NHS number of a demo practice
/// patient. Refused, with words that do not confirm a patient elsewhere beyond what the
/// emergency route says; the emergency route keeps answering for the right patient.
async fn identity_is_unique_across_practices(app: &TestApp) {
    app.create_user("cm.canal", "Y99903", &["case_manager"], "canal-password-1")
        .await;
    let canal = app.login_with("cm.canal", "canal-password-1").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = app.get("/api/v1/patients", Some(&canal)).await.json();
    let their_doc = theirs[0]["id"].as_str().unwrap().to_owned();
    let ours = app.caseload().await;
    let consenting = ours
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap();
    let withholding = ours
        .iter()
        .find(|p| p["share_with_emergency_services"] == false)
        .unwrap();
    let crew = app.login("ambulance.demo").await;
    let number = |p: &Value| p["nhs_number"].as_str().unwrap().to_owned();
    let summary_before = app
        .emergency_summary(&number(consenting), Some(&crew))
        .await
        .json();

    let mut t = Device::connect(&app.ws_url(), &canal, "canal-tablet").await;
    t.hello().await.unwrap();
    assert_eq!(t.open(&their_doc).await, Outcome::Synced);
    let plan = t.docs.get_mut(&their_doc).unwrap().plan().unwrap();
    let take = |nhs: String| Edit::SetPatient {
        nhs_number: nhs,
        name: plan.patient.name.clone(),
        date_of_birth: plan.patient.date_of_birth.clone(),
        address: plan.patient.address.clone(),
    };

    // A consenting patient's number: the emergency route already says a plan exists.
    let message = refused(
        t.write(&their_doc, &take(number(consenting))).await,
        "held by another practice",
    );
    assert!(
        !message.contains(consenting["id"].as_str().unwrap()),
        "{message}"
    );
    assert_audited(app, "identity", &their_doc).await;

    // A withholding patient's number (consent withdrawn): the words confirm nothing, and
    // the emergency route's 404 does not turn into another plan's 200.
    let mut t = Device::connect(&app.ws_url(), &canal, "canal-tablet-2").await;
    t.hello().await.unwrap();
    assert_eq!(t.open(&their_doc).await, Outcome::Synced);
    let message = refused(
        t.write(&their_doc, &take(number(withholding))).await,
        "cannot be given to this plan",
    );
    assert!(!message.contains("another practice"), "{message}");
    let withheld = app
        .emergency_summary(&number(withholding), Some(&crew))
        .await;
    assert_eq!(withheld.status, 404, "{withheld:?}");
    let summary_after = app
        .emergency_summary(&number(consenting), Some(&crew))
        .await
        .json();
    assert_eq!(summary_after["patient_id"], summary_before["patient_id"]);

    // Within one practice the message may say which plan holds the number.
    let doc1 = ours[1]["id"].as_str().unwrap().to_owned();
    let mut ours_tablet = device(app, "cm1.demo", "dup-in-practice", &doc1).await;
    let plan1 = ours_tablet.docs.get_mut(&doc1).unwrap().plan().unwrap();
    let other_number = number(&ours[0]);
    let dup = Edit::SetPatient {
        nhs_number: other_number,
        name: plan1.patient.name.clone(),
        date_of_birth: plan1.patient.date_of_birth.clone(),
        address: plan1.patient.address.clone(),
    };
    let message = refused(ours_tablet.write(&doc1, &dup).await, "your practice");
    assert!(
        message.contains(ours[0]["id"].as_str().unwrap()),
        "{message}"
    );
}
