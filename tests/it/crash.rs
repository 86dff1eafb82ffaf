//! The crash test: the server process is SIGKILLed after acknowledging changes, restarted
//! on the same database, and every acknowledged change must still be there.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use redfolder_shared::{DnacprStatus, Edit};
use serde_json::json;

use crate::client::SyncClient;

/// The server binary to run. `cargo test` builds this package's `redfolder-under-test`,
/// which is the `redfolder` command line; set `REDFOLDER_BIN` to run another build of
/// `redfolder` instead (for example a release binary).
fn server_binary() -> PathBuf {
    let path = std::env::var_os("REDFOLDER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_redfolder-under-test")));
    assert!(
        path.exists(),
        "the server binary {} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A server process, killed when dropped so a failing test leaves nothing running.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(database_url: &str, dir: &Path) -> Server {
        let mut child = Command::new(server_binary())
            .args([
                "serve",
                "--demo",
                "--bind",
                "127.0.0.1:0",
                "--database",
                database_url,
                "--web-dir",
            ])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, port: 0 };
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|e| {
                    let status = server.child.try_wait();
                    panic!("no listening line from the server ({e}); exit status {status:?}")
                });
            if let Some(address) = line.strip_prefix("listening on http://") {
                server.port = address.rsplit(':').next().unwrap().parse().expect("a port");
                return server;
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/sync", self.port)
    }

    async fn login(&self, username: &str) -> String {
        let reply: serde_json::Value = reqwest::Client::new()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": "demo" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["token"].as_str().expect("a token").to_owned()
    }

    /// SIGKILL: no shutdown handler, no flushing, no goodbye.
    fn kill(&mut self) {
        self.child.kill().expect("killing the server");
        self.child.wait().expect("reaping the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}",
        dir.path().join("data").join("x.db").display()
    );
    let mut server = Server::start(&database_url, dir.path());

    let token = server.login("cm1.demo").await;
    let mut client = SyncClient::connect(&server.ws_url(), &token, "tablet-before-crash").await;
    client.sync_caseload().await;
    let docs: Vec<String> = client.caseload.iter().take(3).cloned().collect();
    let mut expected = Vec::new();
    for (n, doc_id) in docs.iter().enumerate() {
        for k in 0..3 {
            let id = format!("crash-{n}-{k}");
            client.apply(
                doc_id,
                &Edit::AddMedication {
                    id: id.clone(),
                    name: format!("Durable {n}.{k}"),
                    dose: "1 tablet".into(),
                    notes: String::new(),
                },
            );
            client.wait_acked(doc_id).await;
            expected.push((doc_id.clone(), id));
        }
        client.apply(
            doc_id,
            &Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
        );
        client.apply(
            doc_id,
            &Edit::SetExacerbationPlan {
                text: format!("Plan written before the crash {n}"),
            },
        );
        client.wait_acked(doc_id).await;
    }
    server.kill();

    // Same database, new process (and `--demo` again, which must not duplicate anything).
    let server = Server::start(&database_url, dir.path());
    let token = server.login("cm2.demo").await;
    let mut fresh = SyncClient::connect(&server.ws_url(), &token, "tablet-after-crash").await;
    fresh.sync_caseload().await;
    assert_eq!(fresh.caseload.len(), redfolder_server::demo::DEMO_CASELOAD);
    for (doc_id, med_id) in &expected {
        let plan = fresh.engine.doc(doc_id).unwrap().plan().unwrap();
        assert!(
            plan.medications.iter().any(|m| &m.id == med_id),
            "{med_id} was acknowledged but is lost"
        );
    }
    for (n, doc_id) in docs.iter().enumerate() {
        let plan = fresh.engine.doc(doc_id).unwrap().plan().unwrap();
        assert_eq!(plan.dnacpr, DnacprStatus::DoNotAttemptCpr);
        assert_eq!(
            plan.exacerbation_plan.as_str(),
            format!("Plan written before the crash {n}")
        );
    }
}
