//! Red Folder's integration tests: the real server, over HTTP and WebSocket.
//!
//! One test binary (modules below) so it links once. Each test builds its own
//! application on port 0 with a fresh SQLite file and the `--demo` data. The PostgreSQL
//! tests run when `REDFOLDER_TEST_POSTGRES` holds a server URL.

mod client;
mod crash;
mod emergency;
mod helpers;
mod http;
mod postgres;
mod sync;
