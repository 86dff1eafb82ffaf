//! S4's scaling: server memory after a cold sync of growing caseloads.

use super::*;

/// How many distinct plans S4's scaling builds; larger caseloads derive the rest.
const S4_DISTINCT_PLANS: usize = 2_500;

/// S4's scaling: server memory after one device cold-synced N plans, for growing N.
pub(super) async fn redfolder_s4_scale(s: &Settings, report: &mut Report) -> anyhow::Result<()> {
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
