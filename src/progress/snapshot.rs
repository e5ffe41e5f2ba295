//! A notification's progress at one moment, with its send rate and ETA computed from the
//! recent past (a sliding window), not averaged since the start.
use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::NotificationStatus;
use crate::entity::notification;

/// How far back the send rate looks.
const RATE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
/// How long without a commit before the silence starts lowering the rate.
const STALL_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
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
    /// Skipped at plan time: the address is suppressed.
    pub suppressed: i64,
    /// Sent, then reported bounced (also counted in `sent`).
    pub bounced: i64,
    /// Recipients finished (sent or failed) per second over the recent window.
    pub rate_per_second: Option<f64>,
    /// Seconds until every pending recipient is done at the recent rate.
    pub eta_seconds: Option<i64>,
    pub updated_at: DateTime<Utc>,
    /// Why the notification paused itself (auto-pause), until it is resumed.
    pub paused_reason: Option<String>,
}

impl Progress {
    /// Recipients neither sent, failed, cancelled nor suppressed yet.
    pub fn pending(&self) -> i64 {
        (self.total - self.sent - self.failed - self.cancelled - self.suppressed).max(0)
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// Recent (commit time, recipients finished) samples of one notification. Times are the
/// rows' own `updated_at`, written in the transaction that recorded the progress, so the rate
/// does not depend on when this process happened to read them.
#[derive(Debug, Default)]
pub struct RateWindow {
    samples: VecDeque<(DateTime<Utc>, i64)>,
}

impl RateWindow {
    /// Records the row, read at `now`, and returns its progress with rate and ETA.
    pub fn observe(&mut self, row: &notification::Model, now: DateTime<Utc>) -> Progress {
        let status = row.status;
        let finished = i64::from(row.sent) + i64::from(row.failed);
        if self
            .samples
            .back()
            .is_some_and(|&(_, last)| finished < last)
        {
            // Counters went down (failed deliveries retried): the old window no longer applies.
            self.samples.clear();
        }
        if self.samples.back() != Some(&(row.updated_at, finished)) {
            self.samples.push_back((row.updated_at, finished));
        }
        // Keep one sample at or beyond the window's edge as its anchor.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(at, _)| now - at >= RATE_WINDOW)
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
            suppressed: i64::from(row.suppressed),
            bounced: i64::from(row.bounced),
            rate_per_second: None,
            eta_seconds: None,
            updated_at: row.updated_at,
            paused_reason: row.paused_reason.clone(),
        };
        progress.rate_per_second = match status {
            NotificationStatus::Sending => self.rate(now),
            _ => None,
        };
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

    fn rate(&self, now: DateTime<Utc>) -> Option<f64> {
        let &(first_at, first) = self.samples.front()?;
        let &(last_at, last) = self.samples.back()?;
        // Batches commit every fraction of a second while a send runs; when none has for a
        // while, the silence counts too, so a stalled send shows its rate falling.
        let end = last_at.max(now - STALL_GRACE);
        let span = (end - first_at).to_std().ok()?;
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

    fn at(start: DateTime<Utc>, millis: i64) -> DateTime<Utc> {
        start + chrono::TimeDelta::milliseconds(millis)
    }

    fn row(
        status: NotificationStatus,
        total: i32,
        sent: i32,
        failed: i32,
        updated_at: DateTime<Utc>,
    ) -> notification::Model {
        notification::Model {
            id: Uuid::now_v7(),
            conference_id: None,
            subject: String::new(),
            message: String::new(),
            status,
            total,
            sent,
            failed,
            cancelled: 0,
            suppressed: 0,
            bounced: 0,
            submitted_at: updated_at,
            started_at: None,
            completed_at: None,
            updated_at,
            created_by: String::new(),
            idempotency_key: None,
            legacy_id: None,
            legacy_status: None,
            rate_tat: None,
            send_at: None,
            audience: None,
            auto_pause: None,
            auto_pause_window: None,
            paused_reason: None,
            name: None,
        }
    }

    use NotificationStatus::{Completed, Paused, Sending};

    #[test]
    fn rate_is_unknown_until_the_window_spans_half_a_second() {
        let mut window = RateWindow::default();
        let t = Utc::now();
        let p = window.observe(&row(Sending, 1000, 0, 0, t), t);
        assert_eq!((p.rate_per_second, p.eta_seconds), (None, None));
        let p = window.observe(&row(Sending, 1000, 40, 0, at(t, 200)), at(t, 250));
        assert_eq!(p.rate_per_second, None);
        let p = window.observe(&row(Sending, 1000, 90, 10, at(t, 1000)), at(t, 1300));
        assert_eq!(
            p.rate_per_second,
            Some(100.0),
            "from commit times, not read times"
        );
        assert_eq!(p.eta_seconds, Some(9));
        assert_eq!(p.pending(), 900);
    }

    #[test]
    fn batches_read_late_do_not_inflate_the_rate() {
        // 25 emails a second in batches of 10 (one commit every 400 ms), read at odd moments.
        let mut window = RateWindow::default();
        let t = Utc::now();
        let mut last = None;
        for batch in 0..=10 {
            let committed = at(t, batch * 400);
            let read = at(t, batch * 400 + if batch % 2 == 0 { 5 } else { 390 });
            last =
                Some(window.observe(&row(Sending, 1000, (batch * 10) as i32, 0, committed), read));
        }
        assert_eq!(last.and_then(|p| p.rate_per_second), Some(25.0));
    }

    #[test]
    fn rate_follows_the_recent_window_not_the_whole_send() {
        let mut window = RateWindow::default();
        let t = Utc::now();
        // Fast for the first 20 s, then slow: the rate must show the slow part.
        for second in 0..=20 {
            let c = at(t, second * 1000);
            window.observe(&row(Sending, 10_000, (second * 100) as i32, 0, c), c);
        }
        let mut last = None;
        for second in 21..=40 {
            let c = at(t, second * 1000);
            let sent = 2000 + (second - 20) * 10;
            last = Some(window.observe(&row(Sending, 10_000, sent as i32, 0, c), c));
        }
        let rate = last.and_then(|p| p.rate_per_second).unwrap();
        assert!((rate - 10.0).abs() < 0.5, "rate {rate}");
    }

    #[test]
    fn a_stalled_send_shows_its_rate_falling() {
        let mut window = RateWindow::default();
        let t = Utc::now();
        for second in 0..=5 {
            let c = at(t, second * 1000);
            window.observe(&row(Sending, 10_000, (second * 100) as i32, 0, c), c);
        }
        let stalled = row(Sending, 10_000, 500, 0, at(t, 5000));
        let soon = window.observe(&stalled, at(t, 6000));
        assert_eq!(
            soon.rate_per_second,
            Some(100.0),
            "a pause between batches is not a stall"
        );
        let later = window.observe(&stalled, at(t, 12_000));
        let rate = later.rate_per_second.unwrap();
        assert!(rate < 60.0, "ten seconds without progress: {rate}");
    }

    #[test]
    fn eta_is_zero_when_terminal_and_unknown_when_paused() {
        let mut window = RateWindow::default();
        let t = Utc::now();
        window.observe(&row(Sending, 10, 0, 0, t), t);
        let paused = window.observe(&row(Paused, 10, 5, 0, at(t, 1000)), at(t, 1000));
        assert_eq!((paused.rate_per_second, paused.eta_seconds), (None, None));
        let done = window.observe(&row(Completed, 10, 10, 0, at(t, 2000)), at(t, 2000));
        assert_eq!(done.eta_seconds, Some(0));
        assert_eq!(done.pending(), 0);
    }

    #[test]
    fn a_retry_that_lowers_the_counters_restarts_the_window() {
        let mut window = RateWindow::default();
        let t = Utc::now();
        window.observe(&row(Sending, 10, 5, 5, t), t);
        let p = window.observe(&row(Sending, 10, 5, 0, at(t, 1000)), at(t, 1000));
        assert_eq!(p.rate_per_second, None, "no negative rate");
    }
}
