//! Subscriptions: the live progress of one notification, changes to the notification list,
//! and new registrations. Every stream reads from this process's `ProgressHub`; none holds a
//! database connection or polls. Streams are throttled per subscription, and a subscriber that
//! falls behind gets the latest state, never a backlog.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_graphql::{Context, ID, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::notification::Notification;
use super::{Attendee, NotificationStatus, READERS, parse_id, require, scope};
use crate::entity::{attendee, notification};
use crate::error::{ApiError, IntoGraphql};
use crate::progress::{Progress, ProgressHub, Watched, Watching};
use crate::tenancy::Scope;

/// How often progress events may go out: at most one per `min_interval` per subscription,
/// and at most `budget` a second for the whole process, shared by its live progress
/// subscriptions. Past `budget / min_interval` subscribers each one's interval stretches, so
/// that thousands of watchers cost the process a bounded amount of work (and leave the CPU to
/// the send they are watching) instead of queueing events they would receive late.
#[derive(Clone, Debug)]
pub struct Pace {
    min_interval: Duration,
    budget: u32,
    live: Arc<AtomicUsize>,
}

impl Pace {
    pub fn new(min_interval: Duration, budget_per_second: u32) -> Self {
        Self {
            min_interval,
            budget: budget_per_second.max(1),
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The gap one subscription keeps between two events, given the live subscriptions.
    pub fn interval(&self) -> Duration {
        let live = self.live.load(Ordering::Relaxed) as f64;
        self.min_interval
            .max(Duration::from_secs_f64(live / f64::from(self.budget)))
    }

    /// Counts a subscription as live until the returned guard is dropped.
    pub(super) fn join(&self) -> Live {
        self.live.fetch_add(1, Ordering::Relaxed);
        Live(self.live.clone())
    }
}

/// One live progress subscription, counted by its `Pace`.
pub(super) struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Registrations read back per query when a subscriber fell behind.
const CATCH_UP_LIMIT: u64 = 500;

#[derive(Default)]
pub struct SubscriptionRoot;

/// One committed state of a notification's progress.
#[derive(SimpleObject, Clone, Debug)]
pub struct NotificationProgress {
    pub notification_id: ID,
    pub status: NotificationStatus,
    pub total: i32,
    pub sent: i32,
    pub failed: i32,
    pub cancelled: i32,
    /// Recipients skipped because their address is suppressed.
    pub suppressed: i32,
    /// Recipients sent to, then reported bounced (also counted in `sent`).
    pub bounced: i32,
    /// Recipients neither sent, failed, cancelled nor suppressed yet.
    pub pending: i32,
    /// Recipients finished per second over the last few seconds; null until known.
    pub rate_per_second: Option<f64>,
    /// Seconds until every pending recipient is done at the recent rate; null while it
    /// cannot be known (not sending, or no recent progress), 0 once finished.
    pub eta_seconds: Option<i32>,
    /// When the notification's row last changed.
    pub updated_at: DateTime<Utc>,
    /// Why the notification paused itself (its failure ratio passed its auto-pause rule);
    /// null otherwise, and again once resumed.
    pub paused_reason: Option<String>,
}

impl From<&Progress> for NotificationProgress {
    fn from(p: &Progress) -> Self {
        let int = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Self {
            notification_id: ID(p.notification_id.to_string()),
            status: p.status.into(),
            total: int(p.total),
            sent: int(p.sent),
            failed: int(p.failed),
            cancelled: int(p.cancelled),
            suppressed: int(p.suppressed),
            bounced: int(p.bounced),
            pending: int(p.pending()),
            rate_per_second: p.rate_per_second,
            eta_seconds: p.eta_seconds.map(int),
            updated_at: p.updated_at,
            paused_reason: p.paused_reason.clone(),
        }
    }
}

#[Subscription]
impl SubscriptionRoot {
    /// The progress of one notification: its current state first, then each change (at most
    /// a few per second, always including the last), ending after a terminal status.
    async fn notification_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = NotificationProgress> + use<>> {
        require(ctx, READERS).gql()?;
        let id = parse_id("id", &id).gql()?;
        scope(ctx).notification(hub(ctx).db(), id).await.gql()?;
        let mut watching = hub(ctx).watch(id);
        let first = first_state(&mut watching.state, id).await.gql()?;
        Ok(progress_events(watching, first, pace(ctx).clone()))
    }

    /// Notifications of one conference (or of all) whenever their status or counters change,
    /// for list views. At most a few events per second per notification, always the latest.
    async fn notifications_changed(
        &self,
        ctx: &Context<'_>,
        conference_id: Option<ID>,
    ) -> Result<impl Stream<Item = Notification> + use<>> {
        require(ctx, READERS).gql()?;
        let hub = hub(ctx).clone();
        // Listen before looking anything up, so no change committed meanwhile is missed.
        let changes = hub.changes();
        let conference = match conference_id {
            Some(id) => {
                let id = parse_id("conferenceId", &id).gql()?;
                scope(ctx).conference(hub.db(), id).await.gql()?;
                Some(id)
            }
            None => None,
        };
        Ok(notification_events(
            hub,
            changes,
            scope(ctx),
            conference,
            pace(ctx).min_interval,
        ))
    }

    /// Each attendee who registers for the conference from now on.
    async fn attendee_registered(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
    ) -> Result<impl Stream<Item = Attendee> + use<>> {
        require(ctx, READERS).gql()?;
        let hub = hub(ctx).clone();
        let conference = parse_id("conferenceId", &conference_id).gql()?;
        // Listen before looking the conference up, so no registration meanwhile is missed.
        let registrations = hub.registrations();
        scope(ctx).conference(hub.db(), conference).await.gql()?;
        Ok(registration_events(hub, registrations, conference))
    }
}

fn hub<'a>(ctx: &Context<'a>) -> &'a ProgressHub {
    ctx.data_unchecked::<ProgressHub>()
}

