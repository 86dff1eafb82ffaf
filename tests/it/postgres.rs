//! The same server on PostgreSQL, when `REDFOLDER_TEST_POSTGRES` names a server
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`). Each test creates its own database.

use redfolder_shared::{DnacprStatus, Edit};

use crate::client::SyncClient;
use crate::helpers::{drop_database, spawn_postgres_app};

#[tokio::test]
async fn postgres_serves_caseloads_summaries_and_sync() {
    let Some((app, database)) = spawn_postgres_app().await else {
        return;
    };
    let caseload = app.caseload().await;
    assert_eq!(caseload.len(), redfolder_server::demo::DEMO_CASELOAD);
    let patient = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap();
    let doc_id = patient["id"].as_str().unwrap();
    let nhs = patient["nhs_number"].as_str().unwrap();

    let token = app.login("cm1.demo").await;
    let mut client = SyncClient::connect(&app.ws_url(), &token, "pg-tablet").await;
    client.sync_caseload().await;
    client.apply(
        doc_id,
        &Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        },
    );
    client.apply(
        doc_id,
        &Edit::AddMedication {
            id: "pg-med".into(),
            name: "Postgresol".into(),
            dose: "1 mg".into(),
            notes: String::new(),
        },
    );
    client.wait_acked(doc_id).await;

    let crew = app.login("ambulance.demo").await;
    let summary = app.emergency_summary(nhs, Some(&crew)).await.json();
    assert_eq!(summary["dnacpr"], "do_not_attempt_cpr");
    assert!(
        summary["medications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Postgresol")
    );
    let refusing = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == false)
        .unwrap();
    let no_consent = app
        .emergency_summary(refusing["nhs_number"].as_str().unwrap(), Some(&crew))
        .await;
    let no_plan = app.emergency_summary("9434765919", Some(&crew)).await;
    assert_eq!((no_consent.status, &no_consent.body), (404, &no_plan.body));
    let outcomes: Vec<String> = app
        .audit_of("emergency.summary")
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes, ["ok", "no_consent", "not_found"]);
    drop(client);
    drop_database(&database).await;
}
