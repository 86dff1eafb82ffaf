//! [`Device`]: a test device that drives the sync protocol frame by frame for chosen
//! documents only, so a test can say exactly what was sent and what came back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use redfolder_shared::protocol::{ErrorCode, Frame};
use redfolder_shared::{ActorId, ChangeHash, Edit, Editor, PlanDoc, Session};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{PATIENCE, now_ms};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The document arrived and reads as a plan.
    Synced,
    /// The change was acknowledged as durable.
    Acked,
    Refused(String),
    Forbidden(String),
    Unauthorized(String),
    DeviceRevoked(String),
    /// The connection closed without an error frame.
    Closed,
}

impl Outcome {
    /// A short name for tables of expectations.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Outcome::Synced => "synced",
            Outcome::Acked => "acked",
            Outcome::Refused(_) => "refused",
            Outcome::Forbidden(_) => "forbidden",
            Outcome::Unauthorized(_) => "unauthorized",
            Outcome::DeviceRevoked(_) => "device_revoked",
            Outcome::Closed => "closed",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Device {
    socket: Socket,
    session: Session,
    actor: ActorId,
    pub(crate) docs: HashMap<String, PlanDoc>,
    pub(crate) editor: Option<Editor>,
    pub(crate) role: Option<String>,
    pub(crate) caseload: Option<Vec<String>>,
    pub(crate) errors: Vec<(ErrorCode, Option<String>, String)>,
    acked: HashMap<String, Vec<ChangeHash>>,
    closed: bool,
}

impl Device {
    /// Connects and sends `Hello`.
    pub(crate) async fn connect(ws_url: &str, token: &str, actor: &str) -> Device {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("connecting the WebSocket");
        let mut device = Device {
            socket,
            session: Session::new(),
            actor: ActorId::from(actor.as_bytes()),
            docs: HashMap::new(),
            editor: None,
            role: None,
            caseload: None,
            errors: Vec::new(),
            acked: HashMap::new(),
            closed: false,
        };
        device
            .send(Frame::Hello {
                token: token.to_owned(),
            })
            .await;
        device
    }

    pub(crate) async fn send(&mut self, frame: Frame) {
        // A closed socket shows up as `closed` when reading.
        let _ = self
            .socket
            .send(Message::Binary(frame.encode().into()))
            .await;
    }

    /// Waits for `Welcome` and `Caseload`, or the error that replaces them.
    pub(crate) async fn hello(&mut self) -> Result<(), Outcome> {
        let errors = self.errors.len();
        self.read_until(|d| d.caseload.is_some() || d.errors.len() > errors || d.closed)
            .await;
        if self.caseload.is_some() {
            return Ok(());
        }
        Err(self.last_outcome(errors))
    }

    /// Subscribes to one document and waits until it has arrived, or is refused.
    pub(crate) async fn open(&mut self, doc_id: &str) -> Outcome {
        self.docs
            .entry(doc_id.to_owned())
            .or_insert_with(|| PlanDoc::empty(self.actor.clone()));
        let errors = self.errors.len();
        self.send(Frame::Subscribe {
            doc_ids: vec![doc_id.to_owned()],
        })
        .await;
        let id = doc_id.to_owned();
        self.read_until(|d| {
            d.docs.get(&id).is_some_and(|doc| doc.plan().is_ok())
                || d.errors.len() > errors
                || d.closed
        })
        .await;
        if self.docs.get(doc_id).is_some_and(|doc| doc.plan().is_ok()) {
            Outcome::Synced
        } else {
            self.last_outcome(errors)
        }
    }

    /// Makes an edit to an open document and waits for the server's verdict.
    pub(crate) async fn write(&mut self, doc_id: &str, edit: &Edit) -> Outcome {
        let editor = self.editor.clone().expect("welcomed before writing");
        let doc = self.docs.get_mut(doc_id).expect("an open document");
        let hash = doc.apply(edit, &editor, now_ms()).expect("a valid edit");
        self.wait_verdict(doc_id, hash).await
    }

    /// Commits a change made directly on the Automerge document (as a buggy or hostile
    /// client could) and waits for the verdict.
    pub(crate) async fn write_raw(
        &mut self,
        doc_id: &str,
        change: impl FnOnce(&mut automerge::AutoCommit),
    ) -> Outcome {
        let doc = self.docs.get_mut(doc_id).expect("an open document");
        change(doc.automerge());
        let hash = doc.heads()[0];
        self.wait_verdict(doc_id, hash).await
    }

