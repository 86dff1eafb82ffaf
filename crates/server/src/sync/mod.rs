//! `/api/v1/sync`: one task per WebSocket, moving `redfolder_shared::protocol::Frame`s
//! between the socket and a [`SyncConnection`], which drives a `redfolder_shared::Session`
//! against the shared [`DocCache`].
//!
//! The socket tasks only move bytes (see [`drive`]); every decision is in [`SyncConnection`],
//! which queues the frames to send. Committed changes are announced on a broadcast channel of
//! [`DocNotice`]s so every other connection with the document open can pass them on.

mod cache;
mod connection;
mod counts;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use redfolder_shared::protocol::{Codec, ErrorCode, Frame, MAX_BATCH_FRAMES, MAX_FRAME_BYTES};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

pub use cache::{CachedDoc, DocCache, DocGuard, DocPin};
pub use connection::SyncConnection;
pub use counts::ConnectionCounts;
pub(crate) use counts::CountKey;
use counts::CountPermit;

use crate::auth::principal_for_token;
use crate::state::AppState;
pub use crate::state::DocNotice;

#[derive(Debug, Deserialize)]
pub(crate) struct SyncParams {
    token: Option<String>,
}

/// The WebSocket upgrade. A `?token=` is checked here so a browser learns of a stale
/// token before upgrading, but the client must still open with `Hello`. An address with
/// too many sync connections open is refused before the upgrade (429).
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    params: Result<Query<SyncParams>, QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
    let limit = state.config().max_connections_per_address;
    let Some(address_permit) = state
        .connection_counts()
        .acquire(CountKey::Address(remote.ip()), limit)
    else {
        tracing::warn!(limit, "too many sync connections from one address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many sync connections from this address",
        )
            .into_response();
    };
    let query_token = params
        .ok()
        .and_then(|Query(p)| p.token)
        .filter(|t| !t.is_empty());
    if let Some(token) = &query_token
        && let Err(e) = principal_for_token(&state, token).await
    {
        return e.into_response();
    }
    // Accept messages somewhat over the protocol limit so an oversized frame gets a
    // TooLarge error frame rather than a dropped connection; far larger ones are cut off
    // by the WebSocket layer.
    //
    // The socket's buffers are kept small: tungstenite allocates its read buffer eagerly
    // (128 KiB by default), which made up most of an idle connection's memory (S6 in
    // docs/benchmarks.md). Larger messages still arrive whole; they only take more reads.
    ws.max_message_size(2 * MAX_FRAME_BYTES)
        .max_frame_size(2 * MAX_FRAME_BYTES)
        .read_buffer_size(SOCKET_READ_BUFFER)
        .write_buffer_size(SOCKET_WRITE_BUFFER)
        .on_upgrade(move |socket| {
            let id = state.next_connection_id();
            // Tracked so that shutdown waits for the connection to finish its commit.
            let tracker = state.connections().clone();
            tracker.track_future(
                async move {
                    run(state, socket, query_token, id).await;
                    drop(address_permit);
                }
                .instrument(tracing::info_span!("sync", connection = id)),
            )
        })
}

async fn run(state: AppState, socket: WebSocket, query_token: Option<String>, id: u64) {
    state.metrics().connection_opened();
    drive(state.clone(), socket, query_token, id).await;
    state.metrics().connection_closed();
}

