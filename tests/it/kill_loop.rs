//! The load-and-fault test (issue 13): many devices keep editing and syncing while their
//! connections drop, the server process is SIGKILLed and restarted on the same database
//! again and again, and (on PostgreSQL) the database itself restarts once under load.
//!
//! What must hold: after every restart, before any device reconnects, a fresh device
//! finds every change the server had acknowledged so far (an acknowledgement is a promise
//! of durability, so the device may never be the one that saves it); at the end every
//! change any device made, acknowledged or not, is on the server, and every device holds
//! exactly the server's heads.
//!
//! Slow (tens of seconds per backend), so it runs only when `REDFOLDER_TEST_FAULTS=1`
//! (`.ci/run` sets it). The PostgreSQL variant starts its own private cluster with
//! `initdb`/`pg_ctl` rather than restarting the machine's shared one, which other tests
//! use at the same time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use redfolder_shared::{ActorId, ChangeHash, ClientEngine, ClientEvent, Edit, Editor};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{SyncClient, now_ms};
use crate::process::Server;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Server restarts by SIGKILL (the issue asks for at least 20).
const CYCLES: usize = 20;
/// Devices syncing at once, half as each demo case manager; sized for a 2-core machine.
const DEVICES: usize = 8;
/// The plans the devices edit: few, so that devices edit the same plans concurrently.
const TARGET_DOCS: usize = 4;
/// Time between one device's edits.
const EDIT_EVERY: Duration = Duration::from_millis(1500);
/// Any one wait in this test: a hang detector, not a timing target (CI machines can be
/// loaded); a wait that runs out fails the test, saying what it awaited.
const DEADLINE: Duration = Duration::from_secs(180);

fn enabled() -> bool {
    if std::env::var("REDFOLDER_TEST_FAULTS").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!("kill loop SKIPPED: set REDFOLDER_TEST_FAULTS=1 to run it");
    false
}

/// The two kill loops never run at once: each alone takes under a minute here, but
/// together on two cores (with the rest of the suite) they starved each other's servers
/// and devices into a cycle of a minute or more, 20 cycles each (seen in CI).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_loop_sqlite_loses_no_acknowledged_change() {
    if !enabled() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}",
        dir.path().join("data").join("kill-loop.db").display()
    );
    let figures = kill_loop(&database_url, dir.path(), None).await;
    figures.print("SQLite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_loop_postgres_with_a_database_restart_loses_no_acknowledged_change() {
    if !enabled() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cluster = PrivatePostgres::start(dir.path());
    let database_url = cluster.url();
    let figures = kill_loop(&database_url, dir.path(), Some(&cluster)).await;
    figures.print("PostgreSQL (private cluster)");
    assert_eq!(figures.pg_restarts, 1);
}

/// What one run did, printed by the test and recorded in docs/reliability.md.
#[derive(Debug, Default)]
struct Figures {
    cycles: usize,
    devices: usize,
    edits: usize,
    acknowledged: usize,
    resent: usize,
    drops: usize,
    connects: usize,
    checked_after_restarts: usize,
    pg_restarts: usize,
    converge: Duration,
    total: Duration,
}

impl Figures {
    fn print(&self, backend: &str) {
        eprintln!(
            "kill loop on {backend}: {} SIGKILL cycles, {} devices, {} edits made, \
             {} acknowledged, {} re-sent (unacknowledged at a drop or made offline), \
             {} connections dropped by devices, {} connections made, \
             {} acknowledged-change checks after restarts (0 missing), \
             {} PostgreSQL restarts, converged {:.1} s after the last restart, \
             whole run {:.1} s",
            self.cycles,
            self.devices,
            self.edits,
            self.acknowledged,
            self.resent,
            self.drops,
            self.connects,
            self.checked_after_restarts,
            self.pg_restarts,
            self.converge.as_secs_f64(),
            self.total.as_secs_f64(),
        );
    }
}

