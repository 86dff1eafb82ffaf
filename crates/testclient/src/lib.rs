//! A device for the integration tests and the benchmark harness: the shared core's
//! `ClientEngine` over a real WebSocket, the same engine the tablet app runs through
//! WebAssembly. It only moves bytes: every decision is the engine's.
//!
//! [`SyncDevice`] owns the socket, feeds what arrives to the engine, runs the engine's
//! timer as the app does and sends what the engine queues. It hands the engine's events
//! back to its caller, remembering only what every caller needs (who signed in, the
//! caseload); the tests keep every event, the benchmark counts and fails on them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, SinkExt, StreamExt};
use redfolder_shared::protocol::Frame;
use redfolder_shared::{ChangeHash, ClientEngine, ClientEvent, Edit, Editor};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What reading the socket yields: a message, an error, or `None` once closed.
pub type Incoming = Option<Result<Message, tokio_tungstenite::tungstenite::Error>>;

/// How often a device runs its engine's timer.
pub const TICK: Duration = Duration::from_secs(2);
/// At most this many frames are taken off the socket before replies are sent.
const BATCH: usize = 256;
/// How long a closing connection's writer may take to send what is left.
const WRITER_DRAIN: Duration = Duration::from_secs(5);

/// An open connection. Frames are written by their own task from an unbounded queue, as a
/// browser's `WebSocket.send` never blocks: a device that stopped reading while its
/// writes wait for the server (which may itself be waiting to write to us) would
/// deadlock once both sides' socket buffers are full.
#[derive(Debug)]
struct Socketed {
    frames: SplitStream<Socket>,
    outgoing: mpsc::UnboundedSender<Message>,
    writer: JoinHandle<()>,
}

/// Why feeding the socket's frames to the engine stopped.
#[derive(Debug)]
pub enum LinkError {
    /// The server closed the connection (or it dropped).
    Closed,
    /// Anything else: a WebSocket error, a malformed frame, no connection.
    Failed(anyhow::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Closed => f.write_str("the server closed the connection"),
            LinkError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for LinkError {}

impl From<anyhow::Error> for LinkError {
    fn from(e: anyhow::Error) -> LinkError {
        LinkError::Failed(e)
    }
}

/// A `ClientEngine` and, while connected, its WebSocket.
#[derive(Debug)]
pub struct SyncDevice {
    pub engine: ClientEngine,
    socket: Option<Socketed>,
    /// The signed-in user, from the server's `Welcome`: what edits are attributed to.
    pub editor: Option<Editor>,
    /// The caseload the server last announced on this connection.
    pub caseload: Option<Vec<String>>,
    last_tick: Instant,
    /// Frames of a batch [`SyncDevice::next_frame`] read but has not returned yet.
    unread: VecDeque<Frame>,
}

impl SyncDevice {
    pub fn new(engine: ClientEngine) -> SyncDevice {
        SyncDevice {
            engine,
            socket: None,
            editor: None,
            caseload: None,
            last_tick: Instant::now(),
            unread: VecDeque::new(),
        }
    }

    /// Opens the WebSocket and sends `Hello`.
    pub async fn connect(&mut self, url: &str, token: &str) -> anyhow::Result<()> {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let (mut sink, frames) = socket.split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                if sink.feed(message).await.is_err() {
                    return;
                }
                if queue.is_empty() && sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        });
        self.socket = Some(Socketed {
            frames,
            outgoing,
            writer,
        });
        self.caseload = None;
        // The timer's phase starts at the connection. A device that has been offline for
        // longer than a tick would otherwise tick on the very first frames it reads, and
        // `Session::tick` restarts every channel opened since the last tick (nothing was
        // heard on it yet), so the whole caseload would be offered twice; the app's timer
        // lands that early in only a fraction of reconnections. docs/benchmarks.md.
        self.last_tick = Instant::now();
        self.engine.connected(token);
        self.flush().await
    }

    /// Closes the connection; the documents stay on the device.
    pub async fn disconnect(&mut self) {
        if let Some(Socketed {
            outgoing, writer, ..
        }) = self.socket.take()
        {
            // Closing the queue makes the writer send what is left, then close.
            drop(outgoing);
            let _ = tokio::time::timeout(WRITER_DRAIN, writer).await;
        }
        self.engine.disconnected();
    }

