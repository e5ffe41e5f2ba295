//! The plan step: one set-based statement creates a notification's deliveries, then the
//! send work is split into jobs over id ranges, all in one transaction.
use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

use super::{JobContext, JobError, JobOutcome, send};
use crate::domain::NotificationStatus;
use crate::queue::{self, database::statement};

pub async fn run(context: &JobContext, notification_id: Uuid) -> Result<JobOutcome, JobError> {
    let txn = crate::db::begin_write(&context.db).await?;
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        // SQLite: `begin_write` already holds the write lock.
        ""
    };
    let row = txn
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT conference_id, status, started_at FROM notification WHERE id = $1{lock}"
            ),
            vec![notification_id.into()],
        ))
        .await?;
    let Some(row) = row else {
        tracing::warn!(%notification_id, "plan: the notification no longer exists");
        return Ok(JobOutcome::Done);
    };
    let started: Option<chrono::DateTime<Utc>> = row.try_get("", "started_at")?;
    let status: String = row.try_get("", "status")?;
    let conference: Option<Uuid> = row.try_get("", "conference_id")?;
    let status: NotificationStatus = status.parse().map_err(|e: String| JobError::Permanent(e))?;
    // Planned already (this job ran before and its deletion was lost), or cancelled first.
    if started.is_some() || status == NotificationStatus::Cancelled {
        return Ok(JobOutcome::Done);
    }
    let Some(conference) = conference else {
        return Err(JobError::Permanent(
            "the notification has no conference".into(),
        ));
    };

    // One statement: attendees registering meanwhile are either in this snapshot or not.
    // Suppressed addresses get a `suppressed` delivery, so the counts still add up.
    txn.execute_raw(statement(
        backend,
        &format!(
            "INSERT INTO delivery (notification_id, attendee_id, email, status, attempts) \
             SELECT $1, a.id, a.email, \
                 CASE WHEN {} THEN 'suppressed' ELSE 'pending' END, 0 \
             FROM attendee a WHERE a.conference_id = $2 \
             ON CONFLICT (notification_id, attendee_id) DO NOTHING",
            crate::suppression::SUPPRESSED_ATTENDEE
        ),
        vec![notification_id.into(), conference.into()],
    ))
    .await?;
    let range = txn
        .query_one_raw(statement(
            backend,
            "SELECT COUNT(*) AS n, \
                 SUM(CASE WHEN status = 'suppressed' THEN 1 ELSE 0 END) AS suppressed, \
                 MIN(CASE WHEN status = 'pending' THEN id END) AS first, \
                 MAX(CASE WHEN status = 'pending' THEN id END) AS last \
             FROM delivery WHERE notification_id = $1",
            vec![notification_id.into()],
        ))
        .await?
        .ok_or_else(|| JobError::Transient("counting deliveries returned nothing".into()))?;
    let total: i64 = range.try_get("", "n")?;
    let suppressed: i64 = range.try_get::<Option<i64>>("", "suppressed")?.unwrap_or(0);
    let now = Utc::now();
    if total == suppressed {
        txn.execute_raw(statement(
            backend,
            "UPDATE notification SET status = $1, total = $2, suppressed = $2, started_at = $3, \
                 completed_at = $3, updated_at = $3 WHERE id = $4",
            vec![
                NotificationStatus::Completed.as_str().into(),
                (total as i32).into(),
                now.into(),
                notification_id.into(),
            ],
        ))
        .await?;
        let changed = crate::progress::notification_changed(&txn, notification_id).await?;
        txn.commit().await?;
        changed.publish();
        tracing::info!(%notification_id, total, "planned: nobody to send to, completed at once");
        return Ok(JobOutcome::Done);
    }
    let paused = status == NotificationStatus::Paused;
    let next = if paused {
        status
    } else {
        NotificationStatus::Sending
    };
    txn.execute_raw(statement(
        backend,
        "UPDATE notification SET status = $1, total = $2, suppressed = $3, started_at = $4, \
             updated_at = $4 WHERE id = $5",
        vec![
            next.as_str().into(),
            (total as i32).into(),
            (suppressed as i32).into(),
            now.into(),
            notification_id.into(),
        ],
    ))
    .await?;
    if !paused {
        let first: i64 = range.try_get("", "first")?;
        let last: i64 = range.try_get("", "last")?;
        let jobs = send::send_slices(notification_id, first, last, context.settings.slice_size);
        for chunk in jobs.chunks(500) {
            queue::enqueue_many(&txn, chunk, None).await?;
        }
    }
    let changed = crate::progress::notification_changed(&txn, notification_id).await?;
    txn.commit().await?;
    changed.publish();
    tracing::info!(%notification_id, total, suppressed, paused, "planned");
    Ok(JobOutcome::Done)
}
