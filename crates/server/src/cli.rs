//! The command line: `redfolder serve [--bind ADDR] [--database URL] [--demo] [--web-dir DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "redfolder", version, about = "Red Folder care-plan server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API, the sync WebSocket and the web app.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "REDFOLDER_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// sqlite://PATH (created if missing) or postgres://…
    #[arg(
        long = "database",
        env = "REDFOLDER_DATABASE_URL",
        default_value = "sqlite://data/redfolder.db"
    )]
    database_url: String,
    /// Create demo organisations, users (password "demo") and patients; loopback only.
    #[arg(long)]
    demo: bool,
    /// Directory of the static web app.
    #[arg(long, env = "REDFOLDER_WEB_DIR", default_value = "web")]
    web_dir: PathBuf,
}

/// Parses the command line and runs it; the whole of the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let Command::Serve(args) = cli.command;
    let config = match config_from(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_from(args: &ServeArgs) -> Result<Config, crate::config::ConfigError> {
    let mut config = Config::new(Config::resolve_bind(&args.bind)?, args.database_url.clone());
    config.demo = args.demo;
    config.web_dir = args.web_dir.clone();
    config.validate()?;
    Ok(config)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    // The harness and the browser tests parse this exact line to find the port.
    println!("listening on http://{}", app.address());
    if let Some(demo) = app.demo() {
        println!("demo logins (password \"demo\"):");
        for login in &demo.logins {
            println!(
                "  {:<16} {} at {}",
                login.username,
                login.role.as_str(),
                login.organisation
            );
        }
        println!(
            "demo patients: {} ({} created now)",
            demo.patients_total, demo.patients_created
        );
    }
    app.run_until_stopped().await
}