fn pace<'a>(ctx: &Context<'a>) -> &'a Pace {
    ctx.data_unchecked::<Pace>()
}

/// Waits for the hub's first reading of the notification.
async fn first_state(
    state: &mut watch::Receiver<Watched>,
    id: Uuid,
) -> Result<Arc<Progress>, ApiError> {
    loop {
        let current = state.borrow_and_update().clone();
        match current {
            Watched::Ready(progress) => return Ok(progress),
            Watched::Missing => return Err(ApiError::not_found("notification", id)),
            Watched::Loading => state
                .changed()
                .await
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("the progress hub stopped")))?,
        }
    }
}

struct ProgressStream {
    state: watch::Receiver<Watched>,
    finished: watch::Receiver<bool>,
    first: Option<Arc<Progress>>,
    last: Arc<Progress>,
    last_sent_at: Instant,
    pace: Pace,
    _live: Live,
}

fn progress_events(
    watching: Watching,
    first: Arc<Progress>,
    pace: Pace,
) -> impl Stream<Item = NotificationProgress> {
    let stream = ProgressStream {
        state: watching.state,
        finished: watching.finished,
        last: first.clone(),
        first: Some(first),
        last_sent_at: Instant::now(),
        _live: pace.join(),
        pace,
    };
    futures::stream::unfold(stream, |mut s| async move {
        if let Some(first) = s.first.take() {
            s.last_sent_at = Instant::now();
            return Some((NotificationProgress::from(&*first), s));
        }
        if s.last.is_terminal() {
            return None;
        }
        loop {
            // Sleep out the interval first, without waking up for the changes that arrive
            // meanwhile: they collapse into the latest state. Only the final state cuts the
            // wait short: nothing follows it, and it is the one admins wait for.
            let deadline = s.last_sent_at + s.pace.interval();
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                _ = s.finished.wait_for(|finished| *finished) => {}
            }
            // Then send the newest state, once there is one not sent yet.
            if !s.state.has_changed().ok()? {
                s.state.changed().await.ok()?;
            }
            let next = match &*s.state.borrow_and_update() {
                Watched::Ready(progress) => progress.clone(),
                Watched::Missing => return None,
                Watched::Loading => continue,
            };
            if *next == *s.last {
                continue;
            }
            s.last = next;
            s.last_sent_at = Instant::now();
            return Some((NotificationProgress::from(&*s.last), s));
        }
    })
}

struct ChangeStream {
    hub: ProgressHub,
    changes: broadcast::Receiver<Arc<notification::Model>>,
    /// The subscriber's scope: changes of other organizations' notifications are dropped.
    scope: Scope,
    /// Whether each conference seen so far is in the scope.
    in_scope: HashMap<Uuid, bool>,
    conference: Option<Uuid>,
    min_interval: Duration,
    /// Changes not sent yet, the latest per notification.
    waiting: HashMap<Uuid, Arc<notification::Model>>,
    /// What was last sent per notification, and when.
    sent: HashMap<Uuid, (Arc<notification::Model>, Instant)>,
    last_seen: DateTime<Utc>,
}

impl ChangeStream {
    async fn wanted(&mut self, row: &notification::Model) -> bool {
        if self.conference.is_some() {
            // Checked against the scope when the subscription started.
            return row.conference_id == self.conference;
        }
        if self.scope == Scope::Installation {
            return true;
        }
        let Some(conference) = row.conference_id else {
            return false;
        };
        if let Some(known) = self.in_scope.get(&conference) {
            return *known;
        }
        match self.scope.conference(self.hub.db(), conference).await {
            Ok(_) => {
                self.in_scope.insert(conference, true);
                true
            }
            Err(ApiError::NotFound(_)) => {
                self.in_scope.insert(conference, false);
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not check a notification change's scope");
                false
            }
        }
    }