/// What the devices share with the test's driver.
#[derive(Debug, Default)]
struct Shared {
    /// Where the server is; `None` while it is down (devices then work offline).
    url: Mutex<Option<String>>,
    /// Whether devices keep making edits.
    editing: AtomicBool,
    /// Whether devices should stop and hand back their state.
    stop: AtomicBool,
    status: Mutex<Vec<Status>>,
}

/// One device's state as the driver sees it.
#[derive(Debug, Default, Clone)]
struct Status {
    /// Every acknowledged change so far, by plan.
    acknowledged: Vec<(String, ChangeHash)>,
    connected: bool,
    pending: usize,
    heads: HashMap<String, Vec<ChangeHash>>,
    targets: Vec<String>,
    connects: usize,
    /// The last error the server reported, for a failing wait's message.
    last_error: Option<String>,
}

/// A device: the shared client engine over a WebSocket that may fail at any moment.
struct Device {
    index: usize,
    token: String,
    engine: ClientEngine,
    socket: Option<Socket>,
    editor: Option<Editor>,
    targets: Vec<String>,
    /// The device's own changes to each target plan, in the order it made them. They
    /// form a chain (each is built on the last), so the server acknowledging one
    /// acknowledges all before it: the first `made - pending` are acknowledged.
    made: HashMap<String, Vec<ChangeHash>>,
    acked: HashMap<String, usize>,
    /// Changes that had to be sent again: unacknowledged when a connection dropped, or
    /// made while offline.
    resent: HashSet<ChangeHash>,
    drops: usize,
    connects: usize,
    last_error: Option<String>,
    last_tick: Instant,
    next_edit: Instant,
    /// When the device drops its current connection.
    drop_at: Instant,
    rng: u64,
}

impl Device {
    fn random(&mut self) -> u64 {
        // xorshift64: enough to vary when a device drops its connection.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn disconnect(&mut self) {
        // Dropping the socket closes the TCP connection without a goodbye, as a lost
        // network would.
        self.socket = None;
        self.engine.disconnected();
        for (doc, made) in &self.made {
            let acked = self.acked.get(doc).copied().unwrap_or(0);
            self.resent.extend(made[acked..].iter().copied());
        }
    }

