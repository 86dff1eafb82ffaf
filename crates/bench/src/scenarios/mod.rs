//! The workload's scenarios S1–S6 (`../shared/bench/WORKLOAD.md`), each against a real
//! `redfolder serve` child process on a fresh SQLite file, with real devices (the shared
//! core's `ClientEngine`) on real WebSockets, and S1–S3 also against the automerge-repo
//! reference on the same fixture file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use redfolder_shared::{ChangeHash, Edit};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::caseload::{self, Caseload, HomeVisits};
use crate::device::{Device, now_ms};
use crate::plandoc::{self, sorted_heads};
use crate::proxy::Proxy;
use crate::reference::Reference;
use crate::report::{Report, Target, percentile};
use crate::server::{CLINICIAN, Derivation, Seeder, ServerProcess, login, scratch};

mod cold;
mod connections;
mod fanout;
mod lookup;
mod scale;

use cold::{redfolder_s1_s2, reference_s1_s2};
use connections::redfolder_s6;
use fanout::{redfolder_s3, reference_s3};
use lookup::redfolder_s5;
use scale::redfolder_s4_scale;

/// The longest any single wait may take before the run fails.
const PATIENCE: Duration = Duration::from_secs(600);
const MIB: f64 = 1024.0;
const SYNC_PATH: &str = "/api/v1/sync";

/// What to run and at which sizes.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) runs: usize,
    pub(crate) seed: u64,
    pub(crate) plans: usize,
    pub(crate) fixture: Option<PathBuf>,
    pub(crate) visits: usize,
    pub(crate) s3_plans: usize,
    pub(crate) s3_devices: usize,
    pub(crate) s3_edits: usize,
    pub(crate) s3_interval_ms: u64,
    pub(crate) s4_scale: Vec<usize>,
    pub(crate) s5_plans: Vec<usize>,
    pub(crate) s5_readers: usize,
    pub(crate) s5_seconds: f64,
    pub(crate) s5_rate: f64,
    pub(crate) s6_connections: usize,
    pub(crate) s6_per_user: usize,
    pub(crate) s6_edits: usize,
    pub(crate) s6_edits_per_second: f64,
    pub(crate) scenarios: HashSet<String>,
    pub(crate) server_bin: PathBuf,
    pub(crate) reference_script: Option<PathBuf>,
    pub(crate) work: PathBuf,
}

impl Settings {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.contains(scenario)
    }
}

