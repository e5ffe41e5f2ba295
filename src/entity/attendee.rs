//! A person registered for one conference.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attendee")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conference_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub job_position: String,
    pub company: String,
    pub city: String,
    pub state: String,
    pub interests: Option<String>,
    pub comments: Option<String>,
    pub submitted_at: DateTimeUtc,
    pub legacy_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
