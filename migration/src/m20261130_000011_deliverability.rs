//! Deliverability: the suppression list, provider delivery events (bounces, complaints),
//! and the notification counters for suppressed and bounced deliveries.
//!
//! - `suppression`: one row per (address, scope); `scope` is the conference id as text, or
//!   `all` for every conference, so one unique index covers both (a nullable column in a
//!   unique index would let the global row repeat). `email` is stored lower-cased.
//! - `delivery_event`: every accepted webhook event, unique per (provider, event id), so a
//!   replayed event is recognised and changes nothing.
//! - `delivery.message_id` gets an index: webhook events find their delivery by it.
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
                    .table(Suppression::Table)
                    .col(uuid(Suppression::Id).primary_key())
                    .col(string_len(Suppression::Email, 254))
                    .col(uuid_null(Suppression::ConferenceId))
                    .col(string_len(Suppression::Scope, 36))
                    .col(string_len(Suppression::Reason, 32))
                    .col(timestamp_with_time_zone(Suppression::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Suppression::Table, Suppression::ConferenceId)
                            .to(Conference::Table, Conference::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("suppression_email_scope")
                    .table(Suppression::Table)
                    .col(Suppression::Email)
                    .col(Suppression::Scope)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("suppression_conference")
                    .table(Suppression::Table)
                    .col(Suppression::ConferenceId)
                    .col(Suppression::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeliveryEvent::Table)
                    .col(uuid(DeliveryEvent::Id).primary_key())
                    .col(string_len(DeliveryEvent::Provider, 32))
                    .col(string_len(DeliveryEvent::EventId, 200))
                    .col(string_len_null(DeliveryEvent::MessageId, 200))
                    .col(big_integer_null(DeliveryEvent::DeliveryId))
                    .col(string_len(DeliveryEvent::Kind, 32))
                    .col(text_null(DeliveryEvent::Detail))
                    .col(timestamp_with_time_zone(DeliveryEvent::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("delivery_event_provider_event")
                    .table(DeliveryEvent::Table)
                    .col(DeliveryEvent::Provider)
                    .col(DeliveryEvent::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("delivery_message_id")
                    .table(Delivery::Table)
                    .col(Delivery::MessageId)
                    .to_owned(),
            )
            .await?;

        // SQLite adds one column per ALTER TABLE.
        for column in [Notification::Suppressed, Notification::Bounced] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notification::Table)
                        .add_column(integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Notification::Suppressed, Notification::Bounced] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notification::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("delivery_message_id")
                    .table(Delivery::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(DeliveryEvent::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Suppression::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Suppression {
    Table,
    Id,
    Email,
    ConferenceId,
    Scope,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DeliveryEvent {
    Table,
    Id,
    Provider,
    EventId,
    MessageId,
    DeliveryId,
    Kind,
    Detail,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Conference {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Delivery {
    Table,
    MessageId,
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Suppressed,
    Bounced,
}
