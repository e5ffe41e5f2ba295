//! An address that must not receive notifications: for one conference or for all of them.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "suppression")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lower-cased.
    pub email: String,
    /// `None`: every conference.
    pub conference_id: Option<Uuid>,
    /// The conference id as text, or the organization id for all its conferences: what
    /// the unique index is on.
    pub scope: String,
    pub reason: String,
    pub created_at: DateTimeUtc,
    /// The organization whose mail it stops.
    pub organization_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
