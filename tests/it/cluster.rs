//! Two real server processes on one fresh PostgreSQL database: a device connected to
//! instance A sees an edit made through instance B live, and both serve the same feed.

use redfolder_shared::Edit;
use serde_json::Value;

use crate::device::{Device, Outcome};
use crate::helpers::{drop_database, fresh_postgres_database};
use crate::process::Server;

async fn get(url: &str, token: &str) -> Value {
    let reply = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{url}");
    reply.json().await.unwrap()
}

#[tokio::test]
async fn two_instances_share_plans_live_and_serve_one_feed() {
    let Some((url, database)) = fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(&url, dir.path());
    let b = Server::start(&url, dir.path());

    let token_a = a.login("cm1.demo").await;
    let token_b = b.login("cm2.demo").await;
    let caseload = get(&a.url("/api/v1/patients"), &token_a).await;
    let doc = caseload
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut on_a = Device::connect(&a.ws_url(), &token_a, "tablet-on-a").await;
    on_a.hello().await.unwrap();
    assert_eq!(on_a.open(&doc).await, Outcome::Synced);
    let mut on_b = Device::connect(&b.ws_url(), &token_b, "tablet-on-b").await;
    on_b.hello().await.unwrap();
    assert_eq!(on_b.open(&doc).await, Outcome::Synced);

    // An edit through B reaches the device on A without it asking.
    let edit = Edit::AddMedication {
        id: "from-b".into(),
        name: "Instance B mol".into(),
        dose: "1 mg".into(),
        notes: String::new(),
    };
    assert_eq!(on_b.write(&doc, &edit).await, Outcome::Acked);
    on_a.read_until(|d| {
        d.docs[&doc]
            .plan()
            .is_ok_and(|p| p.medications.iter().any(|m| m.id == "from-b"))
    })
    .await;

    // And back: an edit through A reaches B.
    let edit = Edit::AddMedication {
        id: "from-a".into(),
        name: "Instance A mol".into(),
        dose: "1 mg".into(),
        notes: String::new(),
    };
    assert_eq!(on_a.write(&doc, &edit).await, Outcome::Acked);
    on_b.read_until(|d| {
        d.docs[&doc]
            .plan()
            .is_ok_and(|p| p.medications.iter().any(|m| m.id == "from-a"))
    })
    .await;

    // Both instances serve the same feed, in the same order, with both edits.
    let crew_a = a.login("ambulance.demo").await;
    let crew_b = b.login("ambulance.demo").await;
    let feed_a = get(&a.url("/api/v1/emergency/feed?since=0&limit=1000"), &crew_a).await;
    let feed_b = get(&b.url("/api/v1/emergency/feed?since=0&limit=1000"), &crew_b).await;
    assert_eq!(feed_a["items"], feed_b["items"]);
    assert_eq!(feed_a["next"], feed_b["next"]);
    let last = feed_a["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["patient_id"], doc.as_str());
    let names: Vec<&str> = last["summary"]["medications"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Instance A mol") && names.contains(&"Instance B mol"),
        "{names:?}"
    );

    // A long-poll on A is woken by a commit through B.
    let next = feed_a["next"].as_i64().unwrap();
    let poll_url = a.url(&format!("/api/v1/emergency/feed?since={next}&wait=30"));
    let poll = tokio::spawn(async move { get(&poll_url, &crew_a).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let edit = Edit::AddMedication {
        id: "from-b-2".into(),
        name: "Instance B mol 2".into(),
        dose: "1 mg".into(),
        notes: String::new(),
    };
    assert_eq!(on_b.write(&doc, &edit).await, Outcome::Acked);
    let polled = tokio::time::timeout(std::time::Duration::from_secs(20), poll)
        .await
        .expect("the long-poll on A was not woken by B's commit")
        .unwrap();
    assert_eq!(polled["items"].as_array().unwrap().len(), 1, "{polled}");

    drop((on_a, on_b, a, b));
    drop_database(&database).await;
}
