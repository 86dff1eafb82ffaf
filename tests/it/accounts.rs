//! Identities and devices: refresh tokens, sign-out, throttling, device registration and
//! revocation, disabled users, and administration through the API and the command line.

use std::time::Duration;

use redfolder_shared::protocol::ErrorCode;
use reqwest::Method;
use serde_json::json;

use crate::device::{Device, Outcome};
use crate::helpers::spawn_app;
use crate::process::run_cli;

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_device_session() {
    let app = spawn_app().await;
    let first = app.login_with("cm1.demo", "demo").await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let renewed = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(renewed.status, 200, "{renewed:?}");
    let renewed = renewed.json();
    assert_eq!(renewed["device_id"], first["device_id"]);
    assert_ne!(renewed["token"], first["token"]);
    assert_ne!(renewed["refresh_token"], first["refresh_token"]);
    let token = renewed["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/patients", Some(token)).await.status, 200);

    // The old refresh token again: refused, and everything of that device ends with it.
    let reused = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(reused.status, 401);
    assert_eq!(app.get("/api/v1/patients", Some(token)).await.status, 401);
    let newest = renewed["refresh_token"].as_str().unwrap();
    let after = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": newest }))
        .await;
    assert_eq!(after.status, 401);
    let garbage = app
        .post_json("/api/v1/auth/refresh", &json!({ "refresh_token": "nope" }))
        .await;
    assert_eq!(garbage.status, 401);
}

#[tokio::test]
async fn signing_out_ends_the_tokens_of_that_device_only() {
    let app = spawn_app().await;
    let a = app.login("cm1.demo").await;
    let b = app.login("cm1.demo").await;
    let out = app
        .send(Method::POST, "/api/v1/auth/logout", Some(&a), None)
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(app.get("/api/v1/patients", Some(&a)).await.status, 401);
    assert_eq!(app.get("/api/v1/patients", Some(&b)).await.status, 200);
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account_and_per_address() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.try_login("cm2.demo", "wrong").await.status, 401);
    }
    // Locked, even with the right password, and told when to come back.
    let locked = app.try_login("cm2.demo", "demo").await;
    assert_eq!(locked.status, 429, "{locked:?}");
    assert_eq!(locked.json()["error"], "too_many_requests");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    // Other accounts are unaffected.
    assert_eq!(app.try_login("cm1.demo", "demo").await.status, 200);

    // Per address: many accounts guessed from one place.
    for n in 0..15 {
        let status = app.try_login(&format!("nobody{n}"), "guess").await.status;
        assert_eq!(status, 401, "attempt {n}");
    }
    let blocked = app.try_login("ambulance.demo", "demo").await;
    assert_eq!(blocked.status, 429, "{blocked:?}");
    let throttled = app.audit_of("auth.login").await;
    assert!(throttled.iter().any(|e| e.outcome == "throttled"));
}

#[tokio::test]
async fn a_revoked_device_is_told_to_erase_its_data() {
    let app = spawn_app().await;
    let first = app.login_with("cm1.demo", "demo").await;
    let device_id = first["device_id"].as_str().unwrap().to_owned();
    let token = first["token"].as_str().unwrap().to_owned();

    // Signing in again with the device id keeps the registration.
    let again = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "cm1.demo", "password": "demo", "device_id": device_id }),
        )
        .await
        .json();
    assert_eq!(again["device_id"], device_id.as_str());
    // Another user cannot claim it.
    let other = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "cm2.demo", "password": "demo", "device_id": device_id }),
        )
        .await
        .json();
    assert_ne!(other["device_id"], device_id.as_str());

    let mut live = Device::connect(&app.ws_url(), &token, "revoked-tablet").await;
    live.hello().await.unwrap();

    let admin = app.login("admin.demo").await;
    let devices = app
        .get("/api/v1/admin/users/cm1.demo/devices", Some(&admin))
        .await
        .json();
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == device_id.as_str())
    );
    let revoked = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/devices/{device_id}/revoke"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");

    // The open connection is told within a timer tick, and closed.
    live.read_until(|d| !d.errors.is_empty()).await;
    assert_eq!(
        live.errors[0].0,
        ErrorCode::DeviceRevoked,
        "{:?}",
        live.errors
    );
    // A new connection with the old token is told too, and so are the HTTP routes.
    let mut next = Device::connect(&app.ws_url(), &token, "revoked-tablet").await;
    assert!(matches!(next.hello().await, Err(Outcome::DeviceRevoked(_))));
    let reply = app.get("/api/v1/patients", Some(&token)).await;
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (403, json!("device_revoked"))
    );
    let refresh = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": first["refresh_token"] }),
        )
        .await;
    assert_eq!(refresh.status, 403);
    let login = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "username": "cm1.demo", "password": "demo", "device_id": device_id }),
        )
        .await;
    assert_eq!(login.status, 403);
    // Without the old id, the user signs in on a fresh registration.
    assert_eq!(app.try_login("cm1.demo", "demo").await.status, 200);
}

