//! The plan step: the store creates a notification's deliveries and splits the send work
//! into jobs over id ranges, all in one transaction ([`store::notification::plan`]).
use uuid::Uuid;

use super::{JobContext, JobError, JobOutcome};
use crate::store::{self, StoreError, notification::Planned};

pub async fn run(context: &JobContext, notification_id: Uuid) -> Result<JobOutcome, JobError> {
    let planned =
        store::notification::plan(&context.db, notification_id, context.settings.slice_size).await;
    match planned {
        Ok((Planned::Gone, _)) => {
            tracing::warn!(%notification_id, "plan: the notification no longer exists");
        }
        Ok((Planned::Skipped, _)) => {}
        Ok((Planned::Planned { total, status }, signal)) => {
            signal.publish();
            tracing::info!(%notification_id, total, %status, "planned");
        }
        Err(StoreError::Database(err)) => return Err(err.into()),
        Err(err) => return Err(JobError::Permanent(err.to_string())),
    }
    Ok(JobOutcome::Done)
}
