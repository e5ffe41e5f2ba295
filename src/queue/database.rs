//! The database queue backend: claiming, completing and failing job rows.
//!
//! A claim is a lease: the job is `running` until `locked_until`, and the worker extends the
//! lease while it works. A worker that dies leaves the lease to expire, and another worker
//! takes the job over. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so workers never
//! wait on each other; SQLite has one writer at a time, so a conditional
//! `UPDATE ... RETURNING` is enough there (sea-orm would silently drop `SKIP LOCKED`).
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, Value,
};
use uuid::Uuid;

use super::{JobPayload, status};

/// A job this worker holds the lease on.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub kind: String,
    /// The decoded payload, or why it could not be decoded (a poison job).
    pub payload: Result<JobPayload, String>,
    /// Attempts including this one.
    pub attempts: i32,
    pub max_attempts: i32,
}

impl ClaimedJob {
    /// From a claim's `RETURNING id, kind, payload, attempts, max_attempts`.
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        let payload: String = row.try_get("", "payload")?;
        Ok(Self {
            id: row.try_get("", "id")?,
            kind: row.try_get("", "kind")?,
            payload: serde_json::from_str(&payload).map_err(|e| e.to_string()),
            attempts: row.try_get("", "attempts")?,
            max_attempts: row.try_get("", "max_attempts")?,
        })
    }
}

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

    fn lease_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Claims the most urgent runnable job: pending and due, or running with an expired lease.
    /// Only jobs not handed to an external queue (`published_at IS NULL`) are claimed here.
    pub async fn claim(&self, db: &impl ConnectionTrait) -> Result<Option<ClaimedJob>, DbErr> {
        let backend = db.get_database_backend();
        let now = Utc::now();
        let lock = if backend == DbBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let condition = format!(
            "id = (SELECT id FROM job \
                 WHERE published_at IS NULL AND ((status = '{pending}' AND run_at <= $3) \
                    OR (status = '{running}' AND locked_until < $3)) \
                 ORDER BY priority DESC, run_at ASC LIMIT 1 {lock})",
            running = status::RUNNING,
            pending = status::PENDING,
        );
        self.claim_where(db, &condition, vec![now.into()]).await
    }

    /// Takes the lease on the row matching `condition`, whose placeholders start at `$3`
    /// (`$1` and `$2` are the lease's end and holder), and counts an attempt.
    async fn claim_where(
        &self,
        db: &impl ConnectionTrait,
        condition: &str,
        values: Vec<Value>,
    ) -> Result<Option<ClaimedJob>, DbErr> {
        let sql = format!(
            "UPDATE job SET status = '{running}', locked_until = $1, locked_by = $2, \
                 attempts = attempts + 1 WHERE {condition} \
             RETURNING id, kind, payload, attempts, max_attempts",
            running = status::RUNNING,
        );
        let mut all = vec![
            self.lease_end(Utc::now()).into(),
            self.worker_id.clone().into(),
        ];
        all.extend(values);
        let row = db
            .query_one_raw(statement(db.get_database_backend(), &sql, all))
            .await?;
        row.as_ref().map(ClaimedJob::from_row).transpose()
    }

    /// Extends the lease; false if the lease was lost (another worker took the job).
    pub async fn extend(&self, db: &impl ConnectionTrait, job: Uuid) -> Result<bool, DbErr> {
        let result = db
            .execute_raw(statement(
                db.get_database_backend(),
                "UPDATE job SET locked_until = $1 WHERE id = $2 AND locked_by = $3 AND status = 'running'",
                vec![
                    self.lease_end(Utc::now()).into(),
                    job.into(),
                    self.worker_id.clone().into(),
                ],
            ))
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The job is done: its row goes.
    pub async fn complete(&self, db: &impl ConnectionTrait, job: Uuid) -> Result<(), DbErr> {
        db.execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM job WHERE id = $1 AND locked_by = $2",
            vec![job.into(), self.worker_id.clone().into()],
        ))
        .await?;
        Ok(())
    }

    /// The job failed: run it again at `retry_at`, or, without one, keep it as `failed` with
    /// its error for an operator to see.
    pub async fn fail(
        &self,
        db: &impl ConnectionTrait,
        job: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), DbErr> {
        let (state, run_at) = match retry_at {
            Some(at) => (status::PENDING, at),
            None => (status::FAILED, Utc::now()),
        };
        db.execute_raw(statement(
            db.get_database_backend(),
            "UPDATE job SET status = $1, run_at = $2, last_error = $3, locked_until = NULL, \
                 locked_by = NULL WHERE id = $4 AND locked_by = $5",
            vec![
                state.into(),
                run_at.into(),
                error.into(),
                job.into(),
                self.worker_id.clone().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Hands the job back without counting an attempt: at shutdown, or when it has to wait
    /// (for a retry backoff, say) until `run_at`.
    pub async fn release(
        &self,
        db: &impl ConnectionTrait,
        job: Uuid,
        run_at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        db.execute_raw(statement(
            db.get_database_backend(),
            "UPDATE job SET status = $1, run_at = $2, attempts = attempts - 1, \
                 locked_until = NULL, locked_by = NULL WHERE id = $3 AND locked_by = $4",
            vec![
                status::PENDING.into(),
                run_at.into(),
                job.into(),
                self.worker_id.clone().into(),
            ],
        ))
        .await?;
        Ok(())
    }
}

/// What [`DatabaseQueue::claim_by_id`] found.
#[derive(Debug)]
pub enum ClaimById {
    /// This worker now holds the job's lease.
    Claimed(ClaimedJob),
    /// Another worker (or another slot of this one) holds a live lease until `until`: the job
    /// must not run twice at once. Ask again then.
    Busy { until: DateTime<Utc> },
    /// The job gave up earlier and is kept as `failed` for an operator: nothing to run.
    Failed,
    /// No such row: the job is done (finished rows are deleted), was handed over to a
    /// successor row, or was never one of ours.
    Missing,
}

impl DatabaseQueue {
    /// Claims the job `id` whatever its `published_at`: for a queue that delivers job ids
    /// (Service Bus), where the message is the signal that the job is due.
    ///
    /// Exactly one of several concurrent callers wins: the conditional update takes the row
    /// only while it is `pending`, or `running` with an expired lease. On PostgreSQL a second
    /// update waits for the first to commit and then re-checks the condition (so it finds the
    /// fresh lease); on SQLite there is one writer at a time.
    pub async fn claim_by_id(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
    ) -> Result<ClaimById, DbErr> {
        let backend = db.get_database_backend();
        let now = Utc::now();
        let condition = format!(
            "id = $3 AND (status = '{pending}' \
                 OR (status = '{running}' AND (locked_until IS NULL OR locked_until < $4)))",
            running = status::RUNNING,
            pending = status::PENDING,
        );
        if let Some(job) = self
            .claim_where(db, &condition, vec![id.into(), now.into()])
            .await?
        {
            return Ok(ClaimById::Claimed(job));
        }
        let row = db
            .query_one_raw(statement(
                backend,
                "SELECT status, locked_until FROM job WHERE id = $1",
                vec![id.into()],
            ))
            .await?;
        let Some(row) = row else {
            return Ok(ClaimById::Missing);
        };
        let state: String = row.try_get("", "status")?;
        let until: Option<DateTime<Utc>> = row.try_get("", "locked_until")?;
        Ok(match state.as_str() {
            status::FAILED => ClaimById::Failed,
            // Pending again (released between the two statements), or running: look again when
            // the holder's lease runs out, or at once.
            _ => ClaimById::Busy {
                until: until.unwrap_or(now),
            },
        })
    }

    /// Replaces the claimed job with a new row (a new id, the same payload) that is pending
    /// and unpublished, due at `run_at`, and deletes this one, in one transaction. Returns the
    /// new id, or `None` when this worker no longer holds the job (nothing changed).
    ///
    /// This is how a job waits or backs off behind a queue that delivers job ids: the
    /// successor is published when due, under its own id, so the queue's duplicate detection
    /// (which drops a repeated id) cannot swallow it, and a late copy of the old message finds
    /// no row and is settled. `count_attempt: false` gives the attempt back (a job that only
    /// waits, for delivery retries say, has not failed); `error`, when given, becomes
    /// `last_error`.
    pub async fn hand_over(
        &self,
        db: &DatabaseConnection,
        job: Uuid,
        run_at: DateTime<Utc>,
        error: Option<&str>,
        count_attempt: bool,
    ) -> Result<Option<Uuid>, DbErr> {
        let txn = crate::db::begin_write(db).await?;
        let backend = txn.get_database_backend();
        let successor = Uuid::now_v7();
        let given_back = if count_attempt { 0 } else { 1 };
        let inserted = txn
            .execute_raw(statement(
                backend,
                "INSERT INTO job (id, kind, payload, status, priority, attempts, max_attempts, \
                     run_at, locked_until, locked_by, last_error, created_at, published_at) \
                 SELECT $1, kind, payload, $2, priority, attempts - $3, max_attempts, $4, \
                     NULL, NULL, COALESCE($5, last_error), created_at, NULL \
                 FROM job WHERE id = $6 AND locked_by = $7 AND status = $8",
                vec![
                    successor.into(),
                    status::PENDING.into(),
                    given_back.into(),
                    run_at.into(),
                    error.map(str::to_owned).into(),
                    job.into(),
                    self.worker_id.clone().into(),
                    status::RUNNING.into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        txn.execute_raw(statement(
            backend,
            "DELETE FROM job WHERE id = $1 AND locked_by = $2",
            vec![job.into(), self.worker_id.clone().into()],
        ))
        .await?;
        super::wake_workers(&txn).await?;
        txn.commit().await?;
        Ok(Some(successor))
    }

    /// Marks a job that is not running as `failed` with `error` (a job whose queue message
    /// cannot be processed), so that it does not wait forever unseen. False when there was no
    /// such pending job.
    pub async fn fail_pending(
        &self,
        db: &impl ConnectionTrait,
        job: Uuid,
        error: &str,
    ) -> Result<bool, DbErr> {
        let result = db
            .execute_raw(statement(
                db.get_database_backend(),
                "UPDATE job SET status = $1, last_error = $2, locked_until = NULL, \
                     locked_by = NULL WHERE id = $3 AND status = $4",
                vec![
                    status::FAILED.into(),
                    error.into(),
                    job.into(),
                    status::PENDING.into(),
                ],
            ))
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

/// Hands over published jobs that were claimed and then abandoned for good: `running`, with
/// a lease that ran out before `expired_before`. Their queue message is gone (dead-lettered
/// after its worker died on every delivery, say), so without this they would stay `running`
/// forever. Each is replaced, in its own transaction, by a successor row (a new id, pending,
/// unpublished, due now, `attempts` kept) for the relay to publish; returns the successors.
///
/// Safe even if the message does come back: it then finds no row and is completed, and the
/// job runs once, as the successor. A job still running somewhere has a live lease and is
/// left alone. Only `running` rows are taken: a `pending` published row may simply be
/// waiting in a long queue.
pub async fn requeue_orphans(
    db: &DatabaseConnection,
    expired_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    let backend = db.get_database_backend();
    let orphaned = "published_at IS NOT NULL AND status = $1 \
                    AND (locked_until IS NULL OR locked_until < $2)";
    let candidates = db
        .query_all_raw(statement(
            backend,
            &format!("SELECT id FROM job WHERE {orphaned} ORDER BY created_at LIMIT $3"),
            vec![
                status::RUNNING.into(),
                expired_before.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    let mut successors = Vec::new();
    for row in candidates {
        let id: Uuid = row.try_get("", "id")?;
        let txn = crate::db::begin_write(db).await?;
        // The delete re-checks the condition (on PostgreSQL after any concurrent claim
        // commits), so a job a worker has just claimed again is not touched.
        let deleted = txn
            .query_one_raw(statement(
                backend,
                &format!(
                    "DELETE FROM job WHERE id = $3 AND {orphaned} \
                     RETURNING kind, payload, priority, attempts, max_attempts, last_error, \
                         created_at"
                ),
                vec![status::RUNNING.into(), expired_before.into(), id.into()],
            ))
            .await?;
        let Some(old) = deleted else {
            txn.rollback().await?;
            continue;
        };
        let successor = Uuid::now_v7();
        txn.execute_raw(statement(
            backend,
            "INSERT INTO job (id, kind, payload, status, priority, attempts, max_attempts, \
                 run_at, locked_until, locked_by, last_error, created_at, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9, $10, NULL)",
            vec![
                successor.into(),
                old.try_get::<String>("", "kind")?.into(),
                old.try_get::<String>("", "payload")?.into(),
                status::PENDING.into(),
                old.try_get::<i32>("", "priority")?.into(),
                old.try_get::<i32>("", "attempts")?.into(),
                old.try_get::<i32>("", "max_attempts")?.into(),
                Utc::now().into(),
                old.try_get::<Option<String>>("", "last_error")?.into(),
                old.try_get::<DateTime<Utc>>("", "created_at")?.into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        tracing::warn!(job_id = %id, %successor, "requeued a job whose worker and message are gone");
        successors.push(successor);
    }
    Ok(successors)
}

/// A statement written with PostgreSQL's `$n` placeholders, converted for SQLite.
pub fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sqlite_placeholders(sql),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// `$1` → `?1`: SQLite's numbered parameters take the same values in the same order.
fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_placeholders_carry_over_to_sqlite() {
        assert_eq!(
            super::sqlite_placeholders("a = $1 AND b = $12"),
            "a = ?1 AND b = ?12"
        );
    }
}
