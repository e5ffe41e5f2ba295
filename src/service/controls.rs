//! Admin controls over a running notification: pause, resume, cancel, retry failures.
//!
//! Each is one transaction. Workers read the status between batches, so a pause or cancel
//! takes effect within one batch; the deliveries in flight at that moment finish and are
//! recorded. Resume and retry enqueue send jobs over exactly the deliveries still pending,
//! so nobody is skipped and nobody is sent twice.
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::domain::NotificationStatus;
use crate::entity::notification;
use crate::error::{ApiError, ApiResult};
use crate::queue::{self, database::statement};
use crate::worker::send_slices;

fn refuse(n: &notification::Model, action: &str) -> ApiError {
    if n.legacy_id.is_some() {
        return ApiError::Conflict(format!(
            "notification {} was imported from the original TechConf and cannot be {action}",
            n.id
        ));
    }
    ApiError::Conflict(format!(
        "notification {} is {} and cannot be {action}",
        n.id, n.status
    ))
}

async fn set_status(
    txn: &impl ConnectionTrait,
    id: Uuid,
    from: &[NotificationStatus],
    to: NotificationStatus,
    completed: bool,
) -> ApiResult<bool> {
    let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let now = Utc::now();
    let completed_at = if completed { "$1" } else { "NULL" };
    let result = txn
        .execute_raw(statement(
            txn.get_database_backend(),
            &format!(
                "UPDATE notification SET status = $2, updated_at = $1, completed_at = {completed_at} \
                 WHERE id = $3 AND legacy_id IS NULL AND status IN ({})",
                from.join(", ")
            ),
            vec![now.into(), to.as_str().into(), id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn pause(db: &DatabaseConnection, id: Uuid) -> ApiResult<notification::Model> {
    let current = super::notification::get(db, id).await?;
    let txn = crate::db::begin_write(db).await?;
    use NotificationStatus::*;
    if !set_status(&txn, id, &[Queued, Sending], Paused, false).await? {
        return Err(refuse(&current, "paused"));
    }
    let changed = crate::progress::notification_changed(&txn, id).await?;
    txn.commit().await?;
    changed.publish();
    super::notification::get(db, id).await
}

pub async fn resume(
    db: &DatabaseConnection,
    id: Uuid,
    slice_size: usize,
) -> ApiResult<notification::Model> {
    let current = super::notification::get(db, id).await?;
    let txn = crate::db::begin_write(db).await?;
    use NotificationStatus::*;
    if !set_status(&txn, id, &[Paused], Sending, false).await? {
        return Err(refuse(&current, "resumed"));
    }
    enqueue_pending(&txn, id, slice_size).await?;
    let changed = crate::progress::notification_changed(&txn, id).await?;
    txn.commit().await?;
    changed.publish();
    // A resumed notification with nothing left to send is complete now.
    if current.started_at.is_some() {
        crate::worker::try_finish(db, id).await?;
    }
    super::notification::get(db, id).await
}

pub async fn cancel(db: &DatabaseConnection, id: Uuid) -> ApiResult<notification::Model> {
    let current = super::notification::get(db, id).await?;
    let txn = crate::db::begin_write(db).await?;
    use NotificationStatus::*;
    if !set_status(&txn, id, &[Queued, Sending, Paused], Cancelled, true).await? {
        return Err(refuse(&current, "cancelled"));
    }
    let backend = txn.get_database_backend();
    let cancelled = txn
        .execute_raw(statement(
            backend,
            "UPDATE delivery SET status = 'cancelled', locked_until = NULL \
             WHERE notification_id = $1 AND status = 'pending'",
            vec![id.into()],
        ))
        .await?
        .rows_affected();
    txn.execute_raw(statement(
        backend,
        "UPDATE notification SET cancelled = cancelled + $1 WHERE id = $2",
        vec![(cancelled as i64).into(), id.into()],
    ))
    .await?;
    let changed = crate::progress::notification_changed(&txn, id).await?;
    txn.commit().await?;
    changed.publish();
    super::notification::get(db, id).await
}

pub async fn retry_failed(
    db: &DatabaseConnection,
    id: Uuid,
    slice_size: usize,
) -> ApiResult<notification::Model> {
    let current = super::notification::get(db, id).await?;
    if current.legacy_id.is_some() || current.status == NotificationStatus::Cancelled.as_str() {
        return Err(refuse(&current, "retried"));
    }
    let txn = crate::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let retried = txn
        .execute_raw(statement(
            backend,
            "UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = NULL \
             WHERE notification_id = $1 AND status = 'failed'",
            vec![id.into()],
        ))
        .await?
        .rows_affected();
    if retried == 0 {
        return Err(ApiError::Conflict(format!(
            "notification {id} has no failed deliveries to retry"
        )));
    }
    let paused = current.status == NotificationStatus::Paused.as_str();
    let status = if paused { "PAUSED" } else { "SENDING" };
    txn.execute_raw(statement(
        backend,
        "UPDATE notification SET failed = failed - $1, status = $2, completed_at = NULL, \
             updated_at = $3 WHERE id = $4",
        vec![
            (retried as i64).into(),
            status.into(),
            Utc::now().into(),
            id.into(),
        ],
    ))
    .await?;
    if !paused {
        enqueue_pending(&txn, id, slice_size).await?;
    }
    let changed = crate::progress::notification_changed(&txn, id).await?;
    txn.commit().await?;
    changed.publish();
    super::notification::get(db, id).await
}

/// Send jobs over the id range of the notification's pending deliveries.
async fn enqueue_pending(txn: &impl ConnectionTrait, id: Uuid, slice_size: usize) -> ApiResult<()> {
    let row = txn
        .query_one_raw(statement(
            txn.get_database_backend(),
            "SELECT MIN(id) AS first, MAX(id) AS last FROM delivery \
             WHERE notification_id = $1 AND status = 'pending'",
            vec![id.into()],
        ))
        .await?;
    let range = match row {
        Some(row) => (
            row.try_get::<Option<i64>>("", "first")?,
            row.try_get::<Option<i64>>("", "last")?,
        ),
        None => (None, None),
    };
    if let (Some(first), Some(last)) = range {
        for chunk in send_slices(id, first, last, slice_size).chunks(500) {
            queue::enqueue_many(txn, chunk, None).await?;
        }
    }
    Ok(())
}
