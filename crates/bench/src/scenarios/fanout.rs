//! S3: fan-out of one device's edits to the others holding the same plans.

use super::*;

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

pub(super) async fn reference_s3(
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
pub(super) async fn redfolder_s3(
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
