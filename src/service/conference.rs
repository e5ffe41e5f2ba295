//! Conferences: create, edit, close and reopen, read, list.
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::domain::{ConferenceDetails, NewConference};
use crate::entity::conference;
use crate::error::ApiResult;

/// Creates a conference priced in euros, without a region.
pub async fn create(db: &impl ConnectionTrait, new: NewConference) -> ApiResult<conference::Model> {
    create_with_details(db, new, ConferenceDetails::default()).await
}

pub async fn create_with_details(
    db: &impl ConnectionTrait,
    new: NewConference,
    details: ConferenceDetails,
) -> ApiResult<conference::Model> {
    let row = conference::Model {
        id: Uuid::now_v7(),
        name: new.name,
        starts_on: new.starts_on,
        price_cents: new.price_cents,
        address: new.address,
        active: new.active,
        legacy_id: None,
        created_at: Utc::now(),
        currency: details.currency.into_inner(),
        region: details.region,
    };
    conference::Entity::insert(conference::ActiveModel {
        id: Set(row.id),
        legacy_id: Set(None),
        created_at: Set(row.created_at),
        ..editable(&row)
    })
    .exec_without_returning(db)
    .await?;
    Ok(row)
}

/// Every column an organizer may change.
fn editable(row: &conference::Model) -> conference::ActiveModel {
    conference::ActiveModel {
        name: Set(row.name.clone()),
        starts_on: Set(row.starts_on),
        price_cents: Set(row.price_cents),
        address: Set(row.address.clone()),
        active: Set(row.active),
        currency: Set(row.currency.clone()),
        region: Set(row.region.clone()),
        ..Default::default()
    }
}

/// Replaces a conference's details; whether registration is open stays as it is.
pub async fn update(
    db: &impl ConnectionTrait,
    id: Uuid,
    new: NewConference,
    details: ConferenceDetails,
) -> ApiResult<conference::Model> {
    let current = get(db, id).await?;
    let row = conference::Model {
        name: new.name,
        starts_on: new.starts_on,
        price_cents: new.price_cents,
        address: new.address,
        currency: details.currency.into_inner(),
        region: details.region,
        ..current
    };
    save(db, &row).await
}

/// Opens or closes registration.
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: Uuid,
    active: bool,
) -> ApiResult<conference::Model> {
    let row = conference::Model {
        active,
        ..get(db, id).await?
    };
    save(db, &row).await
}

async fn save(db: &impl ConnectionTrait, row: &conference::Model) -> ApiResult<conference::Model> {
    conference::Entity::update(conference::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(row.id),
        ..editable(row)
    })
    .exec(db)
    .await?;
    Ok(row.clone())
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
