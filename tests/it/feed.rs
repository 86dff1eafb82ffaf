//! The emergency summary's currency fields, the date-of-birth check, and the emergency
//! distribution feed: order, cursors, long-poll, server-sent events and withdrawals.

use std::time::{Duration, Instant};

use redfolder_shared::Edit;
use serde_json::Value;

use crate::device::{Device, Outcome};
use crate::helpers::{TestApp, spawn_app};

async fn feed(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app
        .get(&format!("/api/v1/emergency/feed?{query}"), Some(token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

#[tokio::test]
async fn the_feed_mirrors_summaries_and_withdrawals_in_order() {
    let app = spawn_app().await;
    let crew = app.login("ambulance.demo").await;
    let cm_token = app.login("cm1.demo").await;

    // From the start: every consenting patient once, in order, with a summary.
    let first = feed(&app, &crew, "limit=1000").await;
    let items = first["items"].as_array().unwrap();
    let consenting: Vec<Value> = app
        .caseload()
        .await
        .into_iter()
        .filter(|p| p["share_with_emergency_services"] == true)
        .collect();
    for p in &consenting {
        assert!(
            items
                .iter()
                .any(|i| i["patient_id"] == p["id"] && i["kind"] == "summary"),
            "{p} is missing from the feed"
        );
    }
    let seqs: Vec<i64> = items.iter().map(|i| i["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let item = &items[0];
    assert_eq!(item["summary"]["patient_id"], item["patient_id"]);
    assert!(
        item["summary"]["plan_version"]
            .as_str()
            .is_some_and(|v| v.len() >= 64)
    );
    let next = first["next"].as_i64().unwrap();
    assert_eq!(next, *seqs.last().unwrap());
    // since=0 and no since are the same; resuming from `next` finds nothing new.
    assert_eq!(feed(&app, &crew, "since=0&limit=1000").await, first);
    let resumed = feed(&app, &crew, &format!("since={next}")).await;
    assert_eq!(resumed["items"], serde_json::json!([]));
    assert_eq!(resumed["next"], next);

    // A long-poll returns as soon as an edit is committed.
    let patient = consenting[0].clone();
    let id = patient["id"].as_str().unwrap().to_owned();
    let nhs = patient["nhs_number"].as_str().unwrap().to_owned();
    let ws = app.ws_url();
    let edit = tokio::spawn({
        let cm_token = cm_token.clone();
        let id = id.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut cm = Device::connect(&ws, &cm_token, "feed-cm").await;
            cm.hello().await.unwrap();
            assert_eq!(cm.open(&id).await, Outcome::Synced);
            let edit = Edit::AddMedication {
                id: "feed-med".into(),
                name: "Feedamol".into(),
                dose: "1 mg".into(),
                notes: String::new(),
            };
            assert_eq!(cm.write(&id, &edit).await, Outcome::Acked);
            cm
        }
    });
    let started = Instant::now();
    let polled = feed(&app, &crew, &format!("since={next}&wait=30")).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the long-poll was not woken"
    );
    let mut cm = edit.await.unwrap();
    let new_items = polled["items"].as_array().unwrap();
    assert_eq!(new_items.len(), 1, "{polled}");
    assert_eq!(new_items[0]["kind"], "summary");
    assert_eq!(new_items[0]["patient_id"], id.as_str());
    let meds = new_items[0]["summary"]["medications"].as_array().unwrap();
    assert!(meds.iter().any(|m| m["name"] == "Feedamol"));

    // The summary says how current it is, and by whom.
    let summary = app.emergency_summary(&nhs, Some(&crew)).await.json();
    assert_eq!(summary["last_updated_by"]["name"], "Sam Carter (demo)");
    assert_eq!(
        summary["last_updated_by"]["organisation"],
        "Ashbridge Medical Practice (demo)"
    );
    assert!(summary["last_updated_at_ms"].as_i64().unwrap() > 0);
    assert_eq!(
        summary["plan_version"],
        new_items[0]["summary"]["plan_version"]
    );

    // The second check: the right date of birth, a wrong one (the same 404 as no plan),
    // a malformed one.
    let dob = patient["date_of_birth"].as_str().unwrap();
    let ok = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?dob={dob}"),
            Some(&crew),
        )
        .await;
    assert_eq!(ok.status, 200);
    let wrong = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?dob=1900-01-01"),
            Some(&crew),
        )
        .await;
    let no_plan = app.emergency_summary("9434765919", Some(&crew)).await;
    assert_eq!((wrong.status, &wrong.body), (404, &no_plan.body));
    let malformed = app
        .get(
            &format!("/api/v1/emergency/summary/{nhs}?dob=01/01/1900"),
            Some(&crew),
        )
        .await;
    assert_eq!(malformed.status, 400);

    // Withdrawal: the next read is a 404, the feed carries a withdrawal, and the
    // patient's earlier summaries are gone from the feed.
    let after_edit = polled["next"].as_i64().unwrap();
    let withdraw = Edit::SetConsent {
        share_with_mdt: true,
        share_with_emergency_services: false,
    };
    assert_eq!(cm.write(&id, &withdraw).await, Outcome::Acked);
    assert_eq!(app.emergency_summary(&nhs, Some(&crew)).await.status, 404);
    let later = feed(&app, &crew, &format!("since={after_edit}")).await;
    let later_items = later["items"].as_array().unwrap();
    assert_eq!(later_items.len(), 1, "{later}");
    assert_eq!(later_items[0]["kind"], "withdrawal");
    assert_eq!(later_items[0]["nhs_number"], nhs.as_str());
    assert_eq!(later_items[0]["summary"], Value::Null);
    let all = feed(&app, &crew, "limit=1000").await;
    let theirs: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["patient_id"] == id.as_str())
        .collect();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["kind"], "withdrawal");

    // Every delivered item was audited.
    let audited = app.audit_of("emergency.feed").await;
    assert!(audited.len() >= items.len() * 2 + 2, "{}", audited.len());
    assert!(
        audited
            .iter()
            .all(|e| e.role.as_deref() == Some("emergency_clinician"))
    );
}

