//! Health, login, caseload, limits and the static web app.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_is_ok() {
    let app = spawn_app().await;
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({ "status": "ok" }));
}

#[tokio::test]
async fn login_returns_a_token_and_the_user() {
    let app = spawn_app().await;
    let reply = app.try_login("cm1.demo", "demo").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["token"].as_str().unwrap().len(), 64, "{body}");
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 64, "{body}");
    assert_ne!(body["token"], body["refresh_token"]);
    assert_eq!(body["expires_in"], 15 * 60);
    assert_eq!(body["refresh_expires_in"], 30 * 24 * 60 * 60);
    assert!(body["device_id"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(body["user"]["role"], "case_manager");
    assert_eq!(body["user"]["roles"], serde_json::json!(["case_manager"]));
    assert_eq!(body["user"]["name"], "Sam Carter (demo)");
    assert!(body["user"]["id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn wrong_credentials_are_a_401_json_error() {
    let app = spawn_app().await;
    for (username, password) in [("cm1.demo", "wrong"), ("nobody", "demo"), ("", "")] {
        let reply = app.try_login(username, password).await;
        assert_eq!(reply.status, 401, "{username}: {reply:?}");
        assert_eq!(reply.json()["error"], "invalid_credentials");
    }
}

#[tokio::test]
async fn a_malformed_login_body_is_a_400_json_error() {
    let app = spawn_app().await;
    let reply = app
        .post_json("/api/v1/auth/login", &json!({ "user": "x" }))
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["error"], "bad_request");
}

#[tokio::test]
async fn a_case_manager_sees_their_practice_caseload() {
    let app = spawn_app().await;
    let caseload = app.caseload().await;
    assert_eq!(caseload.len(), redfolder_server::demo::DEMO_CASELOAD);
    let consenting = caseload
        .iter()
        .filter(|p| p["share_with_emergency_services"] == true)
        .count();
    assert!((35..50).contains(&consenting), "{consenting} of 50 consent");
    for p in &caseload {
        for field in ["id", "nhs_number", "name", "date_of_birth", "dnacpr"] {
            assert!(
                p[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field} in {p}"
            );
        }
        assert!(p["share_with_mdt"].is_boolean());
        assert!(p["last_updated"]["at_ms"].is_i64(), "{p}");
        assert!(p["nhs_number"].as_str().unwrap().starts_with("999"));
    }
    let reply = app
        .get("/api/v1/patients", Some(&app.login("cm1.demo").await))
        .await;
    assert_eq!(reply.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn the_caseload_needs_a_case_manager() {
    let app = spawn_app().await;
    let reply = app.get("/api/v1/patients", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "unauthorized");
    let reply = app.get("/api/v1/patients", Some("not-a-token")).await;
    assert_eq!(reply.status, 401);
    let crew = app.login("ambulance.demo").await;
    let reply = app.get("/api/v1/patients", Some(&crew)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"], "forbidden");
}

#[tokio::test]
async fn an_oversized_body_is_a_413_json_error() {
    let app = spawn_app().await;
    let big = "x".repeat(2 * 1024 * 1024);
    let reply = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": big, "password": "demo" }),
        )
        .await;
    assert_eq!(
        reply.status,
        413,
        "{}",
        reply.body.chars().take(200).collect::<String>()
    );
    assert_eq!(reply.json()["error"], "payload_too_large");
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = spawn_app().await;
    let reply = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "not_found");
}

#[tokio::test]
async fn the_web_app_is_served_and_its_shell_is_revalidated() {
    let app = spawn_app().await;
    for path in ["/", "/index.html", "/sw.js"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.headers["cache-control"], "no-cache", "{path}");
    }
    assert!(app.get("/", None).await.body.contains("Red Folder"));
    let reply = app.get("/app.js", None).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("cache-control").is_none());
}

#[tokio::test]
async fn demo_seeding_is_idempotent() {
    let app = spawn_app().await;
    let before = app.caseload().await;
    // Build a second application on the same database: it seeds again.
    let mut config =
        redfolder_server::Config::new("127.0.0.1:0".parse().unwrap(), app.database_url.clone());
    config.demo = true;
    let again = redfolder_server::Application::build(config).await.unwrap();
    assert_eq!(again.demo().unwrap().patients_created, 0);
    assert_eq!(app.caseload().await, before);
}
