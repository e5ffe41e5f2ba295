//! TechConf schema migrations: versioned, append-only, identical on PostgreSQL and SQLite.
//!
//! A migration that has shipped is never edited; change the schema with a new one.
pub use sea_orm_migration::prelude::*;

mod m20261121_000001_initial;
mod m20261121_000003_send_rate;
mod m20261130_000010_conference_currency;
mod m20261130_000011_deliverability;
mod m20261201_000020_campaigns;
mod m20261201_000030_organizations;
mod m20261201_000040_drafts;

pub use m20261201_000030_organizations::DEFAULT_ORGANIZATION;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_initial::Migration),
            Box::new(m20261121_000003_send_rate::Migration),
            Box::new(m20261130_000010_conference_currency::Migration),
            Box::new(m20261130_000011_deliverability::Migration),
            Box::new(m20261201_000020_campaigns::Migration),
            Box::new(m20261201_000030_organizations::Migration),
            Box::new(m20261201_000040_drafts::Migration),
        ]
    }
}
