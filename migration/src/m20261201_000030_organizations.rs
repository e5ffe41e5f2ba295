//! Organizations: the tenants of an installation. Each conference belongs to one; everything
//! else (attendees, notifications, deliveries) belongs to it through its conference.
//!
//! - `organization`: name (unique), an optional send rate limit (messages per second) and the
//!   GCRA timestamp that every worker advances to keep it, like `notification.rate_tat`.
//! - The `default` organization (a fixed id) takes every existing conference, token and
//!   suppression. `conference.organization_id` and `suppression.organization_id` default to
//!   it, so rows written by older code land there too.
//! - `api_token.organization_id`: the token's organization; NULL for `operator` tokens, which
//!   act for the whole installation.
//! - `suppression`: an "all conferences" entry now covers the organization's conferences; its
//!   `scope` is the organization id instead of `all`.
//! - `job.notification_id`: what the fair claim groups send jobs by (NULL for other jobs, and
//!   for jobs queued before this migration).
//! - `delivery (lower(email))`: the support lookup of deliveries by address.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The id of the organization that existing data moves into.
pub const DEFAULT_ORGANIZATION: &str = "00000000-0000-7000-8000-000000000001";
/// The same id as an SQLite blob literal (SQLite stores uuids as 16 bytes).
const DEFAULT_ORGANIZATION_BLOB: &str = "x'00000000000070008000000000000001'";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organization::Table)
                    .col(uuid(Organization::Id).primary_key())
                    .col(string_len(Organization::Name, 100))
                    .col(integer_null(Organization::RatePerSecond))
                    .col(big_integer_null(Organization::RateTat))
                    .col(timestamp_with_time_zone(Organization::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("organization_name")
                    .table(Organization::Table)
                    .col(Organization::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let postgres =
            manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres;
        let default_id = if postgres {
            format!("'{DEFAULT_ORGANIZATION}'::uuid")
        } else {
            DEFAULT_ORGANIZATION_BLOB.to_owned()
        };
        let default_uuid =
            sea_orm_migration::sea_orm::prelude::Uuid::parse_str(DEFAULT_ORGANIZATION)
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        db.execute_raw(sea_orm_migration::sea_orm::Statement::from_sql_and_values(
            manager.get_database_backend(),
            "INSERT INTO organization (id, name, created_at) VALUES ($1, 'default', $2)",
            vec![
                default_uuid.into(),
                sea_orm_migration::sea_orm::prelude::ChronoUtc::now().into(),
            ],
        ))
        .await?;

        let (uuid_type, references) = if postgres {
            ("uuid", " REFERENCES organization (id)")
        } else {
            // SQLite refuses a REFERENCES column with a non-NULL default in ALTER TABLE.
            ("blob", "")
        };
        for table in ["conference", "suppression"] {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD COLUMN organization_id {uuid_type} NOT NULL \
                 DEFAULT {default_id}{references}"
            ))
            .await?;
        }
        db.execute_unprepared(&format!(
            "ALTER TABLE api_token ADD COLUMN organization_id {uuid_type} NULL{references}"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE api_token SET organization_id = {default_id}"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE suppression SET scope = '{DEFAULT_ORGANIZATION}' WHERE scope = 'all'"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "ALTER TABLE job ADD COLUMN notification_id {uuid_type} NULL"
        ))
        .await?;
        for statement in [
            "CREATE INDEX conference_organization ON conference (organization_id, id)",
            "CREATE INDEX job_notification ON job (notification_id)",
            "CREATE INDEX delivery_email_lower ON delivery (lower(email))",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "DROP INDEX delivery_email_lower",
            "DROP INDEX job_notification",
            "DROP INDEX conference_organization",
        ] {
            db.execute_unprepared(statement).await?;
        }
        db.execute_unprepared(&format!(
            "UPDATE suppression SET scope = 'all' WHERE conference_id IS NULL \
             AND scope = '{DEFAULT_ORGANIZATION}'"
        ))
        .await?;
        for (table, column) in [
            ("job", "notification_id"),
            ("api_token", "organization_id"),
            ("suppression", "organization_id"),
            ("conference", "organization_id"),
        ] {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN {column}"))
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Organization::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
    Name,
    RatePerSecond,
    RateTat,
    CreatedAt,
}
