//! The real server binary under an address-space cap (`prlimit --as`) survives every
//! hostile frame of `hostile.rs` and the connection floods, answering `/healthz` after
//! each, and an honest device still syncs at the end. A frame that made the server
//! allocate without bound would hit the cap: the allocation fails and the process aborts,
//! which `is_running` sees.

use std::time::{Duration, Instant};

use redfolder_shared::Edit;
use redfolder_shared::protocol::{ErrorCode, Frame, MAX_ITEMS};

use crate::client::{PATIENCE, SyncClient};
use crate::process::{Launch, Server};
use crate::raw::{
    Raw, batch_bomb, message_with_bloom, millions_of_haves, one_large_change, orphan_changes,
};

/// The cap: well above what the server uses (see docs/reliability.md for the peak this
/// run reaches), far below what any of the unbounded paths these frames once took
/// would have asked for (16 GiB for one bloom filter).
const ADDRESS_SPACE: u64 = 1 << 30;
/// Limits lowered from the defaults only so that the floods are short.
const PER_ADDRESS: usize = 48;
const PER_USER: usize = 8;
const PER_DEVICE: usize = 2;

struct Capped {
    server: Server,
    /// What each step was, for the failure message.
    steps: Vec<&'static str>,
}

impl Capped {
    /// Still running, and `/healthz` answers 200.
    async fn survived(&mut self, step: &'static str) {
        self.steps.push(step);
        assert!(
            self.server.is_running(),
            "the capped server died after: {:?} (exit {:?})",
            self.steps,
            self.server.child.try_wait()
        );
        let reply = reqwest::Client::new()
            .get(self.server.url("/healthz"))
            .timeout(PATIENCE)
            .send()
            .await
            .unwrap_or_else(|e| panic!("/healthz did not answer after {step}: {e}"));
        assert_eq!(reply.status(), 200, "/healthz after {step}");
    }

    async fn hello(&self, username: &str) -> (Raw, Vec<String>) {
        let token = self.server.login(username).await;
        Raw::hello(&self.server.ws_url(), &token).await
    }

    /// Sends one `Sync` carrying `message` for a plan of the caseload and returns the error.
    async fn sync_error(&self, message: Vec<u8>) -> (ErrorCode, String) {
        let (mut raw, caseload) = self.hello("cm1.demo").await;
        raw.send(&Frame::Sync {
            doc_id: caseload[0].clone(),
            epoch: 0,
            seq: 0,
            message,
        })
        .await;
        let (code, _, message) = raw.error().await;
        (code, message)
    }
}

