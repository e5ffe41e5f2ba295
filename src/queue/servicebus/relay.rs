//! The outbox relay: publishes job rows that are due and not yet published to Service Bus,
//! with `MessageId = job id`, then sets `published_at`.
//!
//! Nothing is lost if a process dies between the business commit and the publish: the row
//! stays unpublished and the next pass (of any relay) picks it up.
//!
//! Several relays may run at once. Each claims a batch first with a short lease on
//! `locked_until`/`locked_by`: `FOR UPDATE SKIP LOCKED` on PostgreSQL, one conditional
//! `UPDATE ... RETURNING` on SQLite (whose single writer makes the statement atomic). So two
//! relays never publish the same row in normal operation. A row can still be published
//! twice when a relay dies (or its lease runs out) after sending and before marking the row;
//! that is harmless: the queue's duplicate detection drops a repeated `MessageId` within its
//! window, and a job that does run twice only acts on `pending` deliveries.
//!
//! The relay also sweeps, once a minute, for published jobs that lost both their worker and
//! their message (dead-lettered after the worker died on every delivery): `running` with a
//! lease that ran out long ago. They are requeued as new rows and published again.
//!
//! Consequence for retries: never reset `published_at` to retry a job; a republished id is
//! dropped as a duplicate. The worker hands a job that must run again later over to a new row
//! (`DatabaseQueue::hand_over`), which is published under its own id when due.
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::watch;
use uuid::Uuid;

use super::ServiceBusSettings;
use super::client::{ServiceBusError, ServiceBusQueue, backoff_delay};
use crate::store::{
    self,
    job::{Lease, Unpublished},
};

/// How the relay paces itself.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Rows claimed and published per pass.
    pub batch_size: usize,
    /// Sends in flight at once within a batch.
    pub concurrency: usize,
    /// How long a claim keeps other relays off a row; longer than a batch takes to send.
    pub lease: Duration,
    /// Pause when there was nothing (or not a full batch) to publish.
    pub idle_interval: Duration,
    /// Backoff after a failed pass, doubling from `retry_base` up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// A published job whose lease ran out this long ago, still `running`, has lost both its
    /// worker and its message (dead-lettered, say): the relay requeues it as a new row
    /// ([`requeue_orphans`](crate::queue::database::requeue_orphans)). Checked once a minute.
    pub orphan_after: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: 8,
            lease: Duration::from_secs(60),
            idle_interval: Duration::from_millis(500),
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(60),
            orphan_after: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a relay pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox relay: database error: {0}")]
    Database(#[from] DbErr),
    /// Some sends failed (the rows stay unpublished and are released for the next pass);
    /// `published` rows were sent and marked before that.
    #[error("outbox relay: {failed} job(s) not published ({published} published): {source}")]
    Publish {
        published: usize,
        failed: usize,
        #[source]
        source: ServiceBusError,
    },
}

/// One pass with the default options but `batch` rows: claims due, unpublished, pending jobs
/// (oldest first), publishes them, marks them published. Returns how many were published.
pub async fn publish_pending(
    db: &DatabaseConnection,
    queue: &ServiceBusQueue,
    batch: usize,
) -> Result<usize, RelayError> {
    let options = RelayOptions {
        batch_size: batch,
        ..RelayOptions::default()
    };
    publish_batch(db, queue, &options).await
}

/// One pass with `options`.
pub async fn publish_batch(
    db: &DatabaseConnection,
    queue: &ServiceBusQueue,
    options: &RelayOptions,
) -> Result<usize, RelayError> {
    let relay_id = format!("relay-{}", Uuid::now_v7());
    let claimed = claim(db, &relay_id, options).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    // Owned jobs and queue handles: the futures must be `Send` for any caller's `spawn`.
    let outcomes: Vec<(Uuid, Result<(), ServiceBusError>)> =
        futures::stream::iter(claimed.into_iter().map(|job| {
            let queue = queue.clone();
            async move {
                let sent = queue
                    .send_with_label(job.id, &job.payload, Some(&job.kind))
                    .await;
                (job.id, sent)
            }
        }))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;

    let mut sent = Vec::new();
    let mut unsent = Vec::new();
    let mut first_error = None;
    for (id, outcome) in outcomes {
        match outcome {
            Ok(()) => sent.push(id),
            Err(err) => {
                unsent.push(id);
                first_error.get_or_insert(err);
            }
        }
    }
    mark_published(db, &relay_id, &sent).await?;
    release(db, &relay_id, &unsent).await?;
    tracing::debug!(
        published = sent.len(),
        failed = unsent.len(),
        "outbox relay pass"
    );
    match first_error {
        None => Ok(sent.len()),
        Some(source) => Err(RelayError::Publish {
            published: sent.len(),
            failed: unsent.len(),
            source,
        }),
    }
}

