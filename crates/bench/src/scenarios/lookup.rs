//! S5: emergency summary lookups against a store of up to 100,000 plans.

use super::*;

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
pub(super) async fn redfolder_s5(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
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
