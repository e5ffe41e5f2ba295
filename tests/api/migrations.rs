use sea_orm::ConnectionTrait;
use techconf::config::DatabaseUrl;

use crate::helpers::{Backend, new_database};

async fn migrations_apply_to_a_fresh_database(backend: Backend) {
    let database = new_database(backend).await;
    let db = techconf::db::connect(&DatabaseUrl::new(database.url()))
        .await
        .unwrap();
    let pending = techconf::db::pending_migrations(&db).await.unwrap();
    assert!(!pending.is_empty());

    let refused = techconf::db::ensure_migrated(&db, false).await.unwrap_err();
    assert!(
        refused.to_string().contains("pending migration"),
        "{refused}"
    );

    assert_eq!(techconf::db::migrate(&db).await.unwrap(), pending.len());
    assert!(
        techconf::db::pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    techconf::db::ensure_migrated(&db, false).await.unwrap();
    for table in [
        "conference",
        "attendee",
        "notification",
        "delivery",
        "job",
        "api_token",
    ] {
        db.execute_unprepared(&format!("SELECT COUNT(*) FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("table {table} exists: {e}"));
    }
    // Applying again is a no-op.
    assert_eq!(techconf::db::migrate(&db).await.unwrap(), 0);
}

#[tokio::test]
async fn migrations_apply_to_a_fresh_sqlite_database() {
    migrations_apply_to_a_fresh_database(Backend::Sqlite).await;
}

#[tokio::test]
async fn migrations_apply_to_a_fresh_postgres_database() {
    migrations_apply_to_a_fresh_database(Backend::Postgres).await;
}
