//! Benchmark of `techconf import-legacy`: a synthetic legacy dump of 100,000 attendees imported
//! into a fresh PostgreSQL database and a fresh SQLite file, next to the raw reference, plain
//! `psql` loading the same dump into an empty database.
//!
//! ```sh
//! cargo run --release --example bench_import            # 100 conferences x 1,000 attendees
//! cargo run --release --example bench_import -- 10 100  # conferences, attendees per conference
//! ```
//!
//! Needs PostgreSQL (`TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and `psql` on the PATH. Results are recorded in docs/BENCHMARKS.md.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use techconf::config::DatabaseUrl;
use techconf::legacy::{ImportOptions, import, source};
use techconf_legacy::synthetic::write_synthetic_dump;
use testkit::{TempDir, TestDatabase};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let conferences = args.next().transpose()?.unwrap_or(100);
    let per_conference = args.next().transpose()?.unwrap_or(1_000);
    let attendees = f64::from(conferences) * f64::from(per_conference);

    let dir = TempDir::new("bench-import")?;
    let dump = dir.path().join("legacy.sql");
    write_synthetic_dump(std::fs::File::create(&dump)?, conferences, per_conference)?;
    let size = std::fs::metadata(&dump)?.len();
    println!(
        "dump: {conferences} conferences x {per_conference} attendees = {attendees} attendees, \
         {:.1} MiB",
        size as f64 / (1024.0 * 1024.0)
    );

    let legacy = TestDatabase::postgres().await;
    let started = Instant::now();
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&dump)
        .arg(legacy.url())
        .stdout(Stdio::null())
        .status()
        .context("running psql")?;
    anyhow::ensure!(status.success(), "psql could not load the dump");
    let psql = started.elapsed();
    line("psql into an empty legacy database", psql, attendees, None);

    let postgres = TestDatabase::postgres().await;
    let (first, again) = run(postgres.url(), &dump).await?;
    line("import-legacy, PostgreSQL", first, attendees, Some(psql));
    line("  again (all unchanged)", again, attendees, Some(psql));

    let sqlite = TestDatabase::sqlite();
    let (first, again) = run(sqlite.url(), &dump).await?;
    line("import-legacy, SQLite", first, attendees, Some(psql));
    line("  again (all unchanged)", again, attendees, Some(psql));
    Ok(())
}

/// Migrates a fresh database (not timed), then times reading + importing the dump, twice.
async fn run(url: &str, dump: &Path) -> anyhow::Result<(Duration, Duration)> {
    let db = techconf::db::connect(&DatabaseUrl::new(url)).await?;
    techconf::db::migrate(&db).await?;
    let mut times = [Duration::ZERO; 2];
    for time in &mut times {
        let started = Instant::now();
        let path = dump.to_owned();
        let data = tokio::task::spawn_blocking(move || source::read_dump_file(&path)).await??;
        let read = started.elapsed();
        let report = import(&db, &data, ImportOptions::default()).await?;
        *time = started.elapsed();
        anyhow::ensure!(report.committed && report.skipped.is_empty(), "{report}");
        println!(
            "    reading and parsing the dump {:.2} s, importing {:.2} s",
            read.as_secs_f64(),
            (*time - read).as_secs_f64()
        );
    }
    db.close().await?;
    Ok((times[0], times[1]))
}

fn line(what: &str, took: Duration, attendees: f64, reference: Option<Duration>) {
    let seconds = took.as_secs_f64();
    let ratio = reference
        .map(|r| format!("  {:.1}x psql", seconds / r.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{what:<40} {seconds:>7.2} s  {:>9.0} attendees/s{ratio}",
        attendees / seconds
    );
}
