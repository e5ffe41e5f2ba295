//! Attendees: registration (with its confirmation job). Listing and editing are in `roster`.
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::domain::NewAttendee;
use crate::entity::attendee;
use crate::error::{ApiError, ApiResult};
use crate::queue::{self, JobPayload};

/// Registers an attendee and enqueues their confirmation email, in one transaction.
pub async fn register(
    db: &DatabaseConnection,
    conference_id: Uuid,
    new: NewAttendee,
) -> ApiResult<attendee::Model> {
    let conference = super::conference::get(db, conference_id).await?;
    if !conference.active {
        return Err(ApiError::validation(
            "conferenceId",
            format!("registration for {} is closed", conference.name),
        ));
    }
    let row = new_row(conference_id, new);
    let txn = crate::db::begin_write(db).await?;
    attendee::Entity::insert(active(&row))
        .exec_without_returning(&txn)
        .await
        .map_err(|e| {
            ApiError::conflict_on_unique(
                e,
                format!(
                    "{} is already registered for {}",
                    row.email, conference.name
                ),
            )
        })?;
    queue::enqueue(
        &txn,
        &JobPayload::Confirmation {
            attendee_id: row.id,
        },
        None,
    )
    .await?;
    let registered = crate::progress::attendee_registered(&txn, conference_id, row.id).await?;
    txn.commit().await?;
    registered.publish();
    Ok(row)
}

/// The row of a new attendee, registered now.
pub fn new_row(conference_id: Uuid, new: NewAttendee) -> attendee::Model {
    attendee::Model {
        id: Uuid::now_v7(),
        conference_id,
        first_name: new.first_name,
        last_name: new.last_name,
        email: new.email.into_inner(),
        job_position: new.job_position,
        company: new.company,
        city: new.city,
        state: new.state,
        interests: new.interests,
        comments: new.comments,
        submitted_at: Utc::now(),
        legacy_id: None,
    }
}

pub fn active(row: &attendee::Model) -> attendee::ActiveModel {
    attendee::ActiveModel {
        id: Set(row.id),
        conference_id: Set(row.conference_id),
        submitted_at: Set(row.submitted_at),
        legacy_id: Set(row.legacy_id),
        ..super::roster::changes(row)
    }
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<attendee::Model> {
    attendee::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("attendee", id))
}
