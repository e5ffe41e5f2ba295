//! Attendees: registration (with its confirmation job). Listing and editing are in `roster`.
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, TryIntoModel};
use uuid::Uuid;

use crate::domain::NewAttendee;
use crate::entity::attendee;
use crate::error::{ApiError, ApiResult};
use crate::queue::{self, JobPayload};
use crate::tenancy::Scope;

/// Registers an attendee and enqueues their confirmation email, in one transaction.
/// Registration is public: any conference can be registered for, whoever asks.
pub async fn register(
    db: &DatabaseConnection,
    conference_id: Uuid,
    new: NewAttendee,
) -> ApiResult<attendee::Model> {
    let conference = Scope::Public.conference(db, conference_id).await?;
    if !conference.active {
        return Err(ApiError::validation(
            "conferenceId",
            format!("registration for {} is closed", conference.name),
        ));
    }
    let active = new_active(conference_id, new);
    let row = active.clone().try_into_model()?;
    let txn = crate::db::begin_write(db).await?;
    insert(&txn, active, || {
        format!(
            "{} is already registered for {}",
            row.email, conference.name
        )
    })
    .await?;
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

/// Inserts a new attendee's row; an email already registered for the conference is a
/// conflict that says `duplicate()`.
pub(super) async fn insert(
    db: &impl ConnectionTrait,
    active: attendee::ActiveModel,
    duplicate: impl FnOnce() -> String,
) -> ApiResult<()> {
    attendee::Entity::insert(active)
        .exec_without_returning(db)
        .await
        .map_err(|e| ApiError::conflict_on_unique(e, duplicate()))?;
    Ok(())
}

/// The row of a new attendee of `conference_id`, registered now.
pub fn new_active(conference_id: Uuid, new: NewAttendee) -> attendee::ActiveModel {
    let mut active = new.into_active_model();
    active.id = Set(Uuid::now_v7());
    active.conference_id = Set(conference_id);
    active.submitted_at = Set(Utc::now());
    active.legacy_id = Set(None);
    active
}
