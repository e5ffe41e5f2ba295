//! The send step: claims the pending deliveries of a slice in batches, renders and sends
//! them concurrently, and records each batch's outcomes with the counter change in one
//! transaction.
//!
//! Only `pending` rows are ever claimed, and a batch's outcomes are written only where the
//! row still carries this claim's lease, so a duplicated or redelivered job, or two workers
//! on one slice, never email a `sent` recipient again or count one twice. The one case
//! that can repeat an email is a worker dying after the SMTP server accepted a message and
//! before its batch was recorded. Every job slot of a worker holds at most one claimed,
//! unrecorded batch, so at most `JOB_SLOTS × WORKER_BATCH_SIZE` emails are sent again per
//! dead worker once their lease expires, with the same Message-IDs.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, Value};
use uuid::Uuid;

use super::{JobContext, JobError, JobOutcome, backoff, rate};
use crate::domain::{
    ConferenceFields, NotificationStatus, NotificationTemplate, RecipientFields, RenderError,
};
use crate::entity::{attendee, conference, notification};
use crate::mail::{SendError, mask_address, notification_email};
use crate::queue::{JobPayload, database::statement};

/// Send jobs covering deliveries `first..=last` in slices of `slice` ids.
pub fn send_slices(notification_id: Uuid, first: i64, last: i64, slice: usize) -> Vec<JobPayload> {
    let slice = slice.max(1) as i64;
    let mut jobs = Vec::new();
    let mut start = first;
    while start <= last {
        let end = (start + slice - 1).min(last);
        jobs.push(JobPayload::Send {
            notification_id,
            first_delivery: start,
            last_delivery: end,
        });
        start = end + 1;
    }
    jobs
}

#[derive(sea_orm::FromQueryResult)]
struct Claimed {
    id: i64,
    attendee_id: Uuid,
    email: String,
    attempts: i32,
}

/// What one run of a send job recorded, for its log line.
#[derive(Debug, Default)]
struct Tally {
    batches: u64,
    sent: u64,
    failed: u64,
}

enum Outcome {
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
    let conference_fields = ConferenceFields {
        name: conference.name.clone(),
        starts_on: conference.starts_on.to_string(),
        address: conference.address.clone(),
    };

    let mut tally = Tally::default();
    let outcome = loop {
        if context.stopping() {
            break JobOutcome::Interrupted;
        }
        // Pause and cancel take effect here, between batches.
        if current_status(db, notification_id).await? != Some(NotificationStatus::Sending) {
            break JobOutcome::Done;
        }
        let lease =
            Utc::now() + chrono::Duration::from_std(context.settings.lease).unwrap_or_default();
        let batch = claim(context, notification_id, first, last, lease).await?;
        if batch.is_empty() {
            if let Some(at) = next_retry(db, notification_id, first, last).await? {
                break JobOutcome::WaitUntil(at);
            }
            try_finish(db, notification_id).await?;
            break JobOutcome::Done;
        }
        let attendees = load_attendees(db, &batch).await?;
        let delay = match context.settings.rate_limit {
            Some(rate) => rate::reserve(db, notification_id, batch.len(), rate).await?,
            None => Duration::ZERO,
        };
        let start = Instant::now() + delay;
        let spacing = context.settings.rate_limit.map(rate::interval);

        let outcomes: Vec<(Claimed, Outcome)> =
            futures::stream::iter(batch.into_iter().enumerate())
                .map(|(index, delivery)| {
                    let attendee = attendees.get(&delivery.attendee_id);
                    let fields =
                        attendee.map(|a| recipient_fields(a, &delivery.email, &conference_fields));
                    let name = attendee
                        .map(|a| format!("{} {}", a.first_name, a.last_name))
                        .unwrap_or_default();
                    let template = &template;
                    async move {
                        if let Some(spacing) = spacing {
                            tokio::time::sleep_until((start + spacing * index as u32).into()).await;
                        }
                        let outcome = match fields {
                            None => Outcome::Failed {
                                error: "the attendee no longer exists".into(),
                            },
                            Some(fields) => {
                                deliver(
                                    context,
                                    notification_id,
                                    &delivery,
                                    &name,
                                    template,
                                    &fields,
                                )
                                .await
                            }
                        };
                        (delivery, outcome)
                    }
                })
                .buffer_unordered(context.settings.concurrency)
                .collect()
                .await;
        record(context, notification_id, lease, outcomes, &mut tally).await?;
    };
    tracing::info!(
        %notification_id,
        first,
        last,
        batches = tally.batches,
        sent = tally.sent,
        failed = tally.failed,
        ?outcome,
        "send job ran"
    );
    Ok(outcome)
}

