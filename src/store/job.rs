//! The job table: the database queue, and the outbox of an external queue.
//!
//! A claim is a lease: the job is `running` until `locked_until`, extended while its worker
//! works. A worker that dies leaves the lease to expire, and another worker takes the job
//! over. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so workers never wait on each
//! other; SQLite has one writer at a time, so a conditional `UPDATE ... RETURNING` is enough
//! there (sea-orm would silently drop `SKIP LOCKED`).
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryResult, Statement,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sql::{Paired, same};
use crate::domain::JobStatus;
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

    /// The notification a plan or send job works on: the fair claim's grouping.
    pub fn notification_id(&self) -> Option<Uuid> {
        match self {
            JobPayload::Plan { notification_id }
            | JobPayload::Send {
                notification_id, ..
            } => Some(*notification_id),
            JobPayload::Confirmation { .. } => None,
        }
    }

    /// Plan jobs go first so a send starts quickly; confirmations (transactional mail) are
    /// not held up by fan-out (bulk mail).
    fn priority(&self) -> i32 {
        match self {
            JobPayload::Plan { .. } => 20,
            JobPayload::Confirmation { .. } => 10,
            JobPayload::Send { .. } => 0,
        }
    }
}

pub use crate::progress::WAKE_CHANNEL;

pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;

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

/// Writes several jobs, in statements of at most 500 rows.
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
    for chunk in payloads.chunks(500) {
        let mut rows = Vec::with_capacity(chunk.len());
        for payload in chunk {
            let id = Uuid::now_v7();
            ids.push(id);
            rows.push(job::ActiveModel {
                id: Set(id),
                kind: Set(payload.kind().to_owned()),
                payload: Set(serde_json::to_string(payload)
                    .map_err(|e| DbErr::Custom(format!("encoding a job payload: {e}")))?),
                status: Set(JobStatus::Pending),
                priority: Set(payload.priority()),
                attempts: Set(0),
                max_attempts: Set(DEFAULT_MAX_ATTEMPTS),
                run_at: Set(run_at.unwrap_or(now)),
                locked_until: Set(None),
                locked_by: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                published_at: Set(None),
                notification_id: Set(payload.notification_id()),
            });
        }
        job::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
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

/// Deletes the plan job of a notification that no worker holds and no external queue was
/// handed (a scheduled notification rescheduled or cancelled). A job already claimed or
/// published stays, and finds nothing to do when it runs.
pub async fn drop_pending_plan(
    conn: &impl ConnectionTrait,
    notification_id: Uuid,
) -> Result<u64, DbErr> {
    let payload = serde_json::to_string(&JobPayload::Plan { notification_id })
        .map_err(|e| DbErr::Custom(format!("encoding a job payload: {e}")))?;
    Ok(conn
        .execute_raw(same(
            conn.get_database_backend(),
            "DELETE FROM job WHERE kind = 'plan' AND payload = $1 AND status = 'pending' \
                 AND published_at IS NULL",
            vec![payload.into()],
        ))
        .await?
        .rows_affected())
}

/// A job its holder has the lease on.
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

/// Who holds a claim, and until when.
#[derive(Clone, Copy, Debug)]
pub struct Lease<'a> {
    pub holder: &'a str,
    pub until: DateTime<Utc>,
}

/// The next runnable job (pending and due, or running with an expired lease) not handed to
/// an external queue, chosen fairly:
///
/// 1. by priority: plan jobs, then registration confirmations (transactional), then sends
///    (bulk);
/// 2. then the organization with the fewest jobs running now (live leases) goes first, so
///    the workers' slots are shared round-robin among the organizations that are sending;
/// 3. then, within it, the notification with the fewest jobs running, so a small send is
///    never queued behind the slices of a big one;
/// 4. then the oldest.
///
/// `busy` is the running jobs, a handful (at most the workers' slots); each candidate
/// counts its organization's and its notification's rows in it.
macro_rules! claim_next_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE job SET status = 'running', locked_until = $1, locked_by = $2, \
                 attempts = attempts + 1 \
             WHERE id = (WITH busy AS ( \
                     SELECT b.notification_id, bc.organization_id FROM job b \
                     JOIN notification bn ON bn.id = b.notification_id \
                     JOIN conference bc ON bc.id = bn.conference_id \
                     WHERE b.status = 'running' AND b.locked_until >= $3) \
                 SELECT j.id FROM job j \
                 LEFT JOIN notification n ON n.id = j.notification_id \
                 LEFT JOIN conference c ON c.id = n.conference_id \
                 WHERE j.published_at IS NULL AND ((j.status = 'pending' AND j.run_at <= $3) \
                    OR (j.status = 'running' AND j.locked_until < $3)) \
                 ORDER BY j.priority DESC, \
                     (SELECT COUNT(*) FROM busy WHERE busy.organization_id = c.organization_id), \
                     (SELECT COUNT(*) FROM busy WHERE busy.notification_id = j.notification_id), \
                     j.run_at ASC \
                 LIMIT 1",
            $lock,
            ") RETURNING id, kind, payload, attempts, max_attempts"
        )
    };
}

