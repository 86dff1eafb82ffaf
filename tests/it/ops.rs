//! Operations: metrics, the OpenAPI description, and graceful shutdown on SIGTERM.

use redfolder_shared::Edit;

use crate::client::SyncClient;
use crate::helpers::spawn_app;
use crate::process::Server;

#[tokio::test]
async fn metrics_count_connections_frames_commits_refusals_and_requests() {
    let app = spawn_app().await;
    let token = app.login("cm1.demo").await;
    let mut client = SyncClient::connect(&app.ws_url(), &token, "metrics-tablet").await;
    client.sync_caseload().await;
    let doc = client.caseload[0].clone();
    client.apply(
        &doc,
        &Edit::AddMedication {
            id: "metrics-med".into(),
            name: "Metricol".into(),
            dose: "1 mg".into(),
            notes: String::new(),
        },
    );
    client.wait_acked(&doc).await;
    app.try_login("cm1.demo", "wrong").await;
    let reply = app.get("/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.body;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
    };
    assert_eq!(value("redfolder_sync_connections "), 1.0);
    assert!(value("redfolder_sync_frames_received_total ") >= 3.0);
    assert!(value("redfolder_sync_frames_sent_total ") >= 3.0);
    assert!(value("redfolder_commits_total ") >= 1.0);
    assert!(
        text.contains("redfolder_logins_total{outcome=\"failed\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "redfolder_http_requests_total{route=\"/api/v1/auth/login\",method=\"POST\",status=\"200\"}"
    ));
    assert!(text.contains(
        "redfolder_http_request_duration_seconds_bucket{route=\"/api/v1/auth/login\",le=\"+Inf\"}"
    ));
    // No NHS number (ten digits, demo ones start 999) in any label or value; a latency
    // such as 0.000999 is fine, so look for whole ten-digit runs.
    let ten_digit_runs = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 10)
        .count();
    assert_eq!(ten_digit_runs, 0, "no NHS numbers in metrics:\n{text}");
    drop(client);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let reply = app.get("/api/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("/healthz", &["get"]),
        ("/metrics", &["get"]),
        ("/api/openapi.json", &["get"]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/patients", &["get"]),
        ("/api/v1/patients/{id}/care-team", &["get", "post"]),
        (
            "/api/v1/patients/{id}/care-team/{organisation_id}",
            &["delete"],
        ),
        ("/api/v1/patients/{id}/access-log", &["get"]),
        ("/api/v1/patients/{id}/paper-copy", &["get"]),
        ("/api/v1/patients/{id}/fhir", &["get"]),
        ("/api/v1/patients/{id}/fhir/summary", &["get"]),
        ("/api/v1/patients/import", &["post"]),
        ("/api/v1/emergency/summary/{nhs_number}", &["get"]),
        ("/api/v1/emergency/feed", &["get"]),
        ("/api/v1/emergency/feed/stream", &["get"]),
        ("/api/v1/emergency/signing-key", &["get"]),
        ("/api/v1/reports/caseload", &["get"]),
        ("/api/v1/scheme/list-size", &["get", "post"]),
        ("/api/v1/scheme/risk-uploads", &["get", "post"]),
        ("/api/v1/scheme/exclusions", &["post"]),
        ("/api/v1/scheme/exclusions/{id}", &["delete"]),
        ("/api/v1/scheme/candidates", &["get"]),
        ("/api/v1/scheme/cohort", &["get"]),
        ("/api/v1/scheme/reviews-due", &["get"]),
        ("/api/v1/scheme/review-outcome", &["post"]),
        ("/api/v1/scheme/returns/{month}", &["get"]),
        ("/api/v1/scheme/returns/{month}/aggregate", &["get"]),
        ("/api/v1/scheme/mdt-meetings", &["get", "post"]),
        ("/api/v1/scheme/mdt-meetings/{id}", &["get"]),
        ("/api/v1/scheme/mdt-meetings/{id}/patients", &["post"]),
        (
            "/api/v1/scheme/mdt-meetings/{id}/patients/{patient_id}",
            &["put"],
        ),
        ("/api/v1/scheme/mdt-meetings/{id}/attendance", &["post"]),
        ("/api/v1/scheme/virtual-clinics", &["post"]),
        (
            "/api/v1/scheme/virtual-clinics/{id}/plans/{patient_id}",
            &["get"],
        ),
        (
            "/api/v1/scheme/virtual-clinics/{id}/plans/{patient_id}/advice",
            &["post"],
        ),
        ("/api/v1/scheme/virtual-clinics/{id}/close", &["post"]),
        ("/api/v1/scheme/advice", &["get"]),
        ("/api/v1/admin/organisations", &["get", "post"]),
        ("/api/v1/admin/users", &["get", "post"]),
        ("/api/v1/admin/users/{username}/reset-password", &["post"]),
        ("/api/v1/admin/users/{username}/disable", &["post"]),
        ("/api/v1/admin/users/{username}/devices", &["get"]),
        ("/api/v1/admin/devices/{device_id}/revoke", &["post"]),
        ("/api/v1/referrals", &["get", "post"]),
        ("/api/v1/referrals/fhir", &["post"]),
        ("/api/v1/referrals/specialties", &["get", "post"]),
        ("/api/v1/referrals/reviewers", &["get", "post"]),
        ("/api/v1/referrals/queue", &["get"]),
        ("/api/v1/referrals/report", &["get"]),
        ("/api/v1/referrals/{id}", &["get"]),
        ("/api/v1/referrals/{id}/decision", &["post"]),
        ("/api/v1/referrals/{id}/answer", &["post"]),
        ("/api/v1/referrals/{id}/acknowledge", &["post"]),
        ("/api/v1/referrals/{id}/letter", &["get"]),
        ("/api/v1/sync", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not described"));
        for method in *methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} is not described"
            );
        }
    }
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn sigterm_finishes_in_flight_commits_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("term.db").display());
    let mut server = Server::start(&url, dir.path());
    let token = server.login("cm1.demo").await;
    let mut client = SyncClient::connect(&server.ws_url(), &token, "term-tablet").await;
    client.sync_caseload().await;
    let docs: Vec<String> = client.caseload.iter().take(5).cloned().collect();
    // Send edits and stop the server while they are arriving.
    for (n, doc) in docs.iter().enumerate() {
        client.apply(
            doc,
            &Edit::AddMedication {
                id: format!("term-{n}"),
                name: format!("Terminol {n}"),
                dose: "1 mg".into(),
                notes: String::new(),
            },
        );
    }
    client.flush().await;
    let exited_cleanly = tokio::task::spawn_blocking(move || {
        let ok = server.terminate();
        (ok, server)
    });
    // Collect whatever the server acknowledged before it closed the connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !client.is_closed() && std::time::Instant::now() < deadline {
        client
            .step_quietly(std::time::Duration::from_millis(100))
            .await;
    }
    let (ok, _stopped) = exited_cleanly.await.unwrap();
    assert!(ok, "the server did not exit cleanly on SIGTERM");
    let acked: Vec<(String, String)> = docs
        .iter()
        .enumerate()
        .filter(|(_, doc)| client.engine.pending(doc) == 0)
        .map(|(n, doc)| (doc.clone(), format!("term-{n}")))
        .collect();

    // Every acknowledged change is there after a restart; the rest upload again.
    let server = Server::start(&url, dir.path());
    let check_token = server.login("cm1.demo").await;
    let mut fresh = SyncClient::connect(&server.ws_url(), &check_token, "term-check").await;
    fresh.sync_caseload().await;
    for (doc, med) in &acked {
        let plan = fresh.engine.doc(doc).unwrap().plan().unwrap();
        assert!(
            plan.medications.iter().any(|m| &m.id == med),
            "{med} was acknowledged but is lost"
        );
    }
    // The same device (its access token outlives the restart) uploads what was not acked.
    client.engine.take_outgoing();
    let engine = std::mem::replace(
        &mut client.engine,
        redfolder_shared::ClientEngine::new(redfolder_shared::ActorId::random()),
    );
    let mut again = SyncClient::connect_with(&server.ws_url(), &token, engine).await;
    for doc in &docs {
        again.wait_acked(doc).await;
    }
}
