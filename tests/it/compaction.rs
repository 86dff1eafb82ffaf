//! Compaction replaces a plan's chunks with one snapshot saved off the async workers,
//! before the store's transaction: the store must then refuse to replace any chunk the
//! snapshot was not saved from (one another instance committed meanwhile).

use redfolder_shared::{ActorId, Edit, PlanDoc};

use crate::client::SyncClient;
use crate::helpers::{TestApp, drop_database, spawn_app, spawn_postgres_app};

async fn check(app: &TestApp) {
    let token = app.login("cm1.demo").await;
    let mut client = SyncClient::connect(&app.ws_url(), &token, "compacting-tablet").await;
    client.sync_caseload().await;
    let doc_id = client.caseload[0].clone();
    for n in 0..3 {
        client.apply(
            &doc_id,
            &Edit::SetPreferredPlaceOfCare {
                place: format!("Place {n}"),
            },
        );
        client.wait_acked(&doc_id).await;
    }
    let chunks = app.store.load_chunks(&doc_id).await.unwrap();
    assert!(chunks.len() >= 2, "{} chunks", chunks.len());
    let save = |chunks: &[redfolder_server::store::Chunk]| {
        let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        let mut doc = PlanDoc::load(&bytes, ActorId::random()).unwrap();
        (doc.save_uncompressed(), doc.heads())
    };

    // A snapshot saved before the last chunk was committed replaces nothing.
    let (stale, _) = save(&chunks[..chunks.len() - 1]);
    let seen = chunks[chunks.len() - 2].id;
    let replaced = app.store.compact(&doc_id, seen, &stale, 1).await.unwrap();
    assert_eq!(replaced, None);
    let after = app.store.load_chunks(&doc_id).await.unwrap();
    assert_eq!(
        after.iter().map(|c| c.id).collect::<Vec<_>>(),
        chunks.iter().map(|c| c.id).collect::<Vec<_>>(),
        "a stale snapshot replaced chunks"
    );

    // One saved from every chunk replaces them all, and loads to the same heads.
    let (whole, heads) = save(&chunks);
    let last = chunks.last().unwrap().id;
    let id = app.store.compact(&doc_id, last, &whole, 1).await.unwrap();
    let after = app.store.load_chunks(&doc_id).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(Some(after[0].id), id);
    let (_, reloaded) = save(&after);
    assert_eq!(reloaded, heads);

    // A plan that does not exist is not compacted.
    assert_eq!(
        app.store
            .compact("no-such-plan", 0, &whole, 1)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_compaction_never_replaces_chunks_its_snapshot_lacks() {
    check(&spawn_app().await).await;
}

#[tokio::test]
async fn a_compaction_never_replaces_chunks_its_snapshot_lacks_on_postgres() {
    let Some((app, database)) = spawn_postgres_app().await else {
        return;
    };
    check(&app).await;
    drop(app);
    drop_database(&database).await;
}
