//! The fan-out worker: takes jobs off the queue and runs them.
//!
//! Any number of workers (processes, or tasks inside `techconf serve --with-worker`) share
//! one database. Each claims jobs with a lease, extends it while working, deletes the job
//! when done, and reschedules it with backoff when it fails; a job that keeps failing is
//! kept as `failed` with its last error. On shutdown a worker stops claiming, lets each
//! running job finish the batch it is sending, records it, and hands the job back.
//!
//! Where jobs come from: the job table's claim loop by default; with Service Bus configured,
//! peek-locked messages that name a job row, which is then claimed by id (see
//! `worker/servicebus.rs` for how the two interact).
mod backoff;
mod confirmation;
mod plan;
mod send;
mod servicebus;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{Notify, broadcast, watch};
use tracing::Instrument;

use crate::config::{Settings, WorkerSettings};
use crate::mail::{Mailer, Sender};
use crate::progress::{Heard, Listener};
use crate::queue::database::{ClaimedJob, DatabaseQueue};
use crate::queue::servicebus::ServiceBusQueue;
use crate::queue::{JobPayload, WAKE_CHANNEL};

/// What a job handler reports when it returns normally.
#[derive(Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Nothing left to do: the job row is deleted.
    Done,
    /// Nothing to do until `at` (deliveries waiting for their retry): run again then.
    WaitUntil(DateTime<Utc>),
    /// Stopped for shutdown after recording its last batch: hand the job back.
    Interrupted,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another try (database or network trouble).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (a malformed payload, a message that cannot be built).
    #[error("{0}")]
    Permanent(String),
}

impl From<DbErr> for JobError {
    fn from(err: DbErr) -> Self {
        JobError::Transient(format!("database: {err}"))
    }
}

/// Everything a job handler needs.
pub struct JobContext {
    pub db: DatabaseConnection,
    pub mailer: Mailer,
    pub sender: Sender,
    /// Makes each notification's one-click unsubscribe link.
    pub unsubscribe: crate::unsubscribe::Unsubscribe,
    pub settings: WorkerSettings,
    pub shutdown: watch::Receiver<bool>,
    /// Sent emails whose outcome is not recorded yet, across the job slots
    /// (`WORKER_MAX_UNRECORDED` permits).
    pub unrecorded: Arc<tokio::sync::Semaphore>,
}

