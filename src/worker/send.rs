//! The send step: claims the pending deliveries of a slice in batches, renders and sends
//! them concurrently, and records each batch's outcomes with the counter change in one
//! transaction (the claims and records are [`crate::store::delivery`]'s).
//!
//! Only `pending` rows are ever claimed, and a batch's outcomes are written only where the
//! row still carries this claim's lease, so a duplicated or redelivered job, or two workers
//! on one slice, never email a `sent` recipient again or count one twice. The one case
//! that can repeat an email is a worker dying after the SMTP server accepted a message and
//! before its batch was recorded. Every job slot of a worker holds at most one claimed,
//! unrecorded batch, so at most `JOB_SLOTS × WORKER_BATCH_SIZE` emails are sent again per
//! dead worker once their lease expires, with the same Message-IDs.
//!
//! A database outage is not a crash: a batch whose outcomes cannot be recorded is kept and
//! recorded when the database answers again, while its lease holds (see `record`).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::{JobContext, JobError, JobOutcome, backoff};
use crate::domain::{NotificationStatus, NotificationTemplate, RecipientFields, RenderError};
use crate::entity::{attendee, conference, notification, organization};
use crate::mail::{
    NotificationEmail, SendError, conference_context, mask_address, notification_email,
    recipient_context,
};
use crate::store::delivery::{Claimed, Outcome};
use crate::store::{delivery, job as jobs, notification as notifications};

/// What one run of a send job recorded, for its log line.
#[derive(Debug, Default)]
struct Tally {
    batches: u64,
    sent: u64,
    failed: u64,
    /// Whether it gave its slot up to a waiting job.
    yielded: bool,
}

/// What sending one delivery came to, before the retry policy is applied.
enum Sending {
    Sent { message_id: String },
    Failed { error: String },
    Retry { error: String },
}

pub async fn run(
    context: &JobContext,
    notification_id: Uuid,
    first: i64,
    last: i64,
) -> Result<JobOutcome, JobError> {
    let db = &context.db;
    let Some(notification) = notification::Entity::find_by_id(notification_id)
        .one(db)
        .await?
    else {
        return Ok(JobOutcome::Done);
    };
    let limits = &context.settings.templates;
    // A template that no longer passes the checks (saved before they existed) fails each
    // delivery with the reason, rather than the job or the process.
    let template =
        NotificationTemplate::compile(&notification.subject, &notification.message, limits)
            .map_err(|e| format!("template: {e}"));
    let conference_id = notification
        .conference_id
        .ok_or_else(|| JobError::Permanent("the notification has no conference".into()))?;
    let conference = conference::Entity::find_by_id(conference_id)
        .one(db)
        .await?
        .ok_or_else(|| JobError::Permanent("the conference is gone".into()))?;
    let conference_fields = conference_context(&conference);
    let organization_id = conference.organization_id;
    // The organization's own limit, if it has one, applies on top of the worker's.
    let organization_rate = organization::Entity::find_by_id(organization_id)
        .one(db)
        .await?
        .and_then(|o| o.rate_per_second)
        .and_then(|rate| u32::try_from(rate).ok())
        .filter(|rate| *rate > 0);
    let slice = (first, last);

    let mut tally = Tally::default();
    let outcome = loop {
        if context.stopping() {
            break JobOutcome::Interrupted;
        }
        // Pause and cancel take effect here, between batches.
        match notifications::status(db, notification_id).await? {
            Some(NotificationStatus::Sending) => {}
            Some(NotificationStatus::Pausing | NotificationStatus::Cancelling) => {
                // Stopping: move the notification on if nothing is in flight any more (a
                // dead worker's expired claims are released), else look again when the
                // claims still held in this slice expire.
                notifications::settle_or_finish(db, notification_id)
                    .await?
                    .publish();
                break match delivery::next_wakeup(db, notification_id, slice, false).await? {
                    Some(at) => JobOutcome::WaitUntil(at),
                    None => JobOutcome::Done,
                };
            }
            _ => break JobOutcome::Done,
        }
        let lease =
            Utc::now() + chrono::Duration::from_std(context.settings.lease).unwrap_or_default();
        let batch = delivery::claim_batch(
            db,
            notification_id,
            slice,
            context.settings.batch_size,
            lease,
        )
        .await?;
        if batch.is_empty() {
            if let Some(at) = delivery::next_wakeup(db, notification_id, slice, true).await? {
                break JobOutcome::WaitUntil(at);
            }
            notifications::settle_or_finish(db, notification_id)
                .await?
                .publish();
            break JobOutcome::Done;
        }
        let attendees = load_attendees(db, &batch).await?;
        let mut delay = match context.settings.rate_limit {
            Some(rate) => {
                notifications::reserve_rate(db, notification_id, batch.len(), rate).await?
            }
            None => Duration::ZERO,
        };
        if let Some(rate) = organization_rate {
            let wait =
                notifications::reserve_organization_rate(db, organization_id, batch.len(), rate)
                    .await?;
            crate::metrics::record_organization_rate_wait(wait);
            delay = delay.max(wait);
        }
        let start = Instant::now() + delay;
        // The slower of the two limits spaces the batch out.
        let spacing = [context.settings.rate_limit, organization_rate]
            .into_iter()
            .flatten()
            .min()
            .map(interval);

        let outcomes: Vec<(i64, Outcome)> = futures::stream::iter(batch.into_iter().enumerate())
            .map(|(index, delivery)| {
                let attendee = attendees.get(&delivery.attendee_id);
                let fields = attendee
                    .map(|a| recipient_context(a, &delivery.email, conference_fields.clone()));
                let name = attendee
                    .map(|a| format!("{} {}", a.first_name, a.last_name))
                    .unwrap_or_default();
                let template = &template;
                async move {
                    if let Some(spacing) = spacing {
                        tokio::time::sleep_until((start + spacing * index as u32).into()).await;
                    }
                    let sending = match fields {
                        None => Sending::Failed {
                            error: "the attendee no longer exists".into(),
                        },
                        Some(fields) => {
                            deliver(
                                context,
                                notification_id,
                                conference_id,
                                &delivery,
                                &name,
                                template,
                                &fields,
                            )
                            .await
                        }
                    };
                    (delivery.id, retry_policy(context, &delivery, sending))
                }
            })
            .buffer_unordered(context.settings.concurrency)
            .collect()
            .await;
        let recorded = record(context, notification_id, lease, outcomes).await?;
        recorded.signal.publish();
        tally.batches += 1;
        tally.sent += recorded.sent;
        tally.failed += recorded.failed;
        // Fair sending: give the slot up between batches when another send (or a plan job,
        // or a confirmation) is waiting for one; this slice goes back in the queue.
        if jobs::should_yield(db, notification_id).await? {
            tally.yielded = true;
            crate::metrics::record_send_yield();
            break JobOutcome::WaitUntil(Utc::now());
        }
    };
    tracing::info!(
        %notification_id,
        %organization_id,
        first,
        last,
        batches = tally.batches,
        sent = tally.sent,
        failed = tally.failed,
        yielded = tally.yielded,
        ?outcome,
        "send job ran"
    );
    Ok(outcome)
}

