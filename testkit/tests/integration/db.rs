//! TestDatabase against the real PostgreSQL server and SQLite.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use testkit::TestDatabase;
use testkit::db::postgres_database_exists;

async fn roundtrip(db: &TestDatabase) {
    let conn = db.connect().await;
    conn.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .await
        .unwrap();
    conn.execute_unprepared("INSERT INTO t (id, name) VALUES (1, 'x')")
        .await
        .unwrap();
    let row = conn
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT name FROM t WHERE id = 1",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "name").unwrap(), "x");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn postgres_database_is_created_and_dropped() {
    let db = TestDatabase::postgres().await;
    let name = db.name().to_owned();
    assert!(name.starts_with("techconf_test_"));
    assert!(db.url().ends_with(&format!("/{name}")), "{}", db.url());
    assert_eq!(db.backend(), DbBackend::Postgres);
    assert!(postgres_database_exists(&name).await);
    roundtrip(&db).await;

    // A connection left open must not block the drop (WITH (FORCE)).
    let lingering = db.connect().await;
    lingering.execute_unprepared("SELECT 1").await.unwrap();
    drop(db);
    assert!(
        !postgres_database_exists(&name).await,
        "{name} still exists"
    );
}

#[tokio::test]
async fn postgres_databases_are_distinct() {
    let a = TestDatabase::postgres().await;
    let b = TestDatabase::postgres().await;
    assert_ne!(a.name(), b.name());
    roundtrip(&a).await;
    roundtrip(&b).await;
}

/// Dropped outside of any tokio runtime.
#[test]
fn postgres_drop_outside_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDatabase::postgres());
    let name = db.name().to_owned();
    drop(runtime);
    drop(db);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(!runtime.block_on(postgres_database_exists(&name)));
}

/// Dropped inside a multi-threaded runtime worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_drop_inside_multi_thread_runtime() {
    let db = TestDatabase::postgres().await;
    let name = db.name().to_owned();
    drop(db);
    assert!(!postgres_database_exists(&name).await);
}

#[tokio::test]
async fn sqlite_file_in_temp_dir() {
    let db = TestDatabase::sqlite();
    assert!(db.url().starts_with("sqlite://") && db.url().ends_with("/test.db?mode=rwc"));
    roundtrip(&db).await;
    let file = std::path::PathBuf::from(db.name());
    assert!(file.is_file());
    let dir = file.parent().unwrap().to_path_buf();
    drop(db);
    assert!(!dir.exists());
}
