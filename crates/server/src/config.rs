//! [`Config`]: everything the server needs to start, resolved and checked.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

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
            shutdown_grace: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            sync_tick: Duration::from_secs(5),
            compact_after_chunks: 50,
            doc_cache_capacity: 1000,
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
