//! `cargo xtask api-fuzz`: schemathesis against the real demo server, from the server's own
//! OpenAPI document, with a fixed seed.
//!
//! Installs schemathesis (pinned with everything it loads in `tests/api-fuzz/
//! requirements.txt`) into its own virtual environment, `target/api-fuzz-venv`, builds the
//! server, starts `redfolder serve --demo` on a temporary SQLite file and port 0, reads the
//! port back from its first line, and runs schemathesis once per demo role (the routes each
//! role can reach differ: a case manager's scheme and patients, an emergency clinician's
//! summaries and feed, an administrator's accounts, a commissioner's aggregates). Every run
//! checks that no answer is a server error, that each answer's status, content type,
//! headers and body are the ones the document gives for that route, and that the routes
//! refuse requests without a token. Any failure fails the command.
//!
//! Two routes are left out of every run, because neither answers a request with a
//! response schemathesis could judge: `GET /api/v1/sync` upgrades to the WebSocket sync
//! protocol (tested by `tests/it/sync.rs` and `hostile.rs`), and `GET
//! /api/v1/emergency/feed/stream` is a server-sent event stream that stays open until the
//! client leaves (tested by `tests/it/feed.rs`). The feed's long-poll `wait` is shortened
//! to a second by `tests/api-fuzz/hooks.py` so the run is not spent asleep, and half the
//! requests naming a patient, an NHS number or a user name one the demo data holds.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{Profile, build_server, root, run_cmd, step};

const VENV: &str = "target/api-fuzz-venv";
const REQUIREMENTS: &str = "tests/api-fuzz/requirements.txt";
/// The schemathesis release the requirements pin; the venv is reinstalled if it has another.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Fixed, so a run generates the same requests every time and a failure reproduces.
const SEED: &str = "20261203";

/// Routes no run sends requests to, with the reason in the module's documentation.
const EXCLUDED_PATHS: &[&str] = &["/api/v1/sync", "/api/v1/emergency/feed/stream"];

/// The checks every run makes. `ignored_auth` sends the secured routes' requests without
/// a token (and with a wrong one) and expects them refused; `unsupported_method` sends
/// methods a path does not describe and expects 405 with an `Allow` header.
///
/// Not made: `positive_data_acceptance`, because some schema-valid requests are rightly
/// refused for what no schema can say (a date relative to today, an NHS number's check
/// digit, an id that does not exist), and `negative_data_rejection`, because the server
/// accepts some values outside the documented ranges and clamps them (`limit`, `days`).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,ignored_auth,unsupported_method,\
allow_header_conformance";

/// One schemathesis run: who signs in, and which operations (schemathesis `--include-…`
/// options; none for every operation).
struct Run {
    user: &'static str,
    include: &'static [&'static str],
}

const RUNS: &[Run] = &[
    // A case manager reaches most routes; the rest answer them 403, which is checked too.
    Run {
        user: "cm1.demo",
        include: &[],
    },
    Run {
        user: "ambulance.demo",
        include: &["--include-tag", "emergency"],
    },
    Run {
        user: "commissioner.demo",
        include: &[
            "--include-tag",
            "reports",
            "--include-path-regex",
            "^/api/v1/scheme/returns/",
        ],
    },
    // Last: it disables and resets the passwords of users it learns from its answers
    // (never its own; see tests/api-fuzz/hooks.py), who may be the runs' users.
    Run {
        user: "admin.demo",
        include: &["--include-tag", "admin"],
    },
];

