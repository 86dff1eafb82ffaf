//! The command line:
//!
//! ```text
//! redfolder serve [--bind ADDR] [--database URL] [--demo] [--web-dir DIR]
//! redfolder admin create-org|create-user|reset-password|disable-user|revoke-device|list-devices …
//! redfolder audit verify [--database URL] [--expect-head HASH]
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::admin::{self, AdminError, Operator};
use crate::config::Config;
use crate::startup::Application;
use crate::store::Store;

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
    /// Manage organisations, users and devices.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Args)]
struct DatabaseArg {
    /// sqlite://PATH (created if missing) or postgres://…
    #[arg(
        long = "database",
        env = "REDFOLDER_DATABASE_URL",
        default_value = "sqlite://data/redfolder.db"
    )]
    database_url: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "REDFOLDER_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    #[command(flatten)]
    database: DatabaseArg,
    /// Create demo organisations, users (password "demo") and patients; loopback only.
    #[arg(long)]
    demo: bool,
    /// Directory of the static web app.
    #[arg(long, env = "REDFOLDER_WEB_DIR", default_value = "target/web")]
    web_dir: PathBuf,
    /// Sync connections open at once from one remote address (default 256; raise it
    /// where many tablets share one address behind NAT).
    #[arg(long, env = "REDFOLDER_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,
    /// Sync connections open at once for one user, across their devices (default 16).
    #[arg(long, env = "REDFOLDER_MAX_CONNECTIONS_PER_USER")]
    max_connections_per_user: Option<usize>,
    /// Sync connections open at once for one device (default 4; past it the device's
    /// oldest connection is closed).
    #[arg(long, env = "REDFOLDER_MAX_CONNECTIONS_PER_DEVICE")]
    max_connections_per_device: Option<usize>,
    /// Seconds between an idle emergency feed reader's looks at its session (default 15):
    /// the longest a device revoked or user disabled with `redfolder admin` on SQLite
    /// keeps a feed stream or long-poll open.
    #[arg(long, env = "REDFOLDER_SESSION_RECHECK_SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    session_recheck_secs: Option<u64>,
    /// Seconds between a sync connection's ticks (default 5): each looks the connection's
    /// session up again and re-sends what a lossy link lost.
    #[arg(long, env = "REDFOLDER_SYNC_TICK_SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    sync_tick_secs: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an organisation.
    CreateOrg {
        #[command(flatten)]
        database: DatabaseArg,
        /// A unique code, e.g. the ODS code.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// gp_practice, community_health_service, social_care, voluntary_sector,
        /// out_of_hours_provider, ambulance_service, emergency_department or commissioner.
        #[arg(long)]
        kind: String,
    },
    /// Create a user; prints a generated password unless --password-stdin is given.
    CreateUser {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// The organisation's code (or id).
        #[arg(long = "org")]
        organisation: String,
        /// case_manager, mdt_member, gp_reviewer, emergency_clinician, commissioner, admin (their own
        /// organisation's accounts) or deployment_admin (every organisation's); repeat
        /// for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (printed if generated) and sign the user out everywhere.
    ResetPassword {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: no more sign-ins; their devices are told to erase their data.
    DisableUser {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long)]
        username: String,
    },
    /// Revoke a device: its tokens stop working; its next connection erases its data.
    RevokeDevice {
        #[command(flatten)]
        database: DatabaseArg,
        /// The device id (see list-devices).
        #[arg(long = "device")]
        device_id: String,
    },
    /// List a user's devices.
    ListDevices {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long)]
        username: String,
    },
    /// The Ed25519 key that signs emergency summaries.
    SigningKey {
        #[command(subcommand)]
        command: SigningKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SigningKeyCommand {
    /// Make a new key the active one (the old one stays published for checking older
    /// summaries); running servers sign with it from their next start.
    Rotate {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Print every public key (hex), the active one first.
    Show {
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 1 naming the first altered, removed or reordered entry.
    Verify {
        #[command(flatten)]
        database: DatabaseArg,
        /// Also require the chain's head to be this hash (recorded from an earlier run).
        #[arg(long)]
        expect_head: Option<String>,
    },
}

/// Parses the command line and runs it; the whole of the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => {
            let config = match config_from(&args) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            report(runtime.block_on(serve(config)))
        }
        Command::Admin(command) => runtime.block_on(run_admin(command)),
        Command::Audit(AuditCommand::Verify {
            database,
            expect_head,
        }) => runtime.block_on(verify(&database.database_url, expect_head.as_deref())),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_from(args: &ServeArgs) -> Result<Config, crate::config::ConfigError> {
    let mut config = Config::new(
        Config::resolve_bind(&args.bind)?,
        args.database.database_url.clone(),
    );
    config.demo = args.demo;
    config.web_dir = args.web_dir.clone();
    if let Some(n) = args.max_connections_per_address {
        config.max_connections_per_address = n;
    }
    if let Some(n) = args.max_connections_per_user {
        config.max_connections_per_user = n;
    }
    if let Some(n) = args.max_connections_per_device {
        config.max_connections_per_device = n;
    }
    if let Some(secs) = args.session_recheck_secs {
        config.session_recheck = std::time::Duration::from_secs(secs);
    }
    if let Some(secs) = args.sync_tick_secs {
        config.sync_tick = std::time::Duration::from_secs(secs);
    }
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
                "  {:<18} {} at {}",
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

async fn open_store(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

fn read_password(from_stdin: bool) -> anyhow::Result<Option<String>> {
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

async fn run_admin(command: AdminCommand) -> ExitCode {
    let result: Result<(), AdminError> = async {
        match command {
            AdminCommand::CreateOrg {
                database,
                code,
                name,
                kind,
            } => {
                let store = open_store(&database.database_url).await?;
                let org =
                    admin::create_organisation(&store, Operator::Cli, &code, &name, &kind).await?;
                println!(
                    "created organisation {} ({}) id {}",
                    org.code, org.kind, org.id
                );
            }
            AdminCommand::CreateUser {
                database,
                username,
                name,
                organisation,
                roles,
                password_stdin,
            } => {
                let password = read_password(password_stdin)?;
                let store = open_store(&database.database_url).await?;
                let (user, generated) = admin::create_user(
                    &store,
                    Operator::Cli,
                    &username,
                    &name,
                    &organisation,
                    &roles,
                    password,
                )
                .await?;
                println!(
                    "created user {} ({}) at {} id {}",
                    user.username,
                    user.role_names().join(", "),
                    user.organisation_name,
                    user.id
                );
                if let Some(password) = generated {
                    println!("password: {password}");
                }
            }
            AdminCommand::ResetPassword {
                database,
                username,
                password_stdin,
            } => {
                let password = read_password(password_stdin)?;
                let store = open_store(&database.database_url).await?;
                let generated =
                    admin::reset_password(&store, Operator::Cli, &username, password).await?;
                println!("reset the password of {username}; signed out everywhere");
                if let Some(password) = generated {
                    println!("password: {password}");
                }
            }
            AdminCommand::DisableUser { database, username } => {
                let store = open_store(&database.database_url).await?;
                admin::disable_user(&store, Operator::Cli, &username).await?;
                println!("disabled {username}; their devices will be told to erase their data");
            }
            AdminCommand::RevokeDevice {
                database,
                device_id,
            } => {
                let store = open_store(&database.database_url).await?;
                let device = admin::revoke_device(&store, Operator::Cli, &device_id).await?;
                println!(
                    "revoked device {} ({}); it will be told to erase its data",
                    device.id, device.label
                );
            }
            AdminCommand::SigningKey {
                command: SigningKeyCommand::Rotate { database },
            } => {
                let store = open_store(&database.database_url).await?;
                let key = admin::rotate_signing_key(&store, Operator::Cli).await?;
                println!(
                    "active signing key {} public {}",
                    key.key_id, key.public_hex
                );
            }
            AdminCommand::SigningKey {
                command: SigningKeyCommand::Show { database },
            } => {
                let store = open_store(&database.database_url).await?;
                let mut keys = store.signing_keys().await?;
                keys.sort_by_key(|k| k.retired_at_ms.is_some());
                for k in keys {
                    let state = if k.retired_at_ms.is_some() {
                        "retired"
                    } else {
                        "active"
                    };
                    println!("{}  {state:<7} {}", k.key_id, k.public_hex);
                }
            }
            AdminCommand::ListDevices { database, username } => {
                let store = open_store(&database.database_url).await?;
                for device in admin::devices(&store, Operator::Cli, &username).await? {
                    let status = if device.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}  {:<8} {}  last seen {}",
                        device.id, status, device.label, device.last_seen_at_ms
                    );
                }
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(AdminError::Internal(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn verify(url: &str, expect_head: Option<&str>) -> ExitCode {
    let result = async {
        let store = Store::connect(url).await?;
        store.verify_audit().await
    }
    .await;
    match result {
        Ok(Ok((entries, head))) => {
            if let Some(expected) = expect_head
                && expected != head
            {
                let e = crate::audit::ChainBreak::UnexpectedHead {
                    expected: expected.to_owned(),
                    actual: head,
                };
                println!("audit log BROKEN: {e}");
                return ExitCode::FAILURE;
            }
            println!("audit log intact: {entries} entries, head {head}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            println!("audit log BROKEN at entry {}: {e}", e.seq());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
