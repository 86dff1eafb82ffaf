//! Sync over the WebSocket with the shared `ClientEngine`.

use std::time::{Duration, Instant};

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use redfolder_shared::protocol::{ErrorCode, Frame};
use redfolder_shared::{ClientEvent, DnacprStatus, Edit};

use crate::client::{PATIENCE, SyncClient};
use crate::helpers::{TestApp, spawn_app};

/// A consenting patient's id and NHS number from cm1's caseload.
async fn consenting_patient(app: &TestApp) -> (String, String) {
    let caseload = app.caseload().await;
    let p = caseload
        .iter()
        .find(|p| p["share_with_emergency_services"] == true)
        .unwrap();
    (
        p["id"].as_str().unwrap().to_owned(),
        p["nhs_number"].as_str().unwrap().to_owned(),
    )
}

async fn synced_client(app: &TestApp, user: &str, device: &str) -> SyncClient {
    let token = app.login(user).await;
    let mut client = SyncClient::connect(&app.ws_url(), &token, device).await;
    client.sync_caseload().await;
    client
}

fn add_medication(id: &str, name: &str) -> Edit {
    Edit::AddMedication {
        id: id.into(),
        name: name.into(),
        dose: "1 mg".into(),
        notes: String::new(),
    }
}

#[tokio::test]
async fn an_acknowledged_edit_is_in_the_emergency_summary() {
    let app = spawn_app().await;
    let (doc_id, nhs) = consenting_patient(&app).await;
    let mut client = synced_client(&app, "cm1.demo", "tablet-1").await;
    assert_eq!(client.caseload.len(), redfolder_server::demo::DEMO_CASELOAD);

    client.apply(&doc_id, &add_medication("test-med", "Testamol"));
    client.apply(
        &doc_id,
        &Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        },
    );
    assert_eq!(client.engine.pending(&doc_id), 2);
    client.wait_acked(&doc_id).await;
    assert!(
        client
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Acked { doc_id: d } if *d == doc_id))
    );

    // The projection was committed with the change, so the read sees it at once.
    let crew = app.login("ambulance.demo").await;
    let summary = app.emergency_summary(&nhs, Some(&crew)).await.json();
    assert_eq!(summary["dnacpr"], "do_not_attempt_cpr");
    let meds = summary["medications"].as_array().unwrap();
    assert!(meds.iter().any(|m| m["name"] == "Testamol"), "{summary}");
    assert_eq!(summary["last_updated"]["user_name"], "Sam Carter (demo)");

    let caseload = app.caseload().await;
    let row = caseload
        .iter()
        .find(|p| p["id"] == doc_id.as_str())
        .unwrap();
    assert_eq!(row["dnacpr"], "do_not_attempt_cpr");
}

