//! Connecting to the database (PostgreSQL or SQLite, chosen by `DATABASE_URL`) and migrating it.
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::DatabaseUrl;

/// Opens a connection pool. For SQLite, creates the file's folder and turns on WAL so the
/// API and the in-process worker can read while one of them writes.
pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<DatabaseConnection> {
    let sqlite_dir = sqlite_path(url.expose())
        .and_then(|p| std::path::Path::new(p).parent())
        .filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = sqlite_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database folder {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(if url.is_sqlite() { 8 } else { 20 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    // The driver's errors may quote the URL, password and all.
    let db = Database::connect(options).await.map_err(|e| {
        anyhow::anyhow!(
            "connecting to {}: {}",
            url.redacted(),
            url.scrub(&e.to_string())
        )
    })?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .await
            .context("configuring SQLite")?;
    }
    Ok(db)
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (path != ":memory:" && !path.is_empty()).then_some(path)
}

/// Names of migrations not yet applied.
/// Starts a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), waiting for it up to the busy timeout: a deferred transaction that reads
/// first and writes later cannot wait when another connection wrote in between, and fails
/// at once with "database is locked". PostgreSQL ignores the mode.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

pub async fn pending_migrations(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    Ok(Migrator::get_pending_migrations(db)
        .await
        .context("reading the migration status")?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

/// Applies every pending migration; returns how many were applied.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let pending = pending_migrations(db).await?.len();
    Migrator::up(db, None)
        .await
        .context("applying migrations")?;
    Ok(pending)
}

/// Refuses to go on when migrations are pending (unless `--migrate` applies them).
pub async fn ensure_migrated(db: &DatabaseConnection, migrate_now: bool) -> anyhow::Result<()> {
    if migrate_now {
        let applied = migrate(db).await?;
        if applied > 0 {
            tracing::info!(applied, "applied database migrations");
        }
        return Ok(());
    }
    let pending = pending_migrations(db).await?;
    anyhow::ensure!(
        pending.is_empty(),
        "the database has {} pending migration(s) ({}); run `techconf migrate` or start with `--migrate`",
        pending.len(),
        pending.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::Statement;

    use super::*;

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(
            sqlite_path("sqlite://./var/t.db?mode=rwc"),
            Some("./var/t.db")
        );
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    /// A write transaction that reads first must not fail because another connection wrote
    /// in between (SQLite's "database is locked" for deferred transactions): the second
    /// writer waits for the first instead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_transaction_that_reads_first_survives_a_concurrent_writer() {
        let database = testkit::TestDatabase::sqlite();
        let url = DatabaseUrl::new(database.url());
        let first = connect(&url).await.unwrap();
        let second = connect(&url).await.unwrap();
        first
            .execute_unprepared(
                "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);",
            )
            .await
            .unwrap();
        let sql = |s: &str| Statement::from_string(DbBackend::Sqlite, s.to_owned());

        let txn = begin_write(&first).await.unwrap();
        txn.query_one_raw(sql("SELECT n FROM counter"))
            .await
            .unwrap();
        let other = tokio::spawn(async move {
            second
                .execute_raw(sql("UPDATE counter SET n = n + 10"))
                .await
                .map(|_| ())
        });
        // Give the other writer every chance to commit first, as it would with deferred
        // transactions; here it can only wait for the lock.
        tokio::time::sleep(Duration::from_millis(200)).await;
        txn.execute_raw(sql("UPDATE counter SET n = n + 1"))
            .await
            .expect("the write after the read is not refused");
        txn.commit().await.unwrap();
        other
            .await
            .unwrap()
            .expect("the other writer waited its turn");
        let row = first
            .query_one_raw(sql("SELECT n FROM counter"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i32>("", "n").unwrap(), 11);
    }
}
