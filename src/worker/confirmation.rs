//! The registration confirmation: one email with the conference as an iCalendar event.
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::{JobContext, JobError, JobOutcome};
use crate::entity::{attendee, conference};
use crate::mail::{confirmation_email, mask_address};

pub async fn run(context: &JobContext, attendee_id: Uuid) -> Result<JobOutcome, JobError> {
    let Some(attendee) = attendee::Entity::find_by_id(attendee_id)
        .one(&context.db)
        .await?
    else {
        tracing::warn!(%attendee_id, "confirmation: the attendee no longer exists");
        return Ok(JobOutcome::Done);
    };
    let conference = conference::Entity::find_by_id(attendee.conference_id)
        .one(&context.db)
        .await?
        .ok_or_else(|| JobError::Permanent("the attendee's conference is gone".into()))?;
    let email = confirmation_email(&context.sender, &attendee, &conference)
        .map_err(|e| JobError::Permanent(e.message))?;
    let to = mask_address(&attendee.email);
    match context.mailer.send(&email).await {
        Ok(()) => {
            tracing::info!(%attendee_id, %to, "confirmation sent");
            Ok(JobOutcome::Done)
        }
        Err(err) if err.transient => Err(JobError::Transient(err.message)),
        Err(err) => Err(JobError::Permanent(format!("{to}: {}", err.message))),
    }
}
