//! Several server instances on one PostgreSQL database.
//!
//! Every commit sends a `NOTIFY` on [`NOTIFY_CHANNEL`] inside its own transaction, so it
//! is delivered only once the commit is durable. Each instance `LISTEN`s: a notice about a
//! plan merges the new chunks into the instance's cached copy and passes the plan on to
//! its own sync connections (exactly as a local commit does); a notice about the feed
//! wakes its long-polls and event streams; a notice that sessions ended or a user changed
//! (sign-out, device revocation, a disabled user, a password reset) clears the instance's
//! session cache and wakes everything that holds access decided from a session (sync
//! connections, feed streams and long-polls), which then looks its session up again and
//! closes if it has ended. If the listening connection drops, notices may have been lost,
//! so on reconnecting every cached plan is refreshed, every feed reader woken and every
//! session looked up again. On SQLite there is one instance and nothing to listen to.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::store::{NOTIFY_CHANNEL, Notice};
use crate::sync::DocNotice;

/// The `origin` of notices about commits made by another instance.
pub const REMOTE_ORIGIN: u64 = 0;

/// Starts listening for other instances' commits; `None` on SQLite.
pub fn spawn_listener(state: AppState) -> Option<JoinHandle<()>> {
    state.store().postgres_pool()?;
    Some(tokio::spawn(listen(state)))
}

async fn listen(state: AppState) {
    let Some(pool) = state.store().postgres_pool().cloned() else {
        return;
    };
    let mut shutdown = state.shutdown();
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for other instances; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tracing::debug!("listening for other instances");
        catch_up(&state).await;
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => on_notice(&state, notification.payload()).await,
                    // The connection dropped and will be re-established by the next call:
                    // anything sent meanwhile is lost.
                    Ok(None) => catch_up(&state).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the notification connection");
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn on_notice(state: &AppState, payload: &str) {
    let Some((instance, notice)) = Notice::decode(payload) else {
        tracing::warn!("ignored a malformed notification");
        return;
    };
    if instance == state.store().instance() {
        return;
    }
    match notice {
        Notice::Doc(doc_id) => refresh(state, &doc_id).await,
        Notice::Feed => state.feed_changed(),
        Notice::Sessions => state.store().forget_sessions(),
    }
}

/// Merges another instance's commit into our copy of the plan and tells our connections.
async fn refresh(state: &AppState, doc_id: &str) {
    if let Err(e) = state.docs().refresh_if_cached(state.store(), doc_id).await {
        tracing::warn!(
            doc_id,
            error = format!("{e:#}"),
            "could not merge a remote commit"
        );
        state.docs().evict(doc_id);
    }
    state.notify(DocNotice {
        doc_id: Arc::from(doc_id),
        origin: REMOTE_ORIGIN,
    });
}

async fn catch_up(state: &AppState) {
    for doc_id in state.docs().cached_ids() {
        refresh(state, &doc_id).await;
    }
    state.feed_changed();
    state.store().forget_sessions();
}
