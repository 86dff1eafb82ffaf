//! `cargo xtask fuzz`: builds the libFuzzer targets in `fuzz/` and runs each for a bounded
//! time, then prints what each did (executions, speed, corpus, crashes).
//!
//! The targets are built with the same coverage instrumentation `cargo fuzz` uses, passed
//! here directly, so neither `cargo-fuzz` nor a nightly toolchain is needed. They run
//! without AddressSanitizer: the workspace forbids `unsafe`, so what is looked for is a
//! panic (debug assertions and overflow checks are on), a hang (`-timeout`) or memory
//! use past `-rss_limit_mb`, each of which libFuzzer reports as a crash with the input
//! that caused it (kept under `fuzz/artifacts/<target>/`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run_cmd, step};

/// Every target, in the order they run.
pub(crate) const TARGETS: [&str; 4] = ["frame", "sync_message", "fhir_import", "risk_csv"];

/// Instrumentation flags, as `cargo fuzz build` sets them (minus the sanitizer).
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing";

/// What one target's run did.
struct Outcome {
    target: &'static str,
    seconds: f64,
    executions: Option<u64>,
    corpus: usize,
    crash: Option<String>,
}

/// `cargo xtask fuzz [--seconds N] [TARGET...]`.
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 60;
    let mut chosen: Vec<&'static str> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = rest
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds needs a whole number")?;
            }
            name => match TARGETS.iter().find(|t| **t == name) {
                Some(t) => chosen.push(t),
                None => bail!("unknown fuzz target {name:?}; the targets are {TARGETS:?}"),
            },
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.to_vec();
    }

    let triple = host_triple()?;
    let target_dir = root().join("target/fuzz");
    step("building the fuzz targets (coverage-instrumented, release with debug assertions)");
    run_cmd(
        cargo()
            .args(["build", "--release", "--bins", "--manifest-path"])
            .arg(root().join("fuzz/Cargo.toml"))
            // An explicit target keeps the instrumentation off build scripts and macros.
            .args(["--target", &triple])
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", RUSTFLAGS),
    )?;

    let mut outcomes = Vec::new();
    for target in chosen {
        step(&format!("fuzzing {target} for {seconds} s"));
        outcomes.push(run_target(
            &target_dir.join(&triple).join("release").join(target),
            target,
            seconds,
        )?);
    }

    eprintln!(
        "\n{:<14} {:>8} {:>12} {:>10} {:>8}  crash",
        "target", "seconds", "executions", "per second", "corpus"
    );
    for o in &outcomes {
        let runs = o.executions.map_or("?".to_owned(), |n| n.to_string());
        let rate = o.executions.map_or("?".to_owned(), |n| {
            format!("{:.0}", n as f64 / o.seconds.max(0.001))
        });
        eprintln!(
            "{:<14} {:>8.1} {:>12} {:>10} {:>8}  {}",
            o.target,
            o.seconds,
            runs,
            rate,
            o.corpus,
            o.crash.as_deref().unwrap_or("none")
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crash.is_some())
        .map(|o| o.target)
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzzing found crashes in {crashed:?}: the inputs are under fuzz/artifacts/; make each a regression test"
        );
    }
    Ok(())
}

fn run_target(binary: &Path, target: &'static str, seconds: u64) -> Result<Outcome> {
    let corpus = root().join("fuzz/corpus").join(target);
    let seeds = root().join("fuzz/seeds").join(target);
    let artifacts = root().join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&corpus).context("creating the corpus directory")?;
    std::fs::create_dir_all(&artifacts).context("creating the artifacts directory")?;
    let mut cmd = Command::new(binary);
    cmd.current_dir(root())
        .arg(format!("-max_total_time={seconds}"))
        // A slow input is a hang to report, and so is memory past 2 GiB.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-max_len=65536")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    eprintln!("$ {cmd:?}");
    let started = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("could not run {}", binary.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    // libFuzzer's own summary: `stat::number_of_executed_units: N`.
    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok());
    let crash = if out.status.success() {
        None
    } else {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
        Some(
            log.lines()
                .find_map(|l| l.split("Test unit written to ").nth(1))
                .unwrap_or("see the log above")
                .trim()
                .to_owned(),
        )
    };
    let corpus_files = std::fs::read_dir(&corpus).map_or(0, |d| d.count());
    Ok(Outcome {
        target,
        seconds: elapsed,
        executions,
        corpus: corpus_files,
        crash,
    })
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host triple")
}
