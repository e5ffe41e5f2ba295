//! Notification rows: creation with the plan job, planning, the admin controls, and the
//! moves between statuses that the state machine allows.
//!
//! Terminal statuses are reached only with nothing in flight: pause and cancel move a sending
//! notification to `PAUSING` / `CANCELLING`, and [`settle`] moves it on to `PAUSED` /
//! `CANCELLED` in the transaction that records the last outcome in flight (or at once when
//! nothing is). A `SENDING` notification whose recipients are all done is finished the same
//! way, so the counters of a terminal notification are final: `sent + failed + cancelled +
//! suppressed = total`. (`bounced` counts deliveries sent and then reported bounced: they
//! stay in `sent`.)
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryResult,
};
use uuid::Uuid;

use super::job::{JobPayload, enqueue, enqueue_many, send_slices};
use super::sql::{Paired, same};
use super::{Signal, StoreError};
use crate::domain::NotificationStatus::{self, *};
use crate::entity::notification;
use crate::progress::notification_changed;

/// What an admin asks to send, validated by the service.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub conference_id: Uuid,
    pub subject: String,
    pub message: String,
    pub created_by: String,
    pub idempotency_key: Option<String>,
}

/// Writes the notification (`QUEUED`) and its plan job in one transaction. A unique-key
/// violation (the same idempotency key raced) is returned as the database error.
pub async fn create(
    db: &DatabaseConnection,
    new: NewNotification,
) -> Result<(notification::Model, Signal), DbErr> {
    let now = Utc::now();
    let row = notification::Model {
        id: Uuid::now_v7(),
        conference_id: Some(new.conference_id),
        subject: new.subject,
        message: new.message,
        status: Queued,
        total: 0,
        sent: 0,
        failed: 0,
        cancelled: 0,
        suppressed: 0,
        bounced: 0,
        submitted_at: now,
        started_at: None,
        completed_at: None,
        updated_at: now,
        created_by: new.created_by,
        idempotency_key: new.idempotency_key,
        legacy_id: None,
        legacy_status: None,
        rate_tat: None,
    };
    let txn = crate::db::begin_write(db).await?;
    notification::Entity::insert(notification::ActiveModel {
        id: Set(row.id),
        conference_id: Set(row.conference_id),
        subject: Set(row.subject.clone()),
        message: Set(row.message.clone()),
        status: Set(row.status),
        total: Set(0),
        sent: Set(0),
        failed: Set(0),
        cancelled: Set(0),
        suppressed: Set(0),
        bounced: Set(0),
        submitted_at: Set(now),
        started_at: Set(None),
        completed_at: Set(None),
        updated_at: Set(now),
        created_by: Set(row.created_by.clone()),
        idempotency_key: Set(row.idempotency_key.clone()),
        legacy_id: Set(None),
        legacy_status: Set(None),
        rate_tat: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    enqueue(
        &txn,
        &JobPayload::Plan {
            notification_id: row.id,
        },
        None,
    )
    .await?;
    let signal = notification_changed(&txn, row.id).await?;
    txn.commit().await?;
    Ok((row, signal))
}

/// The notification's status, or `None` if it is gone. An unknown stored value is an error.
pub async fn status(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<NotificationStatus>, DbErr> {
    let row = db
        .query_one_raw(same(
            db.get_database_backend(),
            "SELECT status FROM notification WHERE id = $1",
            vec![id.into()],
        ))
        .await?;
    row.map(|row| row.try_get::<NotificationStatus>("", "status"))
        .transpose()
}

/// The row's status and counters, locked for the rest of the transaction on PostgreSQL
/// (SQLite's write transaction already holds the only write lock).
const LOCK_ROW: Paired = Paired {
    postgres: "SELECT status, conference_id, started_at, legacy_id, total, sent, failed, \
                   cancelled, suppressed FROM notification WHERE id = $1 FOR UPDATE",
    sqlite: "SELECT status, conference_id, started_at, legacy_id, total, sent, failed, \
                 cancelled, suppressed FROM notification WHERE id = $1",
};

/// A notification's status and counters inside a transaction that changes them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Row {
    pub status: NotificationStatus,
    pub started: bool,
    pub total: i32,
    pub done: i32,
}

impl Row {
    pub(super) fn from_query(row: &QueryResult) -> Result<Self, DbErr> {
        let started: Option<DateTime<Utc>> = row.try_get("", "started_at")?;
        let (sent, failed, cancelled, suppressed): (i32, i32, i32, i32) = (
            row.try_get("", "sent")?,
            row.try_get("", "failed")?,
            row.try_get("", "cancelled")?,
            row.try_get("", "suppressed")?,
        );
        Ok(Self {
            status: row.try_get("", "status")?,
            started: started.is_some(),
            total: row.try_get("", "total")?,
            done: sent + failed + cancelled + suppressed,
        })
    }
}

/// What [`plan`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Planned {
    /// No such notification (deleted meanwhile).
    Gone,
    /// Planned before (a repeated plan job), or cancelled first: nothing to do.
    Skipped,
    /// Deliveries written; send jobs enqueued unless the notification is paused.
    Planned {
        total: i64,
        status: NotificationStatus,
    },
}

/// The plan step, in one transaction: one `INSERT ... SELECT` creates a delivery per
/// attendee (attendees registering meanwhile are either in that snapshot or not; running it
/// twice adds nothing), sets `total` and `started_at`, the status `SENDING` (a paused
/// notification stays paused), and enqueues send jobs over slices of `slice_size` ids.
/// No attendees: `COMPLETED` at once.
pub async fn plan(
    db: &DatabaseConnection,
    id: Uuid,
    slice_size: usize,
) -> Result<(Planned, Signal), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let Some(row) = txn
        .query_one_raw(LOCK_ROW.on(backend, vec![id.into()]))
        .await?
    else {
        return Ok((Planned::Gone, Signal::none()));
    };
    let started: Option<DateTime<Utc>> = row.try_get("", "started_at")?;
    let status: NotificationStatus = row.try_get("", "status")?;
    let conference: Option<Uuid> = row.try_get("", "conference_id")?;
    if started.is_some() || status == Cancelled {
        return Ok((Planned::Skipped, Signal::none()));
    }
    let Some(conference) = conference else {
        return Err(StoreError::Invalid {
            id,
            reason: "the notification has no conference".into(),
        });
    };
    // An address on the suppression list gets a `suppressed` delivery, never sent, so the
    // counts still add up.
    txn.execute_raw(same(
        backend,
        format!(
            "INSERT INTO delivery (notification_id, attendee_id, email, status, attempts) \
             SELECT $1, a.id, a.email, \
                 CASE WHEN {} THEN 'suppressed' ELSE 'pending' END, 0 \
             FROM attendee a WHERE a.conference_id = $2 \
             ON CONFLICT (notification_id, attendee_id) DO NOTHING",
            crate::suppression::SUPPRESSED_ATTENDEE
        ),
        vec![id.into(), conference.into()],
    ))
    .await?;
    let range = txn
        .query_one_raw(same(
            backend,
            "SELECT COUNT(*) AS n, \
                 SUM(CASE WHEN status = 'suppressed' THEN 1 ELSE 0 END) AS suppressed, \
                 MIN(CASE WHEN status = 'pending' THEN id END) AS first, \
                 MAX(CASE WHEN status = 'pending' THEN id END) AS last \
             FROM delivery WHERE notification_id = $1",
            vec![id.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("counting deliveries returned nothing".into()))?;
    let total: i64 = range.try_get("", "n")?;
    let suppressed: i64 = range.try_get::<Option<i64>>("", "suppressed")?.unwrap_or(0);
    // Paused before planning: planned, and left paused. Nobody to send to: complete.
    let next = match status {
        Paused => Paused,
        _ if total == suppressed => Completed,
        _ => Sending,
    };
    debug_assert!(next == status || status.can_become(next));
    let now = Utc::now();
    let completed_at = if next == Completed { Some(now) } else { None };
    txn.execute_raw(same(
        backend,
        "UPDATE notification SET status = $1, total = $2, suppressed = $7, started_at = $3, \
             updated_at = $3, completed_at = $4 WHERE id = $5 AND status = $6",
        vec![
            next.as_str().into(),
            (total as i32).into(),
            now.into(),
            completed_at.into(),
            id.into(),
            status.as_str().into(),
            (suppressed as i32).into(),
        ],
    ))
    .await?;
    if next == Sending {
        let first: i64 = range.try_get("", "first")?;
        let last: i64 = range.try_get("", "last")?;
        enqueue_many(&txn, &send_slices(id, first, last, slice_size), None).await?;
    }
    let signal = notification_changed(&txn, id).await?;
    txn.commit().await?;
    Ok((
        Planned::Planned {
            total,
            status: next,
        },
        signal,
    ))
}

/// Moves the notification from one of `from` to `to`, if the state machine allows it;
/// false when its status is not one of `from` (or it was imported: those never change).
async fn transition(
    txn: &impl ConnectionTrait,
    id: Uuid,
    from: &[NotificationStatus],
    to: NotificationStatus,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let from: Vec<String> = from
        .iter()
        .filter(|from| from.can_become(to))
        .map(|from| format!("'{}'", from.as_str()))
        .collect();
    if from.is_empty() {
        return Ok(false);
    }
    let completed_at = if to.is_terminal() { "$1" } else { "NULL" };
    let result = txn
        .execute_raw(same(
            txn.get_database_backend(),
            format!(
                "UPDATE notification SET status = $2, updated_at = $1, \
                     completed_at = {completed_at} \
                 WHERE id = $3 AND legacy_id IS NULL AND status IN ({})",
                from.join(", ")
            ),
            vec![now.into(), to.as_str().into(), id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Whether a claimed delivery of the notification has not been recorded yet.
async fn in_flight(txn: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    Ok(txn
        .query_one_raw(same(
            txn.get_database_backend(),
            "SELECT 1 AS x FROM delivery WHERE notification_id = $1 AND status = 'sending' \
             LIMIT 1",
            vec![id.into()],
        ))
        .await?
        .is_some())
}

/// Moves a notification on once nothing stops it, inside the caller's transaction (which
/// holds the row's lock): `CANCELLING` cancels what is pending and becomes `CANCELLED` when
/// nothing is in flight; `PAUSING` becomes `PAUSED` when nothing is in flight; a started
/// `SENDING` notification whose recipients are all done becomes `COMPLETED` or
/// `COMPLETED_WITH_ERRORS`. Claims whose lease ran out (a dead worker's batch) are not in
/// flight any more: pausing returns them to `pending`, cancelling cancels them. Returns
/// whether the status changed.
pub(super) async fn settle(
    txn: &impl ConnectionTrait,
    id: Uuid,
    row: Row,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let backend = txn.get_database_backend();
    match row.status {
        Cancelling => {
            let cancelled = txn
                .execute_raw(same(
                    backend,
                    "UPDATE delivery SET status = 'cancelled', locked_until = NULL \
                     WHERE notification_id = $1 AND (status = 'pending' \
                         OR (status = 'sending' AND locked_until < $2))",
                    vec![id.into(), now.into()],
                ))
                .await?
                .rows_affected();
            if cancelled > 0 {
                txn.execute_raw(same(
                    backend,
                    "UPDATE notification SET cancelled = cancelled + $1, updated_at = $2 \
                     WHERE id = $3",
                    vec![(cancelled as i64).into(), now.into(), id.into()],
                ))
                .await?;
            }
            if in_flight(txn, id).await? {
                return Ok(false);
            }
            transition(txn, id, &[Cancelling], Cancelled, now).await
        }
        Pausing => {
            txn.execute_raw(same(
                backend,
                "UPDATE delivery SET status = 'pending', locked_until = NULL \
                 WHERE notification_id = $1 AND status = 'sending' AND locked_until < $2",
                vec![id.into(), now.into()],
            ))
            .await?;
            if in_flight(txn, id).await? {
                return Ok(false);
            }
            transition(txn, id, &[Pausing], Paused, now).await
        }
        Sending if row.started && row.done >= row.total => {
            // The counters say everything is done; the rows must agree.
            let result = txn
                .execute_raw(same(
                    backend,
                    "UPDATE notification SET \
                         status = CASE WHEN failed > 0 THEN 'COMPLETED_WITH_ERRORS' \
                             ELSE 'COMPLETED' END, \
                         completed_at = $1, updated_at = $1 \
                     WHERE id = $2 AND status = 'SENDING' AND NOT EXISTS (SELECT 1 FROM delivery \
                         WHERE notification_id = $2 AND status IN ('pending', 'sending'))",
                    vec![now.into(), id.into()],
                ))
                .await?;
            if result.rows_affected() == 1 {
                tracing::info!(notification_id = %id, "notification completed");
            }
            Ok(result.rows_affected() == 1)
        }
        _ => Ok(false),
    }
}

/// For a send job that found nothing to claim, or found the notification no longer
/// `SENDING`: settles or finishes it if nothing is left in flight (see [`settle`]).
pub async fn settle_or_finish(db: &DatabaseConnection, id: Uuid) -> Result<Signal, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let Some(row) = txn
        .query_one_raw(LOCK_ROW.on(txn.get_database_backend(), vec![id.into()]))
        .await?
    else {
        return Ok(Signal::none());
    };
    let row = Row::from_query(&row)?;
    if !settle(&txn, id, row, Utc::now()).await? {
        txn.rollback().await?;
        return Ok(Signal::none());
    }
    let signal = notification_changed(&txn, id).await?;
    txn.commit().await?;
    Ok(signal)
}

/// Opens a control's transaction with the row locked; `NotFound` if there is none.
async fn locked(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<(sea_orm::DatabaseTransaction, Row, bool), StoreError> {
    let txn = crate::db::begin_write(db).await?;
    let row = txn
        .query_one_raw(LOCK_ROW.on(txn.get_database_backend(), vec![id.into()]))
        .await?
        .ok_or(StoreError::NotFound(id))?;
    let imported = row.try_get::<Option<i32>>("", "legacy_id")?.is_some();
    Ok((txn, Row::from_query(&row)?, imported))
}

fn refused(id: Uuid, row: Row, imported: bool, action: &'static str) -> StoreError {
    StoreError::Refused {
        id,
        status: row.status,
        imported,
        action,
    }
}

/// Re-reads the row after a change inside the transaction, then settles it.
async fn settle_now(txn: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    let row = txn
        .query_one_raw(LOCK_ROW.on(txn.get_database_backend(), vec![id.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("notification {id}")))?;
    settle(txn, id, Row::from_query(&row)?, now).await?;
    Ok(())
}

async fn commit_with_signal(
    txn: sea_orm::DatabaseTransaction,
    id: Uuid,
) -> Result<Signal, StoreError> {
    let signal = notification_changed(&txn, id).await?;
    txn.commit().await?;
    Ok(signal)
}

/// Pause: send jobs stop claiming at their next batch. `PAUSING` while claimed deliveries are
/// in flight, `PAUSED` once they are recorded (at once if there are none).
pub async fn pause(db: &DatabaseConnection, id: Uuid) -> Result<Signal, StoreError> {
    let (txn, row, imported) = locked(db, id).await?;
    let now = Utc::now();
    if !transition(&txn, id, &[Queued, Sending], Pausing, now).await? {
        return Err(refused(id, row, imported, "paused"));
    }
    settle_now(&txn, id, now).await?;
    commit_with_signal(txn, id).await
}

/// Resume: `SENDING` again, with send jobs over exactly the deliveries still pending. A
/// started notification with nothing left to send is finished at once.
pub async fn resume(
    db: &DatabaseConnection,
    id: Uuid,
    slice_size: usize,
) -> Result<Signal, StoreError> {
    let (txn, row, imported) = locked(db, id).await?;
    let now = Utc::now();
    if !transition(&txn, id, &[Paused, Pausing], Sending, now).await? {
        return Err(refused(id, row, imported, "resumed"));
    }
    enqueue_pending(&txn, id, slice_size).await?;
    settle_now(&txn, id, now).await?;
    commit_with_signal(txn, id).await
}

/// Cancel: every pending delivery becomes `cancelled`; `CANCELLING` while claimed
/// deliveries are in flight, `CANCELLED` once they are recorded (at once if there are none).
pub async fn cancel(db: &DatabaseConnection, id: Uuid) -> Result<Signal, StoreError> {
    let (txn, row, imported) = locked(db, id).await?;
    let now = Utc::now();
    if !transition(
        &txn,
        id,
        &[Queued, Sending, Pausing, Paused],
        Cancelling,
        now,
    )
    .await?
    {
        return Err(refused(id, row, imported, "cancelled"));
    }
    settle_now(&txn, id, now).await?;
    commit_with_signal(txn, id).await
}

/// Retry failed deliveries: `failed` become `pending` with their attempts reset, the counter
/// goes down, and (unless paused) the notification is `SENDING` with send jobs over the
/// pending deliveries.
pub async fn retry_failed(
    db: &DatabaseConnection,
    id: Uuid,
    slice_size: usize,
) -> Result<Signal, StoreError> {
    let (txn, row, imported) = locked(db, id).await?;
    if imported || matches!(row.status, Cancelled | Cancelling) {
        return Err(refused(id, row, imported, "retried"));
    }
    let backend = txn.get_database_backend();
    let now = Utc::now();
    let retried = txn
        .execute_raw(same(
            backend,
            "UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = NULL \
             WHERE notification_id = $1 AND status = 'failed'",
            vec![id.into()],
        ))
        .await?
        .rows_affected();
    if retried == 0 {
        txn.rollback().await?;
        return Err(StoreError::NothingToRetry(id));
    }
    txn.execute_raw(same(
        backend,
        "UPDATE notification SET failed = failed - $1, updated_at = $2 WHERE id = $3",
        vec![(retried as i64).into(), now.into(), id.into()],
    ))
    .await?;
    if !matches!(row.status, Paused | Pausing) {
        if row.status != Sending && !transition(&txn, id, &[row.status], Sending, now).await? {
            txn.rollback().await?;
            return Err(refused(id, row, imported, "retried"));
        }
        enqueue_pending(&txn, id, slice_size).await?;
    }
    commit_with_signal(txn, id).await
}

/// Send jobs over the id range of the notification's pending deliveries.
async fn enqueue_pending(
    txn: &impl ConnectionTrait,
    id: Uuid,
    slice_size: usize,
) -> Result<(), DbErr> {
    let row = txn
        .query_one_raw(same(
            txn.get_database_backend(),
            "SELECT MIN(id) AS first, MAX(id) AS last FROM delivery \
             WHERE notification_id = $1 AND status = 'pending'",
            vec![id.into()],
        ))
        .await?;
    if let Some(row) = row
        && let (Some(first), Some(last)) = (
            row.try_get::<Option<i64>>("", "first")?,
            row.try_get::<Option<i64>>("", "last")?,
        )
    {
        enqueue_many(txn, &send_slices(id, first, last, slice_size), None).await?;
    }
    Ok(())
}

/// The shared send-rate limit (GCRA): the row keeps a "theoretical arrival time". Reserving
/// `count` sends at `per_second` advances it atomically by `count / per_second`; returns how
/// long to wait before the first of them. One UPDATE per batch, whatever the number of
/// workers.
pub async fn reserve_rate(
    db: &impl ConnectionTrait,
    id: Uuid,
    count: usize,
    per_second: u32,
) -> Result<Duration, DbErr> {
    reserve(db, RateOf::Notification, id, count, per_second).await
}

/// The same for an organization's own limit (`organization.rate_per_second`), shared by all
/// its notifications and all workers.
pub async fn reserve_organization_rate(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    count: usize,
    per_second: u32,
) -> Result<Duration, DbErr> {
    reserve(db, RateOf::Organization, organization_id, count, per_second).await
}

/// Whose row keeps a rate limiter's timestamp.
#[derive(Clone, Copy)]
enum RateOf {
    Notification,
    Organization,
}

async fn reserve(
    db: &impl ConnectionTrait,
    of: RateOf,
    id: Uuid,
    count: usize,
    per_second: u32,
) -> Result<Duration, DbErr> {
    let now = Utc::now().timestamp_micros();
    let span = (count as i64 * 1_000_000) / i64::from(per_second.max(1));
    let table = match of {
        RateOf::Notification => "notification",
        RateOf::Organization => "organization",
    };
    let row = db
        .query_one_raw(same(
            db.get_database_backend(),
            format!(
                "UPDATE {table} SET rate_tat = \
                     CASE WHEN rate_tat IS NULL OR rate_tat < $1 THEN $1 ELSE rate_tat END + $2 \
                 WHERE id = $3 RETURNING rate_tat"
            ),
            vec![now.into(), span.into(), id.into()],
        ))
        .await?;
    let tat: i64 = match row {
        Some(row) => row.try_get("", "rate_tat")?,
        None => return Ok(Duration::ZERO),
    };
    let start = tat - span;
    Ok(Duration::from_micros(
        start.saturating_sub(now).max(0) as u64
    ))
}
