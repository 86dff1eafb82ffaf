//! Access ends when it should: what was decided at sign-in or `Hello` is looked at again
//! when consent, the care team, a session, a device or an account changes, on every
//! instance, and whatever may no longer read stops reading.

use std::time::Duration;

use redfolder_shared::Edit;
use redfolder_shared::protocol::{ErrorCode, Frame};
use reqwest::Method;

use crate::client::PATIENCE;
use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, drop_database, fresh_postgres_database, spawn_app, spawn_app_at};

mod clinics;
mod sign_in;

/// A patient of the demo practice that `mdt.demo` may reach (care team and consent).
async fn shared_patient(app: &TestApp, mdt_token: &str) -> String {
    let listing = app.get("/api/v1/patients", Some(mdt_token)).await.json();
    listing.as_array().unwrap()[0]["id"]
        .as_str()
        .expect("a patient the MDT member may reach")
        .to_owned()
}

/// Subscribes (or with `fetch`, fetches) `doc_id` and says what came back: `Synced` if
/// any of the plan arrived, else the error.
async fn ask_for(device: &mut Device, doc_id: &str, fetch: bool) -> Outcome {
    if !fetch {
        return device.open(doc_id).await;
    }
    device.docs.insert(
        doc_id.to_owned(),
        redfolder_shared::PlanDoc::empty(redfolder_shared::ActorId::from(&b"fetcher"[..])),
    );
    let errors = device.errors.len();
    device
        .send(Frame::Fetch {
            doc_ids: vec![doc_id.to_owned()],
        })
        .await;
    let id = doc_id.to_owned();
    device
        .read_until(|d| d.docs[&id].plan().is_ok() || d.errors.len() > errors)
        .await;
    if device.docs[doc_id].plan().is_ok() {
        return Outcome::Synced;
    }
    match &device.errors[errors] {
        (ErrorCode::Forbidden, _, m) => Outcome::Forbidden(m.clone()),
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn an_idle_mdt_connection_cannot_read_a_plan_after_consent_is_withdrawn() {
    let app = spawn_app().await;
    let mdt_token = app.login("mdt.demo").await;
    let cm_token = app.login("cm1.demo").await;
    let id = shared_patient(&app, &mdt_token).await;

    for fetch in [false, true] {
        // Connected and told its caseload while consent stands; then it sits idle.
        let mut mdt = Device::connect(&app.ws_url(), &mdt_token, "idle-mdt").await;
        mdt.hello().await.unwrap();
        assert!(mdt.caseload.as_ref().unwrap().contains(&id));

        let mut cm = Device::connect(&app.ws_url(), &cm_token, "consent-cm").await;
        cm.hello().await.unwrap();
        assert_eq!(cm.open(&id).await, Outcome::Synced);
        let withdraw = Edit::SetConsent {
            share_with_mdt: false,
            share_with_emergency_services: true,
        };
        assert_eq!(cm.write(&id, &withdraw).await, Outcome::Acked);

        let outcome = ask_for(&mut mdt, &id, fetch).await;
        assert!(
            matches!(outcome, Outcome::Forbidden(_)),
            "fetch={fetch}: {outcome:?}"
        );
        assert!(mdt.docs[&id].plan().is_err(), "none of the plan was sent");

        // Given again, for the next round.
        let give = Edit::SetConsent {
            share_with_mdt: true,
            share_with_emergency_services: true,
        };
        assert_eq!(cm.write(&id, &give).await, Outcome::Acked);
    }
}

#[tokio::test]
async fn an_idle_mdt_connection_cannot_read_a_plan_after_the_care_team_changes() {
    let app = spawn_app().await;
    let mdt_token = app.login("mdt.demo").await;
    let cm_token = app.login("cm1.demo").await;
    let id = shared_patient(&app, &mdt_token).await;
    let mut mdt = Device::connect(&app.ws_url(), &mdt_token, "idle-mdt").await;
    mdt.hello().await.unwrap();
    assert!(mdt.caseload.as_ref().unwrap().contains(&id));

    let team = app
        .get(&format!("/api/v1/patients/{id}/care-team"), Some(&cm_token))
        .await
        .json();
    let nurses = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "Y99904")
        .expect("the community nurses in the care team")["organisation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = app
        .send(
            Method::DELETE,
            &format!("/api/v1/patients/{id}/care-team/{nurses}"),
            Some(&cm_token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{removed:?}");

    let outcome = ask_for(&mut mdt, &id, true).await;
    assert!(matches!(outcome, Outcome::Forbidden(_)), "{outcome:?}");
}

/// Opens the emergency feed as server-sent events and reads what is there already.
async fn open_stream(app_url: &str, token: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{app_url}/api/v1/emergency/feed/stream?since=0"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// Whether the stream ends (the server closes it) within [`PATIENCE`]; the events before
/// the end are returned too.
async fn stream_ends(mut response: reqwest::Response) -> (bool, String) {
    let mut text = String::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let ended = tokio::time::timeout(PATIENCE, read).await.is_ok();
    (ended, text)
}

async fn sign_out(app: &TestApp, token: &str) {
    let out = app
        .send(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(out.status, 204, "{out:?}");
}

#[tokio::test]
async fn the_feed_stream_ends_when_its_session_does() {
    let app = spawn_app().await;

    // Signed out.
    let crew = app.login("ambulance.demo").await;
    let stream = open_stream(&app.address, &crew).await;
    sign_out(&app, &crew).await;
    let (ended, _) = stream_ends(stream).await;
    assert!(ended, "the stream outlived the sign-out");

    // The device revoked (from the command line: another organisation's admin may not).
    let body = app.login_with("ambulance.demo", "demo").await;
    let crew = body["token"].as_str().unwrap().to_owned();
    let device = body["device_id"].as_str().unwrap().to_owned();
    let stream = open_stream(&app.address, &crew).await;
    redfolder_server::admin::revoke_device(
        &app.store,
        redfolder_server::admin::Operator::Cli,
        &device,
    )
    .await
    .unwrap();
    let (ended, _) = stream_ends(stream).await;
    assert!(ended, "the stream outlived the device's revocation");

    // The user disabled.
    let crew = app.login("ambulance.demo").await;
    let stream = open_stream(&app.address, &crew).await;
    redfolder_server::admin::disable_user(
        &app.store,
        redfolder_server::admin::Operator::Cli,
        "ambulance.demo",
    )
    .await
    .unwrap();
    let (ended, _) = stream_ends(stream).await;
    assert!(ended, "the stream outlived the disabled account");
}

#[tokio::test]
async fn a_waiting_long_poll_answers_401_once_its_session_is_signed_out() {
    let app = spawn_app().await;
    let crew = app.login("ambulance.demo").await;
    let page = app
        .get("/api/v1/emergency/feed?since=0&limit=1000", Some(&crew))
        .await
        .json();
    let next = page["next"].as_i64().unwrap();
    let poll = {
        let url = app.url(&format!("/api/v1/emergency/feed?since={next}&wait=60"));
        let crew = crew.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(crew)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    sign_out(&app, &crew).await;
    // A summary changes meanwhile: it must not reach the signed-out reader either.
    let cm = app.login("cm1.demo").await;
    let listing = app.get("/api/v1/patients", Some(&cm)).await.json();
    let id = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut device = Device::connect(&app.ws_url(), &cm, "poll-cm").await;
    device.hello().await.unwrap();
    assert_eq!(device.open(&id).await, Outcome::Synced);
    let edit = Edit::AddMedication {
        id: "after-sign-out".into(),
        name: "Signoutol".into(),
        dose: "1 mg".into(),
        notes: String::new(),
    };
    assert_eq!(device.write(&id, &edit).await, Outcome::Acked);
    let status = tokio::time::timeout(PATIENCE, poll)
        .await
        .expect("the long-poll ended")
        .unwrap();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_sign_out_through_one_instance_ends_a_feed_stream_on_another() {
    let Some((url, database)) = fresh_postgres_database().await else {
        return;
    };
    let a = spawn_app_at(tempfile::tempdir().unwrap(), url.clone()).await;
    let b = spawn_app_at(tempfile::tempdir().unwrap(), url).await;

    let crew = a.login("ambulance.demo").await;
    let stream = open_stream(&b.address, &crew).await;
    sign_out(&a, &crew).await;
    let (ended, _) = stream_ends(stream).await;
    assert!(ended, "the stream on B outlived a sign-out through A");

    // And a sync connection on B is closed by a revocation through A.
    let body = a.login_with("cm1.demo", "demo").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let device_id = body["device_id"].as_str().unwrap().to_owned();
    let mut tablet = Device::connect(&b.ws_url(), &token, "tablet-on-b").await;
    tablet.hello().await.unwrap();
    redfolder_server::admin::revoke_device(
        &a.store,
        redfolder_server::admin::Operator::Cli,
        &device_id,
    )
    .await
    .unwrap();
    tablet
        .read_until(|d| {
            d.errors
                .iter()
                .any(|(code, _, _)| *code == ErrorCode::DeviceRevoked)
        })
        .await;
    drop((a, b));
    drop_database(&database).await;
}

#[tokio::test]
async fn unauthenticated_requests_are_audited_at_a_bounded_rate_then_counted() {
    use redfolder_server::store::{AGGREGATE_WINDOW_MS, FIRST_PER_WINDOW};
    let app = spawn_app().await;
    let first = usize::try_from(FIRST_PER_WINDOW).unwrap();
    // Failed sign-ins (unknown usernames, so no account lock), then throttled ones once
    // the address has failed too often; and summary lookups without a token.
    let sign_ins = 30;
    for i in 0..sign_ins {
        let status = app.try_login(&format!("nobody-{i}"), "guess").await.status;
        assert!(status == 401 || status == 429, "{status}");
    }
    let lookups = 25;
    for _ in 0..lookups {
        assert_eq!(app.emergency_summary("9434765919", None).await.status, 401);
    }
    let written = |events: &[redfolder_server::audit::AuditEvent]| {
        events
            .iter()
            .filter(|e| e.user_id.is_none() && !e.outcome.ends_with("_counted"))
            .count()
    };
    let login = app.audit_of("auth.login").await;
    let summary = app.audit_of("emergency.summary").await;
    // One by one only up to the rate, per kind (failed, throttled; unauthorized).
    assert!(
        written(&login) <= 2 * first,
        "{} sign-ins written",
        written(&login)
    );
    assert_eq!(written(&summary), first);

    // When the window ends, one entry per kind says how many more there were.
    app.store
        .flush_unauthenticated_audit(crate::client::now_ms() + AGGREGATE_WINDOW_MS + 1)
        .await
        .unwrap();
    let counted = |events: &[redfolder_server::audit::AuditEvent]| -> usize {
        events
            .iter()
            .filter(|e| e.outcome.ends_with("_counted"))
            .map(|e| {
                e.detail
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or_else(|| panic!("a count: {}", e.detail))
            })
            .sum()
    };
    let login = app.audit_of("auth.login").await;
    let summary = app.audit_of("emergency.summary").await;
    assert_eq!(written(&login) + counted(&login), sign_ins);
    assert_eq!(written(&summary) + counted(&summary), lookups);
    // And the chain still verifies.
    assert!(app.store.verify_audit().await.unwrap().is_ok());
}

#[tokio::test]
async fn open_sync_connections_lose_access_at_once_not_at_their_next_tick() {
    // A tick far away: whatever ends access here is the event, not the timer.
    let app = crate::helpers::spawn_app_with(|config| {
        config.sync_tick = Duration::from_secs(3600);
    })
    .await;

    // Signed out through HTTP while the tablet is connected: told, and closed.
    let cm = app.login("cm1.demo").await;
    let mut tablet = Device::connect(&app.ws_url(), &cm, "tick-cm").await;
    tablet.hello().await.unwrap();
    sign_out(&app, &cm).await;
    tablet
        .read_until(|d| {
            d.errors
                .iter()
                .any(|(code, _, _)| *code == ErrorCode::Unauthorized)
        })
        .await;

    // An MDT member with the plan open loses it when the care team drops them.
    let mdt_token = app.login("mdt.demo").await;
    let cm_token = app.login("cm2.demo").await;
    let id = shared_patient(&app, &mdt_token).await;
    let mut mdt = Device::connect(&app.ws_url(), &mdt_token, "tick-mdt").await;
    mdt.hello().await.unwrap();
    assert_eq!(mdt.open(&id).await, Outcome::Synced);
    let team = app
        .get(&format!("/api/v1/patients/{id}/care-team"), Some(&cm_token))
        .await
        .json();
    let nurses = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "Y99904")
        .expect("the community nurses in the care team")["organisation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let removed = app
        .send(
            Method::DELETE,
            &format!("/api/v1/patients/{id}/care-team/{nurses}"),
            Some(&cm_token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{removed:?}");
    mdt.read_until(|d| {
        d.errors
            .iter()
            .any(|(code, doc, _)| *code == ErrorCode::Forbidden && doc.as_deref() == Some(&id))
    })
    .await;
}

/// `redfolder admin` on SQLite is another process: it changes the database but cannot
/// tell the running server, which has no NOTIFY to hear. Feed readers and sync
/// connections look their sessions up on a timer (`--session-recheck-secs`,
/// `--sync-tick-secs`), so a revocation made that way still ends them, within the timer.
#[tokio::test]
async fn a_revocation_by_the_command_line_on_sqlite_ends_feed_readers_and_sync_connections() {
    use crate::process::{Launch, Server, run_cli};

    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("cli.db").display());
    let server = Server::start_with(
        &database,
        dir.path(),
        &Launch {
            args: &["--session-recheck-secs", "1", "--sync-tick-secs", "1"],
            ..Launch::default()
        },
    );
    let admin = |args: &[&str]| {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database", &database]);
        let out = run_cli(&all, "");
        assert!(
            out.status.success(),
            "redfolder {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // A feed stream and a waiting long-poll of one device, which is then revoked.
    let crew = server.login_with_device("ambulance.demo").await;
    let token = crew["token"].as_str().unwrap().to_owned();
    let device = crew["device_id"].as_str().unwrap().to_owned();
    let page: serde_json::Value = reqwest::Client::new()
        .get(server.url("/api/v1/emergency/feed?since=0&limit=1000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = page["next"].as_i64().unwrap();
    let stream = open_stream(&server.address(), &token).await;
    let poll = {
        let url = server.url(&format!("/api/v1/emergency/feed?since={next}&wait=60"));
        let token = token.clone();
        tokio::spawn(async move {
            let reply = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = reply.status().as_u16();
            (status, reply.text().await.unwrap())
        })
    };
    admin(&["revoke-device", "--device", &device]);
    let (ended, _) = stream_ends(stream).await;
    assert!(
        ended,
        "the stream outlived a revocation by the command line"
    );
    // PATIENCE (30 s) is less than the long-poll's 60 s wait: an answer within it was
    // woken by the recheck, not by the wait running out.
    let (status, body) = tokio::time::timeout(PATIENCE, poll)
        .await
        .expect("the long-poll outlived a revocation by the command line")
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("device_revoked"), "{body}");

    // A stream of another sign-in, and an idle sync connection, whose user is disabled.
    let crew = server.login("ambulance.demo").await;
    let stream = open_stream(&server.address(), &crew).await;
    let cm = server.login("cm1.demo").await;
    let mut tablet = Device::connect(&server.ws_url(), &cm, "cli-tablet").await;
    tablet.hello().await.unwrap();
    admin(&["disable-user", "--username", "ambulance.demo"]);
    let (ended, _) = stream_ends(stream).await;
    assert!(
        ended,
        "the stream outlived its user's disabling by the command line"
    );
    admin(&["disable-user", "--username", "cm1.demo"]);
    tablet
        .read_until(|d| {
            d.errors
                .iter()
                .any(|(code, _, _)| *code == ErrorCode::DeviceRevoked)
        })
        .await;
}
