//! Hostile input through a real socket against the real server: every frame here once
//! crashed a connection, exhausted memory or was accepted when it should not have been.
//! After each, the server must still answer `/healthz`.

use std::time::Instant;

use redfolder_shared::protocol::{ErrorCode, Frame};

use crate::client::SyncClient;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::raw::{Raw, batch_bomb, message_with_bloom, millions_of_haves, orphan_changes};

async fn assert_healthy(app: &TestApp) {
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.status, 200, "the server stopped answering: {reply:?}");
}

/// Sends a `Sync` frame carrying `message` for a plan in the caseload and returns the
/// error the server answers with.
async fn sync_error(app: &TestApp, message: Vec<u8>) -> (ErrorCode, Option<String>, String) {
    let token = app.login("cm1.demo").await;
    let (mut raw, caseload) = Raw::hello(&app.ws_url(), &token).await;
    raw.send(&Frame::Sync {
        doc_id: caseload[0].clone(),
        epoch: 0,
        seq: 0,
        message,
    })
    .await;
    raw.error().await
}

#[tokio::test]
async fn a_bloom_filter_with_huge_num_probes_is_refused_before_automerge() {
    let app = spawn_app().await;
    // Automerge would allocate num_probes u32s for every change it tests: 16 GiB each.
    let (code, doc_id, message) =
        sync_error(&app, message_with_bloom(1, 10, u64::from(u32::MAX))).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(doc_id.is_some());
    assert!(message.contains("num_probes"), "{message}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_bloom_filter_with_zero_bits_per_entry_is_refused_before_automerge() {
    let app = spawn_app().await;
    // Automerge would divide by zero (a panic) when it tests a change against it.
    let (code, _, message) = sync_error(&app, message_with_bloom(1, 0, 7)).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("bits_per_entry"), "{message}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_sync_message_claiming_millions_of_entries_is_refused() {
    let app = spawn_app().await;
    // 50 million empty `have`s in a few bytes: Automerge would decode them one by one.
    let (code, _, message) = sync_error(&app, millions_of_haves()).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("haves"), "{message}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn changes_waiting_for_missing_dependencies_are_bounded() {
    let app = spawn_app_with(|config| config.sync_limits.max_pending_changes = 3).await;
    let token = app.login("cm1.demo").await;
    let (mut raw, caseload) = Raw::hello(&app.ws_url(), &token).await;
    // A history the server has never seen: every change depends on one it will never
    // get, so Automerge queues each of them in the document.
    for (seq, message) in orphan_changes(7, 2).into_iter().enumerate() {
        raw.send(&Frame::Sync {
            doc_id: caseload[0].clone(),
            epoch: 0,
            seq: seq as u64,
            message,
        })
        .await;
    }
    let (code, doc_id, message) = raw.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert_eq!(doc_id.as_deref(), Some(caseload[0].as_str()));
    assert!(message.contains("dependencies"), "{message}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn before_hello_a_batch_is_not_even_inflated() {
    let app = spawn_app().await;
    let mut raw = Raw::connect(&app.ws_url()).await;
    // A few KiB that would inflate into hundreds of thousands of empty ids.
    raw.send_bytes(batch_bomb()).await;
    let (code, _, message) = raw.error().await;
    assert_eq!(code, ErrorCode::Unauthorized);
    assert!(message.contains("before Hello"), "{message}");
    assert!(raw.closed().await);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn before_hello_a_large_hello_is_refused() {
    let app = spawn_app().await;
    let mut raw = Raw::connect(&app.ws_url()).await;
    raw.send(&Frame::Hello {
        token: "x".repeat(64 * 1024),
    })
    .await;
    let (code, _, message) = raw.error().await;
    assert_eq!(code, ErrorCode::Unauthorized);
    assert!(message.contains("bytes"), "{message}");
    assert!(raw.closed().await);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_second_hello_with_another_token_is_an_error() {
    let app = spawn_app().await;
    let manager = app.login("cm1.demo").await;
    let other = app.login("cm2.demo").await;
    let (mut raw, caseload) = Raw::hello(&app.ws_url(), &manager).await;
    // The same token again is a device re-sending a Hello it took for lost: answered again.
    raw.send(&Frame::Hello {
        token: manager.clone(),
    })
    .await;
    assert!(matches!(raw.next().await, Some(Frame::Welcome { .. })));
    let Some(Frame::Caseload { doc_ids: mut again }) = raw.next().await else {
        panic!("no caseload");
    };
    let mut first = caseload.clone();
    first.sort();
    again.sort();
    assert_eq!(again, first);
    // Another user's token would switch who the connection belongs to.
    raw.send(&Frame::Hello { token: other }).await;
    let (code, _, message) = raw.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("second Hello"), "{message}");
    assert!(raw.closed().await);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_device_over_its_connection_limit_loses_its_oldest_connection() {
    let app = spawn_app_with(|config| config.max_connections_per_device = 2).await;
    let token = app.login("cm1.demo").await;
    let (mut first, _) = Raw::hello(&app.ws_url(), &token).await;
    let (mut second, _) = Raw::hello(&app.ws_url(), &token).await;
    // The third is the one the device is using: it is welcomed, the oldest goes.
    let (mut third, _) = Raw::hello(&app.ws_url(), &token).await;
    let (code, _, message) = first.error().await;
    assert_eq!(code, ErrorCode::TooManyConnections);
    assert!(message.contains("newer sync connection"), "{message}");
    assert!(first.closed().await);
    // The others still work: a second Hello with the same token is answered.
    for raw in [&mut second, &mut third] {
        raw.send(&Frame::Hello {
            token: token.clone(),
        })
        .await;
        assert!(matches!(raw.next().await, Some(Frame::Welcome { .. })));
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn connections_per_user_are_bounded() {
    let app = spawn_app_with(|config| config.max_connections_per_user = 2).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let token = app.login("cm1.demo").await;
        open.push(Raw::hello(&app.ws_url(), &token).await);
    }
    let token = app.login("cm1.demo").await;
    let mut third = Raw::connect(&app.ws_url()).await;
    third.send(&Frame::Hello { token }).await;
    let (code, _, message) = third.error().await;
    assert_eq!(code, ErrorCode::TooManyConnections);
    assert!(message.contains("this user"), "{message}");
    // Another user is not affected.
    let other = app.login("cm2.demo").await;
    Raw::hello(&app.ws_url(), &other).await;
    assert_healthy(&app).await;
}

#[tokio::test]
async fn connections_per_address_are_bounded_before_the_upgrade() {
    let app = spawn_app_with(|config| config.max_connections_per_address = 2).await;
    let _a = Raw::connect(&app.ws_url()).await;
    let _b = Raw::connect(&app.ws_url()).await;
    match tokio_tungstenite::connect_async(app.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
        }
        other => panic!("a third connection from one address was not refused: {other:?}"),
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn the_app_is_served_with_browser_protections() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/api/v1/patients"] {
        let reply = app.get(path, None).await;
        let h = &reply.headers;
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("object-src 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}

#[tokio::test]
async fn metrics_share_one_label_for_invented_methods() {
    let app = spawn_app().await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        app.send(method, "/healthz", None, None).await;
    }
    let metrics = app.get("/metrics", None).await.body;
    assert!(!metrics.contains("INVENTED"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// Emergency reads must keep answering while many devices push changes: Automerge's work
/// runs off the async workers. This asserts only that every read answers; latency figures
/// are printed for docs/reliability.md, never asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_reads_answer_during_a_sync_storm() {
    const DEVICES: usize = 4;
    const ROUNDS: usize = 15;
    const READS: usize = 40;
    let app = spawn_app().await;
    let caseload = app.caseload().await;
    let consenting = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap();
    let nhs = consenting["nhs_number"].as_str().unwrap().to_owned();
    let doc_ids: Vec<String> = caseload
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let crew = app.login("ambulance.demo").await;

    let mut storm = Vec::new();
    for device in 0..DEVICES {
        let token = app.login("cm1.demo").await;
        let ws = app.ws_url();
        let doc_ids = doc_ids.clone();
        storm.push(tokio::spawn(async move {
            let mut client = SyncClient::connect(&ws, &token, &format!("storm-{device}")).await;
            client.sync_caseload().await;
            let mut acked = 0;
            for round in 0..ROUNDS {
                let doc_id = &doc_ids[(device + round) % doc_ids.len()];
                client.apply(
                    doc_id,
                    &redfolder_shared::Edit::AddMedication {
                        id: format!("storm-{device}-{round}"),
                        name: "Stormamol".into(),
                        dose: "1 mg".into(),
                        notes: String::new(),
                    },
                );
                client.wait_acked(doc_id).await;
                acked += 1;
            }
            acked
        }));
    }

    let mut latencies = Vec::new();
    for _ in 0..READS {
        let started = Instant::now();
        let reply = app.emergency_summary(&nhs, Some(&crew)).await;
        latencies.push(started.elapsed());
        assert_eq!(
            reply.status, 200,
            "an emergency read failed during the storm"
        );
    }
    let mut acked = 0;
    for device in storm {
        acked += device.await.expect("a storm device failed");
    }
    assert_eq!(
        acked,
        DEVICES * ROUNDS,
        "every storm change was acknowledged"
    );
    latencies.sort();
    eprintln!(
        "emergency reads during a storm of {DEVICES} devices x {ROUNDS} changes: median {:?}, max {:?}",
        latencies[READS / 2],
        latencies[READS - 1]
    );
    assert_healthy(&app).await;
}

#[tokio::test]
async fn naming_many_unknown_documents_is_bounded() {
    let app = spawn_app_with(|config| config.max_unknown_docs_per_minute = 20).await;
    let token = app.login("cm1.demo").await;
    let (mut raw, caseload) = Raw::hello(&app.ws_url(), &token).await;
    let denials = async || {
        let events = app.audit_of("plan.sync").await;
        events.iter().filter(|e| e.outcome == "denied").count()
    };
    let denied = denials().await;
    let unknown = |from: usize, n: usize| -> Vec<String> {
        (from..from + n)
            .map(|i| format!("no-such-plan-{i}"))
            .collect()
    };

    // Within the budget each unknown id is looked up and refused on its own.
    raw.send(&Frame::Subscribe {
        doc_ids: unknown(0, 5),
    })
    .await;
    for _ in 0..5 {
        let (code, doc_id, _) = raw.error().await;
        assert_eq!(code, ErrorCode::Forbidden);
        assert!(doc_id.unwrap().starts_with("no-such-plan-"));
    }
    // Past it the rest are dropped with one error, not looked up one by one; a plan of
    // the caseload named alongside them is still served.
    let mut many = unknown(5, 1000);
    many.push(caseload[0].clone());
    raw.send(&Frame::Fetch { doc_ids: many }).await;
    let (code, doc_id, message) = raw.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert_eq!(doc_id, None);
    assert!(message.contains("985 of the documents"), "{message}");
    for _ in 0..15 {
        let (code, _, _) = raw.error().await;
        assert_eq!(code, ErrorCode::Forbidden);
    }
    let Some(Frame::Sync { doc_id, .. }) = raw.next().await else {
        panic!("the plan of the caseload was not served");
    };
    assert_eq!(doc_id, caseload[0]);
    // A Sync for an unknown id spends the same budget, now spent: not looked at.
    raw.send(&Frame::Sync {
        doc_id: "no-such-plan-5000".into(),
        epoch: 0,
        seq: 0,
        message: millions_of_haves(),
    })
    .await;
    let (code, doc_id, message) = raw.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert_eq!(doc_id.as_deref(), Some("no-such-plan-5000"));
    assert!(message.contains("outside your caseload"), "{message}");
    // 20 refusals audited, not a thousand more.
    assert_eq!(denials().await, denied + 20);
    assert_healthy(&app).await;
}
