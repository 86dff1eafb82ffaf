//! The `redfolder` command line, linked into this package so that `cargo test` builds
//! it (Cargo only exposes `CARGO_BIN_EXE_*` for a package's own binaries). It is the
//! same entry point as `crates/server/src/main.rs`.

fn main() -> std::process::ExitCode {
    redfolder_server::cli::main()
}
