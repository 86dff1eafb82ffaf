//! `/api/v1/sync`: one task per WebSocket, moving `redfolder_shared::protocol::Frame`s
//! between the socket and a [`Connection`], which drives a `redfolder_shared::Session`
//! against the shared [`DocCache`].
//!
//! The socket task only moves bytes; every decision is in [`Connection`], which queues the
//! frames to send. Committed changes are announced on a broadcast channel of
//! [`DocNotice`]s so every other connection with the document open can pass them on.

mod cache;
mod connection;

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use redfolder_shared::protocol::{ErrorCode, MAX_FRAME_BYTES};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

pub use cache::{CachedDoc, DocCache, DocGuard};
pub use connection::Connection;

use crate::auth::principal_for_token;
use crate::startup::AppState;

/// A document gained committed changes through connection `origin`.
#[derive(Debug, Clone)]
pub struct DocNotice {
    pub doc_id: Arc<str>,
    pub origin: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SyncParams {
    token: Option<String>,
}

/// The WebSocket upgrade. A `?token=` is checked here so a browser learns of a stale
/// token before upgrading, but the client must still open with `Hello`.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    params: Result<Query<SyncParams>, QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
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
    ws.max_message_size(2 * MAX_FRAME_BYTES)
        .max_frame_size(2 * MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let id = state.next_connection_id();
            // Tracked so that shutdown waits for the connection to finish its commit.
            let tracker = state.connections().clone();
            tracker.track_future(
                run(state, socket, query_token, id)
                    .instrument(tracing::info_span!("sync", connection = id)),
            )
        })
}

async fn run(state: AppState, socket: WebSocket, query_token: Option<String>, id: u64) {
    state.metrics().connection_opened();
    drive(state.clone(), socket, query_token, id).await;
    state.metrics().connection_closed();
}

async fn drive(state: AppState, mut socket: WebSocket, query_token: Option<String>, id: u64) {
    tracing::debug!("connected");
    let mut notices = state.notices();
    let mut shutdown = state.shutdown();
    let mut ticker = tokio::time::interval(state.config().sync_tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await;
    let metrics_state = state.clone();
    let mut conn = Connection::new(state, id, query_token);
    if *shutdown.borrow() {
        // Shutting down already: refuse politely; the device reconnects elsewhere or later.
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => conn.on_binary(&bytes).await,
                Some(Ok(Message::Text(_))) => conn.send_error(
                    ErrorCode::BadFrame,
                    None,
                    "text messages are not part of the protocol: send binary frames".to_owned(),
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "socket error");
                    break;
                }
            },
            notice = notices.recv() => match notice {
                Ok(notice) => conn.on_notice(&notice).await,
                Err(RecvError::Lagged(_)) => conn.on_lagged().await,
                Err(RecvError::Closed) => break,
            },
            _ = ticker.tick() => conn.on_tick().await,
            _ = shutdown.changed() => conn.close(),
        }
        let outgoing = conn.take_outgoing();
        metrics_state.metrics().frames_sent(outgoing.len());
        for frame in outgoing {
            if socket
                .send(Message::Binary(frame.encode().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        if conn.is_closing() {
            let _ = socket.send(Message::Close(None)).await;
            break;
        }
    }
    tracing::debug!("disconnected");
}