/// Connects once the server has room for another connection from this address: the
/// flood's connections are closed, but the server notices each a moment later.
async fn wait_for_room(ws_url: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match tokio_tungstenite::connect_async(ws_url).await {
            Ok(_) => return,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 429 => {}
            Err(e) => panic!("connecting after the flood: {e}"),
        }
        assert!(Instant::now() < deadline, "no room after the flood ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_memory_capped_server_survives_every_hostile_frame() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("capped.db").display());
    let (address, user, device) = (
        PER_ADDRESS.to_string(),
        PER_USER.to_string(),
        PER_DEVICE.to_string(),
    );
    let server = Server::start_with(
        &database,
        dir.path(),
        &Launch {
            args: &[
                "--max-connections-per-address",
                &address,
                "--max-connections-per-user",
                &user,
                "--max-connections-per-device",
                &device,
            ],
            address_space: Some(ADDRESS_SPACE),
        },
    );
    let mut capped = Capped {
        server,
        steps: Vec::new(),
    };
    // The cap is really applied to the server (prlimit execs it: same pid).
    assert_eq!(capped.server.address_space_limit(), Some(ADDRESS_SPACE));
    capped.survived("start").await;

    // Sync messages that once reached Automerge unchecked.
    let (code, message) = capped
        .sync_error(message_with_bloom(1, 10, u64::from(u32::MAX)))
        .await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("num_probes"), "{message}");
    capped.survived("bloom num_probes 2^32-1").await;

    let (code, message) = capped.sync_error(message_with_bloom(1, 0, 7)).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("bits_per_entry"), "{message}");
    capped.survived("bloom bits_per_entry 0").await;

    let (code, message) = capped.sync_error(millions_of_haves()).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("haves"), "{message}");
    capped.survived("50 million haves").await;

    // A change over the server's 4 MiB limit (in a frame under the 16 MiB frame limit).
    let (code, message) = capped.sync_error(one_large_change(5 << 20)).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("more than the limit"), "{message}");
    capped.survived("a 5 MiB change").await;

    // Changes whose dependencies never arrive, past the default 10,000, from two
    // connections at once onto the same plan.
    let flood = orphan_changes(10_500, 1_500);
    let (mut first, caseload) = capped.hello("cm1.demo").await;
    let (mut second, _) = capped.hello("cm1.demo").await;
    for raw in [&mut first, &mut second] {
        for (seq, message) in flood.iter().enumerate() {
            raw.send(&Frame::Sync {
                doc_id: caseload[0].clone(),
                epoch: 0,
                seq: seq as u64,
                message: message.clone(),
            })
            .await;
        }
    }
    for raw in [&mut first, &mut second] {
        let (code, _, message) = raw.error().await;
        assert_eq!(code, ErrorCode::BadFrame);
        assert!(message.contains("dependencies"), "{message}");
    }
    drop((first, second));
    capped
        .survived("10,500 changes with missing dependencies, twice")
        .await;

    // Before Hello: a batch bomb, and a 64 KiB Hello.
    let mut raw = Raw::connect(&capped.server.ws_url()).await;
    raw.send_bytes(batch_bomb()).await;
    let (code, _, _) = raw.error().await;
    assert_eq!(code, ErrorCode::Unauthorized);
    assert!(raw.closed().await);
    capped.survived("a batch bomb before Hello").await;

    let mut raw = Raw::connect(&capped.server.ws_url()).await;
    raw.send(&Frame::Hello {
        token: "x".repeat(64 * 1024),
    })
    .await;
    let (code, _, _) = raw.error().await;
    assert_eq!(code, ErrorCode::Unauthorized);
    assert!(raw.closed().await);
    capped.survived("a 64 KiB Hello").await;

    // After Hello: the same bomb is decoded only up to MAX_ITEMS, and of a Subscribe of
    // MAX_ITEMS unknown ids only the budget's 256 are looked up.
    let (mut raw, _) = capped.hello("cm1.demo").await;
    raw.send_bytes(batch_bomb()).await;
    let (code, _, message) = raw.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("more than"), "{message}");
    raw.send(&Frame::Subscribe {
        doc_ids: (0..MAX_ITEMS).map(|i| format!("unknown-{i}")).collect(),
    })
    .await;
    let (code, message) = loop {
        let (code, _, message) = raw.error().await;
        if code != ErrorCode::Forbidden {
            break (code, message);
        }
    };
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("outside your caseload"), "{message}");
    drop(raw);
    capped
        .survived("a batch bomb and 262,144 unknown ids after Hello")
        .await;

    // A second Hello with another user's token.
    let (mut raw, _) = capped.hello("cm1.demo").await;
    let other = capped.server.login("cm2.demo").await;
    raw.send(&Frame::Hello { token: other }).await;
    let (code, _, message) = raw.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("second Hello"), "{message}");
    assert!(raw.closed().await);
    capped.survived("a second Hello").await;

    // One device opening connection after connection: the oldest are closed.
    let token = capped.server.login("cm1.demo").await;
    let mut device = Vec::new();
    for _ in 0..PER_DEVICE + 3 {
        device.push(Raw::hello(&capped.server.ws_url(), &token).await.0);
    }
    for raw in device.iter_mut().take(3) {
        let (code, _, _) = raw.error().await;
        assert_eq!(code, ErrorCode::TooManyConnections);
        assert!(raw.closed().await);
    }
    drop(device);
    capped.survived("a device's connection flood").await;

    // One user signing in on device after device.
    let mut user = Vec::new();
    for _ in 0..PER_USER {
        user.push(capped.hello("cm2.demo").await.0);
    }
    let mut over = Raw::connect(&capped.server.ws_url()).await;
    over.send(&Frame::Hello {
        token: capped.server.login("cm2.demo").await,
    })
    .await;
    let (code, _, message) = over.error().await;
    assert_eq!(code, ErrorCode::TooManyConnections);
    assert!(message.contains("this user"), "{message}");
    drop((user, over));
    capped.survived("a user's connection flood").await;

    // One address opening connections until refused.
    let mut held = Vec::new();
    let refused = loop {
        match tokio_tungstenite::connect_async(capped.server.ws_url()).await {
            Ok((socket, _)) => held.push(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => break r.status(),
            Err(e) => panic!("connecting: {e}"),
        }
        assert!(
            held.len() <= PER_ADDRESS,
            "more than {PER_ADDRESS} accepted"
        );
    };
    assert_eq!(refused, 429);
    drop(held);
    capped.survived("an address's connection flood").await;

    // An honest device still syncs and has a change acknowledged.
    wait_for_room(&capped.server.ws_url()).await;
    let token = capped.server.login("cm1.demo").await;
    let mut honest = SyncClient::connect(&capped.server.ws_url(), &token, "honest-tablet").await;
    honest.sync_caseload().await;
    let doc_id = honest.caseload[1].clone();
    honest.apply(
        &doc_id,
        &Edit::AddMedication {
            id: "after-the-storm".into(),
            name: "Calmatol".into(),
            dose: "1 tablet".into(),
            notes: String::new(),
        },
    );
    honest.wait_acked(&doc_id).await;
    capped.survived("an honest device's sync").await;

    eprintln!(
        "memory-capped run: address space capped at {} MiB; peak address space {} MiB, peak resident set {} MiB",
        ADDRESS_SPACE >> 20,
        capped.server.status_kib("VmPeak") / 1024,
        capped.server.status_kib("VmHWM") / 1024
    );
}
