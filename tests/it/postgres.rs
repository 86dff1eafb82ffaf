//! The same server on PostgreSQL, when `REDFOLDER_TEST_POSTGRES` names a server
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`). Each test creates its own database.

use redfolder_shared::{DnacprStatus, Edit};

use crate::client::SyncClient;
use crate::helpers::{TestApp, spawn_app_at};

/// A fresh database on the configured server (and its name), or `None` when PostgreSQL
/// tests are off.
async fn spawn_postgres_app() -> Option<(TestApp, String)> {
    let Ok(base) = std::env::var("REDFOLDER_TEST_POSTGRES") else {
        eprintln!("REDFOLDER_TEST_POSTGRES is not set: skipping a PostgreSQL test");
        return None;
    };
    let name = format!("redfolder_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connecting to REDFOLDER_TEST_POSTGRES");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database name");
    let url = format!("{prefix}/{name}");
    Some((spawn_app_at(tempfile::tempdir().unwrap(), url).await, name))
}

/// Drops a test database once its test has passed (a failed test leaves it to inspect).
async fn drop_database(name: &str) {
    let base = std::env::var("REDFOLDER_TEST_POSTGRES").unwrap();
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

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
