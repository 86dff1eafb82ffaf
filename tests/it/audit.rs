//! The hash-chained audit log: `redfolder audit verify` passes on an untouched log and
//! names the entry after a row is altered or removed directly in the database.

use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};
use crate::process::run_cli;

/// Makes some audited reads and writes.
async fn activity(app: &TestApp) {
    let crew = app.login("ambulance.demo").await;
    let caseload = app.caseload().await;
    for p in caseload.iter().take(3) {
        app.emergency_summary(p["nhs_number"].as_str().unwrap(), Some(&crew))
            .await;
    }
    app.get("/api/v1/emergency/feed?since=0&limit=5", Some(&crew))
        .await;
}

fn verify(url: &str) -> (bool, String) {
    let out = run_cli(&["audit", "verify", "--database", url], "");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 1),
        "verify failed to run: {stdout} {stderr}"
    );
    (out.status.success(), stdout)
}

#[tokio::test]
async fn audit_verify_names_an_altered_entry_on_sqlite() {
    let app = spawn_app().await;
    activity(&app).await;
    let (ok, out) = verify(&app.database_url);
    assert!(ok, "{out}");
    assert!(out.starts_with("audit log intact: "), "{out}");

    let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    // The log refuses changes...
    let refused = sqlx::query("UPDATE audit_log SET outcome = 'ok' WHERE seq = 5")
        .execute(&db)
        .await;
    assert!(refused.is_err(), "the audit log accepted an update");
    assert!(
        sqlx::query("DELETE FROM audit_log WHERE seq = 5")
            .execute(&db)
            .await
            .is_err()
    );
    // ...so someone with the database file removes the guard first.
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET outcome = 'denied' WHERE seq = 5")
        .execute(&db)
        .await
        .unwrap();
    let (ok, out) = verify(&app.database_url);
    assert!(!ok, "{out}");
    assert!(
        out.contains("entry 5 was altered"),
        "verify must name entry 5: {out}"
    );
}

#[tokio::test]
async fn audit_verify_names_a_removed_entry_on_postgres() {
    let Some((app, database)) = spawn_postgres_app().await else {
        return;
    };
    activity(&app).await;
    let (ok, out) = verify(&app.database_url);
    assert!(ok, "{out}");

    let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    assert!(
        sqlx::query("UPDATE audit_log SET outcome = 'ok' WHERE seq = 3")
            .execute(&db)
            .await
            .is_err(),
        "the audit log accepted an update"
    );
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 4")
        .execute(&db)
        .await
        .unwrap();
    let (ok, out) = verify(&app.database_url);
    assert!(!ok, "{out}");
    assert!(out.contains("entry 4 is missing"), "{out}");

    // Putting a changed copy back in its place is caught as an alteration.
    sqlx::query(
        "INSERT INTO audit_log SELECT 4, at_ms, user_id, username, role, organisation_id, device_id,
            patient_id, subject, action, purpose, 'denied', detail, hash, hash
         FROM audit_log WHERE seq = 3",
    )
    .execute(&db)
    .await
    .unwrap();
    let (ok, out) = verify(&app.database_url);
    assert!(!ok && out.contains("entry 4"), "{out}");
    db.close().await;
    drop(app);
    drop_database(&database).await;
}

#[tokio::test]
async fn the_access_log_tells_a_case_manager_who_looked() {
    let app = spawn_app().await;
    let caseload = app.caseload().await;
    let patient = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap();
    let id = patient["id"].as_str().unwrap();
    let crew = app.login("ambulance.demo").await;
    assert_eq!(
        app.emergency_summary(patient["nhs_number"].as_str().unwrap(), Some(&crew))
            .await
            .status,
        200
    );
    let cm = app.login("cm2.demo").await;
    let reply = app
        .get(&format!("/api/v1/patients/{id}/access-log"), Some(&cm))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    let entries = body["entries"].as_array().unwrap();
    let read = entries
        .iter()
        .find(|e| e["action"] == "emergency.summary")
        .expect("the crew's read");
    assert_eq!(read["user"]["name"], "Alex Morgan (demo)");
    assert_eq!(read["role"], "emergency_clinician");
    assert_eq!(
        read["organisation"]["name"],
        "Northway Ambulance Service (demo)"
    );
    assert_eq!(read["purpose"], "emergency_care");
    assert!(read["device_id"].is_string());
    // The caseload listing that found the patient is there too, newest first.
    assert!(entries.iter().any(|e| e["action"] == "caseload.list"));
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    // Only the patient's own practice may ask.
    let mdt = app.login("mdt.demo").await;
    let reply = app
        .get(&format!("/api/v1/patients/{id}/access-log"), Some(&mdt))
        .await;
    assert_eq!(reply.status, 403);
    let admin = app.login("admin.demo").await;
    let reply = app
        .get(&format!("/api/v1/patients/{id}/access-log"), Some(&admin))
        .await;
    assert_eq!(reply.status, 403, "admins do not read patient records");
}

/// 64 crews reading at once: their entries are committed together (group commit) yet
/// every read has its own entry, each answered only after it is in the log, and the chain
/// still verifies.
async fn concurrent_reads_are_each_audited(app: &TestApp) {
    let crew = app.login("ambulance.demo").await;
    let caseload = app.caseload().await;
    let numbers: Vec<String> = caseload
        .iter()
        .map(|p| p["nhs_number"].as_str().unwrap().to_owned())
        .collect();
    let reads = (0..64).map(|i| {
        let nhs = numbers[i % numbers.len()].clone();
        let crew = crew.clone();
        async move { app.emergency_summary(&nhs, Some(&crew)).await.status }
    });
    let statuses = futures_util::future::join_all(reads).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 404),
        "{statuses:?}"
    );
    let (ok, out) = verify(&app.database_url);
    assert!(ok, "{out}");
    let count: i64 = match app.database_url.starts_with("sqlite") {
        true => {
            let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let n = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'emergency.summary'",
            )
            .fetch_one(&db)
            .await
            .unwrap();
            db.close().await;
            n
        }
        false => {
            let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let n = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'emergency.summary'",
            )
            .fetch_one(&db)
            .await
            .unwrap();
            db.close().await;
            n
        }
    };
    assert_eq!(count, 64, "one entry per read");
}

#[tokio::test]
async fn concurrent_reads_are_each_audited_on_sqlite() {
    let app = spawn_app().await;
    concurrent_reads_are_each_audited(&app).await;
}

#[tokio::test]
async fn concurrent_reads_are_each_audited_on_postgres() {
    let Some((app, database)) = spawn_postgres_app().await else {
        return;
    };
    concurrent_reads_are_each_audited(&app).await;
    drop(app);
    drop_database(&database).await;
}