/// The generated files both systems read.
#[derive(Debug)]
struct Inputs {
    fixture: PathBuf,
    caseload: Caseload,
    visits_file: PathBuf,
    visits: HomeVisits,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / MIB
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs every selected scenario, recording into `report`.
pub(crate) async fn run(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(&s.work)?;
    let inputs = inputs(s)?;
    set_targets(report);
    let reference = match &s.reference_script {
        Some(script) if ["S1", "S2", "S3", "S4"].iter().any(|x| s.wants(x)) => {
            eprintln!("==> loading the fixture into the automerge-repo reference's storage");
            Some(Reference::prepare(script, &s.work, &inputs.fixture).await?)
        }
        _ => None,
    };
    for run in 0..s.runs {
        if ["S1", "S2", "S4"].iter().any(|x| s.wants(x)) {
            eprintln!("==> run {}/{}: S1, S2, S4 on Red Folder", run + 1, s.runs);
            redfolder_s1_s2(s, &inputs, run, report).await?;
            if let Some(reference) = &reference {
                eprintln!(
                    "==> run {}/{}: S1, S2, S4 on the reference",
                    run + 1,
                    s.runs
                );
                reference_s1_s2(s, &inputs, reference, run, report).await?;
            }
        }
        if s.wants("S3") {
            eprintln!("==> run {}/{}: S3 on Red Folder", run + 1, s.runs);
            redfolder_s3(s, &inputs, run, report).await?;
            if let Some(reference) = &reference {
                eprintln!("==> run {}/{}: S3 on the reference", run + 1, s.runs);
                reference_s3(s, reference, run, report).await?;
            }
        }
    }
    if s.wants("S4") {
        redfolder_s4_scale(s, report).await?;
    }
    if s.wants("S5") {
        redfolder_s5(s, report).await?;
    }
    if s.wants("S6") {
        redfolder_s6(s, report).await?;
    }
    Ok(())
}

fn inputs(s: &Settings) -> anyhow::Result<Inputs> {
    let fixture = match &s.fixture {
        Some(path) => path.clone(),
        None => {
            let path = s.work.join("caseload.json");
            eprintln!(
                "==> generating {} plans (seed {}) into {}",
                s.plans,
                s.seed,
                path.display()
            );
            let caseload = caseload::generate(s.plans, s.seed);
            std::fs::write(&path, serde_json::to_vec(&caseload)?)?;
            path
        }
    };
    // Red Folder reads the same file the reference reads.
    let caseload: Caseload = serde_json::from_slice(
        &std::fs::read(&fixture).with_context(|| format!("reading {}", fixture.display()))?,
    )
    .context("the fixture is not a caseload")?;
    let visits = caseload::home_visits(&caseload, s.visits, s.seed);
    let visits_file = s.work.join("home_visits.json");
    std::fs::write(&visits_file, serde_json::to_vec(&visits)?)?;
    Ok(Inputs {
        fixture,
        caseload,
        visits_file,
        visits,
    })
}

fn set_targets(report: &mut Report) {
    report.target("S1", "wall time", "s", Target::RatioAtMost(0.1));
    report.target(
        "S1",
        "bytes received by the device",
        "KiB",
        Target::RatioAtMost(0.5),
    );
    report.target("S2", "wall time", "s", Target::RatioAtMost(0.3));
    report.target(
        "S2",
        "bytes on the connection ÷ raw change bytes",
        "×",
        Target::AtMost(1.1),
    );
    report.target(
        "S3",
        "p99 until all others see an edit",
        "ms",
        Target::AtMost(25.0),
    );
    report.target(
        "S4",
        "server RSS per plan after serving all once",
        "KiB",
        Target::RatioAtMost(0.1),
    );
}

/// Marks documents whose heads reached `expected` as complete.
fn drain_complete(
    device: &mut Device,
    expected: &HashMap<String, Vec<ChangeHash>>,
    remaining: &mut HashSet<String>,
) {
    for id in std::mem::take(&mut device.changed) {
        if !remaining.contains(&id) {
            continue;
        }
        // Holding every expected change is enough: the document may have moved on since
        // (S6's second run starts from plans the first run's edits changed).
        // A plan received as a snapshot is not loaded until first use, so its heads are
        // asked for first; only a plan that moved on is looked into.
        let Some(heads) = expected.get(&id) else {
            continue;
        };
        let held = device.engine.heads(&id).unwrap_or_default();
        let complete = heads.iter().all(|h| held.contains(h))
            || device.engine.doc_mut(&id).is_some_and(|doc| {
                heads
                    .iter()
                    .all(|h| doc.automerge().get_change_by_hash(h).is_some())
            });
        if complete {
            remaining.remove(&id);
        }
    }
}

/// Syncs a device until it holds every document of `expected` with (at least) those heads.
async fn sync_all(
    device: &mut Device,
    expected: &HashMap<String, Vec<ChangeHash>>,
    what: &str,
) -> anyhow::Result<()> {
    sync_all_within(device, expected, what, PATIENCE).await
}

async fn sync_all_within(
    device: &mut Device,
    expected: &HashMap<String, Vec<ChangeHash>>,
    what: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    let mut remaining: HashSet<String> = expected.keys().cloned().collect();
    device
        .pump_until(what, patience, |d| {
            drain_complete(d, expected, &mut remaining);
            d.caseload.is_some() && remaining.is_empty()
        })
        .await
}

/// Where the harness keeps its files when not told.
pub(crate) fn default_work_dir(root: &Path) -> PathBuf {
    root.join("target").join("bench")
}
