//! `redfolder-bench`: the caseload benchmark (`docs/benchmarks.md`).
//!
//! `redfolder-bench run` starts real `redfolder serve` processes on temporary SQLite files,
//! seeds the generated caseload, drives real devices (the shared core's `ClientEngine`)
//! over real WebSockets through scenarios S1–S6, runs the automerge-repo reference
//! (`bench/reference.mjs`) on the same fixture file for S1–S4, and prints every figure as
//! median and min–max over the runs with the ratio Red Folder / reference.
//! `redfolder-bench generate` writes a caseload fixture.
//!
//! `cargo xtask bench` builds everything in release and runs the full benchmark;
//! `--smoke` runs every scenario at tiny sizes in seconds, so the harness cannot rot.

mod caseload;
mod device;
mod plandoc;
mod proxy;
mod reference;
mod report;
mod scenarios;
mod server;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::report::Report;
use crate::scenarios::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "redfolder-bench",
    about = "The caseload benchmark: Red Folder against automerge-repo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up; boxing the larger variant would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Write a synthetic caseload (`{"plans": [...]}`) as JSON.
    Generate {
        #[arg(long, default_value_t = 500)]
        plans: usize,
        #[arg(long, default_value_t = caseload::DEFAULT_SEED)]
        seed: u64,
        /// Where to write it; standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the scenarios and print the figures.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Tiny sizes and one run: every scenario in seconds, for `cargo xtask test`.
    #[arg(long)]
    smoke: bool,
    /// Runs per figure (median and min–max are printed).
    #[arg(long)]
    runs: Option<usize>,
    /// Plans in the caseload for S1–S4.
    #[arg(long)]
    plans: Option<usize>,
    #[arg(long, default_value_t = caseload::DEFAULT_SEED)]
    seed: u64,
    /// Read this caseload file instead of generating one (e.g. gen_caseload.py's output).
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Scenarios to run, comma-separated (S1..S6).
    #[arg(long, value_delimiter = ',', default_value = "S1,S2,S3,S4,S5,S6")]
    scenarios: Vec<String>,
    /// Plan counts for S4's memory scaling, comma-separated.
    #[arg(long, value_delimiter = ',')]
    s4_scale: Option<Vec<usize>>,
    /// Plan counts for S5, comma-separated, smallest first.
    #[arg(long, value_delimiter = ',')]
    s5_plans: Option<Vec<usize>>,
    /// Seconds of load per S5 measurement (each run measures saturation, then the open loop).
    #[arg(long)]
    s5_seconds: Option<f64>,
    /// Requests per second S5's readers offer together in the open-loop measurement.
    #[arg(long)]
    s5_rate: Option<f64>,
    /// Idle connections for S6.
    #[arg(long)]
    s6_connections: Option<usize>,
    /// Edits per second in S6.
    #[arg(long)]
    s6_rate: Option<f64>,
    /// The `redfolder` server binary.
    #[arg(long, default_value = "target/release/redfolder")]
    server: PathBuf,
    /// The reference script; its directory must have had `npm ci`.
    #[arg(long, default_value = "bench/reference.mjs")]
    reference: PathBuf,
    /// Skip the automerge-repo reference.
    #[arg(long)]
    no_reference: bool,
    /// Working directory for fixtures, databases and logs.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn settings(args: RunArgs) -> anyhow::Result<Settings> {
    let smoke = args.smoke;
    let pick = |full: usize, tiny: usize| if smoke { tiny } else { full };
    let plans = args.plans.unwrap_or(pick(500, 12));
    let scenarios: HashSet<String> = args
        .scenarios
        .iter()
        .map(|s| s.trim().to_uppercase())
        .collect();
    if let Some(bad) = scenarios
        .iter()
        .find(|s| !["S1", "S2", "S3", "S4", "S5", "S6"].contains(&s.as_str()))
    {
        bail!("unknown scenario {bad:?} (use S1..S6)");
    }
    let reference_script = (!args.no_reference)
        .then(|| std::path::absolute(&args.reference))
        .transpose()?;
    if let Some(script) = &reference_script {
        let modules = script
            .parent()
            .context("the reference script has no directory")?
            .join("node_modules/@automerge/automerge-repo");
        if !modules.exists() {
            bail!(
                "{} is missing: run `npm ci` in {} (or pass --no-reference)",
                modules.display(),
                script
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
    }
    let server_bin = std::path::absolute(&args.server)?;
    if !server_bin.exists() {
        bail!(
            "{} does not exist: build it (cargo build --release -p redfolder-server) or pass --server",
            server_bin.display()
        );
    }
    let work = match args.work {
        Some(dir) => std::path::absolute(dir)?,
        None => scenarios::default_work_dir(&std::env::current_dir()?),
    };
    Ok(Settings {
        runs: args.runs.unwrap_or(pick(3, 1)).max(1),
        seed: args.seed,
        plans,
        fixture: args.fixture,
        visits: pick(50, 5).min(plans),
        s3_plans: 10.min(plans),
        s3_devices: pick(20, 3),
        s3_edits: pick(100, 5),
        s3_interval_ms: 50,
        s4_scale: args.s4_scale.unwrap_or_else(|| {
            if smoke {
                vec![plans]
            } else {
                // Past 2,500 plans most documents are derived from built ones, as for
                // S5, so 20,000 seed in minutes (see docs/benchmarks.md).
                vec![500, 2_500, 20_000]
            }
        }),
        s5_plans: args.s5_plans.unwrap_or_else(|| {
            if smoke {
                vec![100]
            } else {
                // The workload's 100,000, seeded once (about 10 minutes, most plans
                // derived from 5,000 built ones) and copied from target/bench/s5-cache/
                // afterwards; 5,000 (all built) for comparison.
                vec![5_000, 100_000]
            }
        }),
        s5_readers: pick(64, 8),
        s5_seconds: args.s5_seconds.unwrap_or(if smoke { 1.0 } else { 10.0 }),
        s5_rate: args
            .s5_rate
            .unwrap_or(if smoke { 200.0 } else { 5_000.0 })
            .max(1.0),
        s6_connections: args.s6_connections.unwrap_or(pick(10_000, 40)),
        s6_per_user: 10,
        s6_edits: pick(1_000, 10),
        s6_edits_per_second: args.s6_rate.unwrap_or(if smoke { 50.0 } else { 20.0 }),
        scenarios,
        server_bin,
        reference_script,
        work,
    })
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let json = args.json.clone();
    let settings = settings(args)?;
    let mut report = Report::default();
    let started = std::time::Instant::now();
    let result = scenarios::run(&settings, &mut report).await;
    println!("\n{}", report.table());
    for note in &report.notes {
        println!("- {note}");
    }
    println!(
        "\n{} run(s), {:.0} s in all; work directory {}",
        settings.runs,
        started.elapsed().as_secs_f64(),
        settings.work.display()
    );
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    result
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate { plans, seed, out } => {
            let caseload = caseload::generate(plans, seed);
            match out {
                Some(path) => serde_json::to_vec(&caseload)
                    .map_err(anyhow::Error::from)
                    .and_then(|bytes| Ok(std::fs::write(path, bytes)?)),
                None => serde_json::to_writer(std::io::stdout().lock(), &caseload)
                    .map_err(anyhow::Error::from),
            }
        }
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redfolder-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
