//! The paper copy in the home (issue 14): a print recorded offline on one tablet reaches
//! the server like any edit, and the caseload says whether that paper is still current.

use redfolder_shared::{AllergySeverity, Edit, GoalStatus};
use serde_json::Value;

use crate::client::SyncClient;
use crate::helpers::{TestApp, spawn_app};

fn row<'a>(caseload: &'a [Value], id: &str) -> &'a Value {
    caseload
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the caseload"))
}

async fn a_print_is_tracked_until_the_yellow_pages_change(app: &TestApp) {
    let token = app.login("cm1.demo").await;
    let caseload = app.caseload().await;
    let id = caseload[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(row(&caseload, &id)["paper_copy"], "not_printed");

    // Tablet A prints the yellow pages from its own copy and records the print.
    let mut a = SyncClient::connect(&app.ws_url(), &token, "paper-tablet-a").await;
    a.sync_caseload().await;
    let plan = a.engine.doc(&id).unwrap().plan().unwrap();
    let fingerprint = plan.summary_fingerprint().whole;
    let printed_code = plan.summary_fingerprint().code();
    a.apply(&id, &Edit::RecordPaperCopy { fingerprint });
    a.wait_acked(&id).await;

    let caseload = app.caseload().await;
    let printed = row(&caseload, &id);
    assert_eq!(printed["paper_copy"], "current", "{printed}");
    let label = printed["paper_copy_label"].as_str().unwrap();
    assert!(
        label.starts_with("Paper copy in the home is current (printed "),
        "{label}"
    );
    let check = app
        .get(
            &format!("/api/v1/patients/{id}/paper-copy?code={printed_code}"),
            Some(&token),
        )
        .await;
    assert_eq!(check.status, 200, "{check:?}");
    assert_eq!(check.json()["state"], "current");

    // Tablet B, which never saw the print, changes something off the yellow pages: the
    // paper stays current. Then it adds an allergy: the paper is out of date.
    let mut b = SyncClient::connect(&app.ws_url(), &token, "paper-tablet-b").await;
    b.sync_caseload().await;
    b.apply(
        &id,
        &Edit::AddGoal {
            id: "paper-goal".into(),
            what_matters: String::new(),
            goal: "Garden again".into(),
            owner: String::new(),
        },
    );
    b.apply(
        &id,
        &Edit::SetGoalStatus {
            id: "paper-goal".into(),
            status: GoalStatus::Achieved,
        },
    );
    b.wait_acked(&id).await;
    let caseload = app.caseload().await;
    assert_eq!(row(&caseload, &id)["paper_copy"], "current");

    b.apply(
        &id,
        &Edit::AddAllergy {
            id: "paper-allergy".into(),
            substance: "Penicillin".into(),
            reaction: "Rash".into(),
            severity: AllergySeverity::Severe,
        },
    );
    b.wait_acked(&id).await;
    let caseload = app.caseload().await;
    let stale = row(&caseload, &id);
    assert_eq!(stale["paper_copy"], "out_of_date", "{stale}");
    let label = stale["paper_copy_label"].as_str().unwrap();
    assert!(
        label.starts_with("Paper copy in the home is out of date (printed ")
            && label.contains("): reprint")
            && label.ends_with("Changed since: allergies"),
        "{label}"
    );

    // The printed code, typed into the server's checker, says the same; a mistyped code is
    // a clear 400; a role without plan access is refused.
    let check = app
        .get(
            &format!("/api/v1/patients/{id}/paper-copy?code={printed_code}"),
            Some(&token),
        )
        .await;
    assert_eq!(check.status, 200, "{check:?}");
    let check = check.json();
    assert_eq!(check["state"], "out_of_date", "{check}");
    assert_eq!(check["changed_sections"], serde_json::json!(["allergies"]));
    let home = app
        .get(&format!("/api/v1/patients/{id}/paper-copy"), Some(&token))
        .await;
    assert_eq!(home.json()["state"], "out_of_date");
    let bad = app
        .get(
            &format!("/api/v1/patients/{id}/paper-copy?code=RF1-nonsense"),
            Some(&token),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("print code")
    );
    let crew = app.login("ambulance.demo").await;
    let refused = app
        .get(&format!("/api/v1/patients/{id}/paper-copy"), Some(&crew))
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
}

#[tokio::test]
async fn a_print_is_tracked_until_the_yellow_pages_change_on_sqlite() {
    let app = spawn_app().await;
    a_print_is_tracked_until_the_yellow_pages_change(&app).await;
}

#[tokio::test]
async fn a_print_is_tracked_until_the_yellow_pages_change_on_postgres() {
    let Some((app, database)) = crate::helpers::spawn_postgres_app().await else {
        return;
    };
    a_print_is_tracked_until_the_yellow_pages_change(&app).await;
    drop(app);
    crate::helpers::drop_database(&database).await;
}

fn signed_url(id: &str, code: &str, version: &str) -> String {
    format!(
        "/api/v1/patients/{id}/paper-copy/signed?code={code}&version={}",
        version.replace(',', "%2C")
    )
}

async fn a_print_is_signed_only_at_the_servers_version(app: &TestApp) {
    let token = app.login("cm1.demo").await;
    let caseload = app.caseload().await;
    let id = caseload[0]["id"].as_str().unwrap().to_owned();
    let mut a = SyncClient::connect(&app.ws_url(), &token, "signing-tablet-a").await;
    a.sync_caseload().await;
    let plan = a.engine.doc(&id).unwrap().plan().unwrap();
    let code = plan.summary_fingerprint().code();
    let version = plan.plan_version.clone();

    // The tablet's copy is the server's: the server signs the code and the version, and
    // the signature checks against the published key (a code typed in capitals is the
    // same code).
    let signed = app
        .get(
            &signed_url(&id, &code.to_ascii_uppercase(), &version),
            Some(&token),
        )
        .await;
    assert_eq!(signed.status, 200, "{signed:?}");
    let signed = signed.json();
    assert_eq!(signed["kind"], "red_folder_print");
    assert_eq!(signed["code"], code.as_str());
    assert_eq!(signed["plan_version"], version.as_str());
    let keys = app.get("/api/v1/emergency/signing-key", None).await.json();
    let active = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["active"] == true)
        .unwrap()
        .clone();
    assert_eq!(signed["signature"]["key_id"], active["key_id"]);
    let public = active["public_key_hex"].as_str().unwrap();
    let value = signed["signature"]["value"].as_str().unwrap();
    assert!(crate::emergency::verifies(public, &signed, value));
    let mut forged = signed.clone();
    forged["plan_version"] = "0000".into();
    assert!(!crate::emergency::verifies(public, &forged, value));

    // A colleague adds an allergy: the old print's version is no longer the server's, and
    // the old code does not say what the new version's pages say. Neither is signed.
    let mut b = SyncClient::connect(&app.ws_url(), &token, "signing-tablet-b").await;
    b.sync_caseload().await;
    b.apply(
        &id,
        &Edit::AddAllergy {
            id: "signed-allergy".into(),
            substance: "Latex".into(),
            reaction: "Hives".into(),
            severity: AllergySeverity::Moderate,
        },
    );
    b.wait_acked(&id).await;
    let new_version = b.engine.doc(&id).unwrap().plan().unwrap().plan_version;
    for (code, version) in [(&code, &version), (&code, &new_version)] {
        let refused = app.get(&signed_url(&id, code, version), Some(&token)).await;
        assert_eq!(refused.status, 409, "{refused:?}");
    }

    // Every signing request is in the patient's access log, with its outcome.
    let log = app
        .get(&format!("/api/v1/patients/{id}/access-log"), Some(&token))
        .await;
    assert_eq!(log.status, 200, "{log:?}");
    let log = log.json();
    let signings: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "patient.paper_copy_sign")
        .collect();
    let outcomes = |o: &str| signings.iter().filter(|e| e["outcome"] == o).count();
    assert_eq!(
        (outcomes("ok"), outcomes("refused")),
        (1, 2),
        "{signings:?}"
    );

    // Not a print code: 400. Not signed in: 401. A role without plan access: 403. A
    // patient not in the caller's care: 404.
    let bad = app
        .get(&signed_url(&id, "RF1-nonsense", &new_version), Some(&token))
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    let anonymous = app.get(&signed_url(&id, &code, &version), None).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let crew = app.login("ambulance.demo").await;
    let forbidden = app
        .get(&signed_url(&id, &code, &version), Some(&crew))
        .await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    let missing = app
        .get(&signed_url("no-such-plan", &code, &version), Some(&token))
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
}

#[tokio::test]
async fn a_print_is_signed_only_at_the_servers_version_on_sqlite() {
    let app = spawn_app().await;
    a_print_is_signed_only_at_the_servers_version(&app).await;
}

#[tokio::test]
async fn a_print_is_signed_only_at_the_servers_version_on_postgres() {
    let Some((app, database)) = crate::helpers::spawn_postgres_app().await else {
        return;
    };
    a_print_is_signed_only_at_the_servers_version(&app).await;
    drop(app);
    crate::helpers::drop_database(&database).await;
}
