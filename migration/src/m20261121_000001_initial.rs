//! The initial schema: conferences, attendees, notifications, deliveries, the job queue and API tokens.
//!
//! Ids are uuid v7 (time-ordered), except `delivery.id`, a 64-bit sequence: deliveries are
//! created set-based by the plan step (`INSERT ... SELECT`), and send jobs cover contiguous
//! id ranges of them. Every timestamp is UTC.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conference::Table)
                    .col(uuid(Conference::Id).primary_key())
                    .col(string_len(Conference::Name, 200))
                    .col(date(Conference::StartsOn))
                    .col(big_integer(Conference::PriceCents))
                    .col(string_len(Conference::Address, 300))
                    .col(boolean(Conference::Active))
                    .col(integer_null(Conference::LegacyId).unique_key())
                    .col(timestamp_with_time_zone(Conference::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Attendee::Table)
                    .col(uuid(Attendee::Id).primary_key())
                    .col(uuid(Attendee::ConferenceId))
                    .col(string_len(Attendee::FirstName, 100))
                    .col(string_len(Attendee::LastName, 100))
                    .col(string_len(Attendee::Email, 254))
                    .col(string_len(Attendee::JobPosition, 100))
                    .col(string_len(Attendee::Company, 100))
                    .col(string_len(Attendee::City, 100))
                    .col(string_len(Attendee::State, 100))
                    .col(text_null(Attendee::Interests))
                    .col(text_null(Attendee::Comments))
                    .col(timestamp_with_time_zone(Attendee::SubmittedAt))
                    .col(integer_null(Attendee::LegacyId).unique_key())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Attendee::Table, Attendee::ConferenceId)
                            .to(Conference::Table, Conference::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // An expression index: sea-query has no builder for it, and the SQL is the same on
        // both backends.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX attendee_conference_email_key \
                 ON attendee (conference_id, lower(email))",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notification::Table)
                    .col(uuid(Notification::Id).primary_key())
                    .col(uuid_null(Notification::ConferenceId))
                    .col(text(Notification::Subject))
                    .col(text(Notification::Message))
                    .col(string_len(Notification::Status, 32))
                    .col(integer(Notification::Total).default(0))
                    .col(integer(Notification::Sent).default(0))
                    .col(integer(Notification::Failed).default(0))
                    .col(integer(Notification::Cancelled).default(0))
                    .col(timestamp_with_time_zone(Notification::SubmittedAt))
                    .col(timestamp_with_time_zone_null(Notification::StartedAt))
                    .col(timestamp_with_time_zone_null(Notification::CompletedAt))
                    .col(timestamp_with_time_zone(Notification::UpdatedAt))
                    .col(string_len(Notification::CreatedBy, 100))
                    .col(string_len_null(Notification::IdempotencyKey, 200))
                    .col(integer_null(Notification::LegacyId).unique_key())
                    .col(text_null(Notification::LegacyStatus))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notification::Table, Notification::ConferenceId)
                            .to(Conference::Table, Conference::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notification_idempotency_key")
                    .table(Notification::Table)
                    .col(Notification::CreatedBy)
                    .col(Notification::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notification_conference_idx")
                    .table(Notification::Table)
                    .col(Notification::ConferenceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Delivery::Table)
                    .col(big_integer(Delivery::Id).auto_increment().primary_key())
                    .col(uuid(Delivery::NotificationId))
                    .col(uuid(Delivery::AttendeeId))
                    .col(string_len(Delivery::Email, 254))
                    .col(string_len(Delivery::Status, 16))
                    .col(integer(Delivery::Attempts).default(0))
                    .col(text_null(Delivery::LastError))
                    .col(string_len_null(Delivery::MessageId, 200))
                    .col(timestamp_with_time_zone_null(Delivery::SentAt))
                    .col(timestamp_with_time_zone_null(Delivery::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Delivery::LockedUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Delivery::Table, Delivery::NotificationId)
                            .to(Notification::Table, Notification::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Delivery::Table, Delivery::AttendeeId)
                            .to(Attendee::Table, Attendee::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("delivery_notification_attendee_key")
                    .table(Delivery::Table)
                    .col(Delivery::NotificationId)
                    .col(Delivery::AttendeeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("delivery_notification_status_idx")
                    .table(Delivery::Table)
                    .col(Delivery::NotificationId)
                    .col(Delivery::Status)
                    .col(Delivery::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Job::Table)
                    .col(uuid(Job::Id).primary_key())
                    .col(string_len(Job::Kind, 32))
                    .col(text(Job::Payload))
                    .col(string_len(Job::Status, 16))
                    .col(integer(Job::Priority).default(0))
                    .col(integer(Job::Attempts).default(0))
                    .col(integer(Job::MaxAttempts))
                    .col(timestamp_with_time_zone(Job::RunAt))
                    .col(timestamp_with_time_zone_null(Job::LockedUntil))
                    .col(string_len_null(Job::LockedBy, 100))
                    .col(text_null(Job::LastError))
                    .col(timestamp_with_time_zone(Job::CreatedAt))
                    .col(timestamp_with_time_zone_null(Job::PublishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("job_claim_idx")
                    .table(Job::Table)
                    .col(Job::Status)
                    .col(Job::RunAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(uuid(ApiToken::Id).primary_key())
                    .col(string_len(ApiToken::Name, 100))
                    .col(string_len(ApiToken::Role, 16))
                    .col(string_len(ApiToken::TokenHash, 64).unique_key())
                    .col(timestamp_with_time_zone(ApiToken::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiToken::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiToken::RevokedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiToken::Table.into_iden(),
            Job::Table.into_iden(),
            Delivery::Table.into_iden(),
            Notification::Table.into_iden(),
            Attendee::Table.into_iden(),
            Conference::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Conference {
    Table,
    Id,
    Name,
    StartsOn,
    PriceCents,
    Address,
    Active,
    LegacyId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Attendee {
    Table,
    Id,
    ConferenceId,
    FirstName,
    LastName,
    Email,
    JobPosition,
    Company,
    City,
    State,
    Interests,
    Comments,
    SubmittedAt,
    LegacyId,
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Id,
    ConferenceId,
    Subject,
    Message,
    Status,
    Total,
    Sent,
    Failed,
    Cancelled,
    SubmittedAt,
    StartedAt,
    CompletedAt,
    UpdatedAt,
    CreatedBy,
    IdempotencyKey,
    LegacyId,
    LegacyStatus,
}

#[derive(DeriveIden)]
enum Delivery {
    Table,
    Id,
    NotificationId,
    AttendeeId,
    Email,
    Status,
    Attempts,
    LastError,
    MessageId,
    SentAt,
    NextAttemptAt,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Job {
    Table,
    Id,
    Kind,
    Payload,
    Status,
    Priority,
    Attempts,
    MaxAttempts,
    RunAt,
    LockedUntil,
    LockedBy,
    LastError,
    CreatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    Name,
    Role,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}
