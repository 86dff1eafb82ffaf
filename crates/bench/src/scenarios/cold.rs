//! S1 (cold sync), S2 (incremental after a home visit) and S4 (server memory after
//! serving every plan once) on Red Folder and on the reference.

use super::*;

/// S1 (cold sync), S4 (memory after serving every plan once) and S2 (incremental) on one
/// Red Folder server.
pub(super) async fn redfolder_s1_s2(
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

pub(super) async fn reference_s1_s2(
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
