//! The `techconf` command line: serve, worker, relay, migrate, seed, org, token, schema.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{Application, ServeOptions, shutdown_signal};
use crate::config::Settings;
use crate::domain::Role;

#[derive(Parser)]
#[command(
    name = "techconf",
    version,
    about = "Conference registration and attendee notifications"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API, GraphiQL and the web client.
    Serve {
        /// Run the fan-out worker inside the server process.
        #[arg(long)]
        with_worker: bool,
        /// Apply pending migrations at start (the default on SQLite).
        #[arg(long, overrides_with = "no_migrate")]
        migrate: bool,
        /// Refuse to start on a database with pending migrations (the default on PostgreSQL).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run the fan-out worker (the same as the `techconf-worker` binary). With Service Bus
    /// configured it also runs an outbox relay, unless `SERVICEBUS_RELAY=off`.
    Worker,
    /// Run only the Service Bus outbox relay (needs SERVICEBUS_CONNECTION_STRING).
    Relay,
    /// Apply pending database migrations.
    Migrate {
        /// Only list pending migrations.
        #[arg(long)]
        status: bool,
    },
    /// Load the demo conference and attendees (idempotent).
    Seed {
        #[arg(long, default_value = "data/demo.json")]
        file: PathBuf,
    },
    /// Manage organizations (the tenants: each owns its conferences and tokens).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema {
        /// Write it to a file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Import a backup of the original TechConf (a plain pg_dump file, or --from its database).
    ImportLegacy(crate::legacy::ImportArgs),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization and print its id.
    Create {
        name: String,
        /// Send at most this many messages per second for it, across all workers.
        #[arg(long)]
        rate_per_second: Option<u32>,
    },
    /// Set (or with `--off`, remove) an organization's send rate limit.
    SetRate {
        name: String,
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        per_second: Option<u32>,
        #[arg(long)]
        off: bool,
    },
    /// List organizations: id, name, rate limit.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The organization it acts in (by name); required for admin and integrator tokens,
        /// refused for operator tokens, which act for every organization.
        #[arg(long)]
        org: Option<String>,
    },
    /// List tokens: name, role, organization, created, last used, revoked (never the token
    /// itself).
    List,
    /// Revoke every live token with this name; its open WebSockets close within
    /// WS_REVOCATION_CHECK_MS.
    Revoke { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Integrator,
    Operator,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Integrator => Role::Integrator,
            RoleArg::Operator => Role::Operator,
        }
    }
}

/// Parses the command line, runs the command, and turns errors into a message and exit code 1.
pub fn main() -> ExitCode {
    crate::config::load_env_file();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    if let Command::Schema { output } = &command {
        let sdl = crate::graphql::sdl();
        return match output {
            Some(path) => {
                std::fs::write(path, sdl).with_context(|| format!("writing {}", path.display()))
            }
            None => {
                print!("{sdl}");
                Ok(())
            }
        };
    }
    let settings = Settings::from_env()?;
    let _telemetry = crate::telemetry::init(settings.log_format);
    match command {
        Command::Serve {
            with_worker,
            migrate,
            no_migrate,
        } => serve(settings, with_worker, migrate, no_migrate).await,
        Command::Worker => run_worker(settings).await,
        Command::Relay => run_relay(settings).await,
        Command::Migrate { status } => {
            let db = crate::db::connect(&settings.database_url).await?;
            if status {
                let pending = crate::db::pending_migrations(&db).await?;
                println!("{} pending migration(s)", pending.len());
                for name in pending {
                    println!("  {name}");
                }
            } else {
                let applied = crate::db::migrate(&db).await?;
                println!("applied {applied} migration(s)");
            }
            Ok(())
        }
        Command::Seed { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let seed = crate::service::seed::parse(&text)
                .with_context(|| format!("in {}", file.display()))?;
            let db = crate::db::connect(&settings.database_url).await?;
            crate::db::ensure_migrated(&db, settings.database_url.is_sqlite()).await?;
            let report = crate::service::seed::load(&db, &seed).await?;
            println!(
                "seeded {}: {} conference(s) and {} attendee(s) added, {} attendee(s) already present",
                seed.conference.name,
                report.conferences_added,
                report.attendees_added,
                report.attendees_present
            );
            Ok(())
        }
        Command::Org { command } => {
            let db = crate::db::connect(&settings.database_url).await?;
            crate::db::ensure_migrated(&db, settings.database_url.is_sqlite()).await?;
            org_command(&db, command).await
        }
        Command::Token {
            command: TokenCommand::Create { name, role, org },
        } => {
            let db = crate::db::connect(&settings.database_url).await?;
            crate::db::ensure_migrated(&db, settings.database_url.is_sqlite()).await?;
            let organization = match org {
                Some(org) => Some(
                    crate::tenancy::find_organization(&db, &org)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e} (see `techconf org list`)"))?,
                ),
                None => None,
            };
            let (row, token) = crate::auth::create_token(
                &db,
                &name,
                role.into(),
                organization.as_ref().map(|o| o.id),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created {} token `{}` ({}){}; it is shown only once:",
                row.role,
                row.name,
                row.id,
                organization.map_or_else(
                    || " for the whole installation".to_owned(),
                    |o| format!(" in organization `{}`", o.name)
                ),
            );
            println!("{token}");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List,
        } => {
            let db = crate::db::connect(&settings.database_url).await?;
            crate::db::ensure_migrated(&db, settings.database_url.is_sqlite()).await?;
            let tokens = crate::auth::list_tokens(&db).await?;
            let organizations: std::collections::HashMap<_, _> =
                crate::tenancy::list_organizations(&db)
                    .await?
                    .into_iter()
                    .map(|o| (o.id, o.name))
                    .collect();
            println!("NAME\tROLE\tORGANIZATION\tCREATED\tLAST USED\tREVOKED");
            let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map_or("-".to_owned(), |at| at.format("%Y-%m-%d %H:%M").to_string())
            };
            for t in tokens {
                let organization = t.organization_id.map_or("(all)", |id| {
                    organizations.get(&id).map_or("?", String::as_str)
                });
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.name,
                    t.role,
                    organization,
                    when(Some(t.created_at)),
                    when(t.last_used_at),
                    when(t.revoked_at)
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { name },
        } => {
            let db = crate::db::connect(&settings.database_url).await?;
            crate::db::ensure_migrated(&db, settings.database_url.is_sqlite()).await?;
            let revoked = crate::auth::revoke_token(&db, &name).await?;
            if revoked == 0 {
                anyhow::bail!("no live token is named `{name}` (see `techconf token list`)");
            }
            println!("revoked {revoked} token(s) named `{name}`");
            Ok(())
        }
        Command::ImportLegacy(args) => crate::legacy::run(args, &settings).await,
        Command::Schema { .. } => unreachable_schema(),
    }
}

