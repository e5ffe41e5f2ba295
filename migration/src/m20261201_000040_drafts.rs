//! Notifications get an optional display name, and unsent notifications are kept as drafts.
//!
//! - `notification.name`: what lists and headings show. New notifications always have one
//!   (given, or the subject rendered for the sample attendee); older rows have none, and the
//!   API falls back to their subject.
//! - `notification_draft`: a subject and message being written, saved as the admin types, so
//!   it survives a reload and can be continued on another device. One owner (the token's
//!   identity) per draft; listed per conference, most recently edited first.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notification::Table)
                    .add_column(ColumnDef::new(Notification::Name).string_len(200).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationDraft::Table)
                    .col(uuid(NotificationDraft::Id).primary_key())
                    .col(uuid(NotificationDraft::ConferenceId))
                    .col(string_len(NotificationDraft::Owner, 100))
                    .col(string_len(NotificationDraft::Name, 200))
                    .col(text(NotificationDraft::Subject))
                    .col(text(NotificationDraft::Message))
                    .col(timestamp_with_time_zone(NotificationDraft::CreatedAt))
                    .col(timestamp_with_time_zone(NotificationDraft::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotificationDraft::Table, NotificationDraft::ConferenceId)
                            .to(Conference::Table, Conference::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notification_draft_owner_conference")
                    .table(NotificationDraft::Table)
                    .col(NotificationDraft::Owner)
                    .col(NotificationDraft::ConferenceId)
                    .col(NotificationDraft::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationDraft::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Notification::Table)
                    .drop_column(Notification::Name)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    Name,
}

#[derive(DeriveIden)]
enum NotificationDraft {
    Table,
    Id,
    ConferenceId,
    Owner,
    Name,
    Subject,
    Message,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conference {
    Table,
    Id,
}