const CLAIM_NEXT: Paired = Paired {
    postgres: claim_next_sql!(" FOR UPDATE OF j SKIP LOCKED"),
    // One statement under SQLite's single writer: the subquery and the update cannot
    // interleave with another claim.
    sqlite: claim_next_sql!(""),
};

/// Whether a send job of `notification_id` should give its slot up after its current batch:
/// a due job is waiting that the fair claim would pick first, i.e. a plan job or a
/// registration confirmation, or a job of a notification (of any organization) that has no
/// job running at all. The yielding job goes back to the queue, where it is claimed again in
/// its fair turn; so a long slice holds a slot for one batch at a time, not for the whole
/// slice, while others wait.
pub async fn should_yield(db: &impl ConnectionTrait, notification_id: Uuid) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(same(
            db.get_database_backend(),
            "SELECT 1 AS waiting FROM job j \
             WHERE j.status = 'pending' AND j.run_at <= $1 AND j.published_at IS NULL \
               AND (j.priority > 0 OR (j.notification_id <> $2 AND NOT EXISTS ( \
                   SELECT 1 FROM job r WHERE r.notification_id = j.notification_id \
                   AND r.status = 'running' AND r.locked_until >= $1))) \
             LIMIT 1",
            vec![Utc::now().into(), notification_id.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Claims the most urgent runnable job for `lease`, counting an attempt.
pub async fn claim_next(
    db: &impl ConnectionTrait,
    lease: Lease<'_>,
) -> Result<Option<ClaimedJob>, DbErr> {
    let row = db
        .query_one_raw(CLAIM_NEXT.on(
            db.get_database_backend(),
            vec![lease.until.into(), lease.holder.into(), Utc::now().into()],
        ))
        .await?;
    row.as_ref().map(ClaimedJob::from_row).transpose()
}

/// What [`claim_by_id`] found.
#[derive(Debug)]
pub enum ClaimById {
    /// The caller now holds the job's lease.
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

/// Claims the job `id` whatever its `published_at`: for a queue that delivers job ids
/// (Service Bus), where the message is the signal that the job is due.
///
/// Exactly one of several concurrent callers wins: the conditional update takes the row
/// only while it is `pending`, or `running` with an expired lease. On PostgreSQL a second
/// update waits for the first to commit and then re-checks the condition (so it finds the
/// fresh lease); on SQLite there is one writer at a time.
pub async fn claim_by_id(
    db: &impl ConnectionTrait,
    id: Uuid,
    lease: Lease<'_>,
) -> Result<ClaimById, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let row = db
        .query_one_raw(same(
            backend,
            "UPDATE job SET status = 'running', locked_until = $1, locked_by = $2, \
                 attempts = attempts + 1 \
             WHERE id = $3 AND (status = 'pending' \
                 OR (status = 'running' AND (locked_until IS NULL OR locked_until < $4))) \
             RETURNING id, kind, payload, attempts, max_attempts",
            vec![
                lease.until.into(),
                lease.holder.into(),
                id.into(),
                now.into(),
            ],
        ))
        .await?;
    if let Some(row) = row {
        return Ok(ClaimById::Claimed(ClaimedJob::from_row(&row)?));
    }
    let Some(row) = job::Entity::find_by_id(id).one(db).await? else {
        return Ok(ClaimById::Missing);
    };
    Ok(match row.status {
        JobStatus::Failed => ClaimById::Failed,
        // Pending again (released between the two statements), or running: look again when
        // the holder's lease runs out, or at once.
        JobStatus::Pending | JobStatus::Running => ClaimById::Busy {
            until: row.locked_until.unwrap_or(now),
        },
    })
}

/// Extends the lease; false if it was lost (another worker took the job).
pub async fn extend(db: &impl ConnectionTrait, job: Uuid, lease: Lease<'_>) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(same(
            db.get_database_backend(),
            "UPDATE job SET locked_until = $1 \
             WHERE id = $2 AND locked_by = $3 AND status = 'running'",
            vec![lease.until.into(), job.into(), lease.holder.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The job is done: its row goes.
pub async fn complete(db: &impl ConnectionTrait, job: Uuid, holder: &str) -> Result<(), DbErr> {
    db.execute_raw(same(
        db.get_database_backend(),
        "DELETE FROM job WHERE id = $1 AND locked_by = $2",
        vec![job.into(), holder.into()],
    ))
    .await?;
    Ok(())
}

/// The job failed: run it again at `retry_at`, or, without one, keep it as `failed` with
/// its error for an operator to see.
pub async fn fail(
    db: &impl ConnectionTrait,
    job: Uuid,
    holder: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let (state, run_at) = match retry_at {
        Some(at) => (JobStatus::Pending, at),
        None => (JobStatus::Failed, Utc::now()),
    };
    db.execute_raw(same(
        db.get_database_backend(),
        "UPDATE job SET status = $1, run_at = $2, last_error = $3, locked_until = NULL, \
             locked_by = NULL WHERE id = $4 AND locked_by = $5",
        vec![
            state.as_str().into(),
            run_at.into(),
            error.into(),
            job.into(),
            holder.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Hands the job back without counting an attempt: at shutdown, or when it has to wait
/// (for a retry backoff, say) until `run_at`.
pub async fn release(
    db: &impl ConnectionTrait,
    job: Uuid,
    holder: &str,
    run_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute_raw(same(
        db.get_database_backend(),
        "UPDATE job SET status = 'pending', run_at = $1, attempts = attempts - 1, \
             locked_until = NULL, locked_by = NULL WHERE id = $2 AND locked_by = $3",
        vec![run_at.into(), job.into(), holder.into()],
    ))
    .await?;
    Ok(())
}

/// Replaces the claimed job with a new row (a new id, the same payload) that is pending
/// and unpublished, due at `run_at`, and deletes this one, in one transaction. Returns the
/// new id, or `None` when `holder` no longer holds the job (nothing changed).
///
/// This is how a job waits or backs off behind a queue that delivers job ids: the
/// successor is published when due, under its own id, so the queue's duplicate detection
/// (which drops a repeated id) cannot swallow it, and a late copy of the old message finds
/// no row and is settled. `count_attempt: false` gives the attempt back (a job that only
/// waits, for delivery retries say, has not failed); `error`, when given, becomes
/// `last_error`.
pub async fn hand_over(
    db: &DatabaseConnection,
    job: Uuid,
    holder: &str,
    run_at: DateTime<Utc>,
    error: Option<&str>,
    count_attempt: bool,
) -> Result<Option<Uuid>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let successor = Uuid::now_v7();
    let given_back = if count_attempt { 0 } else { 1 };
    let inserted = txn
        .execute_raw(same(
            backend,
            "INSERT INTO job (id, kind, payload, status, priority, attempts, max_attempts, \
                 run_at, locked_until, locked_by, last_error, created_at, published_at, \
                 notification_id) \
             SELECT $1, kind, payload, 'pending', priority, attempts - $2, max_attempts, $3, \
                 NULL, NULL, COALESCE($4, last_error), created_at, NULL, notification_id \
             FROM job WHERE id = $5 AND locked_by = $6 AND status = 'running'",
            vec![
                successor.into(),
                given_back.into(),
                run_at.into(),
                error.map(str::to_owned).into(),
                job.into(),
                holder.into(),
            ],
        ))
        .await?;
    if inserted.rows_affected() != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    complete(&txn, job, holder).await?;
    wake_workers(&txn).await?;
    txn.commit().await?;
    Ok(Some(successor))
}

/// Marks a job that is not running as `failed` with `error` (a job whose queue message
/// cannot be processed), so that it does not wait forever unseen. False when there was no
/// such pending job.
pub async fn fail_pending(
    db: &impl ConnectionTrait,
    job: Uuid,
    error: &str,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(same(
            db.get_database_backend(),
            "UPDATE job SET status = 'failed', last_error = $1, locked_until = NULL, \
                 locked_by = NULL WHERE id = $2 AND status = 'pending'",
            vec![error.into(), job.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
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
    let orphaned = "published_at IS NOT NULL AND status = 'running' \
                    AND (locked_until IS NULL OR locked_until < $1)";
    let candidates = db
        .query_all_raw(same(
            backend,
            format!("SELECT id FROM job WHERE {orphaned} ORDER BY created_at LIMIT $2"),
            vec![
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
            .query_one_raw(same(
                backend,
                format!(
                    "DELETE FROM job WHERE id = $2 AND {orphaned} \
                     RETURNING kind, payload, priority, attempts, max_attempts, last_error, \
                         created_at"
                ),
                vec![expired_before.into(), id.into()],
            ))
            .await?;
        let Some(old) = deleted else {
            txn.rollback().await?;
            continue;
        };
        let successor = Uuid::now_v7();
        txn.execute_raw(same(
            backend,
            "INSERT INTO job (id, kind, payload, status, priority, attempts, max_attempts, \
                 run_at, locked_until, locked_by, last_error, created_at, published_at) \
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, NULL, NULL, $8, $9, NULL)",
            vec![
                successor.into(),
                old.try_get::<String>("", "kind")?.into(),
                old.try_get::<String>("", "payload")?.into(),
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

/// A row the outbox relay claimed to publish.
#[derive(Debug, FromQueryResult)]
pub struct Unpublished {
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

const CLAIM_UNPUBLISHED: Paired = Paired {
    postgres: "UPDATE job SET locked_until = $1, locked_by = $2 \
               WHERE id IN ( \
                   SELECT id FROM job \
                   WHERE published_at IS NULL AND status = 'pending' AND run_at <= $3 \
                     AND (locked_until IS NULL OR locked_until < $3) \
                   ORDER BY created_at, id \
                   LIMIT $4 \
                   FOR UPDATE SKIP LOCKED) \
               RETURNING id, kind, payload, created_at",
    // One statement under SQLite's single writer lock: the subquery and the update cannot
    // interleave with another relay's.
    sqlite: "UPDATE job SET locked_until = $1, locked_by = $2 \
             WHERE id IN ( \
                 SELECT id FROM job \
                 WHERE published_at IS NULL AND status = 'pending' AND run_at <= $3 \
                   AND (locked_until IS NULL OR locked_until < $3) \
                 ORDER BY created_at, id \
                 LIMIT $4) \
             RETURNING id, kind, payload, created_at",
};

/// The relay leases up to `limit` due, unpublished, pending rows; oldest first.
pub async fn claim_unpublished(
    db: &impl ConnectionTrait,
    lease: Lease<'_>,
    limit: usize,
) -> Result<Vec<Unpublished>, DbErr> {
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let mut claimed = Unpublished::find_by_statement(CLAIM_UNPUBLISHED.on(
        db.get_database_backend(),
        vec![
            lease.until.into(),
            lease.holder.into(),
            Utc::now().into(),
            limit.into(),
        ],
    ))
    .all(db)
    .await?;
    // RETURNING gives no order: publish oldest first.
    claimed.sort_by_key(|job| (job.created_at, job.id));
    Ok(claimed)
}

/// `id IN ($first, ...)` over `ids`, numbering from `first`.
fn id_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sets `published_at`, then drops `holder`'s lease. Whoever finishes first marks the row.
///
/// The lease is dropped only where this relay still holds it: a worker may already have
/// received the message and claimed the row (a lease of its own) before the row is marked.
pub async fn mark_published(
    db: &impl ConnectionTrait,
    holder: &str,
    ids: &[Uuid],
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let mut values = vec![Utc::now().into()];
    values.extend(ids.iter().map(|id| (*id).into()));
    db.execute_raw(same(
        backend,
        format!(
            "UPDATE job SET published_at = $1 WHERE published_at IS NULL AND id IN ({})",
            id_list(2, ids.len())
        ),
        values,
    ))
    .await?;
    release_unpublished_lease(db, holder, ids, false).await
}

/// Drops `holder`'s lease on rows it could not send, so the next pass retries them.
pub async fn release_unpublished(
    db: &impl ConnectionTrait,
    holder: &str,
    ids: &[Uuid],
) -> Result<(), DbErr> {
    release_unpublished_lease(db, holder, ids, true).await
}

async fn release_unpublished_lease(
    db: &impl ConnectionTrait,
    holder: &str,
    ids: &[Uuid],
    only_unpublished: bool,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut values = vec![holder.into()];
    values.extend(ids.iter().map(|id| (*id).into()));
    let unpublished = if only_unpublished {
        " AND published_at IS NULL"
    } else {
        ""
    };
    db.execute_raw(same(
        db.get_database_backend(),
        format!(
            "UPDATE job SET locked_until = NULL, locked_by = NULL \
             WHERE locked_by = $1{unpublished} AND id IN ({})",
            id_list(2, ids.len())
        ),
        values,
    ))
    .await?;
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
