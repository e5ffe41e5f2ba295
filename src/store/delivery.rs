//! Delivery rows: the send step's claims and outcomes, the hot path of a fan-out.
//!
//! Only `pending` rows are claimed (or `sending` ones whose claim expired); a claim sets
//! `sending` and a lease. Outcomes are written only where the row still carries that lease,
//! and the counters move by the rows actually updated, so a duplicated or redelivered send
//! job, or two workers on one slice, never count a recipient twice.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use super::Signal;
use super::notification::{Row, auto_pause, settle};
use super::sql::{Paired, same};
use crate::progress::notification_changed;

/// A delivery claimed for sending.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Claimed {
    pub id: i64,
    pub attendee_id: Uuid,
    pub email: String,
    /// Attempts before this one.
    pub attempts: i32,
}

/// Claims only while the notification is `SENDING`, in the same statement: a pause or a
/// cancel that commits between a send job's status check and its claim must not leave
/// deliveries claimed under a `PAUSED` notification. On PostgreSQL the notification row is
/// read `FOR SHARE`, so the status change waits for the claim to commit (and then sees
/// its rows in flight), or the claim waits for the status change (and claims nothing).
const CLAIM_BATCH: Paired = Paired {
    postgres: "UPDATE delivery SET status = 'sending', locked_until = $1 \
               WHERE id IN (SELECT id FROM delivery \
                   WHERE notification_id = $2 AND id BETWEEN $3 AND $4 \
                   AND ((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $5)) \
                     OR (status = 'sending' AND locked_until < $5)) \
                   AND EXISTS (SELECT 1 FROM notification \
                       WHERE id = $2 AND status = 'SENDING' FOR SHARE) \
                   ORDER BY id LIMIT $6 FOR UPDATE SKIP LOCKED) \
               RETURNING id, attendee_id, email, attempts",
    // SQLite has one writer: the statement is atomic without row locks.
    sqlite: "UPDATE delivery SET status = 'sending', locked_until = $1 \
             WHERE id IN (SELECT id FROM delivery \
                 WHERE notification_id = $2 AND id BETWEEN $3 AND $4 \
                 AND ((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $5)) \
                   OR (status = 'sending' AND locked_until < $5)) \
                 AND EXISTS (SELECT 1 FROM notification WHERE id = $2 AND status = 'SENDING') \
                 ORDER BY id LIMIT $6) \
             RETURNING id, attendee_id, email, attempts",
};

/// Claims up to `limit` due pending deliveries (or ones whose claim expired) with ids in
/// `first..=last`, with the lease `lease`; in id order.
pub async fn claim_batch(
    db: &impl ConnectionTrait,
    notification: Uuid,
    (first, last): (i64, i64),
    limit: usize,
    lease: DateTime<Utc>,
) -> Result<Vec<Claimed>, DbErr> {
    let mut claimed = Claimed::find_by_statement(CLAIM_BATCH.on(
        db.get_database_backend(),
        vec![
            lease.into(),
            notification.into(),
            first.into(),
            last.into(),
            Utc::now().into(),
            (limit as i64).into(),
        ],
    ))
    .all(db)
    .await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Hands claimed deliveries that were never sent back to `pending` (a stopping worker's
/// prefetched claims), where they still carry `lease`; nobody has to wait for the lease to
/// end. Nothing is counted: a claim changes no counter. Returns how many went back.
pub async fn release_claims(
    db: &impl ConnectionTrait,
    ids: &[i64],
    lease: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut values: Vec<Value> = vec![lease.into()];
    let mut list = String::new();
    for id in ids {
        values.push((*id).into());
        if !list.is_empty() {
            list.push_str(", ");
        }
        list.push_str(&format!("${}", values.len()));
    }
    Ok(db
        .execute_raw(same(
            db.get_database_backend(),
            format!(
                "UPDATE delivery SET status = 'pending', locked_until = NULL \
                 WHERE id IN ({list}) AND status = 'sending' AND locked_until = $1"
            ),
            values,
        ))
        .await?
        .rows_affected())
}

/// What became of one claimed delivery.
#[derive(Clone, Debug)]
pub enum Outcome {
    Sent {
        message_id: String,
    },
    /// Final: the delivery is `failed` with `error`.
    Failed {
        error: String,
    },
    /// Transient: `pending` again, due at `at`.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
}

/// What [`record_outcomes`] counted.
#[derive(Debug)]
#[must_use = "publish the signal"]
pub struct Recorded {
    pub sent: u64,
    pub failed: u64,
    pub signal: Signal,
}

/// Writes a batch's outcomes, the counter change, and the progress signal in one
/// transaction; each row only if it still carries `lease`. If that was the last delivery in
/// flight of a notification being paused or cancelled, or the last one of a finished send,
/// the same transaction moves the notification on (`PAUSED`, `CANCELLED`, `COMPLETED`...).
/// The same transaction applies the notification's auto-pause rule to these outcomes.
pub async fn record_outcomes(
    db: &DatabaseConnection,
    notification: Uuid,
    lease: DateTime<Utc>,
    outcomes: Vec<(i64, Outcome)>,
) -> Result<Recorded, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let now = Utc::now();
    let mut sent_rows = Vec::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Sent { message_id } => sent_rows.push((id, message_id)),
            Outcome::Failed { error } => {
                failed += txn
                    .execute_raw(same(
                        backend,
                        "UPDATE delivery SET status = 'failed', attempts = attempts + 1, \
                             last_error = $1, next_attempt_at = NULL, locked_until = NULL \
                         WHERE id = $2 AND status = 'sending' AND locked_until = $3",
                        vec![error.into(), id.into(), lease.into()],
                    ))
                    .await?
                    .rows_affected();
            }
            Outcome::Retry { error, at } => {
                txn.execute_raw(same(
                    backend,
                    "UPDATE delivery SET status = 'pending', attempts = attempts + 1, \
                         last_error = $1, next_attempt_at = $2, locked_until = NULL \
                     WHERE id = $3 AND status = 'sending' AND locked_until = $4",
                    vec![error.into(), at.into(), id.into(), lease.into()],
                ))
                .await?;
            }
        }
    }
    if !sent_rows.is_empty() {
        // One statement for the batch; the CASE stores each row's Message-ID.
        let mut values: Vec<Value> = vec![now.into(), lease.into()];
        let mut cases = String::new();
        let mut list = String::new();
        for (id, message_id) in sent_rows {
            values.push(id.into());
            let id_param = values.len();
            values.push(message_id.into());
            cases.push_str(&format!(" WHEN ${id_param} THEN ${}", values.len()));
            if !list.is_empty() {
                list.push_str(", ");
            }
            list.push_str(&format!("${id_param}"));
        }
        sent = txn
            .execute_raw(same(
                backend,
                format!(
                    "UPDATE delivery SET status = 'sent', attempts = attempts + 1, sent_at = $1, \
                         locked_until = NULL, last_error = NULL, message_id = CASE id{cases} END \
                     WHERE id IN ({list}) AND status = 'sending' AND locked_until = $2"
                ),
                values,
            ))
            .await?
            .rows_affected();
    }
    let row = txn
        .query_one_raw(same(
            backend,
            "UPDATE notification SET sent = sent + $1, failed = failed + $2, updated_at = $3 \
             WHERE id = $4 \
             RETURNING status, conference_id, started_at, legacy_id, total, sent, failed, \
                 cancelled, suppressed, auto_pause, auto_pause_window",
            vec![
                (sent as i64).into(),
                (failed as i64).into(),
                now.into(),
                notification.into(),
            ],
        ))
        .await?;
    if let Some(row) = row {
        let mut state = Row::from_query(&row)?;
        state.status = auto_pause(&txn, notification, &row, state, (sent, failed), now).await?;
        settle(&txn, notification, state, now).await?;
    }
    let signal = notification_changed(&txn, notification).await?;
    txn.commit().await?;
    Ok(Recorded {
        sent,
        failed,
        signal,
    })
}

