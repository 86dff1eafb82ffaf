//! [`AppState`]: what every handler, sync connection and background task shares — the
//! configuration, the store, the document cache, the notices of committed changes, the
//! metrics, the signing key and the counts of open connections.
//!
//! It sits below `routes`, `sync`, `commit` and the rest, which all take it; `startup`
//! only builds it and wires the application around it. It depends on nothing above it:
//! the leaf modules `config`, `store`, `metrics`, `signing`, `sync::cache` and
//! `sync::counts`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, watch};
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::{ConnectionCounts, DocCache};

/// A document gained committed changes through connection `origin`.
#[derive(Debug, Clone)]
pub struct DocNotice {
    pub doc_id: Arc<str>,
    pub origin: u64,
}

/// What every handler and sync connection shares; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    store: Store,
    docs: DocCache,
    notices: broadcast::Sender<DocNotice>,
    shutdown: watch::Receiver<bool>,
    next_connection: AtomicU64,
    metrics: Metrics,
    /// Bumped whenever the emergency feed may have gained items (here or elsewhere).
    feed: watch::Sender<u64>,
    /// Sync connections, so shutdown can wait for them to finish their commits.
    connections: TaskTracker,
    /// Signs emergency summaries; the key active when the server started.
    signer: crate::signing::Signer,
    /// Sync connections open per address, user and device.
    connection_counts: Arc<ConnectionCounts>,
}

impl AppState {
    pub(crate) fn new(
        config: Config,
        store: Store,
        shutdown: watch::Receiver<bool>,
        signer: crate::signing::Signer,
    ) -> AppState {
        let (notices, _) = broadcast::channel(1024);
        let docs = DocCache::new(config.doc_cache_capacity);
        AppState {
            inner: Arc::new(Shared {
                config,
                store,
                docs,
                notices,
                shutdown,
                next_connection: AtomicU64::new(1),
                metrics: Metrics::default(),
                feed: watch::channel(0).0,
                connections: TaskTracker::new(),
                signer,
                connection_counts: Arc::default(),
            }),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Wakes everyone waiting for new emergency feed items.
    pub fn feed_changed(&self) {
        self.inner.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever the emergency feed may have gained items.
    pub fn feed_watch(&self) -> watch::Receiver<u64> {
        self.inner.feed.subscribe()
    }

    pub fn connections(&self) -> &TaskTracker {
        &self.inner.connections
    }

    pub fn connection_counts(&self) -> &Arc<ConnectionCounts> {
        &self.inner.connection_counts
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn signer(&self) -> &crate::signing::Signer {
        &self.inner.signer
    }

    pub fn docs(&self) -> &DocCache {
        &self.inner.docs
    }

    /// Tells every sync connection that a document gained committed changes.
    pub fn notify(&self, notice: DocNotice) {
        // No receivers just means no connection is open.
        let _ = self.inner.notices.send(notice);
    }

    pub fn notices(&self) -> broadcast::Receiver<DocNotice> {
        self.inner.notices.subscribe()
    }

    /// Becomes `true` when the server is shutting down.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.clone()
    }

    pub fn next_connection_id(&self) -> u64 {
        self.inner.next_connection.fetch_add(1, Ordering::Relaxed)
    }
}
