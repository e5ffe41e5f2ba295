//! The global send-rate limit, shared by every worker sending one notification.
//!
//! GCRA: the notification row keeps a "theoretical arrival time" (TAT). A worker about to
//! send `k` messages at `r` per second advances it atomically by `k / r` and gets back the
//! moment its batch may start; it then spaces its `k` sends `1 / r` apart. One UPDATE per
//! batch, whatever the number of workers.
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::queue::database::statement;

/// Reserves `count` sends; returns how long to wait before the first of them.
pub async fn reserve(
    db: &impl ConnectionTrait,
    notification: Uuid,
    count: usize,
    per_second: u32,
) -> Result<Duration, DbErr> {
    let now = Utc::now().timestamp_micros();
    let span = (count as i64 * 1_000_000) / i64::from(per_second.max(1));
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "UPDATE notification SET rate_tat = \
                 CASE WHEN rate_tat IS NULL OR rate_tat < $1 THEN $1 ELSE rate_tat END + $2 \
             WHERE id = $3 RETURNING rate_tat",
            vec![now.into(), span.into(), notification.into()],
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

/// The gap between two sends at `per_second`.
pub fn interval(per_second: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)))
}
