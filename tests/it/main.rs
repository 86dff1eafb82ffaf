//! Red Folder's integration tests: the real server, over HTTP and WebSocket.
//!
//! One test binary (modules below) so it links once. Each test builds its own
//! application on port 0 with a fresh SQLite file and the `--demo` data. The PostgreSQL
//! tests run when `REDFOLDER_TEST_POSTGRES` holds a server URL.

mod access;
mod accounts;
mod adversarial;
mod audit;
mod client;
mod clinics;
mod cluster;
mod compaction;
mod crash;
mod device;
mod discharge;
mod emergency;
mod feed;
mod fhir;
mod helpers;
mod hostile;
mod http;
mod kill_loop;
mod memory_cap;
mod ops;
mod paper_copy;
mod plan_complete;
mod postgres;
mod process;
mod raw;
mod referrals;
mod rules;
mod scheme;
mod stale_access;
mod sync;
mod sync_load;
