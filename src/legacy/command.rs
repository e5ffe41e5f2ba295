//! `techconf import-legacy`: the command line around the loader.
use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args, ValueEnum};

use super::import::{ImportError, ImportOptions, import};
use super::source::{self, LegacyData};
use crate::config::{DatabaseUrl, Settings};

/// Import a backup of the original TechConf: conferences, attendees and notifications.
#[derive(Clone, Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["file", "from"])))]
pub struct ImportArgs {
    /// A plain-format `pg_dump` file of the legacy database, or `-` to read standard input.
    pub file: Option<PathBuf>,
    /// Read straight from the live legacy database instead (a postgres:// URL).
    #[arg(long, value_name = "POSTGRES_URL")]
    pub from: Option<String>,
    /// Import nothing if any row has a problem (by default such rows are skipped and reported).
    #[arg(long)]
    pub strict: bool,
    /// Do everything but commit: print the report and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub report: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// Reads the source, imports it into `DATABASE_URL` and prints the report on standard output.
pub async fn run(args: ImportArgs, settings: &Settings) -> anyhow::Result<()> {
    let data = read(&args).await?;
    let db = crate::db::connect(&settings.database_url).await?;
    crate::db::ensure_migrated(&db, settings.database_url.is_sqlite()).await?;
    let options = ImportOptions {
        strict: args.strict,
        dry_run: args.dry_run,
    };
    let print = |report: &super::report::ImportReport| match args.report {
        ReportFormat::Text => print!("{report}"),
        ReportFormat::Json => println!("{}", report.to_json()),
    };
    match import(&db, &data, options).await {
        Ok(report) => {
            print(&report);
            Ok(())
        }
        Err(ImportError::Strict(report)) => {
            print(&report);
            Err(ImportError::Strict(report).into())
        }
        Err(err) => {
            Err(err).with_context(|| format!("importing {}; nothing was imported", data.describe()))
        }
    }
}

async fn read(args: &ImportArgs) -> anyhow::Result<LegacyData> {
    if let Some(url) = &args.from {
        anyhow::ensure!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "--from takes the URL of the legacy PostgreSQL database (postgres://...)"
        );
        return super::read_database(&DatabaseUrl::new(url.as_str()))
            .await
            .map_err(nothing_imported);
    }
    let path = args
        .file
        .clone()
        .context("give a dump file, `-` for standard input, or --from")?;
    tokio::task::spawn_blocking(move || source::read_dump_file(&path))
        .await
        .context("reading the dump")?
        .map_err(nothing_imported)
}

/// A source that cannot be read stops the import before anything is written; say so.
fn nothing_imported(err: anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!("{err:#}. Nothing was imported.")
}
