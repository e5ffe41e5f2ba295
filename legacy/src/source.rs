//! Where legacy rows come from: a plain-format pg_dump file (or standard input), or a live
//! legacy PostgreSQL database. Both give the same typed records, so one loader serves both.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DbBackend, IsolationLevel, QueryResult,
    Statement, TransactionTrait,
};

use crate::dump::{
    ColumnValues, LegacyDump, LegacyTable, TableSummary, read_legacy_dump, read_record,
};

/// Where the rows were read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Stdin,
    /// A live database; the URL with its password hidden.
    Database(String),
}

/// The legacy rows, read in full before anything is written, so a truncated or corrupt source
/// fails before the import transaction begins.
#[derive(Clone, Debug)]
pub struct LegacyData {
    pub origin: Origin,
    pub dump: LegacyDump,
}

impl LegacyData {
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::File(path) => path.display().to_string(),
            Origin::Stdin => "-".to_owned(),
            Origin::Database(url) => url.clone(),
        }
    }

    /// The dump line of a record, when there is a dump.
    pub fn line(&self, line_number: u64) -> Option<u64> {
        match self.origin {
            Origin::File(_) | Origin::Stdin => Some(line_number),
            Origin::Database(_) => None,
        }
    }
}

/// Reads a dump from any reader.
pub fn read_dump(input: impl BufRead, origin: Origin) -> anyhow::Result<LegacyData> {
    let dump = read_legacy_dump(input)?;
    Ok(LegacyData { origin, dump })
}

/// Reads a dump file, or standard input for `-`. Blocking: call it off the async runtime.
pub fn read_dump_file(path: &Path) -> anyhow::Result<LegacyData> {
    const BUFFER: usize = 256 * 1024;
    if path == Path::new("-") {
        return read_dump(
            BufReader::with_capacity(BUFFER, std::io::stdin().lock()),
            Origin::Stdin,
        )
        .context("reading the dump from standard input");
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_dump(
        BufReader::with_capacity(BUFFER, file),
        Origin::File(path.to_owned()),
    )
    .with_context(|| format!("reading {}", path.display()))
}

/// Reads the three legacy tables from the live database at `url`, in one read-only snapshot.
/// `shown_as` names it in messages and the report: the URL with its password hidden.
pub async fn read_database(url: &str, shown_as: String) -> anyhow::Result<LegacyData> {
    let redacted = shown_as;
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to the legacy database {redacted}"))?;
    anyhow::ensure!(
        db.get_database_backend() == DbBackend::Postgres,
        "--from must be a postgres:// URL of the legacy database"
    );
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    // Values are read as text and parsed like dump fields, so both sources share one set of
    // rules; these settings make PostgreSQL print them as pg_dump does.
    txn.execute_unprepared(
        "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; \
         SET LOCAL extra_float_digits = 3",
    )
    .await?;
    let mut dump = LegacyDump::default();
    let mut tables = Vec::new();
    for table in [
        LegacyTable::Conference,
        LegacyTable::Attendee,
        LegacyTable::Notification,
    ] {
        let columns: Vec<String> = table
            .columns()
            .iter()
            .map(|(column, _)| format!("\"{column}\"::text AS \"{column}\""))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY id",
            columns.join(", "),
            table.name()
        );
        let rows = txn
            .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .with_context(|| format!("reading table {} of the legacy database", table.name()))?;
        tables.push(TableSummary {
            schema: None,
            table: table.name().to_owned(),
            line_number: 0,
            rows: rows.len() as u64,
        });
        for row in &rows {
            dump.push(read_record(table, 0, &mut Row::new(table, row))?);
        }
    }
    dump.tables = tables;
    txn.rollback().await?;
    let _ = db.close().await;
    Ok(LegacyData {
        origin: Origin::Database(redacted),
        dump,
    })
}

/// One row of a legacy table, every column read as text, with errors that name the row.
struct Row<'a> {
    table: LegacyTable,
    row: &'a QueryResult,
}

impl<'a> Row<'a> {
    fn new(table: LegacyTable, row: &'a QueryResult) -> Self {
        Self { table, row }
    }

    fn context(&self, column: &str) -> String {
        let id = self.row.try_get::<String>("", "id").unwrap_or_default();
        format!("table {}, id {id}, column {column}", self.table.name())
    }
}

impl ColumnValues for Row<'_> {
    type Error = anyhow::Error;

    fn take(&mut self, column: &'static str) -> anyhow::Result<Option<String>> {
        self.row
            .try_get::<Option<String>>("", column)
            .with_context(|| self.context(column))
    }

    fn unexpected_null(&self, column: &'static str) -> anyhow::Error {
        anyhow::anyhow!("{}: unexpected NULL", self.context(column))
    }

    fn invalid(&self, column: &'static str, value: &str, reason: &'static str) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: invalid value {value:?}: {reason}",
            self.context(column)
        )
    }
}
