//! The send step: claims the pending deliveries of a slice in batches, renders each batch
//! in one trip to the rendering threads, sends its emails concurrently, and records the
//! batch's outcomes with the counter change in one transaction (the claims and records are
//! [`crate::store::delivery`]'s).
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
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::OptionFuture;
use futures::stream::FuturesUnordered;
use sea_orm::{ConnectionTrait, EntityTrait};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::{JobContext, JobError, JobOutcome, backoff};
use crate::domain::{
    ConferenceFields, NotificationStatus, NotificationTemplate, RenderError, RenderedEmail,
    ValidationError,
};
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
    claims: u64,
    commits: u64,
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
    let organization = OrganizationRate {
        id: organization_id,
        rate: organization_rate,
    };
    let slice = (first, last);

    let conference_name = conference_fields.name.as_str();
    let concurrency = context.settings.concurrency;
    // Claim again when fewer than this many claimed deliveries wait for a connection.
    let low_water = concurrency.min(context.settings.batch_size);
    let mut tally = Tally::default();
    let mut ready: VecDeque<Ready> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut unrecorded: Vec<Unrecorded> = Vec::new();
    let mut committing: Option<Pin<Box<dyn Future<Output = Committed> + Send + '_>>> = None;
    let mut ending: Option<Ending> = None;
    // A database error outside recording (a claim, a release) ends the job, but only after
    // what is on the wire is sent and recorded: a database outage is not a crash. Recording
    // keeps trying on its own while the leases allow (`record`).
    let mut failure: Option<JobError> = None;
    let mut spare_permit: Option<OwnedSemaphorePermit> = None;
    loop {
        // Keep a window of claimed, rendered deliveries ahead of the connections. Not while
        // this job's own commit is open: the claim could wait on that transaction's locks
        // (the notification row, SQLite's one writer) while the commit waits to be polled.
        if ending.is_none() && ready.len() < low_water && committing.is_none() {
            match claim_more(
                context,
                notification_id,
                slice,
                &template,
                &conference_fields,
                organization,
                &mut ready,
                &mut tally,
            )
            .await
            {
                Ok(next) => ending = next,
                Err(err) => {
                    failure = Some(err);
                    ending = Some(Ending::Failed);
                }
            }
            // Whatever ends the claiming, but running out of deliveries, hands back the rest.
            if ending
                .as_ref()
                .is_some_and(|ending| !matches!(ending, Ending::Exhausted))
            {
                release_or_keep(context, &mut ready, &mut failure).await;
            }
        }
        // Start sends while connections are free and the unrecorded bound allows.
        let margin = lease_margin(context);
        while in_flight.len() < concurrency {
            let Some(next) = ready.front() else { break };
            if next.lease - margin <= Utc::now() {
                // Its claim may end mid-send and another worker take it: leave it to them.
                ready.pop_front();
                continue;
            }
            let Some(permit) = spare_permit
                .take()
                .or_else(|| context.unrecorded.clone().try_acquire_owned().ok())
            else {
                break;
            };
            let Some(item) = ready.pop_front() else { break };
            in_flight.push(send_one(
                context,
                notification_id,
                conference_id,
                conference_name,
                item,
                permit,
            ));
        }
        // Group commit, one at a time: every `WORKER_COMMIT_EVERY` outcomes or
        // `WORKER_COMMIT_INTERVAL_MS` after the oldest waiting one, whichever comes first;
        // at once when nothing else is on the wire or the unrecorded permits ran out.
        let oldest = unrecorded.first().map(|u| u.at);
        if committing.is_none()
            && oldest.is_some_and(|oldest| {
                unrecorded.len() >= context.settings.commit_every
                    || oldest.elapsed() >= context.settings.commit_interval
                    || in_flight.is_empty()
                    || context.unrecorded.available_permits() == 0
            })
        {
            let outcomes = std::mem::take(&mut unrecorded);
            committing = Some(Box::pin(commit(context, notification_id, outcomes)));
        }
        if ending.is_some() && ready.is_empty() && in_flight.is_empty() && committing.is_none() {
            break;
        }
        let waiting_for_permit = !ready.is_empty() && in_flight.len() < concurrency;
        tokio::select! {
            Some(done) = in_flight.next(), if !in_flight.is_empty() => unrecorded.push(done),
            Some(committed) = OptionFuture::from(committing.as_mut()), if committing.is_some() => {
                committing = None;
                let mut stopping = false;
                for recorded in committed? {
                    recorded.signal.publish();
                    tally.sent += recorded.sent;
                    tally.failed += recorded.failed;
                    stopping |= recorded.stopping;
                }
                tally.commits += 1;
                // Paused, cancelled or pausing itself (auto-pause) since the last claim: start
                // nothing more.
                if stopping && ending.is_none() {
                    ending = Some(Ending::Stopping);
                    release_or_keep(context, &mut ready, &mut failure).await;
                }
            }
            // Other job slots hold the permits: wait for one to come back, and keep it (the
            // semaphore hands a released permit straight to the next waiter, so dropping it
            // to try again would pass it round the job slots for nothing).
            permit = context.unrecorded.clone().acquire_owned(), if waiting_for_permit => {
                spare_permit = permit.ok();
            }
            // The oldest waiting outcome is due for its commit.
            _ = tokio::time::sleep_until(
                (oldest.unwrap_or_else(Instant::now) + context.settings.commit_interval).into()
            ), if committing.is_none() && oldest.is_some() => {}
        }
    }
    if let Some(err) = failure {
        tracing::warn!(
            %notification_id,
            first,
            last,
            sent = tally.sent,
            failed = tally.failed,
            error = %err,
            "send job stopped on a database error after recording what it sent"
        );
        return Err(err);
    }
    let outcome = match ending {
        Some(Ending::Exhausted) => {
            match delivery::next_wakeup(db, notification_id, slice, true).await? {
                Some(at) => JobOutcome::WaitUntil(at),
                None => {
                    notifications::settle_or_finish(db, notification_id)
                        .await?
                        .publish();
                    JobOutcome::Done
                }
            }
        }
        Some(Ending::Stopping) => {
            // Stopping: move the notification on if nothing is in flight any more (a dead
            // worker's expired claims are released), else look again when the claims still
            // held in this slice expire.
            notifications::settle_or_finish(db, notification_id)
                .await?
                .publish();
            match delivery::next_wakeup(db, notification_id, slice, false).await? {
                Some(at) => JobOutcome::WaitUntil(at),
                None => JobOutcome::Done,
            }
        }
        // Fair sending: the slot goes to a waiting job; this slice goes back in the queue
        // and is claimed again in its fair turn.
        Some(Ending::Yielding) => JobOutcome::WaitUntil(Utc::now()),
        Some(Ending::Interrupted) => JobOutcome::Interrupted,
        Some(Ending::Gone | Ending::Failed) | None => JobOutcome::Done,
    };
    tracing::info!(
        %notification_id,
        %organization_id,
        first,
        last,
        claims = tally.claims,
        commits = tally.commits,
        sent = tally.sent,
        failed = tally.failed,
        yielded = tally.yielded,
        ?outcome,
        "send job ran"
    );
    Ok(outcome)
}