/// Records a batch's outcomes. A database outage is not a crash: the outcomes of emails the
/// SMTP server already accepted are kept, and recording is tried again (this job slot sends
/// nothing new meanwhile) until the database answers, for as long as the claim's lease
/// keeps other workers off these deliveries. Recording twice is harmless: a row is written
/// only while it still carries this lease, and the counters add what was written.
async fn record(
    context: &JobContext,
    notification_id: Uuid,
    lease: DateTime<Utc>,
    outcomes: Vec<(i64, Outcome)>,
) -> Result<delivery::Recorded, sea_orm::DbErr> {
    // Stop trying while the lease still holds with room to spare.
    let margin = (context.settings.lease / 10).max(Duration::from_millis(100));
    let give_up = lease - chrono::Duration::from_std(margin).unwrap_or_default();
    let mut wait = RECORD_RETRY_FIRST;
    loop {
        match delivery::record_outcomes(&context.db, notification_id, lease, outcomes.clone()).await
        {
            Ok(recorded) => return Ok(recorded),
            Err(err) => {
                let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                if next >= give_up {
                    return Err(err);
                }
                tracing::warn!(
                    %notification_id,
                    error = %err,
                    outcomes = outcomes.len(),
                    "cannot record sent emails; keeping them and trying again"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RECORD_RETRY_CAP);
            }
        }
    }
}

const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_CAP: Duration = Duration::from_secs(2);

/// Transient failures are retried with exponential backoff until `WORKER_MAX_ATTEMPTS`,
/// then final.
fn retry_policy(context: &JobContext, delivery: &Claimed, sending: Sending) -> Outcome {
    match sending {
        Sending::Sent { message_id } => Outcome::Sent { message_id },
        Sending::Failed { error } => Outcome::Failed { error },
        Sending::Retry { error } => {
            let attempts = delivery.attempts as u32 + 1;
            if attempts >= context.settings.max_attempts {
                return Outcome::Failed { error };
            }
            let settings = &context.settings;
            let wait = backoff::delay(settings.retry_base, settings.retry_cap, attempts);
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            Outcome::Retry { error, at }
        }
    }
}

/// The gap between two sends at `per_second` (the shared rate limit spaces a batch's sends).
fn interval(per_second: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)))
}

async fn deliver(
    context: &JobContext,
    notification_id: Uuid,
    conference_id: Uuid,
    delivery: &Claimed,
    name: &str,
    template: &Result<NotificationTemplate, String>,
    fields: &RecipientFields,
) -> Sending {
    let template = match template {
        Ok(template) => template,
        Err(error) => {
            return Sending::Failed {
                error: error.clone(),
            };
        }
    };
    let rendered = match template.render(fields).await {
        Ok(rendered) => rendered,
        // Busy rendering threads (previews, say) are no reason to give a recipient up.
        Err(RenderError::TimedOut(err)) => {
            return Sending::Retry {
                error: format!("template: {err}"),
            };
        }
        Err(RenderError::Refused(err)) => {
            return Sending::Failed {
                error: format!("template: {err}"),
            };
        }
    };
    let unsubscribe = context
        .unsubscribe
        .link(&delivery.email, conference_id, Utc::now());
    let email = match notification_email(
        &context.sender,
        NotificationEmail {
            notification: notification_id,
            attendee: delivery.attendee_id,
            to: &delivery.email,
            name,
            conference_name: &fields.conference.name,
            rendered: &rendered,
            unsubscribe: Some(&unsubscribe),
        },
    ) {
        Ok(email) => email,
        Err(err) => return Sending::Failed { error: err.message },
    };
    match context.mailer.send(&email).await {
        Ok(()) => Sending::Sent {
            message_id: email.message_id,
        },
        Err(SendError {
            transient: true,
            message,
        }) => Sending::Retry { error: message },
        Err(SendError { message, .. }) => {
            tracing::info!(to = %mask_address(&delivery.email), error = %message, "delivery failed permanently");
            Sending::Failed { error: message }
        }
    }
}

async fn load_attendees(
    db: &impl ConnectionTrait,
    batch: &[Claimed],
) -> Result<HashMap<Uuid, attendee::Model>, JobError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let ids: Vec<Uuid> = batch.iter().map(|c| c.attendee_id).collect();
    Ok(attendee::Entity::find()
        .filter(attendee::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect())
}
