//! Logging: `tracing` to stderr, filtered by `RUST_LOG`.
//!
//! Nothing logged may identify a patient: no names, no NHS numbers, no request URIs (the
//! emergency route carries an NHS number in its path). Spans carry the matched route.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; does nothing if one is already installed. With
/// `REDFOLDER_LOG_FORMAT=json` every line is a JSON object (for log shippers).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let json = std::env::var("REDFOLDER_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}
