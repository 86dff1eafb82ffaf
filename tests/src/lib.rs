//! Integration tests for Red Folder live in `it/` (one test binary, `cargo test -p
//! redfolder-tests`). This library is empty; the package's binary wraps the server CLI.
