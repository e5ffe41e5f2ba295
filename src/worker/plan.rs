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
        Ok((Planned::NotYet { send_at }, _)) => {
            // Rescheduled later: the job the reschedule enqueued plans it then.
            tracing::info!(%notification_id, %send_at, "plan: scheduled for later");
        }
        Ok((
            Planned::Planned {
                total,
                status,
                delay,
            },
            signal,
        )) => {
            signal.publish();
            if let Some(delay) = delay {
                crate::metrics::record_schedule_delay(delay);
            }
            let delay_ms = delay.map(|d| d.num_milliseconds());
            tracing::info!(%notification_id, total, %status, delay_ms, "planned");
        }
        Err(StoreError::Database(err)) => return Err(err.into()),
        Err(err) => return Err(JobError::Permanent(err.to_string())),
    }
    Ok(JobOutcome::Done)
}