pub(crate) fn api_fuzz(args: &[String]) -> Result<()> {
    let mut examples = "50".to_owned();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--max-examples" => {
                examples = rest
                    .next()
                    .context("--max-examples needs a number")?
                    .clone();
                examples
                    .parse::<u32>()
                    .context("--max-examples needs a number")?;
            }
            other => bail!("api-fuzz: unknown argument {other:?} (takes --max-examples N)"),
        }
    }
    build_server(Profile::Debug)?;
    let st = ensure_schemathesis()?;

    step("starting the demo server for the API fuzzer");
    let scratch = root().join("target/api-fuzz");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("could not clear {}", scratch.display()))?;
    }
    std::fs::create_dir_all(scratch.join("web"))?;
    let server = DemoServer::start(&scratch)?;
    eprintln!("demo server at {}", server.url);

    let mut failed = Vec::new();
    for run in RUNS {
        step(&format!(
            "API fuzzer as {} ({} examples per operation, seed {SEED})",
            run.user, examples
        ));
        let mut cmd = Command::new(&st);
        cmd.arg("run")
            .arg(format!("{}/api/openapi.json", server.url))
            .args(["--checks", CHECKS])
            .args(["--max-examples", &examples])
            .args(["--seed", SEED])
            .arg("--generation-deterministic")
            .args(["--phases", "examples,coverage,fuzzing"])
            // One worker: requests in a fixed order, so the server's state when each
            // arrives (a sign-out, a list size recorded) is the same every run.
            .args(["--workers", "1"])
            .args(["--request-timeout", "30"])
            .args(["--no-color"])
            .args(run.include);
        for path in EXCLUDED_PATHS {
            cmd.args(["--exclude-path", path]);
        }
        cmd.env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONPATH", root().join("tests/api-fuzz"))
            .env("REDFOLDER_FUZZ_URL", &server.url)
            .env("REDFOLDER_FUZZ_USER", run.user);
        // In the scratch directory, which each run starts empty: schemathesis keeps a cache
        // of earlier failures in its working directory and would replay them first.
        cmd.current_dir(&scratch);
        eprintln!("$ {cmd:?}");
        let status = cmd
            .status()
            .with_context(|| format!("could not start {}", st.display()))?;
        if !status.success() {
            eprintln!("schemathesis failed with {status}");
            failed.push(run.user);
        }
    }
    drop(server);
    if !failed.is_empty() {
        bail!(
            "the API fuzzer found failures as {} (the report above gives each with a curl \
             line to reproduce it)",
            failed.join(", ")
        );
    }
    eprintln!("\nAPI fuzzer: no server errors and no conformance failures");
    Ok(())
}

/// The venv's `st`, installed from the pinned requirements if missing or another version.
fn ensure_schemathesis() -> Result<PathBuf> {
    let st = root().join(VENV).join("bin/st");
    let python = root().join(VENV).join("bin/python");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('schemathesis'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if installed.as_deref() != Some(SCHEMATHESIS_VERSION) || !st.exists() {
        step(&format!(
            "installing schemathesis {SCHEMATHESIS_VERSION} in {VENV}"
        ));
        run_cmd(Command::new("python3").args(["-m", "venv", VENV]))?;
        run_cmd(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            REQUIREMENTS,
        ]))?;
    }
    Ok(st)
}

/// `redfolder serve --demo` on port 0, stopped (and waited for) when dropped.
struct DemoServer {
    child: Child,
    url: String,
}

impl DemoServer {
    fn start(scratch: &Path) -> Result<DemoServer> {
        let bin = root().join("target/debug/redfolder");
        let mut child = Command::new(&bin)
            .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
            .arg("--database")
            .arg(format!("sqlite://{}", scratch.join("fuzz.db").display()))
            .arg("--web-dir")
            .arg(scratch.join("web"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(scratch.join("server.log"))
                    .context("could not create the server's log")?,
            ))
            .spawn()
            .with_context(|| format!("could not start {}", bin.display()))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        // Read on a thread, so waiting for the address has a deadline; the thread keeps
        // draining stdout afterwards so the server never blocks writing to it.
        let (sender, addresses) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let url = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches('/')
                        .to_owned();
                    let _ = sender.send(url);
                }
            }
        });
        let mut server = DemoServer {
            child,
            url: String::new(),
        };
        server.url = addresses
            .recv_timeout(Duration::from_secs(180))
            .with_context(|| {
                format!(
                    "the demo server did not say where it listens within 180 s; see {}",
                    scratch.join("server.log").display()
                )
            })?;
        Ok(server)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
