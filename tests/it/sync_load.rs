//! Sync under load: a device that writes without reading, a document cache far smaller
//! than the caseload, and a timer much faster than the exchanges it must not disturb.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use redfolder_server::{AppState, Application, Config};
use redfolder_shared::Edit;
use redfolder_shared::protocol::{ErrorCode, Frame};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{PATIENCE, SyncClient};
use crate::helpers::spawn_app;

/// The demo application on SQLite with `tweak` applied to its configuration, with its
/// state to look at the document cache. The temporary directory lives as long as it.
#[derive(Debug)]
struct TunedApp {
    port: u16,
    state: AppState,
    _dir: tempfile::TempDir,
}

impl TunedApp {
    async fn spawn(tweak: impl FnOnce(&mut Config)) -> TunedApp {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let web = dir.path().join("web");
        std::fs::create_dir_all(&web).unwrap();
        std::fs::write(web.join("index.html"), "<!doctype html>").unwrap();
        let url = format!("sqlite://{}", dir.path().join("redfolder.db").display());
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), url);
        config.demo = true;
        config.web_dir = web;
        tweak(&mut config);
        let app = Application::build(config)
            .await
            .unwrap_or_else(|e| panic!("building the application: {e:#}"));
        let port = app.port();
        let state = app.state().clone();
        tokio::spawn(app.run_until(std::future::pending()));
        TunedApp {
            port,
            state,
            _dir: dir,
        }
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/sync", self.port)
    }

    /// Signs in a demo user and returns the access token.
    async fn login(&self, username: &str) -> String {
        let reply: serde_json::Value = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v1/auth/login", self.port))
            .json(&serde_json::json!({ "username": username, "password": "demo" }))
            .send()
            .await
            .expect("signing in")
            .json()
            .await
            .expect("a JSON reply");
        reply["token"].as_str().expect("a token").to_owned()
    }
}

/// A device that writes a long burst without reading anything (as the harness's first
/// device did) used to deadlock the server, whose connection task stopped reading while
/// it wrote: once both sockets' buffers were full, each side waited for the other. The
/// server now reads while it writes, so the burst goes through and every answer arrives.
#[tokio::test]
async fn a_device_that_writes_without_reading_does_not_deadlock_the_server() {
    let app = spawn_app().await;
    let (socket, _) = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .expect("connecting the WebSocket");
    let (mut sink, mut stream) = socket.split();
    // Each text message gets an `Error{bad_frame}` of about 80 bytes: 300,000 of them are
    // about 24 MB, more than loopback sockets buffer here (Linux autotunes a receive
    // buffer up to `tcp_rmem`'s maximum, 32 MiB by default, but it grows only as fast as
    // the reader reads), and the device reads none of it until it has written everything.
    const BURST: usize = 300_000;
    let write_all = async {
        for _ in 0..BURST {
            sink.feed(Message::Text("not a frame".into())).await?;
        }
        sink.flush().await
    };
    tokio::time::timeout(PATIENCE, write_all)
        .await
        .expect("the server stopped reading while the device was writing")
        .expect("writing the burst");
    let read_all = async {
        let mut errors = 0;
        while errors < BURST {
            match stream.next().await {
                Some(Ok(Message::Binary(bytes))) => match Frame::decode(&bytes) {
                    Ok(Frame::Error {
                        code: ErrorCode::BadFrame,
                        ..
                    }) => errors += 1,
                    other => panic!("expected bad_frame, got {other:?}"),
                },
                Some(Ok(_)) => {}
                other => panic!("the connection ended after {errors} answers: {other:?}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all)
        .await
        .expect("every message is answered");
}

/// A cache of two documents for a caseload of fifty and a timer every 100 ms: the cold
/// sync still completes (documents load on demand and are not evicted mid-exchange in a
/// way that makes the timer restart them forever), the cache returns to its bound, and a
/// change made afterwards still reaches a device whose document was evicted.
#[tokio::test]
async fn a_caseload_larger_than_the_cache_syncs_and_keeps_syncing() {
    const CAPACITY: usize = 2;
    let app = TunedApp::spawn(|config| {
        config.doc_cache_capacity = CAPACITY;
        config.sync_tick = Duration::from_millis(100);
    })
    .await;

    let token = app.login("cm1.demo").await;
    let mut first = SyncClient::connect(&app.ws_url(), &token, "tablet-1").await;
    first.sync_caseload().await;
    assert_eq!(first.caseload.len(), redfolder_server::demo::DEMO_CASELOAD);

    // A second device syncs everything again. Documents in the middle of an exchange
    // are pinned, so the cache may briefly hold more than its capacity; once the last
    // exchanges settle, it is back within its bound.
    let doc_id = first.caseload[7].clone();
    let token = app.login("cm1.demo").await;
    let mut second = SyncClient::connect(&app.ws_url(), &token, "tablet-2").await;
    second.sync_caseload().await;
    let docs = app.state.clone();
    second
        .pump_until("the cache to shrink to its capacity", |_| {
            docs.docs().len() <= CAPACITY + 1
        })
        .await;

    second.apply(
        &doc_id,
        &Edit::AddMedication {
            id: "load-test-med".into(),
            name: "Loadamol".into(),
            dose: "1 mg".into(),
            notes: String::new(),
        },
    );
    second.wait_acked(&doc_id).await;
    first
        .pump_until("the other device's change", |c| {
            c.engine.doc(&doc_id).is_some_and(|d| {
                d.plan()
                    .is_ok_and(|p| p.medications.iter().any(|m| m.name == "Loadamol"))
            })
        })
        .await;
}
