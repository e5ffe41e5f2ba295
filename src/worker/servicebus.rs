//! Consuming jobs from Service Bus: each peek-locked message names a job row (its
//! `MessageId` is the job id), which the worker then claims by id and runs.
//!
//! The job row stays the source of truth and the only lock that matters for running a job:
//! [`DatabaseQueue::claim_by_id`] lets exactly one worker hold a job's lease, so two copies
//! of one message (a redelivery after a lost lock, or a repeat the broker did not drop) never
//! run the job twice at once. A copy that finds the job busy keeps its message locked and
//! asks again when the holder's lease runs out; one that finds no row (the job is done)
//! completes the message.
//!
//! How database backoff and Service Bus redelivery fit together. The REST API can only
//! unlock a message for immediate redelivery, with `DeliveryCount + 1`; it cannot delay one.
//! So a redelivery is not used to wait:
//! - **Failure worth retrying**: the row is replaced by a successor row (new id, same payload,
//!   `attempts` and `last_error` carried over, due after the usual exponential backoff,
//!   unpublished) in one transaction, and the message is completed. The relay publishes the
//!   successor when it is due, under its new id, so duplicate detection cannot drop it. After
//!   `max_attempts` the row is kept as `failed`, as with the database queue.
//! - **Waiting** (`WaitUntil`: deliveries waiting for their retry): the same hand-over, with
//!   the attempt given back.
//! - **Shutdown** (the job stopped after recording its last batch): the same hand-over, due
//!   at once, so restarts do not count towards the max delivery count.
//! - **Abandon** (immediate redelivery) is only for when the worker cannot record an outcome
//!   (the database is unreachable), or holds a busy job's copy at shutdown. A message that
//!   keeps being abandoned, or whose worker keeps dying, reaches the queue's max delivery
//!   count and is dead-lettered by the broker; the relay later requeues its job row, left
//!   `running` with an expired lease, as a successor ([`requeue_orphans`]).
//!
//! [`requeue_orphans`]: crate::queue::database::requeue_orphans
//!
//! Every hand-over commits before the message is settled. A crash in between leaves the old
//! message to come back, find no row, and be completed; nothing is lost and nothing runs twice.
use std::time::Duration;

use chrono::Utc;
use tracing::Instrument;

use super::{Verdict, Worker};
use crate::queue::database::{ClaimById, ClaimedJob};
use crate::queue::servicebus::{LockGuard, ReceivedMessage, ServiceBusError, ServiceBusQueue};

/// How long one receive waits on the server for a message. Shutdown does not wait for it.
const RECEIVE_WAIT: Duration = Duration::from_secs(30);
/// The longest pause between failed receives (each already retried by the client): a
/// namespace that comes back is noticed within this long.
const MAX_RECEIVE_BACKOFF: Duration = Duration::from_secs(30);
/// Bounds of the lock-renewal period, which is half the lock left on a received message.
const MIN_RENEW_EVERY: Duration = Duration::from_millis(500);
const MAX_RENEW_EVERY: Duration = Duration::from_secs(60);