    async fn keep(&mut self, row: Arc<notification::Model>) {
        if !self.wanted(&row).await {
            return;
        }
        self.last_seen = self.last_seen.max(row.updated_at);
        if self.sent.get(&row.id).is_some_and(|(old, _)| **old == *row) {
            self.waiting.remove(&row.id);
            return;
        }
        self.waiting.insert(row.id, row);
    }

    /// When the notification may next be sent (`None`: at once).
    fn due(&self, id: &Uuid) -> Option<Instant> {
        self.sent.get(id).map(|(_, at)| *at + self.min_interval)
    }

    fn take_due(&mut self) -> Option<Arc<notification::Model>> {
        let now = Instant::now();
        let id = *self
            .waiting
            .keys()
            .find(|id| self.due(id).is_none_or(|due| due <= now))?;
        let row = self.waiting.remove(&id)?;
        self.sent
            .retain(|_, (_, at)| now - *at < self.min_interval * 10);
        self.sent.insert(id, (row.clone(), now));
        Some(row)
    }

    /// After falling behind the broadcast: re-read what changed since the last event seen.
    async fn catch_up(&mut self) {
        let mut query = self
            .scope
            .notifications()
            .filter(notification::Column::UpdatedAt.gte(self.last_seen - Duration::from_secs(2)));
        if let Some(conference) = self.conference {
            query = query.filter(notification::Column::ConferenceId.eq(conference));
        }
        match query.all(self.hub.db()).await {
            Ok(rows) => {
                for row in rows {
                    self.keep(Arc::new(row)).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not catch up on notification changes"),
        }
    }
}

fn notification_events(
    hub: ProgressHub,
    changes: broadcast::Receiver<Arc<notification::Model>>,
    scope: Scope,
    conference: Option<Uuid>,
    min_interval: Duration,
) -> impl Stream<Item = Notification> {
    let stream = ChangeStream {
        hub,
        changes,
        scope,
        in_scope: HashMap::new(),
        conference,
        min_interval,
        waiting: HashMap::new(),
        sent: HashMap::new(),
        last_seen: Utc::now(),
    };
    futures::stream::unfold(stream, |mut s| async move {
        loop {
            if let Some(row) = s.take_due() {
                return Some((Notification::from((*row).clone()), s));
            }
            let next_due = s.waiting.keys().filter_map(|id| s.due(id)).min();
            tokio::select! {
                received = s.changes.recv() => match received {
                    Ok(row) => s.keep(row).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => s.catch_up().await,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {}
            }
        }
    })
}

struct RegistrationStream {
    hub: ProgressHub,
    registrations: broadcast::Receiver<Arc<attendee::Model>>,
    conference: Uuid,
    /// The newest registration sent (ids are uuid v7, ordered by time); catching up after
    /// falling behind reads what came after it.
    last_seen: Uuid,
    caught_up: VecDeque<attendee::Model>,
}

impl RegistrationStream {
    async fn catch_up(&mut self) {
        let rows = attendee::Entity::find()
            .filter(attendee::Column::ConferenceId.eq(self.conference))
            .filter(attendee::Column::Id.gt(self.last_seen))
            .order_by_asc(attendee::Column::Id)
            .limit(CATCH_UP_LIMIT)
            .all(self.hub.db())
            .await;
        match rows {
            Ok(rows) => self.caught_up.extend(rows),
            Err(err) => tracing::warn!(error = %err, "could not catch up on registrations"),
        }
    }

    fn send(&mut self, row: attendee::Model) -> Attendee {
        self.last_seen = self.last_seen.max(row.id);
        Attendee::from(row)
    }
}

fn registration_events(
    hub: ProgressHub,
    registrations: broadcast::Receiver<Arc<attendee::Model>>,
    conference: Uuid,
) -> impl Stream<Item = Attendee> {
    let stream = RegistrationStream {
        hub,
        registrations,
        conference,
        last_seen: Uuid::now_v7(),
        caught_up: VecDeque::new(),
    };
    futures::stream::unfold(stream, |mut s| async move {
        loop {
            if let Some(row) = s.caught_up.pop_front() {
                let event = s.send(row);
                return Some((event, s));
            }
            match s.registrations.recv().await {
                Ok(row) if row.conference_id == s.conference => {
                    let event = s.send((*row).clone());
                    return Some((event, s));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => s.catch_up().await,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::domain::NotificationStatus as Status;

    fn state(sent: i64, status: Status) -> Watched {
        Watched::Ready(Arc::new(Progress {
            notification_id: Uuid::nil(),
            conference_id: None,
            status,
            total: 100,
            sent,
            failed: 0,
            cancelled: 0,
            suppressed: 0,
            bounced: 0,
            rate_per_second: None,
            eta_seconds: None,
            updated_at: Utc::now(),
            paused_reason: None,
        }))
    }

    /// A stand-in for the hub: publishes states as the hub does.
    struct Publisher {
        state: watch::Sender<Watched>,
        finished: watch::Sender<bool>,
    }

    impl Publisher {
        fn new(initial: &Watched) -> (Self, Watching) {
            let (state, state_receiver) = watch::channel(initial.clone());
            let (finished, finished_receiver) = watch::channel(false);
            let watching = Watching {
                state: state_receiver,
                finished: finished_receiver,
            };
            (Self { state, finished }, watching)
        }

        fn publish(&self, sent: i64, status: Status) {
            self.state.send_replace(state(sent, status));
            if status.is_terminal() {
                self.finished.send_replace(true);
            }
        }
    }

    fn first(watched: &Watched) -> Arc<Progress> {
        match watched {
            Watched::Ready(p) => p.clone(),
            _ => unreachable!(),
        }
    }

    fn pace() -> Pace {
        Pace::new(Duration::from_millis(200), 5000)
    }

    #[test]
    fn many_subscribers_share_the_event_budget() {
        let pace = Pace::new(Duration::from_millis(200), 100);
        let few: Vec<Live> = (0..10).map(|_| pace.join()).collect();
        assert_eq!(
            pace.interval(),
            Duration::from_millis(200),
            "10 x 5/s fits in 100/s"
        );
        let many: Vec<Live> = (0..390).map(|_| pace.join()).collect();
        assert_eq!(
            pace.interval(),
            Duration::from_secs(4),
            "400 share 100/s: one each 4 s"
        );
        drop(many);
        drop(few);
        assert_eq!(pace.interval(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_collapses_into_the_latest_state() {
        let initial = state(0, Status::Sending);
        let (changes, watching) = Publisher::new(&initial);
        let events = progress_events(watching, first(&initial), pace());
        futures::pin_mut!(events);
        assert_eq!(events.next().await.map(|e| e.sent), Some(0), "the snapshot");
        for sent in 1..=99 {
            changes.publish(sent, Status::Sending);
        }
        changes.publish(100, Status::Completed);
        let rest: Vec<_> = events.collect().await;
        assert_eq!(
            rest.len(),
            1,
            "a slow reader gets the latest state, not a backlog"
        );
        assert_eq!(
            (rest[0].sent, rest[0].status),
            (100, Status::Completed.into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_quiet_spell_the_next_change_goes_out_at_once() {
        let initial = state(0, Status::Sending);
        let (changes, watching) = Publisher::new(&initial);
        let events = progress_events(watching, first(&initial), pace());
        futures::pin_mut!(events);
        events.next().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let published_at = Instant::now();
        changes.publish(1, Status::Sending);
        assert_eq!(events.next().await.map(|e| e.sent), Some(1));
        assert_eq!(
            Instant::now(),
            published_at,
            "no throttle wait after an idle interval"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_are_spaced_by_the_interval_and_end_with_the_final_state() {
        let initial = state(0, Status::Sending);
        let (changes, watching) = Publisher::new(&initial);
        let events = progress_events(watching, first(&initial), pace());
        let producer = tokio::spawn(async move {
            // A change every 10 ms for about a second, then the end.
            for sent in 1..=99 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                changes.publish(sent, Status::Sending);
            }
            // Between two throttled events: held back, it would wait for the next slot.
            tokio::time::sleep(Duration::from_millis(15)).await;
            changes.publish(100, Status::Completed);
            (changes, Instant::now())
        });
        let received: Vec<(Instant, NotificationProgress)> =
            events.map(|e| (Instant::now(), e)).collect().await;
        let (_changes, completed_at) = producer.await.unwrap();
        assert!(
            (5..=7).contains(&received.len()),
            "about five a second: {}",
            received.len()
        );
        let (before_last, last) = received.split_at(received.len() - 1);
        for pair in before_last.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= Duration::from_millis(200));
        }
        for pair in received.windows(2) {
            assert!(
                pair[1].1.sent > pair[0].1.sent,
                "no repeats, never backwards"
            );
        }
        let (arrived, last) = &last[0];
        assert_eq!((last.sent, last.status), (100, Status::Completed.into()));
        assert_eq!(*arrived, completed_at, "the final state is not held back");
    }
}
