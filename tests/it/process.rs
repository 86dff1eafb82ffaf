//! The server as a separate process: `redfolder` started on port 0, read back from its
//! `listening on` line, killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

/// The server binary to run. `cargo test` builds this package's `redfolder-under-test`,
/// which is the `redfolder` command line; set `REDFOLDER_BIN` to run another build of
/// `redfolder` instead (for example a release binary).
pub(crate) fn server_binary() -> PathBuf {
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
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

/// How to start a server beyond the defaults.
#[derive(Debug, Default)]
pub(crate) struct Launch<'a> {
    /// Further `serve` arguments.
    pub(crate) args: &'a [&'a str],
    /// Run the server with its address space capped at this many bytes (`prlimit --as`,
    /// from util-linux: the workspace forbids the `unsafe` a `setrlimit` before `exec`
    /// would need). `prlimit` execs the server, so the child's pid is the server's.
    pub(crate) address_space: Option<u64>,
}

impl Server {
    pub(crate) fn start(database_url: &str, dir: &Path) -> Server {
        Server::start_with(database_url, dir, &Launch::default())
    }

    pub(crate) fn start_with(database_url: &str, dir: &Path, launch: &Launch<'_>) -> Server {
        let mut command = match launch.address_space {
            Some(bytes) => {
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--as={bytes}"))
                    .arg("--")
                    .arg(server_binary());
                // glibc gives each thread that allocates its own 64 MiB arena reservation,
                // which counts against an address-space cap without being used.
                command.env("MALLOC_ARENA_MAX", "2");
                command
            }
            None => Command::new(server_binary()),
        };
        let mut child = command
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
            .args(launch.args)
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

    /// Whether the process is still running (not exited, not killed by a signal).
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("looking at the server")
            .is_none()
    }

    /// A line of `/proc/<pid>/status` (`VmHWM`, `VmPeak`, …), in KiB.
    pub(crate) fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} line in {status}"))
    }

    /// The process's soft address-space limit in bytes (`None`: unlimited), as the kernel
    /// applies it (`/proc/<pid>/limits`).
    pub(crate) fn address_space_limit(&self) -> Option<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id()))
            .expect("reading the server's /proc limits");
        let line = limits
            .lines()
            .find(|line| line.starts_with("Max address space"))
            .expect("a Max address space line");
        let soft = line
            .trim_start_matches("Max address space")
            .split_whitespace()
            .next()
            .expect("a soft limit");
        soft.parse().ok()
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub(crate) fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Signs in with the demo password; the whole reply (`token`, `device_id`, …).
    pub(crate) async fn login_with_device(&self, username: &str) -> serde_json::Value {
        let reply = reqwest::Client::new()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": "demo" }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "signing in as {username}");
        reply.json().await.unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/sync", self.port)
    }

    pub(crate) async fn login(&self, username: &str) -> String {
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
    pub(crate) fn kill(&mut self) {
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

impl Server {
    /// SIGTERM, then waits for the process to exit; returns whether it exited cleanly.
    pub(crate) fn terminate(&mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                return status.success();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `redfolder ARGS…` to completion, with `stdin` as its standard input.
pub(crate) fn run_cli(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(server_binary())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting redfolder");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("running redfolder")
}