/// Steps two clients until `done` holds.
async fn pump_both(
    a: &mut SyncClient,
    b: &mut SyncClient,
    what: &str,
    done: impl Fn(&SyncClient, &SyncClient) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        a.flush().await;
        b.flush().await;
        if done(a, b) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        a.step(Duration::from_millis(20)).await;
        b.step(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_devices_converge_on_concurrent_edits() {
    let app = spawn_app().await;
    let (doc_id, _) = consenting_patient(&app).await;
    let mut a = synced_client(&app, "cm1.demo", "tablet-a").await;
    let mut b = synced_client(&app, "cm2.demo", "tablet-b").await;

    // Both edit the same plan before hearing of each other.
    a.apply(&doc_id, &add_medication("from-a", "Alphamol"));
    b.apply(&doc_id, &add_medication("from-b", "Betamol"));
    b.apply(
        &doc_id,
        &Edit::SpliceExacerbationPlan {
            index: 0,
            delete: 0,
            insert: "B: ".into(),
        },
    );
    a.apply(
        &doc_id,
        &Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
    );

    pump_both(&mut a, &mut b, "both devices to hold both edits", |a, b| {
        let (Ok(pa), Ok(pb)) = (
            a.engine.doc(&doc_id).unwrap().plan(),
            b.engine.doc(&doc_id).unwrap().plan(),
        ) else {
            return false;
        };
        pa == pb
            && pa
                .medications
                .iter()
                .filter(|m| m.id.starts_with("from-"))
                .count()
                == 2
    })
    .await;
    let plan = a.engine.doc(&doc_id).unwrap().plan().unwrap();
    assert!(plan.exacerbation_plan.as_str().starts_with("B: "));
    assert_eq!(plan.preferred_place_of_care, "Home");
    a.wait_acked(&doc_id).await;
    b.wait_acked(&doc_id).await;
}

#[tokio::test]
async fn a_malformed_frame_gets_bad_frame_and_the_connection_keeps_working() {
    let app = spawn_app().await;
    let (doc_id, _) = consenting_patient(&app).await;
    let mut client = synced_client(&app, "cm1.demo", "tablet-1").await;

    client.send_raw(b"not a frame at all".to_vec()).await;
    let error = client
        .wait_error("a BadFrame error", |e| {
            matches!(
                e,
                ClientEvent::Error {
                    code: ErrorCode::BadFrame,
                    ..
                }
            )
        })
        .await;
    let ClientEvent::Error {
        message,
        doc_id: None,
        ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert!(message.contains("magic"), "{message}");

    client.apply(
        &doc_id,
        &Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        },
    );
    client.wait_acked(&doc_id).await;
}

#[tokio::test]
async fn emergency_clinicians_sync_nothing() {
    let app = spawn_app().await;
    let (doc_id, _) = consenting_patient(&app).await;
    let crew = app.login("ambulance.demo").await;
    let mut client = SyncClient::connect(&app.ws_url(), &crew, "crew-tablet").await;
    assert!(
        matches!(client.next_frame().await, Frame::Welcome { role, .. } if role == "emergency_clinician")
    );
    assert_eq!(
        client.next_frame().await,
        Frame::Caseload { doc_ids: vec![] }
    );
    client
        .send_raw(
            Frame::Subscribe {
                doc_ids: vec![doc_id.clone()],
            }
            .encode(),
        )
        .await;
    let frame = client.next_frame().await;
    assert!(
        matches!(&frame, Frame::Error { code: ErrorCode::Forbidden, doc_id: Some(d), .. } if *d == doc_id),
        "{frame:?}"
    );
    let sync = Frame::Sync {
        doc_id: doc_id.clone(),
        epoch: 0,
        seq: 0,
        message: vec![0x42],
    };
    client.send_raw(sync.encode()).await;
    assert!(matches!(
        client.next_frame().await,
        Frame::Error {
            code: ErrorCode::Forbidden,
            ..
        }
    ));
}

#[tokio::test]
async fn a_case_manager_cannot_sync_another_practices_plan() {
    let app = spawn_app().await;
    let token = app.login("cm1.demo").await;
    let mut client = SyncClient::connect(&app.ws_url(), &token, "tablet-1").await;
    client.next_frame().await; // Welcome
    client.next_frame().await; // Caseload
    for doc_id in ["no-such-plan".to_owned(), uuid::Uuid::new_v4().to_string()] {
        client
            .send_raw(
                Frame::Subscribe {
                    doc_ids: vec![doc_id.clone()],
                }
                .encode(),
            )
            .await;
        let frame = client.next_frame().await;
        assert!(
            matches!(
                &frame,
                Frame::Error {
                    code: ErrorCode::Forbidden,
                    ..
                }
            ),
            "{frame:?}"
        );
    }
}

#[tokio::test]
async fn a_bad_token_is_refused_and_the_connection_closed() {
    let app = spawn_app().await;
    let mut client = SyncClient::connect(&app.ws_url(), "not-a-token", "tablet-1").await;
    let frame = client.next_frame().await;
    assert!(
        matches!(
            frame,
            Frame::Error {
                code: ErrorCode::Unauthorized,
                ..
            }
        ),
        "{frame:?}"
    );
    assert!(client.closed_by_server().await);

    // A `?token=` authenticates a Hello that carries no token.
    let token = app.login("cm1.demo").await;
    let url = format!("{}?token={token}", app.ws_url());
    let mut with_query = SyncClient::connect(&url, "", "tablet-2").await;
    assert!(matches!(
        with_query.next_frame().await,
        Frame::Welcome { .. }
    ));

    // An invalid query token is refused before the upgrade.
    let bad = format!("{}?token=nope", app.ws_url());
    assert!(
        tokio_tungstenite::connect_async(bad.as_str())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn frames_before_hello_are_unauthorized() {
    let app = spawn_app().await;
    let (socket, _) = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .unwrap();
    let mut raw = RawSocket(socket);
    raw.send(
        Frame::Subscribe {
            doc_ids: vec!["x".into()],
        }
        .encode(),
    )
    .await;
    let frame = raw.next().await;
    assert!(
        matches!(
            frame,
            Some(Frame::Error {
                code: ErrorCode::Unauthorized,
                ..
            })
        ),
        "{frame:?}"
    );
}

struct RawSocket(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl RawSocket {
    async fn send(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt;
        self.0
            .send(tokio_tungstenite::tungstenite::Message::Binary(
                bytes.into(),
            ))
            .await
            .unwrap();
    }

    async fn next(&mut self) -> Option<Frame> {
        use futures_util::StreamExt;
        match tokio::time::timeout(PATIENCE, self.0.next()).await.ok()?? {
            Ok(tokio_tungstenite::tungstenite::Message::Binary(b)) => Frame::decode(&b).ok(),
            _ => None,
        }
    }
}

#[tokio::test]
async fn a_change_that_breaks_the_plan_is_refused_and_not_stored() {
    let app = spawn_app().await;
    let (doc_id, nhs) = consenting_patient(&app).await;
    let mut client = synced_client(&app, "cm1.demo", "rogue-tablet").await;

    // Bypass the typed edits, as a buggy or hostile client could: an NHS number that
    // fails its check digit, in a change that is otherwise properly attributed.
    let editor = client.editor.clone().unwrap();
    let note = serde_json::json!({ "user_id": editor.user_id, "user_name": editor.user_name });
    let am = client.engine.doc_mut(&doc_id).unwrap().automerge();
    let (_, patient) = am.get(automerge::ROOT, "patient").unwrap().unwrap();
    am.put(&patient, "nhs_number", "9434765918").unwrap();
    am.commit_with(automerge::transaction::CommitOptions::default().with_message(note.to_string()));
    client.flush().await;
    let error = client
        .wait_error("the change to be refused", |e| {
            matches!(
                e,
                ClientEvent::Error {
                    code: ErrorCode::Refused,
                    ..
                }
            )
        })
        .await;
    assert!(
        matches!(error, ClientEvent::Error { doc_id: Some(ref d), ref message, .. }
            if *d == doc_id && message.contains("not valid") && message.contains("nothing of it was stored")),
        "{error:?}"
    );

    // The server kept the valid plan: its summary still reads, and a new device gets a plan.
    let crew = app.login("ambulance.demo").await;
    assert_eq!(app.emergency_summary(&nhs, Some(&crew)).await.status, 200);
    let mut fresh = synced_client(&app, "cm2.demo", "clean-tablet").await;
    assert!(fresh.engine.doc(&doc_id).unwrap().plan().is_ok());
    fresh.flush().await;
}

#[tokio::test]
async fn a_failed_commit_is_not_acknowledged_and_is_retried() {
    let app = spawn_app().await;
    let (doc_id, nhs) = consenting_patient(&app).await;
    let mut client = synced_client(&app, "cm1.demo", "tablet-1").await;

    // Make the next append fail inside the database.
    let db = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_chunks BEFORE INSERT ON doc_chunks BEGIN SELECT RAISE(ABORT, 'injected'); END",
    )
    .execute(&db)
    .await
    .unwrap();

    client.apply(&doc_id, &add_medication("retry-med", "Retrymol"));
    client
        .wait_error("an Internal error", |e| {
            matches!(
                e,
                ClientEvent::Error {
                    code: ErrorCode::Internal,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        client.engine.pending(&doc_id),
        1,
        "a change that was not stored must not be acked"
    );
    let crew = app.login("ambulance.demo").await;
    let summary = app.emergency_summary(&nhs, Some(&crew)).await.json();
    assert!(
        !summary["medications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Retrymol")
    );

    sqlx::query("DROP TRIGGER fail_chunks")
        .execute(&db)
        .await
        .unwrap();
    client.wait_acked(&doc_id).await;
    let summary = app.emergency_summary(&nhs, Some(&crew)).await.json();
    assert!(
        summary["medications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Retrymol"),
        "{summary}"
    );
}

#[tokio::test]
async fn many_changes_are_compacted_and_still_load() {
    let app = spawn_app().await;
    let (doc_id, _) = consenting_patient(&app).await;
    let mut client = synced_client(&app, "cm1.demo", "tablet-1").await;
    for n in 0..55 {
        client.apply(
            &doc_id,
            &Edit::SetPreferredPlaceOfCare {
                place: format!("Place {n}"),
            },
        );
        client.wait_acked(&doc_id).await;
    }
    let chunks = app.store.load_chunks(&doc_id).await.unwrap();
    assert!(
        chunks.len() < 10,
        "{} chunks after compaction",
        chunks.len()
    );

    // A document rebuilt from the compacted chunks holds every change.
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
    let doc = redfolder_shared::PlanDoc::load(&bytes, redfolder_shared::ActorId::random()).unwrap();
    assert_eq!(doc.plan().unwrap().preferred_place_of_care, "Place 54");
}

#[tokio::test]
async fn an_oversized_frame_gets_too_large_and_the_connection_keeps_working() {
    let app = spawn_app().await;
    let (doc_id, _) = consenting_patient(&app).await;
    let mut client = synced_client(&app, "cm1.demo", "tablet-1").await;
    client
        .send_raw(vec![0; redfolder_shared::protocol::MAX_FRAME_BYTES + 1])
        .await;
    client
        .wait_error("a TooLarge error", |e| {
            matches!(
                e,
                ClientEvent::Error {
                    code: ErrorCode::TooLarge,
                    ..
                }
            )
        })
        .await;
    client.apply(&doc_id, &add_medication("after-big", "Smallamol"));
    client.wait_acked(&doc_id).await;
}

#[tokio::test]
async fn a_new_device_fetches_its_caseload_as_snapshots_each_read_audited_first() {
    let app = spawn_app().await;
    let token = app.login("cm1.demo").await;
    // The engine says what it supports and `Hello`; the test speaks for it from here on.
    let mut client = SyncClient::connect(&app.ws_url(), &token, "new-tablet").await;
    assert!(matches!(client.next_frame().await, Frame::Welcome { .. }));
    let Frame::Caseload { doc_ids } = client.next_frame().await else {
        panic!("no caseload");
    };
    assert!(doc_ids.len() >= 2, "{doc_ids:?}");
    let mut asked = doc_ids.clone();
    asked.push("no-such-plan".to_owned());
    client
        .send_raw(Frame::Fetch { doc_ids: asked }.encode())
        .await;
    let mut got = std::collections::BTreeSet::new();
    let mut forbidden = false;
    while got.len() < doc_ids.len() || !forbidden {
        match client.next_frame().await {
            Frame::Snapshot { doc_id, heads, doc } => {
                let mut plan = redfolder_shared::PlanDoc::load(
                    &doc,
                    redfolder_shared::ActorId::from(b"t".as_slice()),
                )
                .expect("a snapshot loads");
                let mut held = plan.heads();
                held.sort();
                assert_eq!(held, heads, "{doc_id}: the heads sent are the document's");
                assert!(plan.plan().is_ok(), "{doc_id} is a valid plan");
                assert!(got.insert(doc_id));
            }
            Frame::Error {
                code: ErrorCode::Forbidden,
                doc_id: Some(d),
                ..
            } if d == "no-such-plan" => forbidden = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, doc_ids.iter().cloned().collect());
    // Every plan sent was audited as read by this user, on this device.
    let reads = app.audit_of("plan.sync").await;
    for doc_id in &doc_ids {
        assert!(
            reads
                .iter()
                .any(|e| e.patient_id.as_deref() == Some(doc_id.as_str())
                    && e.outcome == "ok"
                    && e.device_id.is_some()),
            "{doc_id} was not audited"
        );
    }

    // A change another device makes reaches the engine-driven device that fetched the
    // same plans, without it asking again.
    let mut tablet = synced_client(&app, "cm1.demo", "tablet-a").await;
    let mut other = synced_client(&app, "cm1.demo", "tablet-b").await;
    let doc_id = &doc_ids[0];
    let hash = other.apply(doc_id, &add_medication("m-snap", "Furosemide"));
    other.wait_acked(doc_id).await;
    tablet
        .pump_until("the other tablet's change", |c| {
            c.engine
                .doc_mut(doc_id)
                .is_some_and(|d| d.automerge().get_change_by_hash(&hash).is_some())
        })
        .await;
}
