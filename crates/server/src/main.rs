//! The `redfolder` binary: see `redfolder serve --help`.

/// mimalloc rather than the system allocator: with thousands of idle sync connections
/// spread over tokio's worker threads, glibc's per-thread arenas kept most freed memory
/// (docs/benchmarks.md, S6), which mimalloc returns.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    redfolder_server::cli::main()
}
