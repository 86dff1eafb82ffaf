//! Hostile frames and a raw WebSocket to send them with, shared by the hostile-input
//! tests (`hostile.rs`, against the server in-process) and the memory-capped run
//! (`memory_cap.rs`, against the real binary under an address-space limit).

use std::time::Instant;

use automerge::sync;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use futures_util::{SinkExt, StreamExt};
use redfolder_shared::protocol::{ErrorCode, Frame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::PATIENCE;

/// A WebSocket that speaks raw frames, with no engine to correct what it sends.
pub(crate) struct Raw {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    pub(crate) async fn connect(ws_url: &str) -> Raw {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("connecting the WebSocket");
        Raw { socket }
    }

    /// Connects and authenticates as `token`, returning the caseload.
    pub(crate) async fn hello(ws_url: &str, token: &str) -> (Raw, Vec<String>) {
        let mut raw = Raw::connect(ws_url).await;
        raw.send(&Frame::Hello {
            token: token.to_owned(),
        })
        .await;
        assert!(matches!(raw.next().await, Some(Frame::Welcome { .. })));
        let Some(Frame::Caseload { doc_ids }) = raw.next().await else {
            panic!("no caseload");
        };
        (raw, doc_ids)
    }

    pub(crate) async fn send(&mut self, frame: &Frame) {
        self.send_bytes(frame.encode()).await;
    }

    pub(crate) async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .expect("sending a frame");
    }

    /// The next frame, or `None` once the server closes the connection.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("timed out waiting for the server");
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let mut frames = Frame::decode_all(&bytes).expect("a well-formed frame");
                    assert_eq!(frames.len(), 1, "one frame at a time here: {frames:?}");
                    return frames.pop();
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until an `Error` frame arrives, skipping sync traffic.
    pub(crate) async fn error(&mut self) -> (ErrorCode, Option<String>, String) {
        loop {
            match self.next().await {
                Some(Frame::Error {
                    code,
                    doc_id,
                    message,
                }) => return (code, doc_id, message),
                Some(_) => {}
                None => panic!("the connection closed without an error frame"),
            }
        }
    }

    /// Whether the server closes the connection (reading past whatever it still sends).
    pub(crate) async fn closed(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.next().await.is_none() {
                return true;
            }
        }
        false
    }
}

pub(crate) fn leb(out: &mut Vec<u8>, n: u64) {
    leb128::write::unsigned(out, n).expect("writing to a Vec cannot fail");
}

/// An Automerge V1 sync message that has no heads or needs, no changes, and one `have`
/// whose bloom filter has the given header (and the bytes that header asks for).
pub(crate) fn message_with_bloom(entries: u64, bits_per_entry: u64, probes: u64) -> Vec<u8> {
    let mut bloom = Vec::new();
    leb(&mut bloom, entries);
    leb(&mut bloom, bits_per_entry);
    leb(&mut bloom, probes);
    bloom.resize(
        bloom.len() + (entries * bits_per_entry).div_ceil(8) as usize,
        0xff,
    );
    let mut m = vec![0x42, 0, 0, 1, 0];
    leb(&mut m, bloom.len() as u64);
    m.extend_from_slice(&bloom);
    m.push(0);
    m
}

/// A sync message claiming 50 million empty `have`s in a few KiB: Automerge would decode
/// them one by one.
pub(crate) fn millions_of_haves() -> Vec<u8> {
    let mut m = vec![0x42, 0, 0];
    leb(&mut m, 50_000_000);
    m.extend(std::iter::repeat_n(0, 4096));
    m
}

/// `count` changes of a history the server has never seen, each depending on the one
/// before, without the first: none of their dependencies will ever arrive, so Automerge
/// would queue every one of them. Returned as V1 sync messages of `per_message` changes.
pub(crate) fn orphan_changes(count: usize, per_message: usize) -> Vec<Vec<u8>> {
    let mut doc = AutoCommit::new();
    for i in 0..=count {
        doc.put(ROOT, "junk", i as i64).unwrap();
        doc.commit();
    }
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&[])
        .into_iter()
        .skip(1)
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    changes
        .chunks(per_message)
        .map(|chunk| {
            sync::Message {
                heads: Vec::new(),
                need: Vec::new(),
                have: Vec::new(),
                changes: chunk.to_vec().into(),
                flags: None,
                version: sync::MessageVersion::V1,
            }
            .encode()
        })
        .collect()
}

/// A sync message holding one change of about `bytes` bytes that does not compress (a
/// string of pseudo-random letters), by an actor of its own.
pub(crate) fn one_large_change(bytes: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let text: String = (0..bytes)
        .map(|_| {
            // xorshift: cheap, and incompressible enough for DEFLATE.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect();
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "blob", text).unwrap();
    doc.commit();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&[])
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.into(),
        flags: None,
        version: sync::MessageVersion::V1,
    }
    .encode()
}

/// A compressed batch of a few KiB that would inflate into 400,000 empty document ids:
/// sent before `Hello`, it must not even be inflated.
pub(crate) fn batch_bomb() -> Vec<u8> {
    let subscribe = Frame::Subscribe {
        doc_ids: vec![String::new(); 10_000],
    }
    .encode();
    Frame::deflate_batch(&vec![subscribe; 40]).encode()
}
