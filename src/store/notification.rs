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
    ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, QueryResult,
};
use uuid::Uuid;

use super::job::{JobPayload, drop_pending_plan, enqueue, enqueue_many, send_slices};
use super::sql::{Paired, same};
use super::{Signal, StoreError};
use crate::domain::NotificationStatus::{self, *};
use crate::domain::{Audience, AutoPause};
use crate::entity::notification;
use crate::progress::notification_changed;

/// What an admin asks to send, validated by the service.
#[derive(Clone, Debug, Default)]
pub struct NewNotification {
    pub conference_id: Uuid,
    pub name: String,
    pub subject: String,
    pub message: String,
    pub created_by: String,
    pub idempotency_key: Option<String>,
    /// Plan at this instant (`SCHEDULED` until then); none or past: at once.
    pub send_at: Option<DateTime<Utc>>,
    /// Who receives it; none: every attendee registered when it is planned.
    pub audience: Option<Audience>,
    /// When it pauses itself; none: never.
    pub auto_pause: Option<AutoPause>,
}

/// Writes the notification and its plan job in one transaction: `QUEUED` with the job due
/// now, or `SCHEDULED` with the job due at `send_at` (the job queue's `run_at`: no timer of
/// its own, and it survives restarts). A unique-key violation (the same idempotency key
/// raced) is returned as the database error.
pub async fn create(
    db: &DatabaseConnection,
    new: NewNotification,
) -> Result<(notification::Model, Signal), DbErr> {
    let now = Utc::now();
    let send_at = new.send_at.map(to_millis);
    let scheduled = send_at.filter(|at| *at > now);
    let row = notification::Model {
        id: Uuid::now_v7(),
        conference_id: Some(new.conference_id),
        name: Some(new.name),
        subject: new.subject,
        message: new.message,
        status: if scheduled.is_some() {
            Scheduled
        } else {
            Queued
        },
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
        send_at,
        audience: new
            .audience
            .filter(|a| !a.is_everyone())
            .map(|a| a.to_json()),
        auto_pause: new.auto_pause.map(|a| a.to_json()),
        auto_pause_window: None,
        paused_reason: None,
    };
    let txn = crate::db::begin_write(db).await?;
    notification::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    enqueue(
        &txn,
        &JobPayload::Plan {
            notification_id: row.id,
        },
        scheduled,
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
                   cancelled, suppressed, send_at, audience FROM notification WHERE id = $1 \
               FOR UPDATE",
    sqlite: "SELECT status, conference_id, started_at, legacy_id, total, sent, failed, \
                 cancelled, suppressed, send_at, audience FROM notification WHERE id = $1",
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
    /// Scheduled for later (rescheduled after this job was enqueued): the job enqueued by
    /// the reschedule plans it then.
    NotYet { send_at: DateTime<Utc> },
    /// Deliveries written; send jobs enqueued unless the notification is paused.
    Planned {
        total: i64,
        status: NotificationStatus,
        /// How late planning started after `send_at`, for a scheduled notification.
        delay: Option<chrono::Duration>,
    },
}

/// The plan step, in one transaction: one `INSERT ... SELECT` creates a delivery per
/// attendee in the audience (attendees registering meanwhile are either in that snapshot or
/// not; running it twice adds nothing), sets `total` and `started_at`, the status `SENDING`
/// (a paused notification stays paused), and enqueues send jobs over slices of `slice_size`
/// ids. No recipients: `COMPLETED` at once. A `SCHEDULED` notification whose `send_at` is
/// still ahead is left alone ([`Planned::NotYet`]); the row lock makes one plan job of many
/// do the work, the others find it started.
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
    let send_at: Option<DateTime<Utc>> = row.try_get("", "send_at")?;
    if started.is_some() || matches!(status, Cancelled | Cancelling) {
        return Ok((Planned::Skipped, Signal::none()));
    }
    let now = Utc::now();
    if status == Scheduled
        && let Some(send_at) = send_at.filter(|at| *at > now)
    {
        return Ok((Planned::NotYet { send_at }, Signal::none()));
    }
    let audience = Audience::from_json(row.try_get::<Option<String>>("", "audience")?.as_deref())
        .map_err(|reason| StoreError::Invalid { id, reason })?;
    let Some(conference) = conference else {
        return Err(StoreError::Invalid {
            id,
            reason: "the notification has no conference".into(),
        });
    };
    // An address on the suppression list gets a `suppressed` delivery, never sent, so the
    // counts still add up.
    txn.execute_raw(plan_deliveries(backend, id, conference, audience.as_ref()))
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
            delay: send_at.filter(|_| status == Scheduled).map(|at| now - at),
        },
        signal,
    ))
}