/// A claimed delivery, rendered and waiting for a connection.
struct Ready {
    delivery: Claimed,
    /// The claim's lease: outcomes are written only where the row still carries it.
    lease: DateTime<Utc>,
    email: Result<(RenderedEmail, String), Sending>,
    /// When the shared rate limit lets it go.
    not_before: Option<Instant>,
}

/// An outcome not yet recorded. Its permit counts it against `WORKER_MAX_UNRECORDED`
/// until the commit that records it ends.
struct Unrecorded {
    id: i64,
    /// When the outcome came back.
    at: Instant,
    lease: DateTime<Utc>,
    outcome: Outcome,
    _permit: OwnedSemaphorePermit,
}

/// Why a send job stopped claiming.
enum Ending {
    /// Nothing left to claim in the slice now.
    Exhausted,
    /// The notification is being paused or cancelled.
    Stopping,
    /// The notification is no longer sending (or no longer exists).
    Gone,
    /// The worker is shutting down.
    Interrupted,
    /// Another job is waiting for this slot and the fair claim would pick it first
    /// (`store::job::should_yield`).
    Yielding,
    /// The database failed outside recording: send and record what is started, then fail.
    Failed,
}

/// The organization a send job sends for, and its own send rate limit, if it has one.
#[derive(Clone, Copy)]
struct OrganizationRate {
    id: Uuid,
    rate: Option<u32>,
}

