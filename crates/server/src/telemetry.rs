//! Logging: `tracing` to stderr, filtered by `RUST_LOG`.
//!
//! Nothing logged may identify a patient: no names, no NHS numbers, no request URIs (the
//! emergency route carries an NHS number in its path). Spans carry the matched route.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; does nothing if one is already installed.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
