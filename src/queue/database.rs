//! The database queue backend: claiming, completing and failing job rows.
//!
//! A claim is a lease: the job is `running` until `locked_until`, and the worker extends the
//! lease while it works. A worker that dies leaves the lease to expire, and another worker
//! takes the job over. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so workers never
//! wait on each other; SQLite has one writer at a time, so a conditional
//! `UPDATE ... RETURNING` is enough there (sea-orm would silently drop `SKIP LOCKED`).
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
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
        let sql = format!(
            "UPDATE job SET status = '{running}', locked_until = $1, locked_by = $2, \
                 attempts = attempts + 1 \
             WHERE id = (SELECT id FROM job \
                 WHERE published_at IS NULL AND ((status = '{pending}' AND run_at <= $3) \
                    OR (status = '{running}' AND locked_until < $3)) \
                 ORDER BY priority DESC, run_at ASC LIMIT 1 {lock}) \
             RETURNING id, kind, payload, attempts, max_attempts",
            running = status::RUNNING,
            pending = status::PENDING,
        );
        let row = db
            .query_one_raw(statement(
                backend,
                &sql,
                vec![
                    self.lease_end(now).into(),
                    self.worker_id.clone().into(),
                    now.into(),
                ],
            ))
            .await?;
        let Some(row) = row else { return Ok(None) };
        let payload: String = row.try_get("", "payload")?;
        Ok(Some(ClaimedJob {
            id: row.try_get("", "id")?,
            kind: row.try_get("", "kind")?,
            payload: serde_json::from_str(&payload).map_err(|e| e.to_string()),
            attempts: row.try_get("", "attempts")?,
            max_attempts: row.try_get("", "max_attempts")?,
        }))
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
