//! A notification's progress at one moment, with its send rate and ETA computed from the
//! recent past (a sliding window), not averaged since the start.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::NotificationStatus;
use crate::entity::notification;

/// How far back the send rate looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The shortest span over which a rate is worth stating.
const MIN_RATE_SPAN: Duration = Duration::from_millis(500);

/// One committed state of a notification, as subscribers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub notification_id: Uuid,
    pub conference_id: Option<Uuid>,
    pub status: NotificationStatus,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Recipients finished (sent or failed) per second over the recent window.
    pub rate_per_second: Option<f64>,
    /// Seconds until every pending recipient is done at the recent rate.
    pub eta_seconds: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

impl Progress {
    /// Recipients neither sent, failed nor cancelled yet.
    pub fn pending(&self) -> i64 {
        (self.total - self.sent - self.failed - self.cancelled).max(0)
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// Recent (time, recipients finished) observations of one notification.
#[derive(Debug, Default)]
pub struct RateWindow {
    samples: VecDeque<(Instant, i64)>,
}

impl RateWindow {
    /// Records the row as observed at `now` and returns its progress with rate and ETA.
    pub fn observe(&mut self, row: &notification::Model, now: Instant) -> Progress {
        let status = row
            .status
            .parse::<NotificationStatus>()
            .unwrap_or(NotificationStatus::Queued);
        let finished = i64::from(row.sent) + i64::from(row.failed);
        if self
            .samples
            .back()
            .is_some_and(|&(_, last)| finished < last)
        {
            // Counters went down (failed deliveries retried): the old window no longer applies.
            self.samples.clear();
        }
        self.samples.push_back((now, finished));
        // Keep one sample at or beyond the window's edge as its anchor.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(at, _)| now.duration_since(at) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let mut progress = Progress {
            notification_id: row.id,
            conference_id: row.conference_id,
            status,
            total: i64::from(row.total),
            sent: i64::from(row.sent),
            failed: i64::from(row.failed),
            cancelled: i64::from(row.cancelled),
            rate_per_second: None,
            eta_seconds: None,
            updated_at: row.updated_at,
        };
        progress.rate_per_second = self.rate();
        progress.eta_seconds = match status {
            _ if progress.is_terminal() => Some(0),
            NotificationStatus::Sending => progress
                .rate_per_second
                .filter(|rate| *rate > 0.0)
                .map(|rate| (progress.pending() as f64 / rate).ceil() as i64),
            _ => None,
        };
        progress
    }

    fn rate(&self) -> Option<f64> {
        let &(first_at, first) = self.samples.front()?;
        let &(last_at, last) = self.samples.back()?;
        let span = last_at.duration_since(first_at);
        if span < MIN_RATE_SPAN {
            return None;
        }
        let rate = (last - first) as f64 / span.as_secs_f64();
        // Two decimals are all a progress display can use, and they keep events from
        // differing by noise alone.
        Some((rate * 100.0).round() / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: NotificationStatus, total: i32, sent: i32, failed: i32) -> notification::Model {
        let now = Utc::now();
        notification::Model {
            id: Uuid::now_v7(),
            conference_id: None,
            subject: String::new(),
            message: String::new(),
            status: status.as_str().into(),
            total,
            sent,
            failed,
            cancelled: 0,
            submitted_at: now,
            started_at: None,
            completed_at: None,
            updated_at: now,
            created_by: String::new(),
            idempotency_key: None,
            legacy_id: None,
            legacy_status: None,
            rate_tat: None,
        }
    }

    #[test]
    fn rate_is_unknown_until_the_window_spans_half_a_second() {
        let mut window = RateWindow::default();
        let start = Instant::now();
        let p = window.observe(&row(NotificationStatus::Sending, 1000, 0, 0), start);
        assert_eq!((p.rate_per_second, p.eta_seconds), (None, None));
        let p = window.observe(
            &row(NotificationStatus::Sending, 1000, 40, 0),
            start + Duration::from_millis(200),
        );
        assert_eq!(p.rate_per_second, None);
        let p = window.observe(
            &row(NotificationStatus::Sending, 1000, 90, 10),
            start + Duration::from_secs(1),
        );
        assert_eq!(p.rate_per_second, Some(100.0));
        assert_eq!(p.eta_seconds, Some(9));
        assert_eq!(p.pending(), 900);
    }

    #[test]
    fn rate_follows_the_recent_window_not_the_whole_send() {
        let mut window = RateWindow::default();
        let start = Instant::now();
        // Fast for the first 20 s, then slow: the rate must show the slow part.
        for second in 0..=20 {
            let sent = second * 100;
            window.observe(
                &row(NotificationStatus::Sending, 10_000, sent, 0),
                start + Duration::from_secs(second as u64),
            );
        }
        let mut last = None;
        for second in 21..=40 {
            let sent = 2000 + (second - 20) * 10;
            last = Some(window.observe(
                &row(NotificationStatus::Sending, 10_000, sent, 0),
                start + Duration::from_secs(second as u64),
            ));
        }
        let rate = last.and_then(|p| p.rate_per_second).unwrap();
        assert!((rate - 10.0).abs() < 0.5, "rate {rate}");
    }

    #[test]
    fn eta_is_zero_when_terminal_and_unknown_when_paused() {
        let mut window = RateWindow::default();
        let start = Instant::now();
        window.observe(&row(NotificationStatus::Sending, 10, 0, 0), start);
        let paused = window.observe(
            &row(NotificationStatus::Paused, 10, 5, 0),
            start + Duration::from_secs(1),
        );
        assert_eq!(paused.eta_seconds, None);
        let done = window.observe(
            &row(NotificationStatus::Completed, 10, 10, 0),
            start + Duration::from_secs(2),
        );
        assert_eq!(done.eta_seconds, Some(0));
        assert_eq!(done.pending(), 0);
    }

    #[test]
    fn a_retry_that_lowers_the_counters_restarts_the_window() {
        let mut window = RateWindow::default();
        let start = Instant::now();
        window.observe(&row(NotificationStatus::Sending, 10, 5, 5), start);
        let p = window.observe(
            &row(NotificationStatus::Sending, 10, 5, 0),
            start + Duration::from_secs(1),
        );
        assert_eq!(p.rate_per_second, None, "no negative rate");
    }
}