async fn org_command(db: &sea_orm::DatabaseConnection, command: OrgCommand) -> anyhow::Result<()> {
    let api = |e: crate::error::ApiError| anyhow::anyhow!("{e}");
    match command {
        OrgCommand::Create {
            name,
            rate_per_second,
        } => {
            let row = crate::tenancy::create_organization(db, &name, rate_per_second)
                .await
                .map_err(api)?;
            eprintln!("created organization `{}`", row.name);
            println!("{}", row.id);
        }
        OrgCommand::SetRate {
            name,
            per_second,
            off,
        } => {
            let rate = if off { None } else { per_second };
            let row = crate::tenancy::set_rate_limit(db, &name, rate)
                .await
                .map_err(api)?;
            match row.rate_per_second {
                Some(rate) => println!("`{}` sends at most {rate} messages a second", row.name),
                None => println!("`{}` has no send rate limit of its own", row.name),
            }
        }
        OrgCommand::List => {
            println!("ID\tNAME\tRATE/S");
            for o in crate::tenancy::list_organizations(db).await? {
                let rate = o.rate_per_second.map_or("-".to_owned(), |r| r.to_string());
                println!("{}\t{}\t{rate}", o.id, o.name);
            }
        }
    }
    Ok(())
}

fn unreachable_schema() -> anyhow::Result<()> {
    anyhow::bail!("the schema command is handled before settings are read")
}

/// Runs a worker until SIGINT or SIGTERM; refuses a database with pending migrations.
pub async fn run_worker(settings: Settings) -> anyhow::Result<()> {
    let db = crate::db::connect(&settings.database_url).await?;
    crate::db::ensure_migrated(&db, false)
        .await
        .context("the worker never migrates; run `techconf migrate` first")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = match &settings.servicebus {
        Some(servicebus) if servicebus.relay.enabled => Some(
            crate::queue::servicebus::spawn_relay(db.clone(), servicebus, stopped.clone())
                .context("SERVICEBUS_CONNECTION_STRING: cannot start the outbox relay")?,
        ),
        _ => None,
    };
    if let Some(address) = settings.metrics.worker_listen {
        let listener = crate::metrics::bind_private(address, "WORKER_METRICS_LISTEN").await?;
        let exposition = crate::metrics::Exposition::new(db.clone(), settings.servicebus.is_some());
        crate::metrics::serve_private(listener, exposition, stopped.clone());
    }
    let worker = crate::worker::Worker::new(db, &settings, stopped)?;
    let running = tokio::spawn(worker.run());
    shutdown_signal().await;
    let _ = stop.send(true);
    let worked = running.await.context("the worker task failed")?;
    if let Some(relay) = relay {
        relay.await.context("the outbox relay task failed")?;
    }
    worked
}

/// Runs only the outbox relay until SIGINT or SIGTERM (whatever `SERVICEBUS_RELAY` says).
async fn run_relay(settings: Settings) -> anyhow::Result<()> {
    let Some(servicebus) = &settings.servicebus else {
        anyhow::bail!(
            "SERVICEBUS_CONNECTION_STRING is not set: the relay publishes jobs to Service Bus \
             and has nothing to do with the database queue"
        );
    };
    let db = crate::db::connect(&settings.database_url).await?;
    crate::db::ensure_migrated(&db, false)
        .await
        .context("the relay never migrates; run `techconf migrate` first")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = crate::queue::servicebus::spawn_relay(db, servicebus, stopped)
        .context("SERVICEBUS_CONNECTION_STRING: cannot start the outbox relay")?;
    shutdown_signal().await;
    let _ = stop.send(true);
    relay.await.context("the outbox relay task failed")
}

async fn serve(
    settings: Settings,
    with_worker: bool,
    migrate: bool,
    no_migrate: bool,
) -> anyhow::Result<()> {
    let embedded = settings.database_url.is_sqlite();
    let options = ServeOptions {
        migrate: migrate || (embedded && !no_migrate),
        with_worker,
    };
    let app = Application::build(settings.clone(), options).await?;
    if embedded
        && settings.admin_token.is_none()
        && !crate::auth::admin_token_exists(app.db()).await?
    {
        let (_, token) = crate::auth::create_token(
            app.db(),
            "embedded-admin",
            Role::Admin,
            Some(crate::tenancy::default_organization()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("Created an admin token (shown only this once): {token}");
    }
    let addr = app.local_addr()?;
    println!("TechConf is listening on http://{addr}/");
    println!("  GraphiQL:   http://{addr}/graphql");
    println!("  Web client: http://{addr}/");
    tracing::info!(%addr, database = %settings.database_url.redacted(), with_worker, "serving");
    app.run_until(shutdown_signal()).await
}