type Committed = Result<Vec<delivery::Recorded>, sea_orm::DbErr>;

/// Claims the next batch of the slice, renders it and appends it to `ready`; or says why
/// there is nothing more to claim. Pause and cancel take effect here, between claims, and
/// so does fair sending: after its first claim a job yields its slot when another job is
/// waiting that the fair claim would pick first.
#[allow(clippy::too_many_arguments)]
async fn claim_more(
    context: &JobContext,
    notification_id: Uuid,
    slice: (i64, i64),
    template: &Result<NotificationTemplate, String>,
    conference: &ConferenceFields,
    organization: OrganizationRate,
    ready: &mut VecDeque<Ready>,
    tally: &mut Tally,
) -> Result<Option<Ending>, JobError> {
    let db = &context.db;
    if context.stopping() {
        return Ok(Some(Ending::Interrupted));
    }
    match notifications::status(db, notification_id).await? {
        Some(NotificationStatus::Sending) => {}
        Some(NotificationStatus::Pausing | NotificationStatus::Cancelling) => {
            return Ok(Some(Ending::Stopping));
        }
        _ => return Ok(Some(Ending::Gone)),
    }
    // Each run claims at least once, so a yielding slice still moves on.
    if tally.claims > 0 && jobs::should_yield(db, notification_id).await? {
        tally.yielded = true;
        crate::metrics::record_send_yield();
        return Ok(Some(Ending::Yielding));
    }
    let lease = Utc::now() + chrono::Duration::from_std(context.settings.lease).unwrap_or_default();
    let batch = delivery::claim_batch(
        db,
        notification_id,
        slice,
        context.settings.batch_size,
        lease,
    )
    .await?;
    if batch.is_empty() {
        return Ok(Some(Ending::Exhausted));
    }
    tally.claims += 1;
    let attendees = load_attendees(db, &batch).await?;
    let mut delay = match context.settings.rate_limit {
        Some(rate) => notifications::reserve_rate(db, notification_id, batch.len(), rate).await?,
        None => Duration::ZERO,
    };
    // The organization's own limit, if it has one, applies on top of the worker's.
    if let Some(rate) = organization.rate {
        let wait = notifications::reserve_organization_rate(db, organization.id, batch.len(), rate)
            .await?;
        crate::metrics::record_organization_rate_wait(wait);
        delay = delay.max(wait);
    }
    let start = Instant::now() + delay;
    // The slower of the two limits spaces the batch out.
    let spacing = [context.settings.rate_limit, organization.rate]
        .into_iter()
        .flatten()
        .min()
        .map(interval);
    let emails = render_batch(template, &batch, &attendees, conference).await;
    ready.extend(
        batch
            .into_iter()
            .zip(emails)
            .enumerate()
            .map(|(index, (delivery, email))| Ready {
                delivery,
                lease,
                email,
                not_before: spacing.map(|spacing| start + spacing * index as u32),
            }),
    );
    Ok(None)
}

/// `release`s what is claimed and not started. If the database refuses, they are dropped
/// all the same (their claims end with their lease, and nobody was sent them) and the job
/// ends with the error once what is in flight is recorded.
async fn release_or_keep(
    context: &JobContext,
    ready: &mut VecDeque<Ready>,
    failure: &mut Option<JobError>,
) {
    if let Err(err) = release(context, ready.drain(..)).await {
        failure.get_or_insert(err.into());
    }
}

/// Hands claimed deliveries that were never sent back, so a pause, a cancel or a shutdown
/// leaves nobody waiting for a lease to end.
async fn release(
    context: &JobContext,
    unsent: impl Iterator<Item = Ready>,
) -> Result<(), sea_orm::DbErr> {
    let mut by_lease: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
    for item in unsent {
        by_lease
            .entry(item.lease)
            .or_default()
            .push(item.delivery.id);
    }
    for (lease, ids) in by_lease {
        delivery::release_claims(&context.db, &ids, lease).await?;
    }
    Ok(())
}

/// How long before its lease ends a claimed delivery is no longer started, and recording
/// its outcome stops being retried.
fn lease_margin(context: &JobContext) -> chrono::Duration {
    chrono::Duration::from_std((context.settings.lease / 10).max(Duration::from_millis(100)))
        .unwrap_or_default()
}