/// The WebSocket's initial read buffer (it grows for a large message).
const SOCKET_READ_BUFFER: usize = 8 * 1024;
/// How much the WebSocket buffers before writing to the socket (it is also flushed
/// whenever the writer has nothing more queued).
const SOCKET_WRITE_BUFFER: usize = 16 * 1024;
/// Batches of frames the writer task holds at most; the rest wait in the driver's backlog.
const WRITER_QUEUE: usize = 64;
/// Messages the reader task reads ahead of the driver, at most; and their bytes, at most
/// (a single larger message still goes through, alone).
const READER_QUEUE: usize = 256;
const READ_AHEAD_BYTES: usize = 1 << 20;
/// While more than this many bytes wait to be written, the server starts no more
/// documents of a subscription and its timer re-sends nothing: the device is slower than
/// the server, and more would only queue.
const BACKLOG_LOW_WATER: usize = 1 << 20;
/// A device that leaves this much unread is not reading at all: close the connection
/// rather than hold its frames without limit. It reconnects and resumes.
const BACKLOG_LIMIT: usize = 64 << 20;
/// How long a closing connection's writer may take to deliver what is queued.
const WRITER_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// One connection as three tasks, so that a device slow to read never stops the server
/// reading (the device may itself be blocked writing to us) and nothing can deadlock:
///
/// - a reader moves WebSocket messages into a bounded channel, waiting only for the
///   driver, which never waits for the socket;
/// - the driver (this function) feeds them to the [`SyncConnection`] and moves its frames to
///   the writer through a bounded channel, holding any excess in its own backlog instead
///   of waiting for room; it starts no new work of its own (see [`BACKLOG_LOW_WATER`])
///   while the device is behind, and closes a connection whose device stops reading;
/// - a writer sends the frames in order.
///
/// Acknowledgements are still only generated after the commit (in [`SyncConnection`]); the
/// writer only delivers them.
async fn drive(state: AppState, socket: WebSocket, query_token: Option<String>, id: u64) {
    tracing::debug!("connected");
    let mut notices = state.notices();
    // Sessions may have ended (sign-out, revocation, a disabled user; here or elsewhere).
    let mut sessions = state.store().session_changes();
    let mut shutdown = state.shutdown();
    let mut ticker = tokio::time::interval(state.config().sync_tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await;
    let metrics_state = state.clone();
    let (mut sink, mut stream) = socket.split();
    if *shutdown.borrow() {
        // Shutting down already: refuse politely; the device reconnects elsewhere or later.
        let _ = sink.send(Message::Close(None)).await;
        return;
    }
    let mut conn = SyncConnection::new(state, id, query_token);
    let superseded = conn.superseded_signal();

    let (in_tx, mut incoming) = mpsc::channel::<(Message, OwnedSemaphorePermit)>(READER_QUEUE);
    let read_ahead = Arc::new(Semaphore::new(READ_AHEAD_BYTES));
    let reader = tokio::spawn(
        async move {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(message) => {
                        // Held until the driver has handled the message.
                        let weight = message_len(&message).clamp(1, READ_AHEAD_BYTES);
                        let Ok(permit) = read_ahead.clone().acquire_many_owned(weight as u32).await
                        else {
                            break;
                        };
                        if in_tx.send((message, permit)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "socket error");
                        break;
                    }
                }
            }
        }
        .in_current_span(),
    );

    // Bytes handed to the writer (or waiting in `backlog`) and not yet written.
    let unsent = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(Notify::new());
    // The frames one event produced travel as one batch and are written together (with
    // TCP_NODELAY, separately written frames go out as separate segments: a device could
    // see `Welcome` without the `Caseload` sent with it, and its timer would take the
    // `Caseload` for lost and say `Hello` again).
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<Message>>(WRITER_QUEUE);
    let writer = {
        let unsent = unsent.clone();
        let written = written.clone();
        tokio::spawn(
            async move {
                'batches: while let Some(batch) = out_rx.recv().await {
                    let len: usize = batch.iter().map(message_len).sum();
                    let close = batch.iter().any(|m| matches!(m, Message::Close(_)));
                    for message in batch {
                        if sink.feed(message).await.is_err() {
                            break 'batches;
                        }
                    }
                    // Flushed when the queue runs dry, so a burst is not one write each.
                    if (close || out_rx.is_empty()) && sink.flush().await.is_err() {
                        break;
                    }
                    unsent.fetch_sub(len, Ordering::Relaxed);
                    written.notify_one();
                    if close {
                        break;
                    }
                }
                let _ = sink.close().await;
            }
            .in_current_span(),
        )
    };

    let mut backlog: VecDeque<Vec<Message>> = VecDeque::new();
    loop {
        tokio::select! {
            permit = out_tx.reserve(), if !backlog.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(batch) = backlog.pop_front() {
                        permit.send(batch);
                    }
                    continue;
                }
                // The writer stopped: the socket is gone.
                Err(_) => break,
            },
            // The permit is released once the message is handled, letting the reader on.
            message = incoming.recv() => match message {
                Some((Message::Binary(bytes), _permit)) => conn.on_binary(&bytes).await,
                Some((Message::Text(_), _permit)) => conn.send_error(
                    ErrorCode::BadFrame,
                    None,
                    "text messages are not part of the protocol: send binary frames".to_owned(),
                ),
                Some((Message::Ping(_) | Message::Pong(_), _)) => {}
                Some((Message::Close(_), _)) | None => break,
            },
            notice = notices.recv() => match notice {
                Ok(notice) => conn.on_notice(&notice).await,
                Err(RecvError::Lagged(_)) => conn.on_lagged().await,
                Err(RecvError::Closed) => break,
            },
            Ok(()) = sessions.changed() => conn.on_sessions_changed().await,
            _ = ticker.tick() => {
                // Frames still queued here or unread by the device are in flight, not
                // lost: the timer must not restart their channels.
                let in_flight = unsent.load(Ordering::Relaxed) > 0 || !incoming.is_empty();
                conn.on_tick(in_flight).await;
            }
            // The writer delivered some of what was queued: it may be time to start more.
            _ = written.notified(), if conn.wants_to_start() => {}
            _ = shutdown.changed() => conn.close(),
            () = superseded.notified() => conn.superseded(),
        }
        if conn.wants_to_start() && unsent.load(Ordering::Relaxed) <= BACKLOG_LOW_WATER {
            conn.pump().await;
        }
        let outgoing = conn.take_outgoing();
        metrics_state.metrics().frames_sent(outgoing.len());
        let mut batch = messages(&outgoing, conn.batches()).await;
        unsent.fetch_add(batch.iter().map(message_len).sum(), Ordering::Relaxed);
        if conn.is_closing() {
            batch.push(Message::Close(None));
            backlog.push_back(batch);
            break;
        }
        if !batch.is_empty() {
            backlog.push_back(batch);
        }
        if unsent.load(Ordering::Relaxed) > BACKLOG_LIMIT {
            tracing::warn!("the device is not reading what it is sent: closing the connection");
            backlog.clear();
            break;
        }
        // Hand over what fits without waiting; the rest goes as the writer makes room.
        let mut writer_gone = false;
        while let Some(batch) = backlog.pop_front() {
            match out_tx.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(batch)) => {
                    backlog.push_front(batch);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    writer_gone = true;
                    break;
                }
            }
        }
        if writer_gone {
            backlog.clear();
            break;
        }
    }
    reader.abort();
    // Deliver what is queued (an Ack, an Error, a Close), but not forever.
    let deliver = async {
        for batch in backlog {
            if out_tx.send(batch).await.is_err() {
                break;
            }
        }
        drop(out_tx);
    };
    let mut writer = writer;
    if tokio::time::timeout(WRITER_DRAIN, async {
        deliver.await;
        let _ = (&mut writer).await;
    })
    .await
    .is_err()
    {
        writer.abort();
    }
    tracing::debug!("disconnected");
}

