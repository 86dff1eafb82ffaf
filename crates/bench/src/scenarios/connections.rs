//! S6: many idle authenticated connections, then one edit on each of some of them.

use super::*;

/// One S6 connection's orders: make an edit and report when the server acknowledged it.
type EditOrder = oneshot::Sender<anyhow::Result<Duration>>;

/// S6: many idle authenticated connections (each a device holding its user's plan), then
/// some of them each make one edit; memory along the way and acknowledgement latency.
pub(super) async fn redfolder_s6(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
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