/// Sends one ready delivery (after the rate limit's wait) and applies the retry policy.
async fn send_one(
    context: &JobContext,
    notification_id: Uuid,
    conference_id: Uuid,
    conference_name: &str,
    item: Ready,
    permit: OwnedSemaphorePermit,
) -> Unrecorded {
    if let Some(at) = item.not_before {
        tokio::time::sleep_until(at.into()).await;
    }
    let sending = match item.email {
        Ok((rendered, name)) => {
            deliver(
                context,
                notification_id,
                conference_id,
                conference_name,
                &item.delivery,
                &name,
                &rendered,
            )
            .await
        }
        Err(sending) => sending,
    };
    Unrecorded {
        id: item.delivery.id,
        at: Instant::now(),
        lease: item.lease,
        outcome: retry_policy(context, &item.delivery, sending),
        _permit: permit,
    }
}

/// Records a group of outcomes: one transaction per claim they came from (usually one).
/// Their permits are released when this ends, recorded or not: an unrecorded outcome is
/// then protected by its lease, as a dead worker's are.
async fn commit(
    context: &JobContext,
    notification_id: Uuid,
    outcomes: Vec<Unrecorded>,
) -> Committed {
    let started = Instant::now();
    let size = outcomes.len();
    let mut by_lease: HashMap<DateTime<Utc>, Vec<(i64, Outcome)>> = HashMap::new();
    let mut permits = Vec::with_capacity(size);
    for Unrecorded {
        id,
        at: _,
        lease,
        outcome,
        _permit,
    } in outcomes
    {
        permits.push(_permit);
        by_lease.entry(lease).or_default().push((id, outcome));
    }
    let mut recorded = Vec::with_capacity(by_lease.len());
    for (lease, group) in by_lease {
        recorded.push(record(context, notification_id, lease, group).await?);
    }
    crate::metrics::record_commit(size, started.elapsed());
    drop(permits);
    Ok(recorded)
}

/// Records outcomes of one claim. A database outage is not a crash: the outcomes of emails the
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
    let give_up = lease - lease_margin(context);
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

/// Each delivery's email, rendered for the whole batch in one trip to the rendering threads,
/// with the recipient's name; or what sending it came to without one.
async fn render_batch(
    template: &Result<NotificationTemplate, String>,
    batch: &[Claimed],
    attendees: &HashMap<Uuid, attendee::Model>,
    conference: &ConferenceFields,
) -> Vec<Result<(RenderedEmail, String), Sending>> {
    let template = match template {
        Ok(template) => template,
        Err(error) => {
            let failed = || Sending::Failed {
                error: error.clone(),
            };
            return batch.iter().map(|_| Err(failed())).collect();
        }
    };
    let recipients: Vec<_> = batch
        .iter()
        .filter_map(|d| attendees.get(&d.attendee_id).map(|a| (d, a)))
        .map(|(d, a)| recipient_context(a, &d.email, conference.clone()))
        .collect();
    let mut rendered = match template.render_all(recipients).await {
        Err(err) => {
            // Busy rendering threads (previews, say) are no reason to give a recipient up.
            let retry = matches!(err, RenderError::TimedOut(_));
            let error = format!("template: {}", ValidationError::from(err));
            return batch
                .iter()
                .map(|_| {
                    let error = error.clone();
                    Err(if retry {
                        Sending::Retry { error }
                    } else {
                        Sending::Failed { error }
                    })
                })
                .collect();
        }
        Ok(rendered) => rendered.into_iter(),
    };
    batch
        .iter()
        .map(|d| {
            let Some(a) = attendees.get(&d.attendee_id) else {
                return Err(Sending::Failed {
                    error: "the attendee no longer exists".into(),
                });
            };
            match rendered.next() {
                Some(Ok(email)) => Ok((email, format!("{} {}", a.first_name, a.last_name))),
                Some(Err(err)) => Err(Sending::Failed {
                    error: format!("template: {err}"),
                }),
                None => Err(Sending::Retry {
                    error: "template: rendering stopped".into(),
                }),
            }
        })
        .collect()
}

async fn deliver(
    context: &JobContext,
    notification_id: Uuid,
    conference_id: Uuid,
    conference_name: &str,
    delivery: &Claimed,
    name: &str,
    rendered: &RenderedEmail,
) -> Sending {
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
            conference_name,
            rendered,
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