impl JobContext {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// A worker process (or the worker inside the server).
pub struct Worker {
    context: Arc<JobContext>,
    queue: DatabaseQueue,
    wake: Arc<Notify>,
    /// Set when jobs arrive through Service Bus instead of the job table's claim loop.
    servicebus: Option<ServiceBusQueue>,
}

/// What became of a job run by [`Worker::execute`].
#[derive(Debug)]
enum Verdict {
    /// Finished: the row goes.
    Done,
    /// Run again at this time (deliveries waiting for their retry); not an attempt.
    WaitUntil(DateTime<Utc>),
    /// Stopped for shutdown: hand it back, not an attempt.
    Interrupted,
    /// Keep the row as `failed` with this reason.
    GiveUp(String),
    /// Failed, worth another attempt at `at`.
    Retry { reason: String, at: DateTime<Utc> },
}

/// Jobs one worker runs at the same time; their emails share the mailer's concurrency bound.
/// Each holds at most one claimed, unrecorded batch, so this bounds what a dead worker can
/// repeat (docs/WORKER.md); tests check that bound against it.
pub const JOB_SLOTS: usize = 4;

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        settings: &Settings,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let worker_id = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let servicebus = match &settings.servicebus {
            Some(servicebus) => Some(ServiceBusQueue::new(servicebus).map_err(|e| {
                anyhow::anyhow!("SERVICEBUS_CONNECTION_STRING: cannot set up the client: {e}")
            })?),
            None => None,
        };
        Ok(Self {
            context: Arc::new(JobContext {
                db,
                mailer: Mailer::from_settings(settings)?,
                sender: Sender::parse(&settings.worker.sender)?.with_dkim(settings.dkim.clone()),
                unsubscribe: crate::unsubscribe::Unsubscribe::from_settings(&settings.unsubscribe)?,
                settings: settings.worker.clone(),
                shutdown,
                unrecorded: Arc::new(tokio::sync::Semaphore::new(settings.worker.max_unrecorded)),
            }),
            queue: DatabaseQueue::new(worker_id, settings.worker.lease),
            wake: Arc::new(Notify::new()),
            servicebus,
        })
    }

    /// Runs until shutdown is signalled, then waits for running jobs (bounded by the grace
    /// period) and returns.
    pub async fn run(self) -> anyhow::Result<()> {
        let worker = Arc::new(self);
        let source = match &worker.servicebus {
            Some(servicebus) => format!("Service Bus queue `{}`", servicebus.queue_name()),
            None => "the job table".to_owned(),
        };
        tracing::info!(worker = worker.queue.worker_id(), %source, "worker started");
        let listener = match worker.servicebus {
            Some(_) => None,
            None => Some(tokio::spawn(listen_for_wakeups(
                worker.context.db.clone(),
                worker.wake.clone(),
                worker.context.shutdown.clone(),
            ))),
        };
        let mut slots = tokio::task::JoinSet::new();
        for _ in 0..JOB_SLOTS {
            let worker = worker.clone();
            slots.spawn(async move {
                match &worker.servicebus {
                    Some(servicebus) => worker.servicebus_loop(servicebus).await,
                    None => worker.slot_loop().await,
                }
            });
        }
        let mut shutdown = worker.context.shutdown.clone();
        let _ = shutdown.wait_for(|stop| *stop).await;
        tracing::info!("worker stopping: finishing in-flight batches");
        let grace = worker.context.settings.shutdown_grace;
        if tokio::time::timeout(grace, async { while slots.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "grace period over: abandoning running jobs to their leases"
            );
            slots.abort_all();
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        tracing::info!("worker stopped");
        Ok(())
    }

    async fn slot_loop(&self) {
        let mut shutdown = self.context.shutdown.clone();
        while !*shutdown.borrow() {
            // Register for the wake-up before looking for a job: a job enqueued between the
            // look and the wait still wakes this slot (as crates.io's worker does).
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.run_next().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::error!(error = %err, "could not claim a job"),
            }
            tokio::select! {
                () = woken => {},
                () = tokio::time::sleep(self.context.settings.poll_interval) => {},
                _ = shutdown.changed() => {},
            }
        }
    }

    /// Claims and runs jobs until none is due; returns how many ran. For tests and tools
    /// that drive the queue step by step (a job that must wait, for a delivery's retry say,
    /// is handed back with its due time and not run again here).
    pub async fn run_pending(&self) -> Result<usize, DbErr> {
        let mut ran = 0;
        while self.run_next().await? {
            ran += 1;
        }
        Ok(ran)
    }

    /// Claims and runs one job; false when there was none.
    pub async fn run_next(&self) -> Result<bool, DbErr> {
        let Some(job) = self.queue.claim(&self.context.db).await? else {
            return Ok(false);
        };
        let span =
            tracing::info_span!("job", job_id = %job.id, kind = %job.kind, attempt = job.attempts);
        self.run_claimed(job).instrument(span).await?;
        Ok(true)
    }

    async fn run_claimed(&self, job: ClaimedJob) -> Result<(), DbErr> {
        let db = &self.context.db;
        match self.execute(&job).await {
            Verdict::Done => self.queue.complete(db, job.id).await,
            Verdict::WaitUntil(at) => self.queue.release(db, job.id, at).await,
            Verdict::Interrupted => self.queue.release(db, job.id, Utc::now()).await,
            Verdict::GiveUp(reason) => self.queue.fail(db, job.id, &reason, None).await,
            Verdict::Retry { reason, at } => self.queue.fail(db, job.id, &reason, Some(at)).await,
        }
    }

    /// Runs a claimed job (keeping its lease) and decides what becomes of it; the caller
    /// records that. Malformed payloads and jobs past their attempts are not run.
    async fn execute(&self, job: &ClaimedJob) -> Verdict {
        let payload = match &job.payload {
            Ok(payload) => payload.clone(),
            Err(reason) => {
                tracing::error!(%reason, "malformed job payload: kept as failed");
                return Verdict::GiveUp(format!("malformed payload: {reason}"));
            }
        };
        if job.attempts > job.max_attempts {
            tracing::error!(
                "job exceeded its attempts (its worker died each time): kept as failed"
            );
            return Verdict::GiveUp("gave up: the lease expired on every attempt".into());
        }
        let heartbeat = self.spawn_heartbeat(job.id);
        let result = AssertUnwindSafe(run_job(&self.context, &payload))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(JobError::Transient(format!("job panicked: {reason}")))
            });
        heartbeat.abort();
        match result {
            Ok(JobOutcome::Done) => Verdict::Done,
            Ok(JobOutcome::WaitUntil(at)) => Verdict::WaitUntil(at),
            Ok(JobOutcome::Interrupted) => Verdict::Interrupted,
            Err(JobError::Permanent(reason)) => {
                tracing::error!(%reason, "job failed permanently: kept as failed");
                Verdict::GiveUp(reason)
            }
            Err(JobError::Transient(reason)) if job.attempts < job.max_attempts => {
                let settings = &self.context.settings;
                let wait =
                    backoff::delay(settings.retry_base, settings.retry_cap, job.attempts as u32);
                tracing::warn!(%reason, ?wait, "job failed: will retry");
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                Verdict::Retry { reason, at }
            }
            Err(JobError::Transient(reason)) => {
                tracing::error!(%reason, "job failed on its last attempt: kept as failed");
                Verdict::GiveUp(reason)
            }
        }
    }

    fn spawn_heartbeat(&self, job: uuid::Uuid) -> tokio::task::JoinHandle<()> {
        let db = self.context.db.clone();
        let queue = self.queue.clone();
        let every = self.context.settings.lease / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match queue.extend(&db, job).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(%job, "lost the job's lease");
                        return;
                    }
                    Err(err) => tracing::warn!(%job, error = %err, "could not extend the lease"),
                }
            }
        })
    }
}

