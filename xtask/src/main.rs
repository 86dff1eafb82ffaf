//! Build and test orchestration: `cargo xtask build | run | test | api-fuzz | bench | bench-app`.
//!
//! Every command installs what it needs on a fresh machine of this project's kind (the
//! wasm target, a `wasm-bindgen-cli` matching the pinned `wasm-bindgen`, Debian's Chromium,
//! the web app's and the browser tests' npm packages) and says what it is doing.

mod api_fuzz;
mod bench;
mod fuzz;
mod web;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// Must equal the `wasm-bindgen` version pinned in the workspace manifest.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build   build the server, the wasm core and the web app
  run     build everything and start `redfolder serve --demo` on 127.0.0.1:8080
  test    every check: fmt, clippy, Rust tests (SQLite, and PostgreSQL when
          REDFOLDER_TEST_POSTGRES holds a URL; the kill loop when
          REDFOLDER_TEST_FAULTS=1), wasm build, browser tests, the API fuzzer, and
          the benchmark harness in smoke mode
  api-fuzz
          schemathesis against the demo server from its OpenAPI document, once per
          demo role, fixed seed; any server error or answer the document does not
          describe fails it (`--max-examples N` per operation, default 50)
  fuzz    build the libFuzzer targets in fuzz/ and run each for a bounded time
          (`--seconds N`, default 60; optionally target names), then print
          executions and crashes
  bench   the caseload benchmark against automerge-repo (`--smoke` for tiny sizes)
  bench-app
          how fast the tablet app opens offline with 300 plans stored, and opens a
          plan, in headless Chromium (prints the figures; `--plans N`, `--runs N`)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(Profile::Debug),
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench::bench(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("api-fuzz") => api_fuzz::api_fuzz(&args[1..]),
        Some("bench-app") => web::bench_app(&args[1..]),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Debug,
    Release,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn step(title: &str) {
    eprintln!("\n==> {title}");
}

/// Runs a command in the workspace root, failing with the command line if it fails.
fn run_cmd(cmd: &mut Command) -> Result<()> {
    cmd.current_dir(root());
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ensure_wasm_tools() -> Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        step("installing the wasm32-unknown-unknown target");
        run_cmd(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    let version = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if !version.contains(WASM_BINDGEN_VERSION) {
        step(&format!(
            "installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} (takes a few minutes, once)"
        ));
        // Not `--locked`: the CLI's lock file pins a webpki-roots release that is not
        // served by every registry mirror; the CLI's own version is still exact.
        run_cmd(cargo().args([
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
        ]))?;
    }
    Ok(())
}

pub(crate) fn build_wasm() -> Result<()> {
    ensure_wasm_tools()?;
    step("building the wasm core (profile wasm-release)");
    run_cmd(cargo().args([
        "build",
        "-p",
        "redfolder-wasm",
        "--target",
        WASM_TARGET,
        "--profile",
        "wasm-release",
    ]))?;
    let wasm = root()
        .join("target")
        .join(WASM_TARGET)
        .join("wasm-release")
        .join("redfolder_wasm.wasm");
    run_cmd(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-dir", "web/pkg"])
            .arg(wasm),
    )?;
    Ok(())
}

pub(crate) fn build_server(profile: Profile) -> Result<()> {
    step("building the server");
    let mut cmd = cargo();
    cmd.args(["build", "-p", "redfolder-server", "--bin", "redfolder"]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    run_cmd(&mut cmd)
}

fn build(profile: Profile) -> Result<()> {
    build_wasm()?;
    web::build_web()?;
    build_server(profile)?;
    eprintln!(
        "\nbuilt: target/{}/redfolder and the web app in {}",
        dir_of(profile),
        web::WEB_OUT
    );
    Ok(())
}

fn dir_of(profile: Profile) -> &'static str {
    match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    }
}

fn run(extra: &[String]) -> Result<()> {
    build(Profile::Release)?;
    step("starting Red Folder with demo data on http://127.0.0.1:8080");
    let bin = root().join("target/release/redfolder");
    let mut cmd = Command::new(bin);
    cmd.args([
        "serve",
        "--demo",
        "--bind",
        "127.0.0.1:8080",
        "--web-dir",
        web::WEB_OUT,
    ])
    .args(extra);
    run_cmd(&mut cmd)
}

pub(crate) fn ensure_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() {
        return Ok(());
    }
    step("installing Debian's Chromium with apt-get");
    run_cmd(Command::new("apt-get").arg("update"))?;
    run_cmd(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends", "chromium"]),
    )
}

