use sea_orm::{ConnectionTrait, EntityTrait};
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
        "organization",
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

const ORGANIZATIONS: &str = "m20261201_000030_organizations";

/// Rows written before organizations existed end up in the `default` organization: its
/// conferences, its tokens, and its "all conferences" suppressions (now scoped to it). Going
/// back down restores the old shape.
async fn existing_data_moves_into_the_default_organization(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{Statement, Value};
    let database = new_database(backend).await;
    let db = techconf::db::connect(&DatabaseUrl::new(database.url()))
        .await
        .unwrap();
    while techconf::db::pending_migrations(&db).await.unwrap()[0] != ORGANIZATIONS {
        Migrator::up(&db, Some(1)).await.unwrap();
    }
    let backend = db.get_database_backend();
    let run = |sql: &str, values: Vec<Value>| {
        let statement = Statement::from_sql_and_values(backend, sql, values);
        let db = db.clone();
        async move { db.execute_raw(statement).await.unwrap() }
    };
    let (conference, token, suppression) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    let now = chrono::Utc::now();
    run(
        "INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at) \
         VALUES ($1, 'Old', '2027-01-01', 0, 'x', true, $2)",
        vec![conference.into(), now.into()],
    )
    .await;
    run(
        "INSERT INTO api_token (id, name, role, token_hash, created_at) \
         VALUES ($1, 'old', 'admin', 'hash', $2)",
        vec![token.into(), now.into()],
    )
    .await;
    run(
        "INSERT INTO suppression (id, email, conference_id, scope, reason, created_at) \
         VALUES ($1, 'gone@example.org', NULL, 'all', 'bounced', $2)",
        vec![suppression.into(), now.into()],
    )
    .await;

    techconf::db::migrate(&db).await.unwrap();
    let default = techconf::tenancy::default_organization();
    let organization_of = |table: &'static str, id: uuid::Uuid| {
        let db = db.clone();
        async move {
            db.query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT organization_id FROM {table} WHERE id = $1"),
                vec![id.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<Option<uuid::Uuid>>("", "organization_id")
            .unwrap()
        }
    };
    assert_eq!(
        organization_of("conference", conference).await,
        Some(default)
    );
    assert_eq!(organization_of("api_token", token).await, Some(default));
    assert_eq!(
        organization_of("suppression", suppression).await,
        Some(default)
    );
    let row = techconf::entity::suppression::Entity::find_by_id(suppression)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.scope,
        default.to_string(),
        "all of the organization's conferences"
    );
    assert_eq!(
        techconf::tenancy::find_organization(&db, "default")
            .await
            .unwrap()
            .id,
        default
    );

    // Down again, past this migration: the old scope comes back.
    let applied = Migrator::get_applied_migrations(&db).await.unwrap();
    let from_it = applied.len()
        - applied
            .iter()
            .position(|m| m.name() == ORGANIZATIONS)
            .unwrap();
    Migrator::down(&db, Some(from_it as u32)).await.unwrap();
    let scope = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT scope FROM suppression WHERE id = $1",
            vec![suppression.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "scope")
        .unwrap();
    assert_eq!(scope, "all");
}

#[tokio::test]
async fn existing_sqlite_data_moves_into_the_default_organization() {
    existing_data_moves_into_the_default_organization(Backend::Sqlite).await;
}

#[tokio::test]
async fn existing_postgres_data_moves_into_the_default_organization() {
    existing_data_moves_into_the_default_organization(Backend::Postgres).await;
}
