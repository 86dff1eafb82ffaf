//! Write rules inside sync: actor binding, authorship, the server's own actor, and an MDT
//! member's access ending the moment consent is withdrawn.

use automerge::transaction::{CommitOptions, Transactable};
use redfolder_shared::protocol::ErrorCode;
use redfolder_shared::{DnacprStatus, Edit};

use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, spawn_app};

fn medication(id: &str) -> Edit {
    Edit::AddMedication {
        id: id.into(),
        name: format!("Rule {id}"),
        dose: "1 mg".into(),
        notes: String::new(),
    }
}

async fn first_patient(app: &TestApp) -> String {
    app.caseload().await[0]["id"].as_str().unwrap().to_owned()
}

async fn device(app: &TestApp, token: &str, actor: &str, doc: &str) -> Device {
    let mut d = Device::connect(&app.ws_url(), token, actor).await;
    d.hello().await.unwrap();
    assert_eq!(d.open(doc).await, Outcome::Synced);
    d
}

#[tokio::test]
async fn an_actor_belongs_to_the_device_that_first_used_it() {
    let app = spawn_app().await;
    let doc = first_patient(&app).await;
    let cm1 = app.login("cm1.demo").await;
    let mut a = device(&app, &cm1, "shared-actor", &doc).await;
    assert_eq!(a.write(&doc, &medication("a1")).await, Outcome::Acked);

    // Another user's device presenting the same actor id is refused, naming the change.
    let cm2 = app.login("cm2.demo").await;
    let mut b = device(&app, &cm2, "shared-actor", &doc).await;
    let outcome = b.write(&doc, &medication("b1")).await;
    let Outcome::Refused(message) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(message.contains("another device"), "{message}");
    assert!(message.contains("nothing of it was stored"), "{message}");
    // So is the same user on a second device registration.
    let cm1_again = app.login("cm1.demo").await;
    let mut c = device(&app, &cm1_again, "shared-actor", &doc).await;
    assert!(matches!(
        c.write(&doc, &medication("c1")).await,
        Outcome::Refused(_)
    ));
    // The first device carries on.
    assert_eq!(a.write(&doc, &medication("a2")).await, Outcome::Acked);

    let mut check = device(&app, &cm1, "checker", &doc).await;
    let plan = check.docs.get_mut(&doc).unwrap().plan().unwrap();
    let ids: Vec<&str> = plan.medications.iter().map(|m| m.id.as_str()).collect();
    assert!(ids.contains(&"a1") && ids.contains(&"a2"));
    assert!(!ids.contains(&"b1") && !ids.contains(&"c1"), "{ids:?}");
    let refused = app.audit_of("plan.write").await;
    assert!(
        refused
            .iter()
            .any(|e| e.outcome == "refused" && e.detail.starts_with("actor:"))
    );
}

#[tokio::test]
async fn a_change_must_name_its_real_author_and_not_the_server() {
    let app = spawn_app().await;
    let doc = first_patient(&app).await;
    let token = app.login("cm1.demo").await;

    let mut forger = device(&app, &token, "forger", &doc).await;
    let outcome = forger
        .write_raw(&doc, |am| {
            am.put(automerge::ROOT, "preferred_place_of_care", "Hospice")
                .unwrap();
            let note =
                serde_json::json!({ "user_id": "someone-else", "user_name": "Someone Else" });
            am.commit_with(CommitOptions::default().with_message(note.to_string()));
        })
        .await;
    let Outcome::Refused(message) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        message.contains("does not name you as its author"),
        "{message}"
    );

    let mut impostor = device(&app, &token, "redfolder-server", &doc).await;
    let outcome = impostor.write(&doc, &medication("srv")).await;
    let Outcome::Refused(message) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(message.contains("server's own actor"), "{message}");
}

#[tokio::test]
async fn an_mdt_member_loses_a_plan_the_moment_consent_is_withdrawn() {
    let app = spawn_app().await;
    let mdt = app.login("mdt.demo").await;
    let listing = app.get("/api/v1/patients", Some(&mdt)).await.json();
    let doc = listing[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listing[0]["access"], "mdt_member");
    let mut member = device(&app, &mdt, "mdt-tablet", &doc).await;
    assert_eq!(
        member.write(&doc, &medication("mdt-note")).await,
        Outcome::Acked
    );
    let refused = member
        .write(
            &doc,
            &Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
        )
        .await;
    let Outcome::Refused(message) = refused else {
        panic!("{refused:?}")
    };
    assert!(message.contains("changes DNACPR"), "{message}");

    let mut watcher = device(&app, &mdt, "mdt-watcher", &doc).await;
    let errors = watcher.errors.len();
    let cm = app.login("cm1.demo").await;
    let mut manager = device(&app, &cm, "cm-tablet", &doc).await;
    let withdraw = Edit::SetConsent {
        share_with_mdt: false,
        share_with_emergency_services: true,
    };
    assert_eq!(manager.write(&doc, &withdraw).await, Outcome::Acked);
    // The member's open connection is told at once, not sent the change.
    watcher.read_until(|d| d.errors.len() > errors).await;
    let (code, doc_id, message) = watcher.errors[errors].clone();
    assert_eq!(
        (code, doc_id.as_deref()),
        (ErrorCode::Forbidden, Some(doc.as_str()))
    );
    assert!(message.contains("ended"), "{message}");
    let plan = watcher.docs.get(&doc).unwrap().plan().unwrap();
    assert!(
        plan.consent.share_with_mdt,
        "the withdrawing change reached the member"
    );
    let mut again = Device::connect(&app.ws_url(), &mdt, "mdt-again").await;
    again.hello().await.unwrap();
    assert!(matches!(again.open(&doc).await, Outcome::Forbidden(_)));
    let listing = app.get("/api/v1/patients", Some(&mdt)).await.json();
    assert!(
        !listing
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == doc.as_str())
    );
}