    async fn wait_verdict(&mut self, doc_id: &str, hash: ChangeHash) -> Outcome {
        let errors = self.errors.len();
        self.flush(doc_id).await;
        let id = doc_id.to_owned();
        self.read_until(|d| {
            d.acked.get(&id).is_some_and(|h| h.contains(&hash))
                || d.errors.len() > errors
                || d.closed
        })
        .await;
        if self.acked.get(doc_id).is_some_and(|h| h.contains(&hash)) {
            Outcome::Acked
        } else {
            self.last_outcome(errors)
        }
    }

    fn last_outcome(&self, before: usize) -> Outcome {
        match self.errors.get(before) {
            Some((ErrorCode::Refused, _, m)) => Outcome::Refused(m.clone()),
            Some((ErrorCode::Forbidden, _, m)) => Outcome::Forbidden(m.clone()),
            Some((ErrorCode::Unauthorized, _, m)) => Outcome::Unauthorized(m.clone()),
            Some((ErrorCode::DeviceRevoked, _, m)) => Outcome::DeviceRevoked(m.clone()),
            Some(other) => panic!("unexpected error frame {other:?}"),
            None => Outcome::Closed,
        }
    }

    async fn flush(&mut self, doc_id: &str) {
        let Some(doc) = self.docs.get_mut(doc_id) else {
            return;
        };
        let mut frames = Vec::new();
        while let Some(frame) = self.session.generate(doc.automerge(), doc_id) {
            frames.push(frame);
        }
        for frame in frames {
            self.send(frame).await;
        }
    }

    /// Reads frames until `done` holds; fails the test after [`PATIENCE`].
    pub(crate) async fn read_until(&mut self, mut done: impl FnMut(&Device) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out; errors so far: {:?}",
                self.errors
            );
            self.step(Duration::from_millis(500)).await;
        }
    }

    /// Handles at most one incoming frame.
    pub(crate) async fn step(&mut self, wait: Duration) {
        let Ok(message) = tokio::time::timeout(wait, self.socket.next()).await else {
            return;
        };
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                self.closed = true;
                return;
            }
            Some(Ok(_)) => return,
        };
        match Frame::decode(&bytes).expect("a well-formed frame") {
            Frame::Welcome {
                user_id,
                user_name,
                role,
            } => {
                self.editor = Some(Editor { user_id, user_name });
                self.role = Some(role);
            }
            Frame::Caseload { doc_ids } => self.caseload = Some(doc_ids),
            Frame::Sync {
                doc_id,
                epoch,
                seq,
                message,
            } => {
                let Some(doc) = self.docs.get_mut(&doc_id) else {
                    return;
                };
                self.session
                    .receive(doc.automerge(), &doc_id, epoch, seq, &message)
                    .expect("a valid sync message");
                self.flush(&doc_id).await;
            }
            Frame::Ack { doc_id, heads } => {
                self.acked.insert(doc_id, heads);
            }
            Frame::Error {
                code,
                doc_id,
                message,
            } => self.errors.push((code, doc_id, message)),
            other => panic!("the server sent {other:?}"),
        }
    }
}

/// A `Sync` frame that carries a change to `doc_id` made on top of `base` (a saved plan),
/// produced by syncing with a stand-in server: what a device that kept a copy of a plan
/// would send after an edit, whether or not it may.
pub(crate) fn change_carrying_frame(
    doc_id: &str,
    base: &[u8],
    editor: &Editor,
    edit: &Edit,
) -> Frame {
    let mut device = PlanDoc::load(base, ActorId::from(b"outsider".as_slice())).unwrap();
    device.apply(edit, editor, now_ms()).unwrap();
    let mut server = PlanDoc::load(base, ActorId::from(b"stand-in".as_slice())).unwrap();
    let (mut sd, mut ss) = (Session::new(), Session::new());
    for _ in 0..10 {
        while let Some(frame) = sd.generate(device.automerge(), doc_id) {
            let Frame::Sync { message, .. } = &frame else {
                unreachable!()
            };
            let decoded = automerge::sync::Message::decode(message).unwrap();
            if !decoded.changes.is_empty() {
                return Frame::Sync {
                    doc_id: doc_id.to_owned(),
                    epoch: 0,
                    seq: 0,
                    message: message.clone(),
                };
            }
            if let Frame::Sync {
                epoch,
                seq,
                message,
                ..
            } = frame
            {
                ss.receive(server.automerge(), doc_id, epoch, seq, &message)
                    .unwrap();
            }
        }
        while let Some(Frame::Sync {
            epoch,
            seq,
            message,
            ..
        }) = ss.generate(server.automerge(), doc_id)
        {
            sd.receive(device.automerge(), doc_id, epoch, seq, &message)
                .unwrap();
        }
    }
    panic!("the stand-in sync never carried the change");
}