/// Runs a job's handler in a span naming what it works on, so every log line of the job
/// carries the notification (or attendee) id next to the job id.
async fn run_job(context: &JobContext, payload: &JobPayload) -> Result<JobOutcome, JobError> {
    let span = match payload {
        JobPayload::Plan { notification_id }
        | JobPayload::Send {
            notification_id, ..
        } => {
            tracing::info_span!("notification", %notification_id)
        }
        JobPayload::Confirmation { attendee_id } => {
            tracing::info_span!("confirmation", %attendee_id)
        }
    };
    run_handler(context, payload).instrument(span).await
}

async fn run_handler(context: &JobContext, payload: &JobPayload) -> Result<JobOutcome, JobError> {
    match payload {
        JobPayload::Plan { notification_id } => plan::run(context, *notification_id).await,
        JobPayload::Send {
            notification_id,
            first_delivery,
            last_delivery,
        } => send::run(context, *notification_id, *first_delivery, *last_delivery).await,
        JobPayload::Confirmation { attendee_id } => confirmation::run(context, *attendee_id).await,
    }
}

/// On PostgreSQL, wakes idle slots when a job is enqueued (a `NOTIFY` heard on the process's
/// shared [`Listener`], also the progress hub's), and whenever the listener is listening
/// again after losing its connection (a wake-up may have been lost). Polling remains the
/// fallback, and the only mechanism on SQLite.
async fn listen_for_wakeups(
    db: DatabaseConnection,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let mut heard = Listener::shared(&db).subscribe();
    loop {
        let received = tokio::select! {
            received = heard.recv() => received,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match received {
            Ok(Heard::Notification { channel, .. }) if channel != WAKE_CHANNEL => {}
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => wake.notify_waiters(),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