impl Worker {
    /// One job slot in Service Bus mode: receive, run, settle, until shutdown.
    pub(super) async fn servicebus_loop(&self, servicebus: &ServiceBusQueue) {
        let mut shutdown = self.context.shutdown.clone();
        let settings = &self.context.settings;
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            // A receive cut short by shutdown may leave a message locked that this worker
            // never saw: it becomes available again when its lock expires.
            let received = tokio::select! {
                received = servicebus.receive(RECEIVE_WAIT) => received,
                () = stopped(&mut shutdown) => return,
            };
            match received {
                Ok(Some(message)) => {
                    failures = 0;
                    self.consume(servicebus, message).await;
                }
                Ok(None) => failures = 0,
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let cap = settings.retry_cap.min(MAX_RECEIVE_BACKOFF);
                    let pause = super::backoff::delay(settings.retry_base, cap, failures);
                    tracing::error!(
                        error = %err,
                        retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                        "could not receive from Service Bus"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {},
                        () = stopped(&mut shutdown) => return,
                    }
                }
            }
        }
    }

    /// Handles one received message from start to settlement.
    async fn consume(&self, servicebus: &ServiceBusQueue, message: ReceivedMessage) {
        let span = tracing::info_span!(
            "message",
            message_id = %message.message_id(),
            delivery = message.delivery_count()
        );
        self.consume_in_span(servicebus, &message)
            .instrument(span)
            .await;
    }

    async fn consume_in_span(&self, servicebus: &ServiceBusQueue, message: &ReceivedMessage) {
        let db = &self.context.db;
        let Some(job_id) = message.job_id() else {
            settle(
                servicebus
                    .reject(message, "its MessageId is not a job id")
                    .await,
                "reject",
            );
            return;
        };
        if let Err(err) = message.payload() {
            let reason = format!("its body is not a job payload: {err}");
            // The row (if any) would otherwise wait, published and unseen, forever.
            if let Err(err) = self
                .queue
                .fail_pending(
                    db,
                    job_id,
                    &format!("Service Bus message rejected: {reason}"),
                )
                .await
            {
                tracing::warn!(%job_id, error = %err, "could not mark the job failed");
            }
            settle(servicebus.reject(message, &reason).await, "reject");
            return;
        }
        let mut lock = servicebus.keep_locked(message, renew_every(message));
        let mut shutdown = self.context.shutdown.clone();
        loop {
            match self.queue.claim_by_id(db, job_id).await {
                Ok(ClaimById::Claimed(job)) => {
                    let span = tracing::info_span!(
                        "job", job_id = %job.id, kind = %job.kind, attempt = job.attempts
                    );
                    self.run_message_job(servicebus, message, job, lock)
                        .instrument(span)
                        .await;
                    return;
                }
                Ok(ClaimById::Missing) => {
                    tracing::warn!(
                        %job_id,
                        "no job row for this message: the job is done or was handed over (or it \
                         is not a TechConf job); completing the message"
                    );
                    settle(servicebus.complete(message).await, "complete");
                    return;
                }
                Ok(ClaimById::Failed) => {
                    tracing::warn!(%job_id, "the job is kept as failed; completing its message");
                    settle(servicebus.complete(message).await, "complete");
                    return;
                }
                Ok(ClaimById::Busy { until }) => {
                    // Another delivery of this job is running: never run it twice at once.
                    // Hold this copy until that lease ends (it is extended while the job runs).
                    let left = (until - Utc::now()).to_std().unwrap_or_default();
                    let pause = (left + Duration::from_millis(50)).min(
                        self.context
                            .settings
                            .poll_interval
                            .max(Duration::from_millis(50)),
                    );
                    tracing::debug!(%job_id, ?pause, "job busy elsewhere; holding the message");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = lock.lost() => return,
                        () = stopped(&mut shutdown) => {
                            settle(servicebus.abandon(message).await, "abandon");
                            return;
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(%job_id, error = %err, "could not claim the job; abandoning its message");
                    settle(servicebus.abandon(message).await, "abandon");
                    return;
                }
            }
        }
    }

    /// Runs a job claimed for `message`, records the outcome on the row, then settles the
    /// message. The lock is renewed throughout; if it is lost anyway the job still finishes
    /// (its row lease keeps it exclusive) and the message, when it comes back, finds the
    /// outcome.
    async fn run_message_job(
        &self,
        servicebus: &ServiceBusQueue,
        message: &ReceivedMessage,
        job: ClaimedJob,
        lock: LockGuard,
    ) {
        let db = &self.context.db;
        let verdict = self.execute(&job).await;
        // Every recorded outcome completes the message: what must run again later does so as
        // a successor row. Not even a shutdown abandons, or a job stopped by every rolling
        // restart would count deliveries towards the dead-letter queue.
        let recorded = match verdict {
            Verdict::Done => self.queue.complete(db, job.id).await,
            Verdict::GiveUp(reason) => self.queue.fail(db, job.id, &reason, None).await,
            Verdict::Interrupted => self.hand_over(job.id, Utc::now(), None, false).await,
            Verdict::WaitUntil(at) => self.hand_over(job.id, at, None, false).await,
            Verdict::Retry { reason, at } => self.hand_over(job.id, at, Some(&reason), true).await,
        };
        drop(lock);
        match recorded {
            Ok(()) => settle(servicebus.complete(message).await, "complete"),
            Err(err) => {
                // The row keeps its lease until it expires; the redelivered message then
                // claims the job again.
                tracing::error!(error = %err, "could not record the job's outcome; abandoning its message");
                settle(servicebus.abandon(message).await, "abandon");
            }
        }
    }

    /// [`DatabaseQueue::hand_over`](crate::queue::database::DatabaseQueue::hand_over), logged.
    async fn hand_over(
        &self,
        job: uuid::Uuid,
        at: chrono::DateTime<Utc>,
        error: Option<&str>,
        count_attempt: bool,
    ) -> Result<(), sea_orm::DbErr> {
        let successor = self
            .queue
            .hand_over(&self.context.db, job, at, error, count_attempt)
            .await?;
        match successor {
            Some(successor) => {
                tracing::info!(%successor, run_at = %at, "job handed over to a successor row");
            }
            None => tracing::warn!("lost the job's lease before handing it over"),
        }
        Ok(())
    }
}

/// Resolves once shutdown is signalled (or its sender is gone).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Half the lock a message still has, within bounds: its lock is renewed that often.
fn renew_every(message: &ReceivedMessage) -> Duration {
    let left = (message.locked_until() - Utc::now())
        .to_std()
        .unwrap_or_default();
    (left / 2).clamp(MIN_RENEW_EVERY, MAX_RENEW_EVERY)
}

/// Logs a settlement that did not go through. A lost lock is expected now and then: the
/// message comes back and finds the job's row as it was left.
fn settle(result: Result<(), ServiceBusError>, operation: &'static str) {
    match result {
        Ok(()) => {}
        Err(err @ ServiceBusError::LockLost { .. }) => {
            tracing::info!(error = %err, operation, "message lock lost before settling; it will come back");
        }
        Err(err) => {
            tracing::warn!(error = %err, operation, "could not settle a Service Bus message")
        }
    }
}
