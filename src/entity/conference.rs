//! A conference people register for.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conference")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub starts_on: Date,
    pub price_cents: i64,
    pub address: String,
    pub active: bool,
    pub legacy_id: Option<i32>,
    pub created_at: DateTimeUtc,
    /// ISO 4217 code of the ticket price, e.g. `EUR`.
    pub currency: String,
    /// State or region, where the address has one.
    pub region: Option<String>,
    /// The organization that owns it.
    pub organization_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
