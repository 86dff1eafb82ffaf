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
        .pump(|d| d.docs[&id].plan().is_ok() || d.errors.len() > errors)
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
        .pump(|d| {
            d.errors
                .iter()
                .any(|(code, _, _)| *code == ErrorCode::DeviceRevoked)
        })
        .await;
    drop((a, b));
    drop_database(&database).await;
}

#[tokio::test]
async fn administrators_act_only_within_their_own_organisation() {
    let app = spawn_app().await;
    // admin.demo administers the demo practice (Y99901); ambulance.demo is at the
    // ambulance service, cm2.demo at the practice.
    let admin = app.login("admin.demo").await;
    let crew = app.login_with("ambulance.demo", "demo").await;
    let crew_device = crew["device_id"].as_str().unwrap().to_owned();
    let crew_token = crew["token"].as_str().unwrap().to_owned();
    let post = |path: String, body: Option<serde_json::Value>| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.send(Method::POST, &path, Some(&admin), body.as_ref())
                .await
        }
    };

    // Another organisation's accounts are out of reach, and look as if missing.
    let refused = [
        (
            post(
                "/api/v1/admin/users".into(),
                Some(serde_json::json!({ "username": "crew.two", "name": "Crew Two", "organisation": "Y99902", "roles": ["emergency_clinician"] })),
            )
            .await,
            403,
        ),
        (
            post(
                "/api/v1/admin/users/ambulance.demo/reset-password".into(),
                Some(serde_json::json!({ "password": "taken-over-password" })),
            )
            .await,
            404,
        ),
        (
            post("/api/v1/admin/users/ambulance.demo/disable".into(), None).await,
            404,
        ),
        (
            post(format!("/api/v1/admin/devices/{crew_device}/revoke"), None).await,
            404,
        ),
        (
            app.get("/api/v1/admin/users/ambulance.demo/devices", Some(&admin))
                .await,
            404,
        ),
        (
            post(
                "/api/v1/admin/organisations".into(),
                Some(serde_json::json!({ "code": "Y99960", "name": "Elsewhere", "kind": "social_care" })),
            )
            .await,
            403,
        ),
        (
            post(
                "/api/v1/admin/users".into(),
                Some(serde_json::json!({ "username": "self.promoted", "name": "Up", "organisation": "Y99901", "roles": ["deployment_admin"] })),
            )
            .await,
            403,
        ),
    ];
    for (i, (reply, status)) in refused.iter().enumerate() {
        assert_eq!(reply.status, *status, "case {i}: {reply:?}");
    }
    // Nothing of it happened: the crew still signs in with their password, on their device.
    assert_eq!(app.try_login("ambulance.demo", "demo").await.status, 200);
    assert_eq!(
        app.get("/api/v1/emergency/feed?limit=1", Some(&crew_token))
            .await
            .status,
        200
    );
    assert_eq!(app.try_login("crew.two", "x").await.status, 401);
    let listed = app.get("/api/v1/admin/users", Some(&admin)).await.json();
    let orgs: std::collections::BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["organisation"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        orgs.len(),
        1,
        "only the practice's users are listed: {listed}"
    );

    // Within the practice, the administrator administers.
    let own = post(
        "/api/v1/admin/users".into(),
        Some(serde_json::json!({ "username": "cm3.test", "name": "Case Manager Three", "organisation": "Y99901", "roles": ["case_manager"] })),
    )
    .await;
    assert_eq!(own.status, 201, "{own:?}");
    let reset = post(
        "/api/v1/admin/users/cm2.demo/reset-password".into(),
        Some(serde_json::json!({ "password": "a-new-long-password" })),
    )
    .await;
    assert_eq!(reset.status, 200, "{reset:?}");

    // A deployment administrator acts across organisations.
    // (At the practice itself, which does not put them in its administrator's hands.)
    app.create_user(
        "deployment.admin",
        "Y99901",
        &["deployment_admin"],
        "deployment-password-1",
    )
    .await;
    let deployment = app
        .login_with("deployment.admin", "deployment-password-1")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/devices/{crew_device}/revoke"),
            Some(&deployment),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    // And a practice administrator cannot touch the deployment administrator.
    let touched = post(
        "/api/v1/admin/users/deployment.admin/reset-password".into(),
        Some(serde_json::json!({ "password": "taken-over-password" })),
    )
    .await;
    assert_eq!(touched.status, 404, "{touched:?}");
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_under_the_sign_in_limit() {
    let app = spawn_app().await;
    let guesses = (0..24).map(|i| {
        let app = &app;
        async move {
            app.try_login("cm2.demo", &format!("guess-{i}"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, statuses.len(), "{statuses:?}");
    // The limit is 5 failures per account in the window, however the guesses overlap.
    assert!(checked <= 5, "{checked} guesses were checked: {statuses:?}");
    // (Racing attempts may refuse each other, so fewer than 5 may have been checked: the
    // rest of the allowance is still there, and not one more.)
    let mut more = 0;
    while app.try_login("cm2.demo", "one-more-guess").await.status == 401 {
        more += 1;
        assert!(
            checked + more <= 5,
            "{checked} + {more} guesses were checked"
        );
    }
    assert_eq!(checked + more, 5);
    // Locked now, even for the right password.
    assert_eq!(app.try_login("cm2.demo", "demo").await.status, 429);

    // Hashing ran a bounded number at a time (the bound is per process, across tests).
    let (bound, peak) = redfolder_server::auth::hashing_bound_and_peak();
    assert!(peak >= 1 && peak <= bound, "peak {peak}, bound {bound}");
}

#[tokio::test]
async fn guesses_elsewhere_do_not_lock_the_owner_out_of_their_own_device() {
    let app = spawn_app().await;
    let first = app.login_with("cm1.demo", "demo").await;
    let device = first["device_id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        assert_eq!(
            app.try_login("cm1.demo", &format!("guess-{i}"))
                .await
                .status,
            401
        );
    }
    assert_eq!(app.try_login("cm1.demo", "demo").await.status, 429);
    // The owner's tablet, which signed in before, has its own bucket.
    let owner = app
        .post_json(
            "/api/v1/auth/login",
            &serde_json::json!({ "username": "cm1.demo", "password": "demo", "device_id": device }),
        )
        .await;
    assert_eq!(owner.status, 200, "{owner:?}");
    // A made-up device id is no way round the lock.
    let made_up = app
        .post_json(
            "/api/v1/auth/login",
            &serde_json::json!({ "username": "cm1.demo", "password": "demo", "device_id": "0f0e6c1e-0000-4000-8000-000000000000" }),
        )
        .await;
    assert_eq!(made_up.status, 429, "{made_up:?}");
}

#[tokio::test]
async fn a_lock_ends_one_window_after_the_failures_however_often_it_is_tried() {
    const WINDOW_MS: i64 = 1_500;
    let app = crate::helpers::spawn_app_with(|config| {
        config.throttle.window_ms = WINDOW_MS;
    })
    .await;
    for i in 0..5 {
        assert_eq!(
            app.try_login("cm2.demo", &format!("guess-{i}"))
                .await
                .status,
            401
        );
    }
    let last_failure = std::time::Instant::now();
    let window = std::time::Duration::from_millis(WINDOW_MS as u64);
    // Tried again and again while locked: refused attempts do not extend the lock.
    while last_failure.elapsed() < window {
        let status = app.try_login("cm2.demo", "still-guessing").await.status;
        assert!(status == 429 || status == 401, "{status}");
        if status == 401 {
            // An earlier failure left the window: the lock ended on time.
            break;
        }
    }
    // Waiting for the window to pass is the behaviour under test, not synchronisation.
    tokio::time::sleep(window.saturating_sub(last_failure.elapsed()) + window).await;
    assert_eq!(app.try_login("cm2.demo", "demo").await.status, 200);
}

/// `POST`s JSON as `token` and returns the status and body.
async fn post_as(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> (u16, String) {
    let reply = app.send(Method::POST, path, Some(token), Some(&body)).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn a_virtual_clinic_opens_on_its_day_for_consenting_patients_and_closes_when_told() {
    let app = spawn_app().await;
    app.create_user(
        "consultant.test",
        "Y99904",
        &["mdt_member"],
        "consultant-password",
    )
    .await;
    let specialist = app
        .login_with("consultant.test", "consultant-password")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cm = app.login("cm1.demo").await;
    let listing = app.get("/api/v1/patients", Some(&cm)).await.json();
    let listing = listing.as_array().unwrap();
    let with_consent: Vec<String> = listing
        .iter()
        .filter(|p| p["share_with_mdt"] == true)
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let without = listing
        .iter()
        .find(|p| p["share_with_mdt"] == false)
        .expect("a demo patient without MDT consent")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = crate::client::now_ms();
    let day =
        |offset: i64| redfolder_shared::Date::from_unix_ms(now + offset * 86_400_000).to_string();
    let clinic = |date: String, patients: Vec<String>| serde_json::json!({ "specialist": "consultant.test", "date": date, "patient_ids": patients });
    let path = "/api/v1/scheme/virtual-clinics";

    // The date is bounded, and only consenting patients may be chosen.
    let (status, body) = post_as(
        &app,
        path,
        &cm,
        clinic(day(91), vec![with_consent[0].clone()]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_as(
        &app,
        path,
        &cm,
        clinic("9999-12-31".into(), vec![with_consent[0].clone()]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_as(&app, path, &cm, clinic(day(0), vec![without.clone()])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("consent"), "{body}");

    // A clinic tomorrow gives nothing today.
    let (status, body) = post_as(
        &app,
        path,
        &cm,
        clinic(day(1), vec![with_consent[0].clone()]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let tomorrow: serde_json::Value = serde_json::from_str(&body).unwrap();
    let read = |clinic: &serde_json::Value, patient: &str| {
        format!(
            "/api/v1/scheme/virtual-clinics/{}/plans/{patient}",
            clinic["id"].as_str().unwrap()
        )
    };
    assert_eq!(
        app.get(&read(&tomorrow, &with_consent[0]), Some(&specialist))
            .await
            .status,
        404,
        "a clinic's plans were readable the day before it"
    );

    // Today's clinic: readable, until the practice closes it.
    let patients = vec![with_consent[0].clone(), with_consent[1].clone()];
    let (status, body) = post_as(&app, path, &cm, clinic(day(0), patients)).await;
    assert_eq!(status, 201, "{body}");
    let today: serde_json::Value = serde_json::from_str(&body).unwrap();
    for patient in &with_consent[..2] {
        assert_eq!(
            app.get(&read(&today, patient), Some(&specialist))
                .await
                .status,
            200
        );
    }

    // Consent withdrawn after the clinic was scheduled ends the specialist's access to
    // that patient.
    let mut device = Device::connect(&app.ws_url(), &cm, "clinic-cm").await;
    device.hello().await.unwrap();
    assert_eq!(device.open(&with_consent[1]).await, Outcome::Synced);
    let withdraw = Edit::SetConsent {
        share_with_mdt: false,
        share_with_emergency_services: true,
    };
    assert_eq!(
        device.write(&with_consent[1], &withdraw).await,
        Outcome::Acked
    );
    assert_eq!(
        app.get(&read(&today, &with_consent[1]), Some(&specialist))
            .await
            .status,
        404
    );

    // Closed early: nothing more through it; closing again changes nothing; another
    // practice cannot close it.
    let close = format!(
        "/api/v1/scheme/virtual-clinics/{}/close",
        today["id"].as_str().unwrap()
    );
    app.create_user(
        "cm.elsewhere",
        "Y99903",
        &["case_manager"],
        "elsewhere-password",
    )
    .await;
    let elsewhere = app.login_with("cm.elsewhere", "elsewhere-password").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post_as(&app, &close, &elsewhere, serde_json::json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.get(&read(&today, &with_consent[0]), Some(&specialist))
            .await
            .status,
        200
    );
    let (status, body) = post_as(&app, &close, &cm, serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let closed_at =
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["closes_at_ms"].clone();
    assert_eq!(
        app.get(&read(&today, &with_consent[0]), Some(&specialist))
            .await
            .status,
        404
    );
    let advice = app
        .send(
            Method::POST,
            &format!("{}/advice", read(&today, &with_consent[0])),
            Some(&specialist),
            Some(&serde_json::json!({ "advice": "too late" })),
        )
        .await;
    assert_eq!(advice.status, 404);
    let (status, body) = post_as(&app, &close, &cm, serde_json::json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["closes_at_ms"],
        closed_at
    );
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
        .pump(|d| {
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
    mdt.pump(|d| {
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
        .pump(|d| {
            d.errors
                .iter()
                .any(|(code, _, _)| *code == ErrorCode::DeviceRevoked)
        })
        .await;
}