/// A provider reported a hard bounce for a sent delivery: `sent` → `bounced`, and the
/// notification's `bounced` counter, in the caller's transaction (the webhook records the
/// event and suppresses the address in the same one). Only a `sent` row moves, so a repeated
/// or late event counts nothing twice; the signal is empty when nothing moved.
pub async fn bounce(
    txn: &impl ConnectionTrait,
    delivery: i64,
    notification: Uuid,
    detail: &str,
) -> Result<Signal, DbErr> {
    let backend = txn.get_database_backend();
    let moved = txn
        .execute_raw(same(
            backend,
            "UPDATE delivery SET status = 'bounced', last_error = $1 \
             WHERE id = $2 AND status = 'sent'",
            vec![detail.into(), delivery.into()],
        ))
        .await?
        .rows_affected();
    if moved == 0 {
        return Ok(Signal::none());
    }
    txn.execute_raw(same(
        backend,
        "UPDATE notification SET bounced = bounced + 1, updated_at = $1 WHERE id = $2",
        vec![Utc::now().into(), notification.into()],
    ))
    .await?;
    notification_changed(txn, notification).await
}

/// When to look at the slice again, if anything in it is unfinished: the earliest retry
/// time of its pending deliveries, or the earliest lease expiry of deliveries another claim
/// holds (`sending`: a dead worker's batch, or another job on the same slice). Without the
/// latter, a job taken over from a dead worker could finish while that worker's last batch
/// is still leased, and nobody would ever send those deliveries.
pub async fn next_wakeup(
    db: &impl ConnectionTrait,
    notification: Uuid,
    (first, last): (i64, i64),
    pending_too: bool,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let backend = db.get_database_backend();
    let mut at: Option<DateTime<Utc>> = None;
    let mut sources = vec![("locked_until", "sending")];
    if pending_too {
        sources.push(("next_attempt_at", "pending"));
    }
    for (column, status) in sources {
        let row = db
            .query_one_raw(same(
                backend,
                format!(
                    "SELECT {column} AS at FROM delivery WHERE notification_id = $1 \
                     AND id BETWEEN $2 AND $3 AND status = '{status}' ORDER BY {column} LIMIT 1"
                ),
                vec![notification.into(), first.into(), last.into()],
            ))
            .await?;
        if let Some(row) = row {
            let when = row
                .try_get::<Option<DateTime<Utc>>>("", "at")?
                .unwrap_or_else(Utc::now);
            at = Some(at.map_or(when, |at| at.min(when)));
        }
    }
    Ok(at)
}