async fn deliver(
    context: &JobContext,
    notification_id: Uuid,
    delivery: &Claimed,
    name: &str,
    template: &Result<NotificationTemplate, String>,
    fields: &RecipientFields,
) -> Outcome {
    let template = match template {
        Ok(template) => template,
        Err(error) => {
            return Outcome::Failed {
                error: error.clone(),
            };
        }
    };
    let rendered = match template.render(fields).await {
        Ok(rendered) => rendered,
        // Busy rendering threads (previews, say) are no reason to give a recipient up.
        Err(RenderError::TimedOut(err)) => {
            return Outcome::Retry {
                error: format!("template: {err}"),
            };
        }
        Err(RenderError::Refused(err)) => {
            return Outcome::Failed {
                error: format!("template: {err}"),
            };
        }
    };
    let email = match notification_email(
        &context.sender,
        notification_id,
        delivery.attendee_id,
        &delivery.email,
        name,
        &rendered,
    ) {
        Ok(email) => email,
        Err(err) => return Outcome::Failed { error: err.message },
    };
    match context.mailer.send(&email).await {
        Ok(()) => Outcome::Sent {
            message_id: email.message_id,
        },
        Err(SendError {
            transient: true,
            message,
        }) => Outcome::Retry { error: message },
        Err(SendError { message, .. }) => {
            tracing::info!(to = %mask_address(&delivery.email), error = %message, "delivery failed permanently");
            Outcome::Failed { error: message }
        }
    }
}

fn recipient_fields(
    attendee: &attendee::Model,
    email: &str,
    conference: &ConferenceFields,
) -> RecipientFields {
    RecipientFields {
        first_name: attendee.first_name.clone(),
        last_name: attendee.last_name.clone(),
        email: email.to_owned(),
        company: attendee.company.clone(),
        job_position: attendee.job_position.clone(),
        city: attendee.city.clone(),
        state: attendee.state.clone(),
        conference: conference.clone(),
    }
}

async fn current_status(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
) -> Result<Option<NotificationStatus>, JobError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT status FROM notification WHERE id = $1",
            vec![notification_id.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<String>("", "status")?.parse().ok(),
        None => None,
    })
}

/// Claims up to a batch of due pending deliveries (or ones whose claim expired) in the slice.
async fn claim(
    context: &JobContext,
    notification_id: Uuid,
    first: i64,
    last: i64,
    lease: DateTime<Utc>,
) -> Result<Vec<Claimed>, JobError> {
    let db = &context.db;
    let backend = db.get_database_backend();
    let skip_locked = if backend == sea_orm::DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE delivery SET status = 'sending', locked_until = $1 \
         WHERE id IN (SELECT id FROM delivery WHERE notification_id = $2 AND id BETWEEN $3 AND $4 \
             AND ((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $5)) \
               OR (status = 'sending' AND locked_until < $5)) \
             ORDER BY id LIMIT $6 {skip_locked}) \
         RETURNING id, attendee_id, email, attempts"
    );
    let mut claimed = Claimed::find_by_statement(statement(
        backend,
        &sql,
        vec![
            lease.into(),
            notification_id.into(),
            first.into(),
            last.into(),
            Utc::now().into(),
            (context.settings.batch_size as i64).into(),
        ],
    ))
    .all(db)
    .await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
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

/// When to look at the slice again, if anything in it is unfinished: the earliest retry
/// time of its pending deliveries, or the earliest lease expiry of deliveries another claim
/// holds (`sending`: a dead worker's batch, or another job on the same slice). Without the
/// latter, a job taken over from a dead worker could finish while that worker's last batch
/// is still leased, and nobody would ever send those deliveries.
async fn next_retry(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
    first: i64,
    last: i64,
) -> Result<Option<DateTime<Utc>>, JobError> {
    let backend = db.get_database_backend();
    let earliest = |column: &'static str, status: &'static str| {
        statement(
            backend,
            &format!(
                "SELECT {column} AS at FROM delivery WHERE notification_id = $1 \
                 AND id BETWEEN $2 AND $3 AND status = '{status}' ORDER BY {column} LIMIT 1"
            ),
            vec![notification_id.into(), first.into(), last.into()],
        )
    };
    let mut at: Option<DateTime<Utc>> = None;
    for (column, status) in [("next_attempt_at", "pending"), ("locked_until", "sending")] {
        if let Some(row) = db.query_one_raw(earliest(column, status)).await? {
            let when = row
                .try_get::<Option<DateTime<Utc>>>("", "at")?
                .unwrap_or_else(Utc::now);
            at = Some(at.map_or(when, |at| at.min(when)));
        }
    }
    Ok(at)
}

