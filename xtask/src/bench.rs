//! `cargo xtask bench [--smoke] [harness flags…]`: the caseload benchmark.
//!
//! Installs the reference's npm packages (`npm ci` in `bench/`, from the committed lock
//! file), builds the server and the harness (release, or debug for `--smoke`) and runs
//! `redfolder-bench run` with the given flags. Not part of `cargo xtask test`: its
//! figures are timings. `--smoke` runs every scenario at tiny sizes in well under a
//! minute, which `cargo xtask test` does so the harness cannot rot.

use std::process::Command;

use anyhow::Result;

use crate::{cargo, root, run_cmd, step};

pub(crate) fn bench(args: &[String]) -> Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let release = !smoke || args.iter().any(|a| a == "--release");
    let no_reference = args.iter().any(|a| a == "--no-reference");
    if !no_reference {
        crate::npm_ci("bench", "the reference's npm packages (automerge-repo 2.5)")?;
    }

    step(if release {
        "building the server and the benchmark harness (release)"
    } else {
        "building the server and the benchmark harness (debug)"
    });
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        "redfolder-server",
        "-p",
        "redfolder-bench",
        "--bins",
    ]);
    if release {
        build.arg("--release");
    }
    run_cmd(&mut build)?;

    let profile = if release { "release" } else { "debug" };
    let target = root().join("target").join(profile);
    step(if smoke {
        "benchmark smoke run (tiny sizes)"
    } else {
        "caseload benchmark (this takes a while; see docs/benchmarks.md)"
    });
    let forwarded: Vec<&String> = args.iter().filter(|a| *a != "--release").collect();
    run_cmd(
        Command::new(target.join("redfolder-bench"))
            .arg("run")
            .arg("--server")
            .arg(target.join("redfolder"))
            .args(forwarded),
    )
}
