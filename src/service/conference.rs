//! Conferences: create, read, list.
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::domain::NewConference;
use crate::entity::conference;
use crate::error::ApiResult;

pub async fn create(db: &impl ConnectionTrait, new: NewConference) -> ApiResult<conference::Model> {
    let row = conference::Model {
        id: Uuid::now_v7(),
        name: new.name,
        starts_on: new.starts_on,
        price_cents: new.price_cents,
        address: new.address,
        active: new.active,
        legacy_id: None,
        created_at: Utc::now(),
    };
    conference::Entity::insert(conference::ActiveModel {
        id: Set(row.id),
        name: Set(row.name.clone()),
        starts_on: Set(row.starts_on),
        price_cents: Set(row.price_cents),
        address: Set(row.address.clone()),
        active: Set(row.active),
        legacy_id: Set(None),
        created_at: Set(row.created_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(row)
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<conference::Model> {
    super::find_by_id::<conference::Entity>(db, id, "conference").await
}

pub async fn list(
    db: &impl ConnectionTrait,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<conference::Model>> {
    Ok(page::fetch(
        db,
        conference::Entity::find(),
        conference::Column::Id,
        request,
    )
    .await?)
}
