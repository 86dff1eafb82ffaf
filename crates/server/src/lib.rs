//! Red Folder's server: the HTTP API, the sync WebSocket and storage.
//!
//! The server is a library so that tests can build the real application; `main.rs` only
//! calls [`cli::main`]. [`startup::Application`] wires the parts together around the
//! [`state::AppState`] they share:
//! [`store::Store`] (all SQL), [`routes`] (HTTP handlers), [`sync`] (one task per
//! WebSocket driving a `redfolder_shared::Session` against a shared document cache),
//! [`access`] (who may reach and change which plan), [`audit`] (the hash-chained log),
//! [`cluster`] (commits announced between instances on PostgreSQL), [`admin`]
//! (account administration shared by the CLI and the API) and [`demo`] (demo data).

pub mod access;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod cluster;
pub(crate) mod commit;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod openapi;
pub(crate) mod plan_edit;
pub mod routes;
pub mod scheme;
pub mod signing;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use config::Config;
pub use startup::{Application, router};
pub use state::AppState;
