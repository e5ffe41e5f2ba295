//! `TestDatabase`: a fresh, throwaway database per test.
//!
//! * [`TestDatabase::postgres`] creates `techconf_test_<uuid>` on the server
//!   given by `TEST_POSTGRES_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`) and drops it again
//!   (`DROP DATABASE ... WITH (FORCE)`, PostgreSQL >= 13) when the value is
//!   dropped. Dropping works inside or outside a tokio runtime: the cleanup
//!   runs on a dedicated OS thread with its own single-threaded runtime.
//! * [`TestDatabase::sqlite`] points at `test.db` in a fresh temp directory
//!   (created on first connect thanks to `mode=rwc`), removed on drop.
//!
//! An unreachable PostgreSQL server is a panic naming the URL tried: tests
//! never silently skip.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use crate::tempdir::TempDir;

/// Environment variable with the PostgreSQL admin URL.
pub const TEST_POSTGRES_URL_ENV: &str = "TEST_POSTGRES_URL";
/// Admin URL used when [`TEST_POSTGRES_URL_ENV`] is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Prefix of the generated PostgreSQL database names.
pub const DATABASE_PREFIX: &str = "techconf_test_";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

enum Kind {
    Postgres { admin_url: String },
    Sqlite { _dir: TempDir },
}

/// A database that exists for the lifetime of this value.
pub struct TestDatabase {
    url: String,
    name: String,
    kind: Kind,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("backend", &self.backend())
            .field("name", &self.name)
            .field("url", &redact(&self.url))
            .finish()
    }
}

impl TestDatabase {
    /// Creates a new, empty PostgreSQL database `techconf_test_<uuid>`.
    ///
    /// Panics (with the admin URL, password redacted) if the server cannot
    /// be reached or the database cannot be created.
    pub async fn postgres() -> TestDatabase {
        let admin_url = postgres_admin_url();
        let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
        let mut url = url::Url::parse(&admin_url).unwrap_or_else(|e| {
            panic!(
                "TestDatabase: {TEST_POSTGRES_URL_ENV}={} is not a valid URL: {e}",
                redact(&admin_url)
            )
        });
        url.set_path(&format!("/{name}"));

        let admin = admin_connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "TestDatabase: cannot connect to PostgreSQL at {} ({e}). Start PostgreSQL or set \
                 {TEST_POSTGRES_URL_ENV}; tests never skip.",
                redact(&admin_url)
            )
        });
        if let Err(e) = admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
        {
            panic!(
                "TestDatabase: CREATE DATABASE {name} on {} failed: {e}",
                redact(&admin_url)
            );
        }
        let _ = admin.close().await;

        TestDatabase {
            url: url.into(),
            name,
            kind: Kind::Postgres { admin_url },
        }
    }

    /// A SQLite database file `test.db` in a fresh temp directory:
    /// `sqlite://<tmpdir>/test.db?mode=rwc`. The file is created on first
    /// connect; the directory is removed on drop.
    pub fn sqlite() -> TestDatabase {
        let dir = TempDir::new("sqlite")
            .unwrap_or_else(|e| panic!("TestDatabase: cannot create temp dir: {e}"));
        let path = dir.path().join("test.db");
        TestDatabase {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            name: path.display().to_string(),
            kind: Kind::Sqlite { _dir: dir },
        }
    }

    /// Connection URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// PostgreSQL database name, or the SQLite file path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `DbBackend::Postgres` or `DbBackend::Sqlite`.
    pub fn backend(&self) -> DbBackend {
        match self.kind {
            Kind::Postgres { .. } => DbBackend::Postgres,
            Kind::Sqlite { .. } => DbBackend::Sqlite,
        }
    }

    /// Opens a sea-orm connection to the test database. Panics on failure.
    ///
    /// Close or drop the connection before the `TestDatabase` if you can; for
    /// PostgreSQL the drop uses `WITH (FORCE)`, so lingering connections are
    /// terminated rather than blocking the cleanup.
    pub async fn connect(&self) -> DatabaseConnection {
        let mut options = ConnectOptions::new(self.url.clone());
        options.connect_timeout(CONNECT_TIMEOUT).sqlx_logging(false);
        Database::connect(options).await.unwrap_or_else(|e| {
            panic!("TestDatabase: cannot connect to {}: {e}", redact(&self.url))
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Kind::Postgres { admin_url } = &self.kind else {
            // SQLite: the TempDir field removes the directory.
            return;
        };
        if let Err(e) = drop_postgres_database(admin_url.clone(), self.name.clone()) {
            let msg = format!("TestDatabase: failed to drop database {}: {e}", self.name);
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// Admin URL from `TEST_POSTGRES_URL`, or the default.
pub fn postgres_admin_url() -> String {
    std::env::var(TEST_POSTGRES_URL_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether a database called `name` exists on the admin server
/// (`pg_database`). Useful to assert cleanup.
pub async fn postgres_database_exists(name: &str) -> bool {
    let admin_url = postgres_admin_url();
    let admin = admin_connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "TestDatabase: cannot connect to {}: {e}",
            redact(&admin_url)
        )
    });
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT COUNT(*)::BIGINT AS n FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .unwrap_or_else(|e| panic!("TestDatabase: querying pg_database failed: {e}"));
    let _ = admin.close().await;
    let n: i64 = row.and_then(|r| r.try_get("", "n").ok()).unwrap_or(0);
    n > 0
}

async fn admin_connect(admin_url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false);
    Database::connect(options).await
}

/// Drops the database from a fresh OS thread with its own runtime, so it
/// works whether or not the caller is inside a tokio runtime (blocking in
/// place would panic inside a runtime, and spawning onto the caller's runtime
/// could never be awaited from `Drop`).
fn drop_postgres_database(admin_url: String, name: String) -> Result<(), String> {
    std::thread::Builder::new()
        .name("testkit-drop-db".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot build runtime: {e}"))?;
            runtime.block_on(async {
                let admin = admin_connect(&admin_url)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", redact(&admin_url)))?;
                let result = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
                result.map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .map_err(|e| format!("cannot spawn cleanup thread: {e}"))?
        .join()
        .map_err(|_| "cleanup thread panicked".to_owned())?
}

/// Replaces the password of a URL with `***` for messages.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.into()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn sqlite_url_shape() {
        let db = TestDatabase::sqlite();
        assert!(db.url().starts_with("sqlite:///"));
        assert!(db.url().ends_with("/test.db?mode=rwc"));
        assert_eq!(db.backend(), DbBackend::Sqlite);
    }
}