    fn handle_events(&mut self) -> Result<(), String> {
        for event in self.engine.take_events() {
            match event {
                ClientEvent::Welcome {
                    user_id, user_name, ..
                } => {
                    self.editor = Some(Editor { user_id, user_name });
                }
                ClientEvent::Caseload { mut doc_ids } if self.targets.is_empty() => {
                    doc_ids.sort();
                    self.targets = doc_ids.into_iter().take(TARGET_DOCS).collect();
                }
                ClientEvent::Error {
                    code,
                    doc_id,
                    message,
                } => {
                    self.last_error = Some(format!("{code:?} {doc_id:?} {message}"));
                    // A refused change would be lost by design; nothing here may be refused.
                    if code == redfolder_shared::protocol::ErrorCode::Refused {
                        return Err(format!(
                            "device {} had a change refused on {doc_id:?}: {message}",
                            self.index
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn update_acks(&mut self) {
        for (doc, made) in &self.made {
            let pending = self.engine.pending(doc);
            assert!(pending <= made.len(), "more pending than made on {doc}");
            self.acked.insert(doc.clone(), made.len() - pending);
        }
    }

    fn status(&mut self) -> Status {
        let mut acknowledged = Vec::new();
        for (doc, made) in &self.made {
            let acked = self.acked.get(doc).copied().unwrap_or(0);
            acknowledged.extend(made[..acked].iter().map(|h| (doc.clone(), *h)));
        }
        let mut heads = HashMap::new();
        for doc in &self.targets {
            if let Some(d) = self.engine.doc_mut(doc) {
                let mut h = d.heads();
                h.sort();
                heads.insert(doc.clone(), h);
            }
        }
        Status {
            acknowledged,
            connected: self.socket.is_some() && self.engine.is_connected(),
            pending: self.targets.iter().map(|d| self.engine.pending(d)).sum(),
            heads,
            targets: self.targets.clone(),
            connects: self.connects,
            last_error: self.last_error.clone(),
        }
    }

    /// Makes the next edit if it is due and the plan is here.
    fn maybe_edit(&mut self) {
        if Instant::now() < self.next_edit || self.targets.is_empty() {
            return;
        }
        let Some(editor) = self.editor.clone() else {
            return;
        };
        let n: usize = self.made.values().map(Vec::len).sum();
        let doc = self.targets[(self.index + n) % self.targets.len()].clone();
        if self.engine.doc(&doc).is_none_or(|d| d.plan().is_err()) {
            return;
        }
        self.next_edit = Instant::now() + EDIT_EVERY;
        let edit = Edit::SetExacerbationPlan {
            text: format!("Written by device {} as edit {n}", self.index),
        };
        let hash = self
            .engine
            .apply(&doc, &edit, &editor, now_ms())
            .expect("a valid edit");
        if self.socket.is_none() {
            self.resent.insert(hash);
        }
        self.made.entry(doc).or_default().push(hash);
    }

    /// One turn: connect if the server is up, send, receive for a moment, edit, maybe drop.
    async fn turn(&mut self, shared: &Shared) -> Result<(), String> {
        if self.socket.is_none() {
            let url = shared.url.lock().unwrap().clone();
            match url {
                Some(url) => {
                    match tokio::time::timeout(
                        Duration::from_secs(5),
                        tokio_tungstenite::connect_async(&url),
                    )
                    .await
                    {
                        Ok(Ok((socket, _))) => {
                            self.socket = Some(socket);
                            let after = 3_000 + self.random() % 5_000;
                            self.drop_at = Instant::now() + Duration::from_millis(after);
                            self.engine.connected(&self.token);
                            self.connects += 1;
                        }
                        // The server went down between publishing its address and now.
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                // Polling interval while the server is down, not a synchronisation.
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        if let Some(socket) = self.socket.as_mut() {
            let mut failed = false;
            for bytes in self.engine.take_outgoing() {
                if socket.send(Message::Binary(bytes.into())).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if !failed {
                match tokio::time::timeout(Duration::from_millis(50), socket.next()).await {
                    Err(_) => {}
                    Ok(Some(Ok(Message::Binary(bytes)))) => {
                        self.engine
                            .receive(&bytes)
                            .map_err(|e| format!("a malformed frame from the server: {e}"))?;
                    }
                    Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => failed = true,
                    Ok(Some(Ok(_))) => {}
                }
            }
            if failed {
                self.disconnect();
            }
        }
        self.handle_events()?;
        if self.last_tick.elapsed() > Duration::from_secs(2) {
            self.last_tick = Instant::now();
            self.engine.tick();
        }
        if shared.editing.load(Ordering::SeqCst) {
            self.maybe_edit();
        }
        self.update_acks();
        // Every few seconds (at random, from 3 to 8 s) the device loses its connection.
        if self.socket.is_some() && Instant::now() >= self.drop_at {
            self.drops += 1;
            self.disconnect();
        }
        let status = self.status();
        shared.status.lock().unwrap()[self.index] = status;
        Ok(())
    }
}

async fn run_device(mut device: Device, shared: Arc<Shared>) -> Result<Device, String> {
    while !shared.stop.load(Ordering::SeqCst) {
        device.turn(&shared).await?;
    }
    Ok(device)
}

/// Waits until `done` holds for the devices' status, polling; fails with `what` after
/// [`DEADLINE`].
async fn wait_for(shared: &Shared, what: &str, mut done: impl FnMut(&[Status]) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = shared.status.lock().unwrap().clone();
        if done(&status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; devices (connected, unacknowledged, \
             acknowledged, connections made, last error): {:?}",
            status
                .iter()
                .map(|s| (
                    s.connected,
                    s.pending,
                    s.acknowledged.len(),
                    s.connects,
                    s.last_error.clone()
                ))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every device has had at least one more change acknowledged than in
/// `before`: the server (and its database) is taking writes from all of them.
async fn wait_for_progress(shared: &Shared, before: &[usize], what: &str) {
    wait_for(shared, what, |status| {
        status
            .iter()
            .zip(before)
            .all(|(s, b)| s.acknowledged.len() > *b)
    })
    .await;
}

fn acked_counts(shared: &Shared) -> Vec<usize> {
    shared
        .status
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.acknowledged.len())
        .collect()
}

/// A fresh device reading the server: every plan of the demo caseload.
async fn reader(server: &Server, name: &str) -> SyncClient {
    let token = server.login("cm1.demo").await;
    let mut reader = SyncClient::connect(&server.ws_url(), &token, name).await;
    reader.sync_caseload().await;
    reader
}

fn start_server(database_url: &str, dir: &Path) -> Server {
    tokio::task::block_in_place(|| Server::start(database_url, dir))
}

async fn kill_loop(database_url: &str, dir: &Path, postgres: Option<&PrivatePostgres>) -> Figures {
    let started = Instant::now();
    let mut figures = Figures {
        cycles: CYCLES,
        devices: DEVICES,
        ..Figures::default()
    };
    let mut server = start_server(database_url, dir);
    let shared = Arc::new(Shared {
        status: Mutex::new(vec![Status::default(); DEVICES]),
        ..Shared::default()
    });
    let mut tasks = Vec::new();
    for index in 0..DEVICES {
        let user = if index % 2 == 0 {
            "cm1.demo"
        } else {
            "cm2.demo"
        };
        let name = format!("kill-loop-device-{index}");
        let device = Device {
            index,
            token: server.login(user).await,
            engine: ClientEngine::new(ActorId::from(name.as_bytes())),
            socket: None,
            editor: None,
            targets: Vec::new(),
            made: HashMap::new(),
            acked: HashMap::new(),
            resent: HashSet::new(),
            drops: 0,
            connects: 0,
            last_error: None,
            last_tick: Instant::now(),
            next_edit: Instant::now(),
            drop_at: Instant::now(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1),
        };
        tasks.push(tokio::spawn(run_device(device, shared.clone())));
    }
    shared.editing.store(true, Ordering::SeqCst);
    *shared.url.lock().unwrap() = Some(server.ws_url());

    for cycle in 0..CYCLES {
        let before = acked_counts(&shared);
        wait_for_progress(
            &shared,
            &before,
            &format!("every device to have a change acknowledged in cycle {cycle}"),
        )
        .await;
        if let (Some(pg), true) = (postgres, cycle == CYCLES / 2) {
            // The database restarts under load; the same server process must recover.
            tokio::task::block_in_place(|| pg.restart());
            figures.pg_restarts += 1;
            let before = acked_counts(&shared);
            wait_for_progress(
                &shared,
                &before,
                "every device to have a change acknowledged after PostgreSQL restarted \
                 (the server's pool did not recover)",
            )
            .await;
        }
        // Devices keep editing offline while the server is down.
        *shared.url.lock().unwrap() = None;
        tokio::task::block_in_place(|| server.kill());
        // Acknowledgements cannot arrive any more: this is everything the server promised.
        let promised: Vec<(String, ChangeHash)> = shared
            .status
            .lock()
            .unwrap()
            .iter()
            .flat_map(|s| s.acknowledged.clone())
            .collect();
        server = start_server(database_url, dir);
        // Before any device can re-send anything, the server alone must have it all.
        let mut check = reader(&server, &format!("kill-loop-reader-{cycle}")).await;
        for (doc, hash) in &promised {
            let present = check
                .engine
                .doc_mut(doc)
                .is_some_and(|d| d.automerge().get_change_by_hash(hash).is_some());
            assert!(
                present,
                "cycle {cycle}: change {hash} to {doc} was acknowledged before the SIGKILL \
                 but the restarted server does not have it"
            );
        }
        figures.checked_after_restarts += promised.len();
        eprintln!(
            "kill loop: cycle {cycle} done at {:.1} s, {} acknowledged changes all present \
             after the restart",
            started.elapsed().as_secs_f64(),
            promised.len()
        );
        drop(check);
        *shared.url.lock().unwrap() = Some(server.ws_url());
    }

    // The network heals and editing stops: everything must arrive and converge.
    let healed = Instant::now();
    shared.editing.store(false, Ordering::SeqCst);
    wait_for(
        &shared,
        "every device to be connected with nothing unacknowledged",
        |status| status.iter().all(|s| s.connected && s.pending == 0),
    )
    .await;
    let mut check = reader(&server, "kill-loop-final-reader").await;
    let targets = shared.status.lock().unwrap()[0].targets.clone();
    let mut server_heads = HashMap::new();
    for doc in &targets {
        let mut heads = check.engine.doc_mut(doc).expect("a target plan").heads();
        heads.sort();
        server_heads.insert(doc.clone(), heads);
    }
    wait_for(
        &shared,
        "every device to converge to the server's heads",
        |status| {
            status.iter().all(|s| {
                targets
                    .iter()
                    .all(|d| s.heads.get(d) == server_heads.get(d))
            })
        },
    )
    .await;
    figures.converge = healed.elapsed();

    shared.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        let device = task
            .await
            .expect("a device task panicked")
            .unwrap_or_else(|e| panic!("{e}"));
        for (doc, made) in &device.made {
            for hash in made {
                let present = check
                    .engine
                    .doc_mut(doc)
                    .is_some_and(|d| d.automerge().get_change_by_hash(hash).is_some());
                assert!(
                    present,
                    "device {}'s change {hash} to {doc} never reached the server",
                    device.index
                );
            }
            figures.edits += made.len();
            figures.acknowledged += device.acked.get(doc).copied().unwrap_or(0);
        }
        figures.resent += device.resent.len();
        figures.drops += device.drops;
        figures.connects += device.connects;
    }
    assert!(
        figures.resent > 0,
        "no change ever needed re-sending: the faults did not test anything"
    );
    figures.total = started.elapsed();
    figures
}

/// A PostgreSQL cluster of this test's own, in a temporary directory on a free port, so
/// that restarting it disturbs nobody else. Stopped when dropped.
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// As root, PostgreSQL's tools run as the `postgres` user (they refuse root).
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start(dir: &Path) -> PrivatePostgres {
        let bin = postgres_bin();
        let as_postgres = command_output("id", &["-u"]).trim() == "0";
        let root = dir.join("pg");
        std::fs::create_dir_all(&root).unwrap();
        if as_postgres {
            // The temporary directory is root's; the cluster's owner must reach into it.
            run("chown", &["-R", "postgres", &dir.display().to_string()]);
        }
        let data = root.join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = PrivatePostgres {
            bin,
            data,
            port,
            as_postgres,
        };
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            root.display()
        );
        cluster.pg(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                &cluster.data.display().to_string(),
                "-l",
                &root.join("log").display().to_string(),
                "-o",
                &options,
            ],
        );
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// An immediate restart: the postmaster drops every connection without a checkpoint
    /// and recovers from its log, as after a crash.
    fn restart(&self) {
        self.pg(
            "pg_ctl",
            &[
                "restart",
                "-w",
                "-t",
                "60",
                "-m",
                "immediate",
                "-D",
                &self.data.display().to_string(),
                // Without a log file the new postmaster would hold this test's output
                // pipe open, and waiting for `pg_ctl` to finish would never end.
                "-l",
                &self.data.with_file_name("log").display().to_string(),
            ],
        );
    }

    fn pg(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool).display().to_string();
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &program]);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let program = self.bin.join("pg_ctl").display().to_string();
        let args = ["stop", "-w", "-m", "immediate", "-D", data.as_str()];
        // Best effort in a destructor: a failing test must not also leak a postmaster.
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--", &program])
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

/// The newest PostgreSQL server tools: Debian's versioned directory, else `pg_config`'s.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    PathBuf::from(command_output("pg_config", &["--bindir"]).trim())
}

fn command_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(output.status.success(), "{program} {args:?} failed");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn run(program: &str, args: &[&str]) {
    command_output(program, args);
}