/// `INSERT INTO delivery ... SELECT` over the conference's attendees in `audience`, with
/// every value bound (built by sea-query for the backend, then prefixed with the INSERT).
fn plan_deliveries(
    backend: sea_orm::DbBackend,
    id: Uuid,
    conference: Uuid,
    audience: Option<&Audience>,
) -> sea_orm::Statement {
    use crate::entity::attendee::Column;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let a = Alias::new("a");
    let mut select = Query::select();
    select
        .expr(Expr::val(id))
        .column((a.clone(), Column::Id))
        .column((a.clone(), Column::Email))
        .expr(Expr::cust(format!(
            "CASE WHEN {} THEN 'suppressed' ELSE 'pending' END",
            crate::suppression::SUPPRESSED_ATTENDEE
        )))
        .expr(Expr::cust("0"))
        .from_as(Alias::new("attendee"), a.clone())
        .and_where(Expr::col((a.clone(), Column::ConferenceId)).eq(conference));
    if let Some(audience) = audience {
        select.cond_where(super::audience::condition(audience, backend, a));
    }
    let mut statement = backend.build(&select);
    statement.sql = format!(
        "INSERT INTO delivery (notification_id, attendee_id, email, status, attempts) {} \
         ON CONFLICT (notification_id, attendee_id) DO NOTHING",
        statement.sql
    );
    statement
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
    // Resuming clears the reason and starts a fresh auto-pause window.
    txn.execute_raw(same(
        txn.get_database_backend(),
        "UPDATE notification SET paused_reason = NULL, auto_pause_window = NULL WHERE id = $1",
        vec![id.into()],
    ))
    .await?;
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
        &[Scheduled, Queued, Sending, Pausing, Paused],
        Cancelling,
        now,
    )
    .await?
    {
        return Err(refused(id, row, imported, "cancelled"));
    }
    if row.status == Scheduled {
        // Not planned: its plan job has nothing left to do.
        drop_pending_plan(&txn, id).await?;
    }
    settle_now(&txn, id, now).await?;
    commit_with_signal(txn, id).await
}

/// What [`retry_failed`] did.
#[derive(Debug)]
#[must_use = "publish the signal"]
pub struct Retried {
    /// Deliveries made `pending` again.
    pub retried: u64,
    /// Hard bounces left alone: failed deliveries to an address suppressed after a bounce,
    /// and deliveries the provider reported bounced (retried only when asked).
    pub skipped_bounced: u64,
    /// Failed deliveries to an address that unsubscribed or complained since: never retried.
    pub skipped_suppressed: u64,
    pub signal: Signal,
}

/// The delivery's address (the row `delivery`) is on the suppression list of the
/// notification (`$1`)'s conference, or of all its organization's conferences, for one of
/// the reasons in `{}`. Another organization's list never counts.
const SUPPRESSED_DELIVERY: &str = "EXISTS (SELECT 1 FROM suppression s \
     WHERE s.email = LOWER(delivery.email) AND s.reason IN ({}) \
     AND (s.conference_id = (SELECT conference_id FROM notification WHERE id = $1) \
         OR (s.conference_id IS NULL AND s.organization_id = (SELECT c.organization_id \
             FROM conference c JOIN notification n ON n.conference_id = c.id \
             WHERE n.id = $1))))";

