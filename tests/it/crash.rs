//! The crash test: the server process is SIGKILLed after acknowledging changes, restarted
//! on the same database, and every acknowledged change must still be there.

use redfolder_shared::{DnacprStatus, Edit};

use crate::client::SyncClient;
use crate::process::Server;

#[tokio::test]
async fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}",
        dir.path().join("data").join("x.db").display()
    );
    let mut server = Server::start(&database_url, dir.path());

    let token = server.login("cm1.demo").await;
    let mut client = SyncClient::connect(&server.ws_url(), &token, "tablet-before-crash").await;
    client.sync_caseload().await;
    let docs: Vec<String> = client.caseload.iter().take(3).cloned().collect();
    let mut expected = Vec::new();
    for (n, doc_id) in docs.iter().enumerate() {
        for k in 0..3 {
            let id = format!("crash-{n}-{k}");
            client.apply(
                doc_id,
                &Edit::AddMedication {
                    id: id.clone(),
                    name: format!("Durable {n}.{k}"),
                    dose: "1 tablet".into(),
                    notes: String::new(),
                },
            );
            client.wait_acked(doc_id).await;
            expected.push((doc_id.clone(), id));
        }
        client.apply(
            doc_id,
            &Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
        );
        client.apply(
            doc_id,
            &Edit::SetExacerbationPlan {
                text: format!("Plan written before the crash {n}"),
            },
        );
        client.wait_acked(doc_id).await;
    }
    server.kill();

    // Same database, new process (and `--demo` again, which must not duplicate anything).
    let server = Server::start(&database_url, dir.path());
    let token = server.login("cm2.demo").await;
    let mut fresh = SyncClient::connect(&server.ws_url(), &token, "tablet-after-crash").await;
    fresh.sync_caseload().await;
    assert_eq!(fresh.caseload.len(), redfolder_server::demo::DEMO_CASELOAD);
    for (doc_id, med_id) in &expected {
        let plan = fresh.engine.doc(doc_id).unwrap().plan().unwrap();
        assert!(
            plan.medications.iter().any(|m| &m.id == med_id),
            "{med_id} was acknowledged but is lost"
        );
    }
    for (n, doc_id) in docs.iter().enumerate() {
        let plan = fresh.engine.doc(doc_id).unwrap().plan().unwrap();
        assert_eq!(plan.dnacpr, DnacprStatus::DoNotAttemptCpr);
        assert_eq!(
            plan.exacerbation_plan.as_str(),
            format!("Plan written before the crash {n}")
        );
    }
}
