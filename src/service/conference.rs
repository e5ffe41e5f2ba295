//! Conferences: create, edit, close and reopen, read, list; always within a [`Scope`].
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::domain::{ConferenceDetails, NewConference};
use crate::entity::conference;
use crate::error::ApiResult;
use crate::tenancy::Scope;

/// Creates a conference of the default organization, priced in euros, without a region.
pub async fn create(db: &impl ConnectionTrait, new: NewConference) -> ApiResult<conference::Model> {
    create_in(
        db,
        crate::tenancy::default_organization(),
        new,
        ConferenceDetails::default(),
    )
    .await
}

/// Creates a conference in the scope's organization.
pub async fn create_with_details(
    db: &impl ConnectionTrait,
    scope: &Scope,
    new: NewConference,
    details: ConferenceDetails,
) -> ApiResult<conference::Model> {
    create_in(db, scope.organization_for_create()?, new, details).await
}

/// Creates a conference owned by `organization_id`.
pub async fn create_in(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    new: NewConference,
    details: ConferenceDetails,
) -> ApiResult<conference::Model> {
    let row = conference::Model {
        organization_id,
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
        organization_id: Set(row.organization_id),
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
    scope: &Scope,
    id: Uuid,
    new: NewConference,
    details: ConferenceDetails,
) -> ApiResult<conference::Model> {
    let current = scope.conference(db, id).await?;
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
    scope: &Scope,
    id: Uuid,
    active: bool,
) -> ApiResult<conference::Model> {
    let row = conference::Model {
        active,
        ..scope.conference(db, id).await?
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

pub async fn get(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Uuid,
) -> ApiResult<conference::Model> {
    scope.conference(db, id).await
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<conference::Model>> {
    Ok(page::fetch(db, scope.conferences(), conference::Column::Id, request).await?)
}
