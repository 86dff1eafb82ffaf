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
        if let (Some(doc), Some(heads)) = (device.engine.doc_mut(&id), expected.get(&id))
            && heads
                .iter()
                .all(|h| doc.automerge().get_change_by_hash(h).is_some())
        {
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

/// S1 (cold sync), S4 (memory after serving every plan once) and S2 (incremental) on one
/// Red Folder server.
async fn redfolder_s1_s2(
    s: &Settings,
    inputs: &Inputs,
    run: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = scratch(&s.work, &format!("redfolder-s1-run{run}"))?;
    let db = dir.join("redfolder.db");
    let mut seeder = Seeder::open(&db).await?;
    seeder
        .practice("P1", inputs.caseload.plans.iter().cloned(), "", true)
        .await?;
    let seeded = seeder.finish().await;
    let server = ServerProcess::redfolder(&s.server_bin, &db, &dir)?;
    let http = reqwest::Client::new();
    let token = login(&http, &server.http(), &seeded.orgs[0].username).await?;
    let n = seeded.orgs[0].doc_ids.len();

    // S1: a new device obtains every plan.
    let proxy = Proxy::start(&server.address).await?;
    let started = Instant::now();
    let mut device1 = Device::new(&format!("rf-s1-device-1-run{run}"));
    device1.connect(&proxy.ws(SYNC_PATH), &token).await?;
    sync_all(&mut device1, &seeded.heads, "the cold sync").await?;
    let s1 = started.elapsed();
    let (sent, received) = proxy.bytes();
    let memory = server.memory()?;
    report.redfolder("S1", "wall time", "s", s1.as_secs_f64());
    report.redfolder(
        "S1",
        "bytes received by the device",
        "KiB",
        received as f64 / 1024.0,
    );
    report.redfolder(
        "S1",
        "bytes sent by the device",
        "KiB",
        sent as f64 / 1024.0,
    );
    report.redfolder(
        "S1",
        "compacted documents, added up (the floor)",
        "KiB",
        seeded.saved_bytes as f64 / 1024.0,
    );
    report.redfolder("S1", "server peak RSS", "MiB", mib(memory.hwm_kib));
    report.redfolder(
        "S4",
        "server RSS after serving all once",
        "MiB",
        mib(memory.rss_kib),
    );
    report.redfolder(
        "S4",
        "server RSS per plan after serving all once",
        "KiB",
        memory.rss_kib as f64 / n as f64,
    );
    eprintln!(
        "  S1: {n} plans in {:.3} s, {} KiB received, server RSS {:.1} MiB",
        s1.as_secs_f64(),
        received / 1024,
        mib(memory.rss_kib)
    );

    // S2: the first device goes offline. A second device that holds the same plans makes
    // one review on each visited plan while out on home visits (offline, as a review is
    // one change of several edits), then reconnects and waits for the server's acks.
    device1.disconnect().await;
    drop(proxy);
    let token2 = login(&http, &server.http(), &seeded.orgs[0].username).await?;
    let mut device2 = Device::new(&format!("rf-s1-device-2-run{run}"));
    for id in &seeded.orgs[0].doc_ids {
        let stored = device1.engine.export(id).context("device 1 lost a plan")?;
        device2.engine.load(id, &stored)?;
    }
    // The same case manager, on another tablet.
    let visitor = device1
        .editor
        .clone()
        .context("device 1 was never welcomed")?;
    let mut change_bytes = 0usize;
    let mut expected = HashMap::new();
    for visit in &inputs.visits.visits {
        let id = &visit.plan_id;
        let doc = device2.engine.doc_mut(id).context("no such plan")?;
        let edits = plandoc::review_edits(doc, &visit.review)?;
        let hash = doc.apply_all(&edits, &visitor, now_ms())?;
        change_bytes += plandoc::change_size(doc, &hash);
        expected.insert(id.clone(), sorted_heads(doc));
    }
    device2.connect(&server.ws(SYNC_PATH), &token2).await?;
    let mut unacked: HashSet<String> = expected.keys().cloned().collect();
    device2
        .pump_until("the server to acknowledge the reviews", PATIENCE, |d| {
            for id in std::mem::take(&mut d.acked) {
                if d.engine.pending(&id) == 0 {
                    unacked.remove(&id);
                }
            }
            unacked.is_empty()
        })
        .await?;
    device2.disconnect().await;

    let proxy = Proxy::start(&server.address).await?;
    let started = Instant::now();
    device1.connect(&proxy.ws(SYNC_PATH), &token).await?;
    sync_all(&mut device1, &expected, "the incremental catch-up").await?;
    let s2 = started.elapsed();
    let (sent, received) = proxy.bytes();
    let total = (sent + received) as f64;
    report.redfolder("S2", "wall time", "s", s2.as_secs_f64());
    report.redfolder("S2", "bytes on the connection", "KiB", total / 1024.0);
    report.redfolder(
        "S2",
        "raw size of the new changes",
        "KiB",
        change_bytes as f64 / 1024.0,
    );
    report.redfolder(
        "S2",
        "bytes on the connection ÷ raw change bytes",
        "×",
        total / change_bytes as f64,
    );
    eprintln!(
        "  S2: {} reviews in {:.3} s, {:.0} bytes for {change_bytes} bytes of changes",
        expected.len(),
        s2.as_secs_f64(),
        total
    );
    device1.disconnect().await;
    Ok(())
}

async fn reference_s1_s2(
    s: &Settings,
    inputs: &Inputs,
    reference: &Reference,
    run: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = scratch(&s.work, &format!("reference-s1-run{run}"))?;
    let server = reference.server(&dir)?;
    let n = inputs.caseload.plans.len();
    let (proxy1, proxy2) = (
        Proxy::start(&server.address).await?,
        Proxy::start(&server.address).await?,
    );
    let mut at_s1 = None;
    let (s1, s2) = reference
        .s1s2(
            &server.ws(""),
            &proxy1.ws(""),
            &proxy2.ws(""),
            &inputs.visits_file,
            async |_| {
                at_s1 = Some((proxy1.bytes(), server.memory()?));
                Ok(())
            },
        )
        .await?;
    let ((sent, received), memory) = at_s1.context("the S1 measurement was skipped")?;
    report.reference("S1", "wall time", "s", s1.seconds);
    report.reference(
        "S1",
        "bytes received by the device",
        "KiB",
        received as f64 / 1024.0,
    );
    report.reference(
        "S1",
        "bytes sent by the device",
        "KiB",
        sent as f64 / 1024.0,
    );
    report.reference(
        "S1",
        "compacted documents, added up (the floor)",
        "KiB",
        reference.saved_bytes / 1024.0,
    );
    report.reference("S1", "server peak RSS", "MiB", mib(memory.hwm_kib));
    report.reference(
        "S4",
        "server RSS after serving all once",
        "MiB",
        mib(memory.rss_kib),
    );
    report.reference(
        "S4",
        "server RSS per plan after serving all once",
        "KiB",
        memory.rss_kib as f64 / n as f64,
    );
    let (sent, received) = proxy2.bytes();
    let total = (sent + received) as f64;
    report.reference("S2", "wall time", "s", s2.seconds);
    report.reference("S2", "bytes on the connection", "KiB", total / 1024.0);
    report.reference(
        "S2",
        "raw size of the new changes",
        "KiB",
        s2.change_bytes / 1024.0,
    );
    report.reference(
        "S2",
        "bytes on the connection ÷ raw change bytes",
        "×",
        total / s2.change_bytes,
    );
    eprintln!(
        "  S1: {:.3} s; S2: {:.3} s, {total:.0} bytes for {:.0} bytes of changes",
        s1.seconds, s2.seconds, s2.change_bytes
    );
    Ok(())
}

fn record_s3(report: &mut Report, latencies: &[f64], reference: bool) {
    let (p50, p99) = (percentile(latencies, 50.0), percentile(latencies, 99.0));
    eprintln!("  S3: p50 {p50:.1} ms, p99 {p99:.1} ms");
    let record = if reference {
        Report::reference
    } else {
        Report::redfolder
    };
    record(report, "S3", "p50 until all others see an edit", "ms", p50);
    record(report, "S3", "p99 until all others see an edit", "ms", p99);
}

async fn reference_s3(
    s: &Settings,
    reference: &Reference,
    run: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = scratch(&s.work, &format!("reference-s3-run{run}"))?;
    let server = reference.server(&dir)?;
    let result = reference
        .s3(
            &server.ws(""),
            s.s3_plans,
            s.s3_devices,
            s.s3_edits,
            s.s3_interval_ms,
        )
        .await?;
    record_s3(report, &result.latencies_ms, true);
    Ok(())
}

type Seen = Arc<Mutex<Vec<Vec<Option<Instant>>>>>;

/// S3: `s3_devices` devices hold the same plans; the first makes single-field edits at a
/// fixed interval; each edit's latency is until the last of the others holds it.
async fn redfolder_s3(
    s: &Settings,
    inputs: &Inputs,
    run: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = scratch(&s.work, &format!("redfolder-s3-run{run}"))?;
    let db = dir.join("redfolder.db");
    let mut seeder = Seeder::open(&db).await?;
    let plans = inputs.caseload.plans.iter().take(s.s3_plans).cloned();
    seeder.practice("S3", plans, "", true).await?;
    let seeded = seeder.finish().await;
    let server = ServerProcess::redfolder(&s.server_bin, &db, &dir)?;
    let token = login(
        &reqwest::Client::new(),
        &server.http(),
        &seeded.orgs[0].username,
    )
    .await?;
    let ids = seeded.orgs[0].doc_ids.clone();

    let mut devices = Vec::new();
    for i in 0..s.s3_devices {
        let mut device = Device::new(&format!("rf-s3-device-{i}-run{run}"));
        device.connect(&server.ws(SYNC_PATH), &token).await?;
        sync_all(&mut device, &seeded.heads, "a fan-out device to sync").await?;
        devices.push(device);
    }
    let mut editor = devices.remove(0);
    let published: Arc<Mutex<Vec<(String, ChangeHash)>>> = Arc::default();
    let seen: Seen = Arc::new(Mutex::new(vec![vec![None; devices.len()]; s.s3_edits]));
    let stop = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(r, mut device)| {
            let (published, seen, stop) = (published.clone(), seen.clone(), stop.clone());
            tokio::spawn(async move {
                let mut mine = HashSet::new();
                while !stop.load(Ordering::Relaxed) {
                    device.step(Duration::from_millis(20)).await?;
                    let now = Instant::now();
                    if device.changed.is_empty() {
                        continue;
                    }
                    let changed: HashSet<String> = device.changed.drain(..).collect();
                    let edits = published
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    for (e, (doc_id, hash)) in edits.iter().enumerate() {
                        if mine.contains(&e) || !changed.contains(doc_id) {
                            continue;
                        }
                        let doc = device.engine.doc_mut(doc_id).context("lost a plan")?;
                        if doc.automerge().get_change_by_hash(hash).is_some() {
                            mine.insert(e);
                            seen.lock().unwrap_or_else(PoisonError::into_inner)[e][r] = Some(now);
                        }
                    }
                }
                device.disconnect().await;
                anyhow::Ok(())
            })
        })
        .collect();

    let interval = Duration::from_millis(s.s3_interval_ms);
    let editor_user = editor
        .editor
        .clone()
        .context("the editor was not welcomed")?;
    let mut sent = Vec::with_capacity(s.s3_edits);
    let mut next = Instant::now();
    for e in 0..s.s3_edits {
        let doc_id = &ids[e % ids.len()];
        let edit = Edit::SetPreferredPlaceOfCare {
            place: format!("home (visit {e})"),
        };
        let at = Instant::now();
        let hash = editor.engine.apply(doc_id, &edit, &editor_user, now_ms())?;
        published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((doc_id.clone(), hash));
        editor.flush().await?;
        sent.push(at);
        next += interval;
        while let Some(wait) = next.checked_duration_since(Instant::now()) {
            editor.step(wait).await?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .all(|row| row.iter().all(Option::is_some));
        if all {
            break;
        }
        if Instant::now() > deadline {
            bail!("S3: not every device saw every edit within 30 s");
        }
        editor.step(Duration::from_millis(20)).await?;
    }
    stop.store(true, Ordering::Relaxed);
    for receiver in receivers {
        receiver.await??;
    }
    editor.disconnect().await;
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    let latencies: Vec<f64> = seen
        .iter()
        .zip(&sent)
        .map(|(row, at)| {
            row.iter()
                .flatten()
                .map(|t| ms(t.duration_since(*at)))
                .fold(0.0, f64::max)
        })
        .collect();
    record_s3(report, &latencies, false);
    Ok(())
}

/// S4's scaling: server memory after one device cold-synced N plans, for growing N.
/// How many distinct plans S4's scaling builds; larger caseloads derive the rest.
const S4_DISTINCT_PLANS: usize = 2_500;

async fn redfolder_s4_scale(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
    for &n in &s.s4_scale {
        eprintln!("==> S4 scaling: Red Folder with {n} plans");
        let dir = scratch(&s.work, &format!("redfolder-s4-{n}"))?;
        let db = dir.join("redfolder.db");
        let mut seeder = Seeder::open(&db).await?;
        // Past S4_DISTINCT_PLANS, plans are derived from built ones (as for S5): their
        // documents differ in identity, share clinical content, and are as large.
        let mut derivation = Derivation::new(S4_DISTINCT_PLANS, s.seed);
        seeder
            .practice_derived("P1", caseload::plans(n, s.seed), &mut derivation, true)
            .await?;
        let seeded = seeder.finish().await;
        let server = ServerProcess::redfolder(&s.server_bin, &db, &dir)?;
        let idle = server.memory()?;
        let token = login(
            &reqwest::Client::new(),
            &server.http(),
            &seeded.orgs[0].username,
        )
        .await?;
        let started = Instant::now();
        let mut device = Device::new("rf-s4-device");
        device.connect(&server.ws(SYNC_PATH), &token).await?;
        // A size the server cannot sync in reasonable time is a finding, not the end of
        // the run: record it and go on to the next scenario.
        let patience = Duration::from_secs(300);
        if let Err(e) = sync_all_within(&mut device, &seeded.heads, "the cold sync", patience).await
        {
            let memory = server.memory()?;
            report.note(format!(
                "S4 scale: the cold sync of {n} plans did not finish ({e:#}); server RSS then {:.1} MiB (peak {:.1})",
                mib(memory.rss_kib),
                mib(memory.hwm_kib)
            ));
            continue;
        }
        let took = started.elapsed();
        let memory = server.memory()?;
        device.disconnect().await;
        let name = format!("N = {n}: server RSS after serving all once");
        report.redfolder("S4 scale", &name, "MiB", mib(memory.rss_kib));
        report.redfolder(
            "S4 scale",
            &format!("N = {n}: server peak RSS"),
            "MiB",
            mib(memory.hwm_kib),
        );
        report.redfolder(
            "S4 scale",
            &format!("N = {n}: cold sync wall time"),
            "s",
            took.as_secs_f64(),
        );
        eprintln!(
            "  N = {n}: idle {:.1} MiB, after serving all {:.1} MiB (peak {:.1}), cold sync {:.2} s",
            mib(idle.rss_kib),
            mib(memory.rss_kib),
            mib(memory.hwm_kib),
            took.as_secs_f64()
        );
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Load {
    latencies_ms: Vec<f64>,
    ok: usize,
    not_found: usize,
    other: usize,
    /// Requests sent more than a millisecond after their intended time (open loop only):
    /// the load generator or the connection fell behind the schedule.
    late: usize,
    /// Responses (warm-up ones too) that arrived within the timed window.
    completed_in_window: usize,
}

/// How S5's readers issue requests.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// Each reader sends its next request as soon as the previous one is answered: the
    /// server's throughput at saturation. Latency is from send to response, so it hides
    /// the queueing a steady arrival rate would see (coordinated omission).
    ClosedLoop,
    /// The readers together offer `per_second` requests on a fixed schedule (reader `r`
    /// owns slots `r`, `r + readers`, …). Latency is from each request's intended send
    /// time, so a response that holds a reader up counts against every request it delays.
    OpenLoop { per_second: f64 },
}

/// `readers` concurrent clients fetch emergency summaries for random NHS numbers for
/// `seconds` (after a 0.5 s untimed warm-up at the same pace). Returns the load and the
/// achieved rate: responses that arrived within the timed window, per second (so an open
/// loop that falls behind its schedule shows a rate below the one offered).
async fn read_summaries(
    base: &str,
    token: &str,
    nhs: Arc<Vec<String>>,
    readers: usize,
    seconds: f64,
    pace: Pace,
) -> anyhow::Result<(Load, f64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(readers)
        .build()?;
    let start = Instant::now();
    let warm_until = start + Duration::from_millis(500);
    let end = warm_until + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..readers)
        .map(|r| {
            let (client, nhs) = (client.clone(), nhs.clone());
            let url = format!("{base}/api/v1/emergency/summary/");
            let auth = format!("Bearer {token}");
            tokio::spawn(async move {
                let mut rng = redfolder_shared::testkit::Rng::new(r as u64 + 1);
                let mut load = Load::default();
                let mut path = String::with_capacity(url.len() + 10);
                for slot in 0u64.. {
                    let intended = match pace {
                        Pace::ClosedLoop => Instant::now(),
                        Pace::OpenLoop { per_second } => {
                            let k = slot * readers as u64 + r as u64;
                            start + Duration::from_secs_f64(k as f64 / per_second)
                        }
                    };
                    if intended >= end {
                        break;
                    }
                    if intended > Instant::now() {
                        tokio::time::sleep_until(intended.into()).await;
                    }
                    let sent = Instant::now();
                    let number = &nhs[rng.below(nhs.len())];
                    path.clear();
                    path.push_str(&url);
                    path.push_str(number);
                    let response = client
                        .get(path.as_str())
                        .header(reqwest::header::AUTHORIZATION, auth.as_str())
                        .send()
                        .await?;
                    let status = response.status().as_u16();
                    response.bytes().await?;
                    let done = Instant::now();
                    if (warm_until..end).contains(&done) {
                        load.completed_in_window += 1;
                    }
                    if intended < warm_until {
                        continue;
                    }
                    load.latencies_ms.push(ms(done - intended));
                    if sent - intended > Duration::from_millis(1) {
                        load.late += 1;
                    }
                    match status {
                        200 => load.ok += 1,
                        404 => load.not_found += 1,
                        _ => load.other += 1,
                    }
                }
                anyhow::Ok(load)
            })
        })
        .collect();
    let mut total = Load::default();
    for task in tasks {
        let load = task.await??;
        total.latencies_ms.extend(load.latencies_ms);
        total.ok += load.ok;
        total.not_found += load.not_found;
        total.other += load.other;
        total.late += load.late;
        total.completed_in_window += load.completed_in_window;
    }
    let rate = total.completed_in_window as f64 / seconds;
    Ok((total, rate))
}

/// S5 builds this many plans through the shared core's edits and derives the rest from
/// them (`server::Derivation`): building all 100,000 would take most of an hour here.
const S5_DISTINCT_PLANS: usize = 5_000;

/// Bump when what S5 seeds changes, so stale cached stores are not reused.
const S5_CACHE_FORMAT: u32 = 2;

/// S5: emergency lookups against a store of N plans, for each N in `s5_plans`.
///
/// Each level's seeded store is kept under `<work>/s5-cache/`, named by the levels up to
/// it, the seed, the number of built plans and [`S5_CACHE_FORMAT`]; a later run copies
/// it instead of seeding again (delete the directory to force a rebuild; a store built by
/// an older server is migrated when the server opens the copy).
async fn redfolder_s5(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
    let dir = scratch(&s.work, "redfolder-s5")?;
    let cache = s.work.join("s5-cache");
    std::fs::create_dir_all(&cache)?;
    let db = dir.join("redfolder.db");
    let mut nhs = Vec::new();
    let mut loaded = 0;
    let clinician = CLINICIAN;
    let mut derivation = Derivation::new(S5_DISTINCT_PLANS, s.seed);
    let mut levels = s.s5_plans.clone();
    levels.sort_unstable();
    levels.dedup();
    for (level, &n) in levels.iter().enumerate() {
        let started = Instant::now();
        nhs.extend(
            caseload::plans(n, s.seed)
                .skip(loaded)
                .map(|p| p.patient.nhs_number),
        );
        let sizes: Vec<String> = levels[..=level].iter().map(usize::to_string).collect();
        let cached = cache.join(format!(
            "s5-v{S5_CACHE_FORMAT}-seed{}-built{}-{}.db",
            s.seed,
            S5_DISTINCT_PLANS,
            sizes.join("+")
        ));
        if cached.exists() {
            eprintln!(
                "==> S5: copying the seeded store of {n} plans from {}",
                cached.display()
            );
            copy_database(&cached, &db)?;
            derivation.resume_at(n);
        } else {
            eprintln!("==> S5: seeding Red Folder up to {n} plans");
            let mut seeder = Seeder::open(&db).await?;
            if level == 0 {
                seeder.ambulance().await?;
            }
            let plans = caseload::plans(n, s.seed).skip(loaded);
            seeder
                .practice_derived(&format!("S5-{n}"), plans, &mut derivation, false)
                .await?;
            seeder.finish().await;
            // Copied under another name and renamed, so an interrupted copy is never used.
            let partial = cached.with_extension("partial");
            copy_database(&db, &partial)?;
            for suffix in ["-wal", ""] {
                let from = PathBuf::from(format!("{}{suffix}", partial.display()));
                if from.exists() {
                    std::fs::rename(&from, format!("{}{suffix}", cached.display()))?;
                }
            }
        }
        loaded = n;
        eprintln!("  ready in {:.0} s", started.elapsed().as_secs_f64());
        let server = ServerProcess::redfolder(&s.server_bin, &db, &dir)?;
        let token = login(&reqwest::Client::new(), &server.http(), clinician).await?;
        let numbers = Arc::new(nhs.clone());
        for run in 0..s.runs {
            let name = |what: &str| format!("N = {n}: {what}");
            let saturation = |what: &str| name(&format!("saturation (closed loop): {what}"));
            let open =
                |what: &str| name(&format!("open loop, {} req/s offered: {what}", s.s5_rate));
            let (load, rate) = read_summaries(
                &server.http(),
                &token,
                numbers.clone(),
                s.s5_readers,
                s.s5_seconds,
                Pace::ClosedLoop,
            )
            .await?;
            let (p50, p99) = s5_percentiles(&load, run, "closed loop", rate)?;
            report.redfolder("S5", &saturation("requests per second"), "req/s", rate);
            report.redfolder("S5", &saturation("p50 latency"), "ms", p50);
            report.redfolder("S5", &saturation("p99 latency"), "ms", p99);
            let (load, rate) = read_summaries(
                &server.http(),
                &token,
                numbers.clone(),
                s.s5_readers,
                s.s5_seconds,
                Pace::OpenLoop {
                    per_second: s.s5_rate,
                },
            )
            .await?;
            let (p50, p99) = s5_percentiles(&load, run, "open loop", rate)?;
            let memory = server.memory()?;
            // Whole requests per second: the window's edges make the count of an open
            // loop that keeps up land a fraction either side of the offered rate.
            let achieved = rate.round();
            report.redfolder(
                "S5",
                &open("achieved requests per second"),
                "req/s",
                achieved,
            );
            report.redfolder("S5", &open("p50 latency from intended send"), "ms", p50);
            report.redfolder("S5", &open("p99 latency from intended send"), "ms", p99);
            report.redfolder(
                "S5",
                &open("requests sent > 1 ms late"),
                "%",
                100.0 * load.late as f64 / load.latencies_ms.len().max(1) as f64,
            );
            report.redfolder("S5", &name("server RSS"), "MiB", mib(memory.rss_kib));
            if n == 100_000 {
                report.target(
                    "S5",
                    &open("achieved requests per second"),
                    "req/s",
                    Target::AtLeast(5000.0),
                );
                report.target(
                    "S5",
                    &open("p99 latency from intended send"),
                    "ms",
                    Target::AtMost(10.0),
                );
            }
        }
    }
    report.note(format!(
        "S5 used {} concurrent readers for {} s per measurement (after 0.5 s of warm-up) over a pool of keep-alive connections; every request is authenticated and audited (the audit entry is committed before the response). Saturation: each reader sends as soon as its previous answer arrives, latency from send (context: it hides queueing). Open loop: the readers together offer {} req/s on a fixed schedule and latency runs from each request's intended send time, so a late answer counts against every request it delays (the target is judged on these). The load generator runs on the same cores as the server.",
        s.s5_readers, s.s5_seconds, s.s5_rate
    ));
    if levels.iter().any(|&n| n > S5_DISTINCT_PLANS) {
        report.note(format!(
            "S5 built the first {S5_DISTINCT_PLANS} plans through the shared core's edits; each later plan i is plan i mod {S5_DISTINCT_PLANS}'s document loaded under its own actor with one Edit::SetPatient giving it plan i's NHS number, name, date of birth and address (projections computed from the result)"
        ));
    }
    Ok(())
}

/// Copies a closed SQLite database (with its write-ahead log, if one was left) over `to`.
fn copy_database(from: &Path, to: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let (from, to) = (
            PathBuf::from(format!("{}{suffix}", from.display())),
            PathBuf::from(format!("{}{suffix}", to.display())),
        );
        if to.exists() {
            std::fs::remove_file(&to)?;
        }
        if suffix != "-shm" && from.exists() {
            std::fs::copy(&from, &to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}

/// Prints one S5 measurement and returns its p50 and p99; fails if any request failed.
fn s5_percentiles(load: &Load, run: usize, pace: &str, rate: f64) -> anyhow::Result<(f64, f64)> {
    let (p50, p99) = (
        percentile(&load.latencies_ms, 50.0),
        percentile(&load.latencies_ms, 99.0),
    );
    eprintln!(
        "  run {}, {pace}: {rate:.0} requests/s, p50 {p50:.2} ms, p99 {p99:.2} ms ({} ok, {} not available, {} other, {} sent late)",
        run + 1,
        load.ok,
        load.not_found,
        load.other,
        load.late,
    );
    if load.other > 0 {
        bail!("S5: {} requests failed", load.other);
    }
    Ok((p50, p99))
}

/// One S6 connection's orders: make an edit and report when the server acknowledged it.
type EditOrder = oneshot::Sender<anyhow::Result<Duration>>;

/// S6: many idle authenticated connections (each a device holding its user's plan), then
/// some of them each make one edit; memory along the way and acknowledgement latency.
async fn redfolder_s6(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
    let users = s.s6_connections.div_ceil(s.s6_per_user).max(1);
    eprintln!(
        "==> S6: seeding {users} practices of one plan and one case manager each ({} connections, {} per user)",
        s.s6_connections, s.s6_per_user
    );
    let dir = scratch(&s.work, "redfolder-s6")?;
    let db = dir.join("redfolder.db");
    let mut seeder = Seeder::open(&db).await?;
    for (u, plan) in caseload::plans(users, s.seed).enumerate() {
        seeder
            .practice(&format!("S6-{u:05}"), std::iter::once(plan), "", true)
            .await?;
    }
    let seeded = Arc::new(seeder.finish().await);
    let server = ServerProcess::redfolder(&s.server_bin, &db, &dir)?;
    eprintln!("  signing in {users} users through the API");
    let http = reqwest::Client::new();
    let logins = Arc::new(Semaphore::new(4));
    let mut pending = Vec::new();
    for org in &seeded.orgs {
        let (http, base, username, logins) = (
            http.clone(),
            server.http(),
            org.username.clone(),
            logins.clone(),
        );
        pending.push(tokio::spawn(async move {
            let _permit = logins.acquire_owned().await?;
            login(&http, &base, &username).await
        }));
    }
    let mut tokens = Vec::new();
    for p in pending {
        tokens.push(p.await??);
    }
    let tokens = Arc::new(tokens);

    for run in 0..s.runs {
        eprintln!(
            "==> S6 run {}/{}: opening {} connections",
            run + 1,
            s.runs,
            s.s6_connections
        );
        let before = server.memory()?;
        let connecting = Arc::new(Semaphore::new(64));
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
        let mut orders = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..s.s6_connections {
            let (order_tx, mut order_rx) = mpsc::channel::<EditOrder>(1);
            orders.push(order_tx);
            let (seeded, tokens, connecting, ready) = (
                seeded.clone(),
                tokens.clone(),
                connecting.clone(),
                ready_tx.clone(),
            );
            let url = server.ws(SYNC_PATH);
            tasks.push(tokio::spawn(async move {
                let user = i % seeded.orgs.len();
                let doc_id = seeded.orgs[user].doc_ids[0].clone();
                let mut device = Device::new(&format!("rf-s6-{run}-{i}"));
                let synced = async {
                    let _permit = connecting.acquire().await?;
                    device.connect(&url, &tokens[user]).await?;
                    let expected: HashMap<String, Vec<ChangeHash>> =
                        [(doc_id.clone(), seeded.heads[&doc_id].clone())].into();
                    sync_all(&mut device, &expected, "an S6 device to sync").await
                }
                .await;
                let failed = synced.is_err();
                let _ = ready.send(synced);
                if failed {
                    return;
                }
                loop {
                    tokio::select! {
                        order = order_rx.recv() => {
                            let Some(reply) = order else { break };
                            let _ = reply.send(edit_and_wait(&mut device, &doc_id).await);
                        }
                        incoming = device.recv() => {
                            if device.handle(Some(incoming)).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                device.disconnect().await;
            }));
        }
        drop(ready_tx);
        let started = Instant::now();
        let checkpoints: Vec<usize> = [4, 2, 1]
            .iter()
            .map(|d| s.s6_connections / d)
            .filter(|&c| c > 0)
            .collect();
        let mut ready = 0;
        while ready < s.s6_connections {
            // A stalled connection phase must end the run, not hang it.
            let next = tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("S6: no connection became ready for 120 s ({ready} ready)")
                })?;
            match next {
                Some(Ok(())) => ready += 1,
                Some(Err(e)) => {
                    return Err(e.context(format!("S6: connection after {ready} ready")));
                }
                None => bail!("S6: connection tasks ended early"),
            }
            if checkpoints.contains(&ready) && ready != s.s6_connections {
                let memory = server.memory()?;
                eprintln!(
                    "  {ready} connections: server RSS {:.1} MiB",
                    mib(memory.rss_kib)
                );
                report.redfolder(
                    "S6 scale",
                    &format!("server RSS with {ready} idle connections"),
                    "MiB",
                    mib(memory.rss_kib),
                );
            }
        }
        eprintln!(
            "  {} connections authenticated and synced in {:.1} s; idling past one server tick",
            s.s6_connections,
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        let idle = server.memory()?;
        report.redfolder(
            "S6",
            &format!("server RSS with {} idle connections", s.s6_connections),
            "MiB",
            mib(idle.rss_kib),
        );
        report.target(
            "S6",
            &format!("server RSS with {} idle connections", s.s6_connections),
            "MiB",
            Target::AtMost(1024.0),
        );
        report.redfolder(
            "S6",
            "server RSS per idle connection (above the empty server)",
            "KiB",
            idle.rss_kib.saturating_sub(before.rss_kib) as f64 / s.s6_connections as f64,
        );

        // Edits from distinct users, paced.
        let edits = s.s6_edits.min(s.s6_connections);
        let gap = Duration::from_secs_f64(1.0 / s.s6_edits_per_second);
        let mut replies = Vec::new();
        let mut next = Instant::now();
        for (k, order) in orders.iter().take(edits).enumerate() {
            let (tx, rx) = oneshot::channel();
            order
                .send(tx)
                .await
                .map_err(|_| anyhow::anyhow!("S6: connection {k} ended"))?;
            replies.push(rx);
            next += gap;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        let mut latencies = Vec::new();
        for reply in replies {
            latencies.push(ms(reply.await.context("S6: an edit was dropped")??));
        }
        let after = server.memory()?;
        let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
        eprintln!(
            "  {edits} edits at {}/s: ack p50 {p50:.1} ms, p99 {p99:.1} ms; RSS idle {:.1} MiB, after edits {:.1} MiB (peak {:.1})",
            s.s6_edits_per_second,
            mib(idle.rss_kib),
            mib(after.rss_kib),
            mib(after.hwm_kib)
        );
        report.redfolder("S6", "p50 acknowledgement of an edit", "ms", p50);
        report.redfolder("S6", "p99 acknowledgement of an edit", "ms", p99);
        report.target(
            "S6",
            "p99 acknowledgement of an edit",
            "ms",
            Target::AtMost(50.0),
        );
        report.redfolder("S6", "server peak RSS", "MiB", mib(after.hwm_kib));
        drop(orders);
        for task in tasks {
            task.await?;
        }
    }
    report.note(format!(
        "S6: {} connections from {} case managers ({} devices each, one plan per practice); {} edits from distinct users at {} per second",
        s.s6_connections,
        users,
        s.s6_per_user,
        s.s6_edits.min(s.s6_connections),
        s.s6_edits_per_second
    ));
    Ok(())
}

async fn edit_and_wait(device: &mut Device, doc_id: &str) -> anyhow::Result<Duration> {
    let at = Instant::now();
    device
        .apply(
            doc_id,
            &Edit::SetPreferredPlaceOfCare {
                place: format!("home ({})", now_ms()),
            },
        )
        .await?;
    device.acked.clear();
    let doc = doc_id.to_owned();
    device
        .pump_until("the acknowledgement of an edit", PATIENCE, |d| {
            let acked = std::mem::take(&mut d.acked).contains(&doc);
            acked && d.engine.pending(&doc) == 0
        })
        .await?;
    Ok(at.elapsed())
}

/// Where the harness keeps its files when not told.
pub(crate) fn default_work_dir(root: &Path) -> PathBuf {
    root.join("target").join("bench")
}
