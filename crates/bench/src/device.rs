//! A device: the shared core's `ClientEngine` over a real WebSocket, the same engine the
//! tablet app runs through WebAssembly. The harness only moves bytes.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, SinkExt, StreamExt};
use redfolder_shared::{ActorId, ChangeHash, ClientEngine, ClientEvent, Edit, Editor};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open connection. Frames are written by their own task from an unbounded queue, as a
/// browser's `WebSocket.send` never blocks: a device that stopped reading while its
/// writes wait for the server (which may itself be waiting to write to us) would
/// deadlock once both sides' socket buffers are full.
#[derive(Debug)]
struct Connection {
    frames: SplitStream<Socket>,
    outgoing: mpsc::UnboundedSender<Message>,
    writer: JoinHandle<()>,
}
/// What reading the socket yields: a message, an error, or `None` once closed.
pub(crate) type Incoming = Option<Result<Message, tokio_tungstenite::tungstenite::Error>>;

/// How often a device runs its engine's timer, as the app does.
const TICK: Duration = Duration::from_secs(2);
/// At most this many frames are taken off the socket before replies are sent.
const BATCH: usize = 256;

#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) engine: ClientEngine,
    socket: Option<Connection>,
    /// Documents that gained remote changes since the caller last drained this.
    pub(crate) changed: Vec<String>,
    /// Documents the server acknowledged since the caller last drained this.
    pub(crate) acked: Vec<String>,
    pub(crate) caseload: Option<Vec<String>>,
    pub(crate) editor: Option<Editor>,
    last_tick: Instant,
}

impl Device {
    pub(crate) fn new(name: &str) -> Device {
        Device {
            engine: ClientEngine::new(ActorId::from(name.as_bytes())),
            socket: None,
            changed: Vec::new(),
            acked: Vec::new(),
            caseload: None,
            editor: None,
            last_tick: Instant::now(),
        }
    }

    /// Opens the WebSocket and sends `Hello`.
    pub(crate) async fn connect(&mut self, url: &str, token: &str) -> anyhow::Result<()> {
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
        self.socket = Some(Connection {
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
    pub(crate) async fn disconnect(&mut self) {
        if let Some(Connection {
            outgoing, writer, ..
        }) = self.socket.take()
        {
            // Closing the queue makes the writer send what is left, then close.
            drop(outgoing);
            let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        }
        self.engine.disconnected();
    }

    /// Sends whatever the engine has queued.
    pub(crate) async fn flush(&mut self) -> anyhow::Result<()> {
        let outgoing = self.engine.take_outgoing();
        if outgoing.is_empty() {
            return Ok(());
        }
        let socket = self.socket.as_mut().context("not connected")?;
        for bytes in outgoing {
            socket
                .outgoing
                .send(Message::Binary(bytes.into()))
                .map_err(|_| anyhow::anyhow!("the connection's writer stopped"))?;
        }
        Ok(())
    }

    /// Waits up to `wait` for frames, feeds everything that has arrived to the engine,
    /// runs the timer when due and sends the replies.
    pub(crate) async fn step(&mut self, wait: Duration) -> anyhow::Result<()> {
        let first = tokio::time::timeout(wait, self.recv()).await.ok();
        self.handle(first).await
    }

    /// The next frame from the server. Cancel-safe, so it can sit in a `select!`.
    pub(crate) async fn recv(&mut self) -> Incoming {
        match self.socket.as_mut() {
            Some(socket) => socket.frames.next().await,
            None => std::future::pending().await,
        }
    }

    /// Feeds `first` (if any) and every frame already waiting to the engine, runs the
    /// timer when due and sends the replies.
    pub(crate) async fn handle(&mut self, first: Option<Incoming>) -> anyhow::Result<()> {
        let socket = self.socket.as_mut().context("not connected")?;
        let mut frames = Vec::new();
        if let Some(first) = first {
            frames.push(first);
            while frames.len() < BATCH {
                match socket.frames.next().now_or_never() {
                    Some(next) => frames.push(next),
                    None => break,
                }
            }
        }
        for frame in frames {
            match frame {
                Some(Ok(Message::Binary(bytes))) => {
                    self.engine
                        .receive(&bytes)
                        .context("the server sent a malformed frame")?;
                }
                Some(Ok(Message::Close(_))) | None => bail!("the server closed the connection"),
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("WebSocket error: {e}"),
            }
        }
        self.collect_events()?;
        if self.last_tick.elapsed() >= TICK {
            self.last_tick = Instant::now();
            self.engine.tick();
        }
        self.flush().await
    }

    fn collect_events(&mut self) -> anyhow::Result<()> {
        for event in self.engine.take_events() {
            match event {
                ClientEvent::Welcome {
                    user_id, user_name, ..
                } => self.editor = Some(Editor { user_id, user_name }),
                ClientEvent::Caseload { doc_ids } => self.caseload = Some(doc_ids),
                ClientEvent::DocChanged { doc_id } => self.changed.push(doc_id),
                ClientEvent::Acked { doc_id } => self.acked.push(doc_id),
                ClientEvent::Error {
                    code,
                    doc_id,
                    message,
                } => bail!(
                    "the server reported {} for {doc_id:?}: {message}",
                    code.name()
                ),
            }
        }
        Ok(())
    }

    /// Steps until `done` holds, failing after `patience`.
    pub(crate) async fn pump_until(
        &mut self,
        what: &str,
        patience: Duration,
        mut done: impl FnMut(&mut Device) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            if done(self) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out after {patience:?} waiting for {what}");
            }
            self.step(Duration::from_millis(100)).await?;
        }
    }

    /// Applies an edit as the signed-in user and sends it.
    pub(crate) async fn apply(&mut self, doc_id: &str, edit: &Edit) -> anyhow::Result<ChangeHash> {
        let editor = self.editor.clone().context("not welcomed yet")?;
        let hash = self
            .engine
            .apply(doc_id, edit, &editor, now_ms())
            .with_context(|| format!("applying {edit:?}"))?;
        self.flush().await?;
        Ok(hash)
    }
}

/// Milliseconds since the Unix epoch: edits carry the time they were made.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
