//! The database queue backend, seen from one worker: its claims carry the worker's id as the
//! lease holder. The statements are [`crate::store::job`]'s.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::store::job::{self, Lease};
pub use crate::store::job::{ClaimById, ClaimedJob, requeue_orphans};

/// The job table, seen from one worker.
#[derive(Clone, Debug)]
pub struct DatabaseQueue {
    worker_id: String,
    lease: Duration,
}

impl DatabaseQueue {
    pub fn new(worker_id: impl Into<String>, lease: Duration) -> Self {
        Self {
            worker_id: worker_id.into(),
            lease,
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    fn lease(&self) -> Lease<'_> {
        Lease {
            holder: &self.worker_id,
            until: Utc::now()
                + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(60)),
        }
    }

    /// Claims the most urgent runnable job: pending and due, or running with an expired lease.
    /// Only jobs not handed to an external queue (`published_at IS NULL`) are claimed here.
    pub async fn claim(&self, db: &impl ConnectionTrait) -> Result<Option<ClaimedJob>, DbErr> {
        job::claim_next(db, self.lease()).await
    }

    /// See [`job::claim_by_id`].
    pub async fn claim_by_id(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
    ) -> Result<ClaimById, DbErr> {
        job::claim_by_id(db, id, self.lease()).await
    }

    /// Extends the lease; false if the lease was lost (another worker took the job).
    pub async fn extend(&self, db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
        job::extend(db, id, self.lease()).await
    }

    /// The job is done: its row goes.
    pub async fn complete(&self, db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
        job::complete(db, id, &self.worker_id).await
    }

    /// See [`job::fail`].
    pub async fn fail(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), DbErr> {
        job::fail(db, id, &self.worker_id, error, retry_at).await
    }

    /// See [`job::release`].
    pub async fn release(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
        run_at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        job::release(db, id, &self.worker_id, run_at).await
    }

    /// See [`job::hand_over`].
    pub async fn hand_over(
        &self,
        db: &DatabaseConnection,
        id: Uuid,
        run_at: DateTime<Utc>,
        error: Option<&str>,
        count_attempt: bool,
    ) -> Result<Option<Uuid>, DbErr> {
        job::hand_over(db, id, &self.worker_id, run_at, error, count_attempt).await
    }

    /// See [`job::fail_pending`].
    pub async fn fail_pending(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
        error: &str,
    ) -> Result<bool, DbErr> {
        job::fail_pending(db, id, error).await
    }
}