#[tokio::test]
async fn administrators_manage_accounts_through_the_api() {
    let app = spawn_app().await;
    // Organisations and other organisations' users are the deployment's administrators'
    // to manage (a practice's administrator only manages the practice: stale_access.rs).
    app.create_user(
        "deployment.admin",
        "Y99901",
        &["deployment_admin"],
        "deployment-password-1",
    )
    .await;
    let admin = app
        .login_with("deployment.admin", "deployment-password-1")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = app
        .send(
            Method::POST,
            "/api/v1/admin/organisations",
            Some(&admin),
            Some(&json!({ "code": "Y99950", "name": "Riverside Out of Hours (test)", "kind": "out_of_hours_provider" })),
        )
        .await;
    assert_eq!(org.status, 201, "{org:?}");
    let dup = app
        .send(
            Method::POST,
            "/api/v1/admin/organisations",
            Some(&admin),
            Some(&json!({ "code": "Y99950", "name": "Again", "kind": "social_care" })),
        )
        .await;
    assert_eq!(dup.status, 409);
    let bad = app
        .send(
            Method::POST,
            "/api/v1/admin/organisations",
            Some(&admin),
            Some(&json!({ "code": "Y99951", "name": "X", "kind": "spaceport" })),
        )
        .await;
    assert_eq!(bad.status, 400);

    let created = app
        .send(
            Method::POST,
            "/api/v1/admin/users",
            Some(&admin),
            Some(&json!({ "username": "ooh.gp", "name": "Dr Out Of Hours", "organisation": "Y99950", "roles": ["emergency_clinician"] })),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let password = created.json()["password"].as_str().unwrap().to_owned();
    let session = app.login_with("ooh.gp", &password).await;
    assert_eq!(session["user"]["roles"], json!(["emergency_clinician"]));
    let token = session["token"].as_str().unwrap().to_owned();

    // A reset signs the user out everywhere; the new password works.
    let reset = app
        .send(
            Method::POST,
            "/api/v1/admin/users/ooh.gp/reset-password",
            Some(&admin),
            Some(&json!({ "password": "a-new-long-password" })),
        )
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(
        app.get("/api/v1/emergency/feed", Some(&token)).await.status,
        401
    );
    assert_eq!(app.try_login("ooh.gp", &password).await.status, 401);
    let token = app.login_with("ooh.gp", "a-new-long-password").await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Disabling: no sign-in, and the user's devices are told to erase their data.
    let disabled = app
        .send(
            Method::POST,
            "/api/v1/admin/users/ooh.gp/disable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(disabled.status, 204);
    assert_eq!(
        app.try_login("ooh.gp", "a-new-long-password").await.status,
        401
    );
    let mut device = Device::connect(&app.ws_url(), &token, "ooh-tablet").await;
    assert!(matches!(
        device.hello().await,
        Err(Outcome::DeviceRevoked(_))
    ));

    // An administrator cannot disable their own account (nobody might be left to undo it).
    let own = app
        .send(
            Method::POST,
            "/api/v1/admin/users/deployment.admin/disable",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(own.status, 409, "{own:?}");

    // Only administrators administer; administrators read no plans.
    let cm = app.login("cm1.demo").await;
    assert_eq!(app.get("/api/v1/admin/users", Some(&cm)).await.status, 403);
    assert_eq!(app.get("/api/v1/patients", Some(&admin)).await.status, 403);
    let users = app.get("/api/v1/admin/users", Some(&admin)).await.json();
    let row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ooh.gp")
        .unwrap()
        .clone();
    assert_eq!(row["disabled"], true);
    assert!(app.audit_of("admin").await.len() >= 4);
}

#[tokio::test]
async fn administrators_manage_accounts_from_the_command_line() {
    let app = spawn_app().await;
    let db = app.database_url.as_str();
    let run = |args: &[&str], stdin: &str| {
        let out = run_cli(args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let out = run(
        &[
            "admin",
            "create-org",
            "--database",
            db,
            "--code",
            "Y99960",
            "--name",
            "Hillside Social Care (test)",
            "--kind",
            "social_care",
        ],
        "",
    );
    assert!(out.contains("created organisation Y99960"), "{out}");
    let out = run(
        &[
            "admin",
            "create-user",
            "--database",
            db,
            "--username",
            "sw.one",
            "--name",
            "Social Worker",
            "--org",
            "Y99960",
            "--role",
            "mdt_member",
            "--password-stdin",
        ],
        "a-long-enough-password\n",
    );
    assert!(out.contains("created user sw.one (mdt_member)"), "{out}");
    let session = app.login_with("sw.one", "a-long-enough-password").await;
    let device_id = session["device_id"].as_str().unwrap().to_owned();
    let token = session["token"].as_str().unwrap().to_owned();

    let out = run(
        &[
            "admin",
            "list-devices",
            "--database",
            db,
            "--username",
            "sw.one",
        ],
        "",
    );
    assert!(out.contains(&device_id) && out.contains("active"), "{out}");
    let out = run(
        &[
            "admin",
            "revoke-device",
            "--database",
            db,
            "--device",
            &device_id,
        ],
        "",
    );
    assert!(out.contains("revoked device"), "{out}");
    let mut device = Device::connect(&app.ws_url(), &token, "sw-tablet").await;
    assert!(matches!(
        device.hello().await,
        Err(Outcome::DeviceRevoked(_))
    ));

    let out = run(
        &[
            "admin",
            "reset-password",
            "--database",
            db,
            "--username",
            "sw.one",
        ],
        "",
    );
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password")
        .to_owned();
    assert_eq!(app.try_login("sw.one", &password).await.status, 200);
    run(
        &[
            "admin",
            "disable-user",
            "--database",
            db,
            "--username",
            "sw.one",
        ],
        "",
    );
    assert_eq!(app.try_login("sw.one", &password).await.status, 401);

    let failed = run_cli(
        &[
            "admin",
            "create-user",
            "--database",
            db,
            "--username",
            "x",
            "--name",
            "X",
            "--org",
            "NOPE",
            "--role",
            "admin",
        ],
        "",
    );
    assert!(!failed.status.success());
    let actions: Vec<String> = app
        .audit_of("admin")
        .await
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert!(
        actions.iter().any(|d| d.starts_with("create user sw.one")),
        "{actions:?}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