/// Writes a batch's outcomes and the counter change in one transaction. Each row is
/// updated only if it still carries this claim's lease.
async fn record(
    context: &JobContext,
    notification_id: Uuid,
    lease: DateTime<Utc>,
    outcomes: Vec<(Claimed, Outcome)>,
    tally: &mut Tally,
) -> Result<(), JobError> {
    let txn = crate::db::begin_write(&context.db).await?;
    let backend = txn.get_database_backend();
    let now = Utc::now();
    let mut sent_ids = Vec::new();
    let mut message_ids = Vec::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    for (delivery, outcome) in outcomes {
        match outcome {
            Outcome::Sent { message_id } => {
                sent_ids.push(delivery.id);
                message_ids.push(message_id);
            }
            Outcome::Failed { error } => {
                let result = txn
                    .execute_raw(statement(
                        backend,
                        "UPDATE delivery SET status = 'failed', attempts = attempts + 1, \
                             last_error = $1, locked_until = NULL \
                         WHERE id = $2 AND status = 'sending' AND locked_until = $3",
                        vec![error.into(), delivery.id.into(), lease.into()],
                    ))
                    .await?;
                failed += result.rows_affected();
            }
            Outcome::Retry { error } => {
                let attempts = delivery.attempts + 1;
                let give_up = attempts as u32 >= context.settings.max_attempts;
                let wait = backoff::delay(
                    context.settings.retry_base,
                    context.settings.retry_cap,
                    attempts as u32,
                );
                let next_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                let status = if give_up { "failed" } else { "pending" };
                let result = txn
                    .execute_raw(statement(
                        backend,
                        "UPDATE delivery SET status = $1, attempts = attempts + 1, last_error = $2, \
                             next_attempt_at = $3, locked_until = NULL \
                         WHERE id = $4 AND status = 'sending' AND locked_until = $5",
                        vec![
                            status.into(),
                            error.into(),
                            if give_up { Value::ChronoDateTimeUtc(None) } else { next_at.into() },
                            delivery.id.into(),
                            lease.into(),
                        ],
                    ))
                    .await?;
                if give_up {
                    failed += result.rows_affected();
                }
            }
        }
    }
    if !sent_ids.is_empty() {
        // One statement for the batch; the CASE stores each row's Message-ID.
        let mut values: Vec<Value> = vec![now.into(), lease.into()];
        let mut cases = String::new();
        let mut list = String::new();
        for (id, message_id) in sent_ids.iter().zip(message_ids) {
            values.push((*id).into());
            let id_param = values.len();
            values.push(message_id.into());
            cases.push_str(&format!(" WHEN ${id_param} THEN ${}", values.len()));
            if !list.is_empty() {
                list.push_str(", ");
            }
            list.push_str(&format!("${id_param}"));
        }
        let result = txn
            .execute_raw(statement(
                backend,
                &format!(
                    "UPDATE delivery SET status = 'sent', attempts = attempts + 1, sent_at = $1, \
                         locked_until = NULL, last_error = NULL, message_id = CASE id{cases} END \
                     WHERE id IN ({list}) AND status = 'sending' AND locked_until = $2"
                ),
                values,
            ))
            .await?;
        sent = result.rows_affected();
    }
    tally.batches += 1;
    tally.sent += sent;
    tally.failed += failed;
    txn.execute_raw(statement(
        backend,
        "UPDATE notification SET sent = sent + $1, failed = failed + $2, updated_at = $3 \
         WHERE id = $4",
        vec![
            (sent as i64).into(),
            (failed as i64).into(),
            now.into(),
            notification_id.into(),
        ],
    ))
    .await?;
    let changed = crate::progress::notification_changed(&txn, notification_id).await?;
    txn.commit().await?;
    changed.publish();
    Ok(())
}

/// Marks the notification finished when nothing is pending or in flight any more.
pub async fn try_finish(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    let now = Utc::now();
    let result = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE notification SET \
                 status = CASE WHEN failed > 0 THEN 'COMPLETED_WITH_ERRORS' ELSE 'COMPLETED' END, \
                 completed_at = $1, updated_at = $1 \
             WHERE id = $2 AND status = 'SENDING' AND NOT EXISTS (SELECT 1 FROM delivery \
                 WHERE notification_id = $2 AND status IN ('pending', 'sending'))",
            vec![now.into(), notification_id.into()],
        ))
        .await?;
    if result.rows_affected() == 1 {
        crate::progress::notification_changed(db, notification_id)
            .await?
            .publish();
        tracing::info!(%notification_id, "notification completed");
    }
    Ok(result.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_range_without_gaps_or_overlap() {
        let id = Uuid::now_v7();
        let jobs = send_slices(id, 11, 1010, 300);
        let ranges: Vec<(i64, i64)> = jobs
            .iter()
            .map(|j| match j {
                JobPayload::Send {
                    first_delivery,
                    last_delivery,
                    ..
                } => (*first_delivery, *last_delivery),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ranges, vec![(11, 310), (311, 610), (611, 910), (911, 1010)]);
        assert_eq!(send_slices(id, 5, 5, 300).len(), 1);
        assert!(send_slices(id, 6, 5, 300).is_empty());
    }
}