/// An event's frames are sent as one compressed [`Frame::Batch`] once they add up to this
/// much and the device reads batches; smaller bursts are not worth compressing.
const BATCH_MIN_BYTES: usize = 512;
/// From this size on a batch is compressed with Brotli (slower, but it finds what many
/// documents share: a first sync's snapshots shrink to about a third of what DEFLATE
/// makes of them); below it, with DEFLATE.
const BROTLI_MIN_BYTES: usize = 16 * 1024;
/// At most this much goes into one batch.
const BATCH_MAX_BYTES: usize = 8 << 20;
/// Batches at least this large are compressed off the async workers.
const BLOCKING_MIN_BYTES: usize = 64 * 1024;

/// The WebSocket messages for one event's frames: each frame as it is, or, for a device
/// that reads batches, compressed batches of them, in the same order.
async fn messages(frames: &[Frame], batches: bool) -> Vec<Message> {
    let encoded: Vec<Vec<u8>> = frames.iter().map(Frame::encode).collect();
    let total: usize = encoded.iter().map(Vec::len).sum();
    if !batches || encoded.len() < 2 || total < BATCH_MIN_BYTES {
        return encoded
            .into_iter()
            .map(|bytes| Message::Binary(bytes.into()))
            .collect();
    }
    let mut groups: Vec<Vec<Vec<u8>>> = vec![Vec::new()];
    let mut size = 0;
    for frame in encoded {
        let last = groups.last().map_or(0, Vec::len);
        if (size + frame.len() > BATCH_MAX_BYTES || last == MAX_BATCH_FRAMES) && last > 0 {
            groups.push(Vec::new());
            size = 0;
        }
        size += frame.len();
        groups.last_mut().expect("never empty").push(frame);
    }
    let compress = move || -> Vec<Message> {
        groups
            .into_iter()
            .map(|mut group| {
                let bytes = if group.len() == 1 {
                    group.pop().expect("one frame")
                } else {
                    let size: usize = group.iter().map(Vec::len).sum();
                    let codec = if size >= BROTLI_MIN_BYTES {
                        Codec::Brotli
                    } else {
                        Codec::Deflate
                    };
                    Frame::batch(&group, codec).encode()
                };
                Message::Binary(bytes.into())
            })
            .collect()
    };
    if total < BLOCKING_MIN_BYTES {
        return compress();
    }
    tokio::task::spawn_blocking(compress)
        .await
        .expect("compressing a batch does not panic")
}

/// Runs heavy Automerge work (loading, applying, saving, compressing) on the blocking
/// pool, so the async workers stay free for everything else, above all emergency reads.
pub(crate) async fn offload<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| anyhow::anyhow!("heavy sync work failed: {e}"))
}

fn message_len(message: &Message) -> usize {
    match message {
        Message::Binary(bytes) => bytes.len(),
        Message::Text(text) => text.len(),
        _ => 0,
    }
}