/// Publishes until `shutdown` resolves: at once again after a full batch, after
/// `idle_interval` otherwise, and with exponential backoff (and jitter) while Service Bus or
/// the database fails. A batch in progress is finished before stopping.
pub async fn run_relay(
    db: &DatabaseConnection,
    queue: &ServiceBusQueue,
    options: &RelayOptions,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut failures: u32 = 0;
    let mut next_sweep = tokio::time::Instant::now();
    tracing::info!(queue = queue.queue_name(), "outbox relay started");
    loop {
        if tokio::time::Instant::now() >= next_sweep {
            next_sweep += ORPHAN_SWEEP_EVERY;
            sweep_orphans(db, options).await;
        }
        let pause = match publish_batch(db, queue, options).await {
            Ok(published) => {
                failures = 0;
                if published > 0 {
                    tracing::info!(published, queue = queue.queue_name(), "published jobs");
                }
                if published >= options.batch_size {
                    Duration::ZERO
                } else {
                    options.idle_interval
                }
            }
            Err(err) => {
                let pause = backoff_delay(options.retry_base, options.retry_cap, failures);
                failures = failures.saturating_add(1);
                tracing::warn!(
                    error = %err,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "outbox relay pass failed; backing off"
                );
                pause
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!(queue = queue.queue_name(), "outbox relay stopped");
}

/// Starts a relay for `settings` (a client of its own, the relay options it sets) as a task
/// that runs until `shutdown` turns true or its sender is dropped. For `techconf serve`,
/// `techconf worker` and `techconf relay`.
pub fn spawn_relay(
    db: DatabaseConnection,
    settings: &ServiceBusSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ServiceBusError> {
    let queue = ServiceBusQueue::new(settings)?;
    let options = settings.relay.options();
    if settings.endpoint.is_some() {
        tracing::warn!("SERVICEBUS_ENDPOINT is set: Service Bus requests go to a local endpoint");
    }
    Ok(tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        run_relay(&db, &queue, &options, stop).await;
    }))
}

/// How often [`run_relay`] looks for orphaned jobs.
const ORPHAN_SWEEP_EVERY: Duration = Duration::from_secs(60);

async fn sweep_orphans(db: &DatabaseConnection, options: &RelayOptions) {
    let Ok(age) = chrono::Duration::from_std(options.orphan_after) else {
        return;
    };
    let limit = u64::try_from(options.batch_size.max(1)).unwrap_or(u64::MAX);
    if let Err(err) = store::job::requeue_orphans(db, Utc::now() - age, limit).await {
        tracing::warn!(error = %err, "outbox relay: could not look for orphaned jobs");
    }
}

/// Leases up to `batch_size` due, unpublished, pending rows, oldest first.
async fn claim(
    db: &DatabaseConnection,
    relay_id: &str,
    options: &RelayOptions,
) -> Result<Vec<Unpublished>, DbErr> {
    let until = Utc::now()
        + chrono::Duration::from_std(options.lease)
            .map_err(|e| DbErr::Custom(format!("relay lease out of range: {e}")))?;
    let lease = Lease {
        holder: relay_id,
        until,
    };
    store::job::claim_unpublished(db, lease, options.batch_size).await
}

/// Sets `published_at`, then drops this relay's lease (see
/// [`store::job::mark_published`]).
async fn mark_published(
    db: &DatabaseConnection,
    relay_id: &str,
    ids: &[Uuid],
) -> Result<(), DbErr> {
    store::job::mark_published(db, relay_id, ids).await
}

/// Drops this relay's lease on rows it could not send, so the next pass retries them.
async fn release(db: &DatabaseConnection, relay_id: &str, ids: &[Uuid]) -> Result<(), DbErr> {
    store::job::release_unpublished(db, relay_id, ids).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::job;
    use crate::queue::database::{ClaimById, DatabaseQueue};
    use crate::queue::{JobPayload, enqueue};
    use sea_orm::EntityTrait;

    /// A worker can receive a message and claim its row before the relay that sent it marks
    /// the row published: marking must not take the worker's lease away (the row would then
    /// be `running` with no lease, and no one would ever finish or take it over).
    #[tokio::test]
    async fn marking_a_row_published_keeps_the_lease_of_a_worker_that_claimed_it_first() {
        let database = testkit::TestDatabase::sqlite();
        let db = database.connect().await;
        crate::db::ensure_migrated(&db, true).await.unwrap();
        let payload = JobPayload::Plan {
            notification_id: Uuid::now_v7(),
        };
        let id = enqueue(&db, &payload, None).await.unwrap();
        let claimed = claim(&db, "relay-1", &RelayOptions::default())
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);

        let worker = DatabaseQueue::new("worker-1", Duration::from_secs(60));
        let ClaimById::Claimed(_) = worker.claim_by_id(&db, id).await.unwrap() else {
            panic!("the worker claims the row the relay is publishing");
        };
        mark_published(&db, "relay-1", &[id]).await.unwrap();

        let row = job::Entity::find_by_id(id).one(&db).await.unwrap().unwrap();
        assert!(row.published_at.is_some());
        assert_eq!(row.locked_by.as_deref(), Some("worker-1"));
        assert!(
            worker.extend(&db, id).await.unwrap(),
            "the worker still holds it"
        );

        // Without a worker in between, marking drops the relay's own lease.
        let other = enqueue(&db, &payload, None).await.unwrap();
        claim(&db, "relay-2", &RelayOptions::default())
            .await
            .unwrap();
        mark_published(&db, "relay-2", &[other]).await.unwrap();
        let row = job::Entity::find_by_id(other)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((row.locked_by, row.locked_until), (None, None));
    }
}