    /// Notes a connection the server closed: the engine learns it is offline.
    pub fn lost(&mut self) {
        self.socket = None;
        self.engine.disconnected();
    }

    /// Sends whatever the engine has queued.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        let outgoing = self.engine.take_outgoing();
        if outgoing.is_empty() {
            return Ok(());
        }
        for bytes in outgoing {
            self.send_raw(bytes)?;
        }
        Ok(())
    }

    /// Sends bytes as one binary message, past the engine.
    pub fn send_raw(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        let socket = self.socket.as_mut().context("not connected")?;
        socket
            .outgoing
            .send(Message::Binary(bytes.into()))
            .map_err(|_| anyhow::anyhow!("the connection's writer stopped"))
    }

    /// The next message from the server. Cancel-safe, so it can sit in a `select!`.
    pub async fn recv(&mut self) -> Incoming {
        match self.socket.as_mut() {
            Some(socket) => socket.frames.next().await,
            None => std::future::pending().await,
        }
    }

    /// Waits up to `wait` for a message, then does what [`SyncDevice::handle`] does.
    pub async fn step(&mut self, wait: Duration) -> Result<Vec<ClientEvent>, LinkError> {
        let first = tokio::time::timeout(wait, self.recv()).await.ok();
        self.handle(first).await
    }

    /// Feeds `first` (if any) and every message already waiting to the engine, runs the
    /// timer when due, sends the replies and returns the engine's events.
    pub async fn handle(&mut self, first: Option<Incoming>) -> Result<Vec<ClientEvent>, LinkError> {
        let socket = self.socket.as_mut().context("not connected")?;
        let mut messages = Vec::new();
        if let Some(first) = first {
            messages.push(first);
            while messages.len() < BATCH {
                match socket.frames.next().now_or_never() {
                    Some(next) => messages.push(next),
                    None => break,
                }
            }
        }
        for message in messages {
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    self.engine
                        .receive(&bytes)
                        .context("the server sent a malformed frame")?;
                }
                Some(Ok(Message::Close(_))) | None => return Err(LinkError::Closed),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow::anyhow!("WebSocket error: {e}").into()),
            }
        }
        let events = self.take_events();
        if self.last_tick.elapsed() >= TICK {
            self.last_tick = Instant::now();
            self.engine.tick();
        }
        self.flush().await?;
        Ok(events)
    }

    /// The engine's events since the last call, noting the signed-in user and caseload.
    fn take_events(&mut self) -> Vec<ClientEvent> {
        let events = self.engine.take_events();
        for event in &events {
            match event {
                ClientEvent::Welcome {
                    user_id, user_name, ..
                } => {
                    self.editor = Some(Editor {
                        user_id: user_id.clone(),
                        user_name: user_name.clone(),
                    });
                }
                ClientEvent::Caseload { doc_ids } => self.caseload = Some(doc_ids.clone()),
                _ => {}
            }
        }
        events
    }

    /// Applies an edit as the signed-in user (sent by the next flush).
    pub fn apply(&mut self, doc_id: &str, edit: &Edit) -> anyhow::Result<ChangeHash> {
        let editor = self.editor.clone().context("not welcomed yet")?;
        self.engine
            .apply(doc_id, edit, &editor, now_ms())
            .with_context(|| format!("applying {edit:?}"))
    }

    /// Reads the next frame from the server within `patience`, bypassing the engine: the
    /// frames of a batch one by one, and past the server's `Features` answer to the
    /// engine's own.
    pub async fn next_frame(&mut self, patience: Duration) -> anyhow::Result<Frame> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(frame) = self.unread.pop_front() {
                if matches!(frame, Frame::Features { .. }) {
                    continue;
                }
                return Ok(frame);
            }
            let message = tokio::time::timeout_at(deadline.into(), self.recv())
                .await
                .context("timed out waiting for a frame")?
                .context("the connection closed")?
                .context("a WebSocket error")?;
            let Message::Binary(bytes) = message else {
                bail!("expected a binary frame, got {message:?}");
            };
            self.unread
                .extend(Frame::decode_all(&bytes).context("a malformed frame or batch")?);
        }
    }

    /// Whether the server closes the connection within `patience`, reading (and
    /// dropping) whatever it sends meanwhile.
    pub async fn closed_by_server(&mut self, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => return false,
                Ok(None | Some(Ok(Message::Close(_)) | Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

/// Milliseconds since the Unix epoch: edits carry the time they were made.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
