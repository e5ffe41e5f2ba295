//! Test support: a migrated TechConf database per test, the legacy fixtures, and the binary.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use techconf::config::DatabaseUrl;
use techconf::entity::{attendee, conference, notification};
use techconf::legacy::source::{self, LegacyData};
use techconf::legacy::{ImportError, ImportOptions, ImportReport, Origin};
use testkit::{TempDir, TestDatabase};

use crate::support::techconf;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated, empty TechConf database.
pub struct Target {
    pub db: DatabaseConnection,
    pub database: TestDatabase,
}

pub async fn target(backend: Backend) -> Target {
    let database = match backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres().await,
    };
    let db = techconf::db::connect(&DatabaseUrl::new(database.url()))
        .await
        .unwrap();
    techconf::db::migrate(&db).await.unwrap();
    Target { db, database }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/legacy")
        .join(name)
}

pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

pub fn read_fixture(name: &str) -> LegacyData {
    source::read_dump_file(&fixture(name)).unwrap()
}

/// A dump given as text (read as if from standard input).
pub fn read_text(text: &str) -> LegacyData {
    source::read_dump(text.as_bytes(), Origin::Stdin).unwrap()
}

/// `basic.sql` with extra attendee rows (tab-separated COPY lines) after the last one.
pub fn basic_with_attendees(rows: &[&str]) -> String {
    let text = fixture_text("basic.sql");
    let last = "11\tGrace\tHopper";
    let at = text.find(last).unwrap();
    let end = at + text[at..].find('\n').unwrap() + 1;
    let mut extra = String::new();
    for row in rows {
        extra.push_str(row);
        extra.push('\n');
    }
    format!("{}{extra}{}", &text[..end], &text[end..])
}

pub async fn import(target: &Target, data: &LegacyData) -> ImportReport {
    import_with(target, data, ImportOptions::default())
        .await
        .unwrap()
}

pub async fn import_with(
    target: &Target,
    data: &LegacyData,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    techconf::legacy::import(&target.db, data, options).await
}

impl Target {
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Rows in the conference, attendee, notification, job and delivery tables.
    pub async fn counts(&self) -> [i64; 5] {
        [
            self.count("conference").await,
            self.count("attendee").await,
            self.count("notification").await,
            self.count("job").await,
            self.count("delivery").await,
        ]
    }

    pub async fn conference(&self, legacy_id: i32) -> conference::Model {
        conference::Entity::find()
            .filter(conference::Column::LegacyId.eq(legacy_id))
            .one(&self.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("conference {legacy_id} was imported"))
    }

    pub async fn attendee(&self, legacy_id: i32) -> Option<attendee::Model> {
        attendee::Entity::find()
            .filter(attendee::Column::LegacyId.eq(legacy_id))
            .one(&self.db)
            .await
            .unwrap()
    }

    pub async fn notification(&self, legacy_id: i32) -> Option<notification::Model> {
        notification::Entity::find()
            .filter(notification::Column::LegacyId.eq(legacy_id))
            .one(&self.db)
            .await
            .unwrap()
    }
}

/// A fresh PostgreSQL database holding the legacy application's data, loaded with `psql` from
/// a dump, as a team still running the Flask application would have it.
pub async fn legacy_database(dump: &str) -> TestDatabase {
    let legacy = TestDatabase::postgres().await;
    // The fixtures come from a server with a `techconf` role; loading them as if dumped with
    // `--no-owner` keeps this test from creating roles on the shared server.
    let text: String = dump
        .lines()
        .filter(|line| !(line.starts_with("ALTER ") && line.contains(" OWNER TO ")))
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = TempDir::new("legacy-dump").unwrap();
    let path = dir.path().join("dump.sql");
    std::fs::write(&path, text).unwrap();
    psql_load(&path, legacy.url());
    legacy
}

pub fn psql_load(dump: &Path, url: &str) {
    let out = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(dump)
        .arg(url)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql could not load {}: {}",
        dump.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `techconf import-legacy ARGS`, with `stdin` on its standard input.
pub fn import_legacy(database_url: &str, args: &[&str], stdin: Option<&Path>) -> Output {
    let mut command = techconf(database_url);
    command.arg("import-legacy").args(args);
    if let Some(path) = stdin {
        command.stdin(std::fs::File::open(path).unwrap());
    }
    command.output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a scenario `async fn NAME(backend: Backend)` on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;