fn suppressed_for(reasons: &str) -> String {
    SUPPRESSED_DELIVERY.replace("{}", reasons)
}

/// Reschedule: a `SCHEDULED` notification is planned at `send_at` instead. Its plan job is
/// replaced by one due then; a plan job already claimed meanwhile finds the new `send_at`
/// ahead under the row lock and leaves it ([`Planned::NotYet`]). Refused once planning has
/// started.
pub async fn reschedule(
    db: &DatabaseConnection,
    id: Uuid,
    send_at: DateTime<Utc>,
) -> Result<Signal, StoreError> {
    let (txn, row, imported) = locked(db, id).await?;
    if row.status != Scheduled || imported {
        return Err(refused(id, row, imported, "rescheduled"));
    }
    let now = Utc::now();
    let send_at = to_millis(send_at);
    txn.execute_raw(same(
        txn.get_database_backend(),
        "UPDATE notification SET send_at = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'SCHEDULED'",
        vec![send_at.into(), now.into(), id.into()],
    ))
    .await?;
    drop_pending_plan(&txn, id).await?;
    enqueue(
        &txn,
        &JobPayload::Plan {
            notification_id: id,
        },
        Some(send_at.max(now)),
    )
    .await?;
    commit_with_signal(txn, id).await
}

/// A send time as both databases store it alike: whole milliseconds (PostgreSQL keeps
/// microseconds, chrono nanoseconds, browsers milliseconds).
fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    at.trunc_subsecs(3)
}

/// Auto-pause, inside the transaction that recorded a batch of `sent` and `failed` outcomes
/// (which holds the row's lock): slides the notification's window of recent outcomes and,
/// when its rule trips, moves it `SENDING → PAUSING` with the reason. Returns the status it
/// now has.
pub(super) async fn auto_pause(
    txn: &impl ConnectionTrait,
    id: Uuid,
    row: &QueryResult,
    state: Row,
    (sent, failed): (u64, u64),
    now: DateTime<Utc>,
) -> Result<NotificationStatus, DbErr> {
    let rule = AutoPause::from_json(row.try_get::<Option<String>>("", "auto_pause")?.as_deref());
    let Some(rule) = rule else {
        return Ok(state.status);
    };
    if state.status != Sending || sent + failed == 0 || state.done >= state.total {
        return Ok(state.status);
    }
    let mut window = row
        .try_get::<Option<String>>("", "auto_pause_window")?
        .unwrap_or_default();
    let reason = rule.observe(&mut window, sent, failed);
    let backend = txn.get_database_backend();
    txn.execute_raw(same(
        backend,
        "UPDATE notification SET auto_pause_window = $1 WHERE id = $2",
        vec![window.into(), id.into()],
    ))
    .await?;
    let Some(reason) = reason else {
        return Ok(state.status);
    };
    if !transition(txn, id, &[Sending], Pausing, now).await? {
        return Ok(state.status);
    }
    txn.execute_raw(same(
        backend,
        "UPDATE notification SET paused_reason = $1 WHERE id = $2",
        vec![reason.clone().into(), id.into()],
    ))
    .await?;
    crate::metrics::record_auto_pause();
    tracing::warn!(notification_id = %id, reason = %reason, "notification paused itself");
    Ok(Pausing)
}

