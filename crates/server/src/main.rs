//! The `redfolder` binary: see `redfolder serve --help`.

fn main() -> std::process::ExitCode {
    redfolder_server::cli::main()
}
