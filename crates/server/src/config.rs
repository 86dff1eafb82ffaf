//! [`Config`]: everything the server needs to start, resolved and checked.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use redfolder_shared::sync_message::SyncLimits;

/// Settings for one server process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (read it back with `Application::port`).
    pub bind: SocketAddr,
    /// `sqlite://path` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// Create the demo organisations, users and patients (idempotent); loopback only.
    pub demo: bool,
    /// The static web app.
    pub web_dir: PathBuf,
    /// How long an access token lasts. Short: a device renews it with its refresh token.
    /// An open sync connection outlives it (revoking the device ends the connection).
    pub access_ttl: Duration,
    /// How long a refresh token lasts (each is used once and replaced).
    pub refresh_ttl: Duration,
    /// Limits on failed sign-ins.
    pub throttle: crate::auth::Throttle,
    /// The longest a feed long-poll (`wait=`) may hold a request.
    pub feed_max_wait: Duration,
    /// How often an emergency feed reader that is waiting (a long-poll or an idle stream)
    /// looks its session up again even when nothing said it changed. On PostgreSQL every
    /// instance hears of a sign-out or revocation at once (NOTIFY); on SQLite the
    /// `redfolder admin` command line is another process and cannot tell the server, so
    /// this is the longest a reader outlives a revocation made that way. (Sync connections
    /// look theirs up at every `sync_tick`.)
    pub session_recheck: Duration,
    /// How long shutdown waits for sync connections to finish what they are doing.
    pub shutdown_grace: Duration,
    /// The largest HTTP request body accepted.
    pub body_limit: usize,
    /// How often each sync connection re-checks its documents (see `Session::tick`).
    pub sync_tick: Duration,
    /// Compact a document's stored chunks into one snapshot when it has more than this.
    pub compact_after_chunks: u64,
    /// How many documents the shared cache keeps before evicting idle ones.
    pub doc_cache_capacity: usize,
    /// Bounds on every Automerge sync message a device sends, checked before Automerge
    /// sees it: bloom filters, counts, a change's size, and a document's changes waiting
    /// for their dependencies (see `redfolder_shared::sync_message`).
    pub sync_limits: SyncLimits,
    /// Sync connections open at once from one remote address (a ward's tablets may share
    /// one address behind NAT, so this is the loosest of the three).
    pub max_connections_per_address: usize,
    /// Sync connections open at once for one user, across their devices.
    pub max_connections_per_user: usize,
    /// Sync connections open at once for one device (a reconnect may overlap the old
    /// connection briefly, so more than one). Past it the device's oldest connection is
    /// closed, never the new one, so a device is never locked out by its own dead
    /// connections.
    pub max_connections_per_device: usize,
    /// Documents outside a connection's remembered access that it may have looked up per
    /// minute (named in `Subscribe`, `Fetch` or `Sync`): each costs a database lookup,
    /// and a refusal an audit entry, so past this the rest get one error between them
    /// instead of a lookup and an answer each.
    pub max_unknown_docs_per_minute: usize,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot resolve bind address {0:?}")]
    BadBind(String),
    #[error("--demo creates well-known passwords, so it only binds a loopback address, not {0}")]
    DemoNotLoopback(SocketAddr),
}

impl Config {
    /// The defaults, for a database URL and bind address.
    pub fn new(bind: SocketAddr, database_url: impl Into<String>) -> Config {
        Config {
            bind,
            database_url: database_url.into(),
            demo: false,
            web_dir: PathBuf::from("target/web"),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            throttle: crate::auth::Throttle::default(),
            feed_max_wait: Duration::from_secs(60),
            session_recheck: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            sync_tick: Duration::from_secs(5),
            compact_after_chunks: 50,
            doc_cache_capacity: 1000,
            sync_limits: SyncLimits {
                // A plan's change is a few KiB; a whole plan sent as one V2 message is
                // well under this.
                max_change_bytes: 4 << 20,
                ..SyncLimits::default()
            },
            max_connections_per_address: 256,
            max_connections_per_user: 16,
            max_connections_per_device: 4,
            max_unknown_docs_per_minute: 256,
        }
    }

    /// Resolves `host:port` (an IP address or a name such as `localhost`).
    pub fn resolve_bind(bind: &str) -> Result<SocketAddr, ConfigError> {
        bind.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| ConfigError::BadBind(bind.to_owned()))
    }

    /// Refuses combinations that are unsafe.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.demo && !self.bind.ip().is_loopback() {
            return Err(ConfigError::DemoNotLoopback(self.bind));
        }
        Ok(())
    }
}
