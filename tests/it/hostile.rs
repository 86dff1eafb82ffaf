//! Hostile input through a real socket against the real server: every frame here once
//! crashed a connection, exhausted memory or was accepted when it should not have been.
//! After each, the server must still answer `/healthz`.

use std::time::Instant;

use automerge::sync;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use futures_util::{SinkExt, StreamExt};
use redfolder_shared::protocol::{ErrorCode, Frame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{PATIENCE, SyncClient};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A WebSocket that speaks raw frames, with no engine to correct what it sends.
struct Raw {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    async fn connect(app: &TestApp) -> Raw {
        let (socket, _) = tokio_tungstenite::connect_async(app.ws_url())
            .await
            .expect("connecting the WebSocket");
        Raw { socket }
    }

    /// Connects and authenticates as `token`, returning the caseload.
    async fn hello(app: &TestApp, token: &str) -> (Raw, Vec<String>) {
        let mut raw = Raw::connect(app).await;
        raw.send(&Frame::Hello {
            token: token.to_owned(),
        })
        .await;
        assert!(matches!(raw.next().await, Some(Frame::Welcome { .. })));
        let Some(Frame::Caseload { doc_ids }) = raw.next().await else {
            panic!("no caseload");
        };
        (raw, doc_ids)
    }

    async fn send(&mut self, frame: &Frame) {
        self.send_bytes(frame.encode()).await;
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .expect("sending a frame");
    }

    /// The next frame, or `None` once the server closes the connection.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("timed out waiting for the server");
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let mut frames = Frame::decode_all(&bytes).expect("a well-formed frame");
                    assert_eq!(frames.len(), 1, "one frame at a time here: {frames:?}");
                    return frames.pop();
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until an `Error` frame arrives, skipping sync traffic.
    async fn error(&mut self) -> (ErrorCode, Option<String>, String) {
        loop {
            match self.next().await {
                Some(Frame::Error {
                    code,
                    doc_id,
                    message,
                }) => return (code, doc_id, message),
                Some(_) => {}
                None => panic!("the connection closed without an error frame"),
            }
        }
    }

    /// Whether the server closes the connection (reading past whatever it still sends).
    async fn closed(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.next().await.is_none() {
                return true;
            }
        }
        false
    }
}

async fn assert_healthy(app: &TestApp) {
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.status, 200, "the server stopped answering: {reply:?}");
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// An Automerge V1 sync message that has no heads or needs, no changes, and one `have`
/// whose bloom filter has the given header (and the bytes that header asks for).
fn message_with_bloom(entries: u64, bits_per_entry: u64, probes: u64) -> Vec<u8> {
    let mut bloom = Vec::new();
    leb(&mut bloom, entries);
    leb(&mut bloom, bits_per_entry);
    leb(&mut bloom, probes);
    bloom.resize(
        bloom.len() + (entries * bits_per_entry).div_ceil(8) as usize,
        0xff,
    );
    let mut m = vec![0x42, 0, 0, 1, 0];
    leb(&mut m, bloom.len() as u64);
    m.extend_from_slice(&bloom);
    m.push(0);
    m
}

/// Sends a `Sync` frame carrying `message` for a plan in the caseload and returns the
/// error the server answers with.
async fn sync_error(app: &TestApp, message: Vec<u8>) -> (ErrorCode, Option<String>, String) {
    let token = app.login("cm1.demo").await;
    let (mut raw, caseload) = Raw::hello(app, &token).await;
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
    let mut m = vec![0x42, 0, 0];
    leb(&mut m, 50_000_000);
    m.extend(std::iter::repeat_n(0, 4096));
    let (code, _, message) = sync_error(&app, m).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("haves"), "{message}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn changes_waiting_for_missing_dependencies_are_bounded() {
    let app = spawn_app_with(|config| config.sync_limits.max_pending_changes = 3).await;
    let token = app.login("cm1.demo").await;
    let (mut raw, caseload) = Raw::hello(&app, &token).await;
    // A history the server has never seen: every change but the first depends on one it
    // will never get, so Automerge queues each of them in the document.
    let mut doc = AutoCommit::new();
    let mut changes = Vec::new();
    for i in 0..8 {
        doc.put(ROOT, "junk", i).unwrap();
        doc.commit();
    }
    for change in doc.get_changes(&[]).into_iter().skip(1) {
        changes.push(change.raw_bytes().to_vec());
    }
    for (seq, change) in changes.chunks(2).enumerate() {
        let message = sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: change.to_vec().into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        raw.send(&Frame::Sync {
            doc_id: caseload[0].clone(),
            epoch: 0,
            seq: seq as u64,
            message: message.encode(),
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
    let mut raw = Raw::connect(&app).await;
    // A few KiB that would inflate into hundreds of thousands of empty ids.
    let subscribe = Frame::Subscribe {
        doc_ids: vec![String::new(); 10_000],
    }
    .encode();
    raw.send(&Frame::deflate_batch(&vec![subscribe; 40])).await;
    let (code, _, message) = raw.error().await;
    assert_eq!(code, ErrorCode::Unauthorized);
    assert!(message.contains("before Hello"), "{message}");
    assert!(raw.closed().await);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn before_hello_a_large_hello_is_refused() {
    let app = spawn_app().await;
    let mut raw = Raw::connect(&app).await;
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
    let (mut raw, caseload) = Raw::hello(&app, &manager).await;
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
    let (mut first, _) = Raw::hello(&app, &token).await;
    let (mut second, _) = Raw::hello(&app, &token).await;
    // The third is the one the device is using: it is welcomed, the oldest goes.
    let (mut third, _) = Raw::hello(&app, &token).await;
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
        open.push(Raw::hello(&app, &token).await);
    }
    let token = app.login("cm1.demo").await;
    let mut third = Raw::connect(&app).await;
    third.send(&Frame::Hello { token }).await;
    let (code, _, message) = third.error().await;
    assert_eq!(code, ErrorCode::TooManyConnections);
    assert!(message.contains("this user"), "{message}");
    // Another user is not affected.
    let other = app.login("cm2.demo").await;
    Raw::hello(&app, &other).await;
    assert_healthy(&app).await;
}

#[tokio::test]
async fn connections_per_address_are_bounded_before_the_upgrade() {
    let app = spawn_app_with(|config| config.max_connections_per_address = 2).await;
    let _a = Raw::connect(&app).await;
    let _b = Raw::connect(&app).await;
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
