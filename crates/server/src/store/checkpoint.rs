//! WAL checkpoints on a connection of their own.
//!
//! By default SQLite checkpoints from whichever connection commits when the write-ahead log
//! passes 1,000 pages: that commit then copies the log back into the database file and
//! flushes it before it returns. Under a stream of audited reads that connection is the
//! audit writer, so every few dozen group commits one waited for a checkpoint, and every
//! request queued behind it. The store's connections therefore never checkpoint
//! (`wal_autocheckpoint = 0`) and this task does it instead, every
//! [`CHECKPOINT_EVERY`], in `PASSIVE` mode: it copies what no reader still needs and waits
//! for nobody, and writers carry on meanwhile. Durability is unchanged: a commit is durable
//! once it is in the log (`synchronous = FULL`), checkpointed or not.

use std::time::Duration;

use anyhow::Context;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// How often the log is copied back. Short enough that the log stays a few megabytes under
/// load (a checkpoint's cost grows with the pages written since the last), long enough
/// that pages written many times in a burst are copied once.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Keeps the checkpoint task running; it stops when the last clone of the store holding
/// this is dropped, after one last checkpoint.
#[derive(Debug)]
pub(super) struct Checkpoints {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Opens the checkpoint connection and starts the task on the current runtime. Fails if
/// the connection cannot be opened: without it the log would grow without bound.
pub(super) async fn start(options: &SqliteConnectOptions) -> anyhow::Result<Checkpoints> {
    let mut conn = options
        .connect()
        .await
        .context("opening the SQLite connection for WAL checkpoints")?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let last = tokio::select! {
                _ = &mut stopped => true,
                _ = every.tick() => false,
            };
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut conn)
                .await
            {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying at the next");
            }
            if last {
                break;
            }
        }
    });
    Ok(Checkpoints { _stop: stop })
}