#[tokio::test]
async fn the_feed_streams_as_server_sent_events() {
    let app = spawn_app().await;
    let crew = app.login("ambulance.demo").await;
    let mut response = app
        .client
        .get(app.url("/api/v1/emergency/feed/stream?since=0"))
        .bearer_auth(&crew)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while text.matches("event: summary").count() < 3 {
        assert!(Instant::now() < deadline, "no events: {text}");
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event")
            .unwrap()
            .expect("more stream");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("id: 1\n"), "{text}");
    assert!(text.contains("\"kind\":\"summary\""), "{text}");
    let mdt = app.login("mdt.demo").await;
    let refused = app.get("/api/v1/emergency/feed/stream", Some(&mdt)).await;
    assert_eq!(refused.status, 403);
}

/// The feed item an emergency service's system stores never carries one side of a
/// DNACPR conflict as the decision.
#[tokio::test]
async fn a_conflicting_dnacpr_reaches_the_feed_as_conflicting() {
    let app = spawn_app().await;
    let crew = app.login("ambulance.demo").await;
    let head = feed(&app, &crew, "limit=1000").await["next"].clone();
    let (id, _) = crate::emergency::record_conflicting_dnacpr(&app).await;
    let items = feed(&app, &crew, &format!("since={head}&limit=1000")).await;
    let latest = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|i| i["patient_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no feed item for the patient: {items}"));
    let summary = &latest["summary"];
    assert_eq!(summary["dnacpr"], "conflicting", "{summary}");
    assert!(crate::emergency::is_conflict_label(
        &summary["dnacpr_label"]
    ));
    assert_eq!(
        summary["resuscitation"]["values"].as_array().unwrap().len(),
        2
    );

    let fhir = feed(&app, &crew, &format!("since={head}&limit=1000&format=fhir")).await;
    let latest = fhir["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|i| i["patient_id"] == id.as_str())
        .unwrap();
    let observations: Vec<&Value> = latest["summary"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Observation")
        .collect();
    assert_eq!(observations.len(), 2, "{latest:#}");
    assert!(
        observations.iter().all(|o| o["status"] == "preliminary"),
        "a resuscitation decision went out as final: {latest:#}"
    );
}
