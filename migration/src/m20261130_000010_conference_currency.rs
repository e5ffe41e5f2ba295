//! Conferences get a currency for their ticket price (ISO 4217; existing ones are in euros)
//! and an optional state or region, for places that have none to give.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Conference::Table)
                    .add_column(
                        ColumnDef::new(Conference::Currency)
                            .string_len(3)
                            .not_null()
                            .default("EUR"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Conference::Table)
                    .add_column(ColumnDef::new(Conference::Region).string_len(100).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Conference::Region, Conference::Currency] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Conference::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Conference {
    Table,
    Currency,
    Region,
}
