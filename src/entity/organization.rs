//! An organization: a tenant of the installation. It owns conferences, and through them
//! attendees, notifications and deliveries; its tokens see nothing else.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// Messages per second across all its notifications and all workers; `None`: unlimited.
    pub rate_per_second: Option<i32>,
    /// The send-rate limiter's "theoretical arrival time", in microseconds since the epoch.
    pub rate_tat: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