/// Retry failed deliveries: `failed` become `pending` with their attempts reset, the counter
/// goes down, and (unless paused) the notification is `SENDING` with send jobs over the
/// pending deliveries.
///
/// Hard bounces are skipped unless `include_bounced`: failed deliveries whose address was
/// suppressed after a bounce, and `bounced` deliveries (sent, then reported bounced by the
/// provider; retrying one takes it off `sent` and `bounced`). A failed delivery whose
/// address unsubscribed or complained since is never retried. With nothing to retry, the
/// answer is [`StoreError::NothingToRetry`] and nothing changes.
pub async fn retry_failed(
    db: &DatabaseConnection,
    id: Uuid,
    slice_size: usize,
    include_bounced: bool,
) -> Result<Retried, StoreError> {
    let (txn, row, imported) = locked(db, id).await?;
    if imported || matches!(row.status, Cancelled | Cancelling) {
        return Err(refused(id, row, imported, "retried"));
    }
    let backend = txn.get_database_backend();
    let now = Utc::now();
    let count = |sql: String| {
        let txn = &txn;
        async move {
            let row = txn
                .query_one_raw(same(backend, sql, vec![id.into()]))
                .await?;
            Ok::<u64, DbErr>(match row {
                Some(row) => row.try_get::<i64>("", "n")? as u64,
                None => 0,
            })
        }
    };
    let skipped_suppressed = count(format!(
        "SELECT COUNT(*) AS n FROM delivery WHERE notification_id = $1 AND status = 'failed' \
         AND {}",
        suppressed_for("'unsubscribed', 'complained'")
    ))
    .await?;
    let failed_bounced = count(format!(
        "SELECT COUNT(*) AS n FROM delivery WHERE notification_id = $1 AND status = 'failed' \
         AND {} AND NOT {}",
        suppressed_for("'bounced'"),
        suppressed_for("'unsubscribed', 'complained'")
    ))
    .await?;
    let bounced = count(
        "SELECT COUNT(*) AS n FROM delivery WHERE notification_id = $1 AND status = 'bounced'"
            .to_owned(),
    )
    .await?;
    let never = suppressed_for("'unsubscribed', 'complained'");
    let skip = if include_bounced {
        never
    } else {
        suppressed_for("'unsubscribed', 'complained', 'bounced'")
    };
    let retried_failed = txn
        .execute_raw(same(
            backend,
            format!(
                "UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = NULL \
                 WHERE notification_id = $1 AND status = 'failed' AND NOT {skip}"
            ),
            vec![id.into()],
        ))
        .await?
        .rows_affected();
    let retried_bounced = if include_bounced {
        txn.execute_raw(same(
            backend,
            "UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = NULL, \
                 sent_at = NULL \
             WHERE notification_id = $1 AND status = 'bounced'",
            vec![id.into()],
        ))
        .await?
        .rows_affected()
    } else {
        0
    };
    let retried = retried_failed + retried_bounced;
    if retried == 0 {
        txn.rollback().await?;
        return Err(StoreError::NothingToRetry(id));
    }
    txn.execute_raw(same(
        backend,
        "UPDATE notification SET failed = failed - $1, sent = sent - $2, bounced = bounced - $2, \
             updated_at = $3 WHERE id = $4",
        vec![
            (retried_failed as i64).into(),
            (retried_bounced as i64).into(),
            now.into(),
            id.into(),
        ],
    ))
    .await?;
    if !matches!(row.status, Paused | Pausing) {
        if row.status != Sending && !transition(&txn, id, &[row.status], Sending, now).await? {
            txn.rollback().await?;
            return Err(refused(id, row, imported, "retried"));
        }
        enqueue_pending(&txn, id, slice_size).await?;
    }
    let signal = commit_with_signal(txn, id).await?;
    Ok(Retried {
        retried,
        skipped_bounced: if include_bounced {
            0
        } else {
            failed_bounced + bounced
        },
        skipped_suppressed,
        signal,
    })
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

/// Writes notifications read from a legacy dump: new ones inserted, ones imported before
/// updated in place (keyed by `legacy_id`; their TechConf id and idempotency key kept).
/// Imported notifications are history: they are written in their final status and never
/// planned or sent.
pub async fn import_legacy(
    txn: &sea_orm::DatabaseTransaction,
    rows: Vec<notification::ActiveModel>,
) -> Result<(), DbErr> {
    use notification::Column as N;
    super::sql::upsert::<notification::Entity>(txn, rows, N::LegacyId, &[N::Id, N::IdempotencyKey])
        .await
}
