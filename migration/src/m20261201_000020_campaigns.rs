//! Campaigns: a send time (`send_at`, planned by a plan job due then), the audience the plan
//! step selects (`audience`, JSON), and auto-pause (`auto_pause`, JSON; the sliding window of
//! recent outcomes `auto_pause_window`; why a notification paused itself, `paused_reason`).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new(Notification::SendAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Notification::Audience)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Notification::AutoPause)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Notification::AutoPauseWindow)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Notification::PausedReason)
                .text()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notification::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Notification::SendAt,
            Notification::Audience,
            Notification::AutoPause,
            Notification::AutoPauseWindow,
            Notification::PausedReason,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notification::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Notification {
    Table,
    SendAt,
    Audience,
    AutoPause,
    AutoPauseWindow,
    PausedReason,
}
