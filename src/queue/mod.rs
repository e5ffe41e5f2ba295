//! The job queue. Jobs are rows written in the same transaction as the business change that
//! causes them (an outbox), and carry ids only: the database stays the source of truth.
pub mod database;
pub mod servicebus;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::job;

/// What a job asks the worker to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobPayload {
    /// Create the deliveries of a notification and split them into send jobs.
    Plan { notification_id: Uuid },
    /// Send the pending deliveries with ids in `[first_delivery, last_delivery]`.
    Send {
        notification_id: Uuid,
        first_delivery: i64,
        last_delivery: i64,
    },
    /// Email a new attendee their registration confirmation.
    Confirmation { attendee_id: Uuid },
}

impl JobPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            JobPayload::Plan { .. } => "plan",
            JobPayload::Send { .. } => "send",
            JobPayload::Confirmation { .. } => "confirmation",
        }
    }

    /// Plan jobs go first so a send starts quickly; confirmations are not held up by fan-out.
    fn priority(&self) -> i32 {
        match self {
            JobPayload::Plan { .. } => 20,
            JobPayload::Confirmation { .. } => 10,
            JobPayload::Send { .. } => 0,
        }
    }
}

/// Job status values in the `job` table. Finished jobs are deleted; failed ones are kept.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    /// Gave up after `max_attempts`: kept with its last error for an operator to see.
    pub const FAILED: &str = "failed";
}

/// The PostgreSQL channel that wakes idle workers when a job is enqueued.
pub const WAKE_CHANNEL: &str = "techconf_jobs";

pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;

/// Writes a job on `conn` (normally the caller's transaction) to run at `run_at` or now.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    payload: &JobPayload,
    run_at: Option<DateTime<Utc>>,
) -> Result<Uuid, DbErr> {
    enqueue_many(conn, std::slice::from_ref(payload), run_at)
        .await
        .map(|ids| ids[0])
}

/// Writes several jobs in one statement.
pub async fn enqueue_many(
    conn: &impl ConnectionTrait,
    payloads: &[JobPayload],
    run_at: Option<DateTime<Utc>>,
) -> Result<Vec<Uuid>, DbErr> {
    if payloads.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let mut ids = Vec::with_capacity(payloads.len());
    let mut rows = Vec::with_capacity(payloads.len());
    for payload in payloads {
        let id = Uuid::now_v7();
        ids.push(id);
        rows.push(job::ActiveModel {
            id: Set(id),
            kind: Set(payload.kind().to_owned()),
            payload: Set(serde_json::to_string(payload)
                .map_err(|e| DbErr::Custom(format!("encoding a job payload: {e}")))?),
            status: Set(status::PENDING.to_owned()),
            priority: Set(payload.priority()),
            attempts: Set(0),
            max_attempts: Set(DEFAULT_MAX_ATTEMPTS),
            run_at: Set(run_at.unwrap_or(now)),
            locked_until: Set(None),
            locked_by: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            published_at: Set(None),
        });
    }
    job::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    wake_workers(conn).await?;
    Ok(ids)
}

/// On PostgreSQL, a NOTIFY delivered when the enqueuing transaction commits.
async fn wake_workers(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_notify('{WAKE_CHANNEL}', '')"),
        ))
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_ids_only_and_round_trip() {
        let id = Uuid::now_v7();
        let p = JobPayload::Send {
            notification_id: id,
            first_delivery: 1,
            last_delivery: 500,
        };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"kind":"send","notification_id":"{id}","first_delivery":1,"last_delivery":500}}"#
            )
        );
        assert_eq!(serde_json::from_str::<JobPayload>(&text).unwrap(), p);
    }
}
