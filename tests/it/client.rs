//! A device for tests: `redfolder_shared::ClientEngine` over a real WebSocket.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use redfolder_shared::protocol::Frame;
use redfolder_shared::{ActorId, ChangeHash, ClientEngine, ClientEvent, Edit, Editor};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any wait may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct SyncClient {
    pub(crate) engine: ClientEngine,
    socket: Socket,
    /// Every event the engine reported, in order.
    pub(crate) events: Vec<ClientEvent>,
    pub(crate) caseload: Vec<String>,
    pub(crate) editor: Option<Editor>,
    last_tick: Instant,
    closed: bool,
    /// Frames of a batch [`SyncClient::next_frame`] read but has not returned yet.
    unread: std::collections::VecDeque<Frame>,
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
        mut engine: ClientEngine,
    ) -> SyncClient {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("connecting the WebSocket");
        engine.connected(token);
        let mut client = SyncClient {
            engine,
            socket,
            events: Vec::new(),
            caseload: Vec::new(),
            editor: None,
            last_tick: Instant::now(),
            closed: false,
            unread: std::collections::VecDeque::new(),
        };
        client.flush().await;
        client
    }

    /// Sends whatever the engine has queued.
    pub(crate) async fn flush(&mut self) {
        for bytes in self.engine.take_outgoing() {
            self.socket
                .send(Message::Binary(bytes.into()))
                .await
                .expect("sending a frame");
        }
    }

    pub(crate) async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .expect("sending raw bytes");
    }

    /// Pumps frames both ways until `done` holds, failing the test after [`PATIENCE`].
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

    /// Receives at most one message (waiting up to `wait`) and runs the engine's timer.
    pub(crate) async fn step(&mut self, wait: Duration) {
        if let Ok(message) = tokio::time::timeout(wait, self.socket.next()).await {
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    self.engine
                        .receive(&bytes)
                        .expect("the server sent a malformed frame");
                    self.collect_events();
                }
                Some(Ok(Message::Close(_))) | None => panic!(
                    "the server closed the connection; events: {:?}",
                    self.events
                ),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("WebSocket error: {e}"),
            }
        }
        if self.last_tick.elapsed() > Duration::from_secs(2) {
            self.last_tick = Instant::now();
            self.engine.tick();
        }
    }

    /// Like [`SyncClient::step`], but a closed connection is noted, not a failure.
    pub(crate) async fn step_quietly(&mut self, wait: Duration) {
        if self.closed {
            return;
        }
        if let Ok(message) = tokio::time::timeout(wait, self.socket.next()).await {
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    self.engine
                        .receive(&bytes)
                        .expect("the server sent a malformed frame");
                    self.collect_events();
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    self.closed = true;
                    self.engine.disconnected();
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    fn collect_events(&mut self) {
        for event in self.engine.take_events() {
            match &event {
                ClientEvent::Caseload { doc_ids } => self.caseload = doc_ids.clone(),
                ClientEvent::Welcome {
                    user_id, user_name, ..
                } => {
                    self.editor = Some(Editor {
                        user_id: user_id.clone(),
                        user_name: user_name.clone(),
                    });
                }
                _ => {}
            }
            self.events.push(event);
        }
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
        let editor = self.editor.clone().expect("welcomed before editing");
        self.engine
            .apply(doc_id, edit, &editor, now_ms())
            .expect("a valid edit")
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
        loop {
            if let Some(frame) = self.unread.pop_front() {
                if matches!(frame, Frame::Features { .. }) {
                    continue;
                }
                return frame;
            }
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("the connection closed")
                .expect("a WebSocket error");
            let Message::Binary(bytes) = message else {
                panic!("expected a binary frame, got {message:?}");
            };
            self.unread
                .extend(Frame::decode_all(&bytes).expect("a well-formed frame or batch"));
        }
    }

    /// Whether the server closes the connection within [`PATIENCE`].
    pub(crate) async fn closed_by_server(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let next = tokio::time::timeout(Duration::from_secs(1), self.socket.next()).await;
            if let Ok(None | Some(Ok(Message::Close(_)) | Err(_))) = next {
                return true;
            }
        }
        false
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