pub(crate) fn ensure_npm_packages() -> Result<()> {
    npm_ci("tests/browser", "the browser tests' npm packages")
}

/// `npm ci` in `dir` (relative to the workspace root) from its committed lock file, unless
/// `node_modules` was installed after the lock file last changed.
pub(crate) fn npm_ci(dir: &str, what: &str) -> Result<()> {
    let path = root().join(dir);
    let modified = |p: std::path::PathBuf| p.metadata().and_then(|m| m.modified());
    let fresh = match (
        modified(path.join("node_modules/.package-lock.json")),
        modified(path.join("package-lock.json")),
    ) {
        (Ok(installed), Ok(locked)) => installed >= locked,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    step(&format!("installing {what}"));
    run_cmd(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", dir]))
}

/// The FHIR validator (fhir.resources 6.4.0) needs pydantic 1, which would clash with
/// the system Python's packages, so it lives in its own virtual environment.
fn ensure_fhir_validator() -> Result<()> {
    let python = root().join("target/fhir-venv/bin/python");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", "import fhir.resources"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        step("installing the FHIR validator (fhir.resources) in target/fhir-venv");
        run_cmd(Command::new("python3").args(["-m", "venv", "target/fhir-venv"]))?;
        run_cmd(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            "tests/fhir/requirements.txt",
        ]))?;
    }
    Ok(())
}

fn test() -> Result<()> {
    step("cargo fmt --check");
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;

    step("clippy (native and wasm32), warnings are errors");
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    ensure_wasm_tools()?;
    run_cmd(cargo().args([
        "clippy",
        "-p",
        "redfolder-wasm",
        "--target",
        WASM_TARGET,
        "--",
        "-D",
        "warnings",
    ]))?;

    step("the shared core compiles for wasm32 and does no I/O");
    run_cmd(cargo().args(["check", "-p", "redfolder-shared", "--target", WASM_TARGET]))?;

    // The integration tests start the real binary (crash and restart), so build it first.
    build_server(Profile::Debug)?;
    ensure_fhir_validator()?;

    let postgres = env::var("REDFOLDER_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty());
    match &postgres {
        Some(_) => step("Rust tests on SQLite and PostgreSQL (REDFOLDER_TEST_POSTGRES is set)"),
        None => {
            step("Rust tests on SQLite");
            eprintln!(
                "NOTE: REDFOLDER_TEST_POSTGRES is not set, so the PostgreSQL tests are SKIPPED. \
                 Set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run them."
            );
        }
    }
    // The kill loop (tests/it/kill_loop.rs) takes a minute or two per backend, so it runs
    // only when asked; `.ci/run` asks.
    let faults = env::var("REDFOLDER_TEST_FAULTS").is_ok_and(|v| v == "1");
    if !faults {
        eprintln!(
            "NOTE: REDFOLDER_TEST_FAULTS is not set to 1, so the kill-loop test (SIGKILL and \
             restart 20 times under load, PostgreSQL restarted once) is SKIPPED. \
             Set REDFOLDER_TEST_FAULTS=1 to run it."
        );
    }
    run_cmd(cargo().args(["test", "--workspace", "--", "--test-threads", "2"]))?;

    build_wasm()?;
    web::build_web()?;

    step("browser tests in Chromium");
    ensure_chromium()?;
    ensure_npm_packages()?;
    run_cmd(
        Command::new("node")
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-timeout=600000",
                "tests/browser/",
            ])
            .env("REDFOLDER_BIN", root().join("target/debug/redfolder"))
            .env("REDFOLDER_WEB_DIR", root().join(web::WEB_OUT)),
    )?;

    api_fuzz::api_fuzz(&[])?;

    step("fuzzing, smoke mode (a few seconds per target; any crash fails)");
    fuzz::fuzz(&["--seconds".to_owned(), "5".to_owned()])?;

    step("benchmark harness, smoke mode (tiny sizes; no figures are judged)");
    bench::bench(&["--smoke".to_owned()])?;

    if postgres.is_none() {
        eprintln!("\nNOTE: PostgreSQL tests were skipped (REDFOLDER_TEST_POSTGRES unset).");
    }
    if !faults {
        eprintln!("NOTE: the kill-loop test was skipped (REDFOLDER_TEST_FAULTS unset).");
    }
    eprintln!("\nall checks passed");
    Ok(())
}
