//! Where legacy rows come from: a plain-format pg_dump file (or standard input), or a live
//! legacy PostgreSQL database. Both give the same typed records, so one loader serves both.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseTransaction, DbBackend,
    IsolationLevel, QueryResult, Statement, TransactionTrait,
};

use chrono::{DateTime, FixedOffset};

use crate::dump::{
    LegacyAttendee, LegacyConference, LegacyDump, LegacyNotification, LegacyTable, TableSummary,
    parse_legacy_bool, parse_legacy_date, parse_legacy_price, parse_legacy_timestamp,
    read_legacy_dump,
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
    for row in select(
        &txn,
        LegacyTable::Conference,
        "SELECT id, name, active::text AS active, date::text AS date, price::text AS price, \
         address FROM conference ORDER BY id",
    )
    .await?
    {
        dump.conferences.push(conference(&row)?);
    }
    for row in select(
        &txn,
        LegacyTable::Attendee,
        "SELECT id, first_name, last_name, conference_id, job_position, email, company, city, \
         state, interests, submitted_date::text AS submitted_date, comments \
         FROM attendee ORDER BY id",
    )
    .await?
    {
        dump.attendees.push(attendee(&row)?);
    }
    for row in select(
        &txn,
        LegacyTable::Notification,
        "SELECT id, status, message, submitted_date::text AS submitted_date, \
         completed_date::text AS completed_date, subject FROM notification ORDER BY id",
    )
    .await?
    {
        dump.notifications.push(notification(&row)?);
    }
    txn.rollback().await?;
    let _ = db.close().await;
    dump.tables = [
        (LegacyTable::Conference, dump.conferences.len()),
        (LegacyTable::Attendee, dump.attendees.len()),
        (LegacyTable::Notification, dump.notifications.len()),
    ]
    .into_iter()
    .map(|(table, rows)| TableSummary {
        schema: None,
        table: table.name().to_owned(),
        line_number: 0,
        rows: rows as u64,
    })
    .collect();
    Ok(LegacyData {
        origin: Origin::Database(redacted),
        dump,
    })
}

async fn select(
    txn: &DatabaseTransaction,
    table: LegacyTable,
    sql: &str,
) -> anyhow::Result<Vec<QueryResult>> {
    txn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .with_context(|| format!("reading table {} of the legacy database", table.name()))
}

/// One row of a legacy table, read column by column with errors that name the row.
struct Row<'a> {
    table: LegacyTable,
    row: &'a QueryResult,
    id: i32,
}

impl<'a> Row<'a> {
    fn new(table: LegacyTable, row: &'a QueryResult) -> anyhow::Result<Self> {
        let id = row
            .try_get::<i32>("", "id")
            .with_context(|| format!("reading column id of table {}", table.name()))?;
        Ok(Self { table, row, id })
    }

    fn context(&self, column: &str) -> String {
        format!(
            "table {}, id {}, column {column}",
            self.table.name(),
            self.id
        )
    }

    fn text(&self, column: &str) -> anyhow::Result<String> {
        self.row
            .try_get::<String>("", column)
            .with_context(|| self.context(column))
    }

    fn optional_text(&self, column: &str) -> anyhow::Result<Option<String>> {
        self.row
            .try_get::<Option<String>>("", column)
            .with_context(|| self.context(column))
    }

    fn integer(&self, column: &str) -> anyhow::Result<i32> {
        self.row
            .try_get::<i32>("", column)
            .with_context(|| self.context(column))
    }

    fn parsed<T, E: std::fmt::Display>(
        &self,
        column: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> anyhow::Result<T> {
        parse(value)
            .map_err(|e| anyhow::anyhow!("{}: invalid value {value:?}: {e}", self.context(column)))
    }

    fn timestamp(&self, column: &str) -> anyhow::Result<DateTime<FixedOffset>> {
        let value = self.text(column)?;
        self.parsed(column, &value, parse_legacy_timestamp)
    }

    fn optional_timestamp(&self, column: &str) -> anyhow::Result<Option<DateTime<FixedOffset>>> {
        self.optional_text(column)?
            .map(|value| self.parsed(column, &value, parse_legacy_timestamp))
            .transpose()
    }
}

fn conference(row: &QueryResult) -> anyhow::Result<LegacyConference> {
    let r = Row::new(LegacyTable::Conference, row)?;
    let active = r.text("active")?;
    let date = r.text("date")?;
    let price = r.text("price")?;
    Ok(LegacyConference {
        line_number: 0,
        id: r.id,
        name: r.text("name")?,
        active: r.parsed("active", &active, parse_legacy_bool)?,
        date: r.parsed("date", &date, parse_legacy_date)?,
        price: r.parsed("price", &price, parse_legacy_price)?,
        address: r.text("address")?,
    })
}

fn attendee(row: &QueryResult) -> anyhow::Result<LegacyAttendee> {
    let r = Row::new(LegacyTable::Attendee, row)?;
    Ok(LegacyAttendee {
        line_number: 0,
        id: r.id,
        first_name: r.text("first_name")?,
        last_name: r.text("last_name")?,
        conference_id: r.integer("conference_id")?,
        job_position: r.text("job_position")?,
        email: r.text("email")?,
        company: r.text("company")?,
        city: r.text("city")?,
        state: r.text("state")?,
        interests: r.optional_text("interests")?,
        submitted_date: r.timestamp("submitted_date")?,
        comments: r.optional_text("comments")?,
    })
}

fn notification(row: &QueryResult) -> anyhow::Result<LegacyNotification> {
    let r = Row::new(LegacyTable::Notification, row)?;
    Ok(LegacyNotification {
        line_number: 0,
        id: r.id,
        status: r.text("status")?,
        message: r.text("message")?,
        submitted_date: r.optional_timestamp("submitted_date")?,
        completed_date: r.optional_timestamp("completed_date")?,
        subject: r.text("subject")?,
    })
}
