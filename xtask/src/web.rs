//! The tablet app: type-check and bundle `web/` into [`WEB_OUT`], and `cargo xtask
//! bench-app`, how fast it opens.
//!
//! `web/` holds TypeScript (`web/src`) type-checked by `tsc` and bundled by esbuild
//! (`web/build.mjs`), both from `web/package-lock.json` through `npm ci`; nothing is
//! fetched at run time. The build prints every shipped file's size, raw and gzipped.

use std::process::Command;

use anyhow::Result;

use crate::{
    Profile, build_server, build_wasm, ensure_chromium, ensure_npm_packages, root, run_cmd, step,
};

/// Where the built app goes, relative to the workspace root: the server's `--web-dir`.
pub(crate) const WEB_OUT: &str = "target/web";

/// Type-checks and bundles the app into [`WEB_OUT`]; needs the wasm core's `web/pkg`
/// (from [`build_wasm`]), whose `.d.ts` the app is checked against.
pub(crate) fn build_web() -> Result<()> {
    crate::npm_ci(
        "web",
        "the web app's npm packages (typescript, esbuild, binaryen)",
    )?;
    step("type-checking the web app (tsc --noEmit)");
    let tsc = "web/node_modules/typescript/bin/tsc";
    run_cmd(Command::new("node").args([tsc, "--noEmit", "-p", "web/tsconfig.json"]))?;
    run_cmd(Command::new("node").args([tsc, "--noEmit", "-p", "web/tsconfig.sw.json"]))?;
    step("bundling the web app (esbuild, wasm-opt)");
    run_cmd(Command::new("node").args(["web/build.mjs", "--out", WEB_OUT]))
}

/// `cargo xtask bench-app [--plans N] [--runs N]`: builds the app and the server, then
/// `tests/browser/bench/app-open.mjs` prints how long the app takes, offline, from
/// navigation to a usable caseload of N plans (default 300) and to an open plan. A
/// benchmark, not a test: nothing is asserted, and `cargo xtask test` does not run it.
pub(crate) fn bench_app(args: &[String]) -> Result<()> {
    build_wasm()?;
    build_web()?;
    build_server(Profile::Debug)?;
    ensure_chromium()?;
    ensure_npm_packages()?;
    step("app-open benchmark in headless Chromium");
    run_cmd(
        Command::new("node")
            .arg("tests/browser/bench/app-open.mjs")
            .args(args)
            .env("REDFOLDER_BIN", root().join("target/debug/redfolder"))
            .env("REDFOLDER_WEB_DIR", root().join(WEB_OUT)),
    )
}
