//! A device for tests: `redfolder_testclient::SyncDevice` (the shared core's
//! `ClientEngine` over a real WebSocket) that keeps every event and fails the test on
//! anything unexpected instead of returning errors.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use redfolder_shared::protocol::Frame;
use redfolder_shared::{ActorId, ChangeHash, ClientEngine, ClientEvent, Edit};
use redfolder_testclient::{LinkError, SyncDevice};

pub(crate) use redfolder_testclient::now_ms;

/// How long any wait may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// The engine, its socket and who signed in are the [`SyncDevice`]'s (through `Deref`);
/// this adds what the tests look at.
#[derive(Debug)]
pub(crate) struct SyncClient {
    device: SyncDevice,
    /// Every event the engine reported, in order.
    pub(crate) events: Vec<ClientEvent>,
    /// The caseload the server announced; empty until it has.
    pub(crate) caseload: Vec<String>,
    closed: bool,
}

impl Deref for SyncClient {
    type Target = SyncDevice;

    fn deref(&self) -> &SyncDevice {
        &self.device
    }
}

impl DerefMut for SyncClient {
    fn deref_mut(&mut self) -> &mut SyncDevice {
        &mut self.device
    }
}

impl SyncClient {
    /// Connects and sends `Hello`; nothing is awaited yet.
    pub(crate) async fn connect(ws_url: &str, token: &str, device: &str) -> SyncClient {
        let engine = ClientEngine::new(ActorId::from(device.as_bytes()));
        SyncClient::connect_with(ws_url, token, engine).await
    }

    pub(crate) async fn connect_with(
        ws_url: &str,
        token: &str,
        engine: ClientEngine,
    ) -> SyncClient {
        let mut device = SyncDevice::new(engine);
        device
            .connect(ws_url, token)
            .await
            .expect("connecting the WebSocket");
        SyncClient {
            device,
            events: Vec::new(),
            caseload: Vec::new(),
            closed: false,
        }
    }

    /// Sends whatever the engine has queued.
    pub(crate) async fn flush(&mut self) {
        self.device.flush().await.expect("sending a frame");
    }

    pub(crate) async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.device.send_raw(bytes).expect("sending raw bytes");
    }

    /// Moves frames both ways until `done` holds, failing the test after [`PATIENCE`].
    pub(crate) async fn pump_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut SyncClient) -> bool,
    ) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.flush().await;
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:?}",
                self.events
            );
            self.step(Duration::from_millis(200)).await;
        }
    }

    /// Receives what arrives within `wait` and runs the engine's timer.
    pub(crate) async fn step(&mut self, wait: Duration) {
        match self.device.step(wait).await {
            Ok(events) => self.keep(events),
            Err(e) => panic!("{e}; events: {:?}", self.events),
        }
    }

    /// Like [`SyncClient::step`], but a closed connection is noted, not a failure.
    pub(crate) async fn step_quietly(&mut self, wait: Duration) {
        if self.closed {
            return;
        }
        match self.device.step(wait).await {
            Ok(events) => self.keep(events),
            Err(LinkError::Closed) => {
                self.closed = true;
                self.device.lost();
            }
            Err(e) => panic!("{e}; events: {:?}", self.events),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    fn keep(&mut self, events: Vec<ClientEvent>) {
        if let Some(caseload) = &self.device.caseload {
            self.caseload.clone_from(caseload);
        }
        self.events.extend(events);
    }

    /// Waits for the caseload and for every plan in it to arrive.
    pub(crate) async fn sync_caseload(&mut self) {
        // Reading a plan is not free: remember which have arrived rather than re-reading
        // all of them after every frame.
        let mut ready = std::collections::HashSet::new();
        self.pump_until("the caseload to sync", |c| {
            if c.caseload.is_empty() {
                return false;
            }
            for id in &c.caseload {
                if !ready.contains(id) && c.engine.doc(id).is_some_and(|d| d.plan().is_ok()) {
                    ready.insert(id.clone());
                }
            }
            ready.len() == c.caseload.len()
        })
        .await;
    }

    /// Applies an edit as the signed-in user.
    pub(crate) fn apply(&mut self, doc_id: &str, edit: &Edit) -> ChangeHash {
        self.device.apply(doc_id, edit).expect("a valid edit")
    }

    /// Waits until the server has acknowledged every local change to `doc_id`.
    pub(crate) async fn wait_acked(&mut self, doc_id: &str) {
        self.pump_until("the server to acknowledge our changes", |c| {
            c.engine.pending(doc_id) == 0
        })
        .await;
    }

    /// Waits for an error event matching `pred`.
    pub(crate) async fn wait_error(
        &mut self,
        what: &str,
        pred: impl Fn(&ClientEvent) -> bool,
    ) -> ClientEvent {
        self.pump_until(what, |c| c.events.iter().any(&pred)).await;
        self.events
            .iter()
            .find(|e| pred(e))
            .cloned()
            .expect("found")
    }

    /// Reads the next raw frame from the server, bypassing the engine: the frames of a
    /// batch one by one, and past the server's `Features` answer to the engine's own.
    pub(crate) async fn next_frame(&mut self) -> Frame {
        match self.device.next_frame(PATIENCE).await {
            Ok(frame) => frame,
            Err(e) => panic!("{e:#}"),
        }
    }

    /// Whether the server closes the connection within [`PATIENCE`].
    pub(crate) async fn closed_by_server(&mut self) -> bool {
        self.device.closed_by_server(PATIENCE).await
    }
}
