//! The progress hub: one per API process, shared by all its subscribers.
//!
//! It listens for change signals on the process's one `LISTEN` connection (shared with the
//! worker, see `listener.rs`), or the in-process channel on SQLite,, reads each changed row once, and hands the result to every subscriber:
//! the latest state of each watched notification through a `watch` channel (a slow subscriber
//! skips to the newest state instead of queueing a backlog), and broadcasts of changed
//! notifications and new registrations for list views. Rows are read by one task, one query
//! after another, so every subscriber sees committed states in commit order: counters never
//! go backwards. When the listener connection drops, the hub reconnects and re-reads every
//! watched notification, so a signal lost in between is never a state lost.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::{Notify, broadcast, watch};
use uuid::Uuid;

use super::listener::{Heard, Listener};
use super::signal::{Change, WAKE_CHANNEL, local};
use super::snapshot::{Progress, RateWindow};
use crate::entity::{attendee, notification};

/// Watched notifications still in progress are re-read at least this often, so a stalled send
/// shows its rate falling even when nothing commits.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Events a list subscriber may fall behind by before it resyncs from the database.
const BROADCAST_CAPACITY: usize = 1024;
/// Rows read per query.
const CHUNK: usize = 500;

/// What a subscriber of one notification sees.
#[derive(Clone, Debug)]
pub enum Watched {
    /// The hub has not read the row yet.
    Loading,
    /// There is no such notification.
    Missing,
    Ready(Arc<Progress>),
}

/// The hub; cheap to clone. Its tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct ProgressHub {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    watched: Mutex<HashMap<Uuid, Entry>>,
    todo: Mutex<Todo>,
    wake: Arc<Notify>,
    changes: broadcast::Sender<Arc<notification::Model>>,
    registrations: broadcast::Sender<Arc<attendee::Model>>,
    /// Dropped with the hub, which ends its tasks.
    _alive: watch::Sender<()>,
}

/// A subscriber's view of one notification.
pub struct Watching {
    /// Its latest state; changes with every committed change.
    pub state: watch::Receiver<Watched>,
    /// Whether that state is final (terminal or gone); changes only when that flips, so a
    /// subscriber can wait for the end without waking up for every change in between.
    pub finished: watch::Receiver<bool>,
}

struct Entry {
    state: watch::Sender<Watched>,
    finished: watch::Sender<bool>,
    rate: RateWindow,
    last_read: Option<Instant>,
}

/// Work the refresher has not done yet.
#[derive(Default)]
struct Todo {
    notifications: HashSet<Uuid>,
    attendees: Vec<Uuid>,
    /// Signals may have been lost since this moment: re-read everything changed since.
    resync_since: Option<DateTime<Utc>>,
}

impl ProgressHub {
    /// Starts the hub's listener and refresher on the current runtime.
    pub fn start(db: DatabaseConnection) -> Self {
        let (alive, closed) = watch::channel(());
        let inner = Arc::new(Inner {
            db,
            watched: Mutex::new(HashMap::new()),
            todo: Mutex::new(Todo::default()),
            wake: Arc::new(Notify::new()),
            changes: broadcast::channel(BROADCAST_CAPACITY).0,
            registrations: broadcast::channel(BROADCAST_CAPACITY).0,
            _alive: alive,
        });
        let weak = Arc::downgrade(&inner);
        if inner.db.get_database_backend() == DbBackend::Postgres {
            let listener = Listener::shared(&inner.db);
            tokio::spawn(listen_postgres(weak.clone(), listener, closed.clone()));
        } else {
            tokio::spawn(listen_in_process(weak.clone(), closed.clone()));
        }
        tokio::spawn(refresh_forever(weak, inner.wake.clone(), closed));
        Self { inner }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The latest state of one notification, starting from `Loading` if nobody in this
    /// process watched it yet (the hub then reads it at once).
    pub fn watch(&self, id: Uuid) -> Watching {
        let mut watched = lock(&self.inner.watched);
        if let Some(entry) = watched.get(&id) {
            return Watching {
                state: entry.state.subscribe(),
                finished: entry.finished.subscribe(),
            };
        }
        let (state, state_receiver) = watch::channel(Watched::Loading);
        let (finished, finished_receiver) = watch::channel(false);
        watched.insert(
            id,
            Entry {
                state,
                finished,
                rate: RateWindow::default(),
                last_read: None,
            },
        );
        drop(watched);
        self.inner.mark(Change::Notification(id));
        Watching {
            state: state_receiver,
            finished: finished_receiver,
        }
    }

    /// Every notification row that changes from now on.
    pub fn changes(&self) -> broadcast::Receiver<Arc<notification::Model>> {
        self.inner.changes.subscribe()
    }

    /// Every attendee who registers from now on.
    pub fn registrations(&self) -> broadcast::Receiver<Arc<attendee::Model>> {
        self.inner.registrations.subscribe()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent even if a holder panicked: every critical section is a
    // plain insert, remove or swap.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// Queues the row a signal announces, if anyone here wants it.
    fn mark(&self, change: Change) {
        let mut todo = lock(&self.todo);
        match change {
            Change::Notification(id) => {
                let wanted =
                    self.changes.receiver_count() > 0 || lock(&self.watched).contains_key(&id);
                if !wanted {
                    return;
                }
                todo.notifications.insert(id);
            }
            Change::Registration { attendee, .. } => {
                if self.registrations.receiver_count() == 0 {
                    return;
                }
                todo.attendees.push(attendee);
            }
        }
        drop(todo);
        self.wake.notify_one();
    }

    /// Signals since `since` may be lost: re-read what changed since then.
    fn resync(&self, since: DateTime<Utc>) {
        let mut todo = lock(&self.todo);
        todo.resync_since = Some(todo.resync_since.map_or(since, |s| s.min(since)));
        drop(todo);
        self.wake.notify_one();
    }

    /// Reads what the signals announced and hands it to the subscribers.
    async fn refresh(&self) -> Result<(), sea_orm::DbErr> {
        let todo = std::mem::take(&mut *lock(&self.todo));
        let now = Instant::now();
        let mut ids = todo.notifications;
        {
            let mut watched = lock(&self.watched);
            watched.retain(|_, entry| entry.state.receiver_count() > 0);
            for (id, entry) in watched.iter() {
                let stale = entry.last_read.is_none_or(|at| now - at >= HEARTBEAT);
                let live = match &*entry.state.borrow() {
                    Watched::Ready(progress) => !progress.is_terminal(),
                    Watched::Loading => true,
                    Watched::Missing => false,
                };
                if todo.resync_since.is_some() || (live && stale) {
                    ids.insert(*id);
                }
            }
        }
        let mut rows = self.read_notifications(ids.iter().copied().collect()).await;
        if let Some(since) = todo.resync_since
            && self.changes.receiver_count() > 0
        {
            let recent = notification::Entity::find()
                .filter(notification::Column::UpdatedAt.gte(since))
                .all(&self.db)
                .await;
            if let (Ok(rows), Ok(recent)) = (&mut rows, recent) {
                rows.extend(recent.into_iter().filter(|r| !ids.contains(&r.id)));
            }
        }
        let rows = match rows {
            Ok(rows) => rows,
            Err(err) => {
                // Try again on the next wake-up or heartbeat.
                let mut todo = lock(&self.todo);
                todo.notifications.extend(ids);
                return Err(err);
            }
        };
        self.publish_notifications(&ids, rows, Instant::now(), Utc::now());
        if !todo.attendees.is_empty() && self.registrations.receiver_count() > 0 {
            let mut attendees = Vec::new();
            for chunk in todo.attendees.chunks(CHUNK) {
                attendees.extend(
                    attendee::Entity::find()
                        .filter(attendee::Column::Id.is_in(chunk.to_vec()))
                        .order_by_asc(attendee::Column::Id)
                        .all(&self.db)
                        .await?,
                );
            }
            for row in attendees {
                let _ = self.registrations.send(Arc::new(row));
            }
        }
        Ok(())
    }

    async fn read_notifications(
        &self,
        ids: Vec<Uuid>,
    ) -> Result<Vec<notification::Model>, sea_orm::DbErr> {
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            rows.extend(
                notification::Entity::find()
                    .filter(notification::Column::Id.is_in(chunk.to_vec()))
                    .all(&self.db)
                    .await?,
            );
        }
        Ok(rows)
    }

    fn publish_notifications(
        &self,
        asked: &HashSet<Uuid>,
        rows: Vec<notification::Model>,
        now: Instant,
        wall_clock: DateTime<Utc>,
    ) {
        let mut found = HashSet::with_capacity(rows.len());
        let mut watched = lock(&self.watched);
        for row in rows {
            found.insert(row.id);
            if let Some(entry) = watched.get_mut(&row.id) {
                let progress = entry.rate.observe(&row, wall_clock);
                entry.last_read = Some(now);
                let done = progress.is_terminal();
                entry
                    .finished
                    .send_if_modified(|finished| std::mem::replace(finished, done) != done);
                entry.state.send_if_modified(|current| match current {
                    Watched::Ready(old) if **old == progress => false,
                    _ => {
                        *current = Watched::Ready(Arc::new(progress));
                        true
                    }
                });
            }
            if self.changes.receiver_count() > 0 {
                let _ = self.changes.send(Arc::new(row));
            }
        }
        for id in asked.difference(&found) {
            if let Some(entry) = watched.get_mut(id) {
                entry.last_read = Some(now);
                entry.state.send_replace(Watched::Missing);
                entry.finished.send_replace(true);
            }
        }
    }
}

/// Runs the refresher until the hub is dropped: one read at a time, signals arriving during a
/// read are coalesced into the next.
async fn refresh_forever(hub: Weak<Inner>, wake: Arc<Notify>, mut closed: watch::Receiver<()>) {
    loop {
        let woken = tokio::select! {
            () = wake.notified() => true,
            () = tokio::time::sleep(HEARTBEAT) => false,
            _ = closed.changed() => return,
        };
        let Some(inner) = hub.upgrade() else { return };
        if let Err(err) = inner.refresh().await {
            tracing::warn!(error = %err, woken, "could not read progress; retrying");
            drop(inner);
            tokio::select! {
                () = tokio::time::sleep(HEARTBEAT) => {}
                _ = closed.changed() => return,
            }
        }
    }
}

/// SQLite: the worker runs in this process and publishes on the in-process channel.
async fn listen_in_process(hub: Weak<Inner>, mut closed: watch::Receiver<()>) {
    let mut signals = local().subscribe();
    loop {
        let received = tokio::select! {
            received = signals.recv() => received,
            _ = closed.changed() => return,
        };
        let Some(inner) = hub.upgrade() else { return };
        match received {
            Ok(change) => inner.mark(change),
            Err(broadcast::error::RecvError::Lagged(_)) => inner.resync(Utc::now() - HEARTBEAT),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// PostgreSQL: the process's shared `LISTEN` connection ([`Listener`]); whatever was said
/// while it was not listening is read afresh.
async fn listen_postgres(hub: Weak<Inner>, listener: Listener, mut closed: watch::Receiver<()>) {
    let mut heard = listener.subscribe();
    loop {
        let received = tokio::select! {
            received = heard.recv() => received,
            _ = closed.changed() => return,
        };
        let Some(inner) = hub.upgrade() else { return };
        match received {
            Ok(Heard::Notification { channel, payload }) => {
                if let Some(change) = Change::parse(&channel, &payload) {
                    inner.mark(change);
                } else if channel != WAKE_CHANNEL {
                    tracing::warn!(%channel, "ignoring a malformed progress signal");
                }
            }
            Ok(Heard::Listening { lost_since }) => inner.resync(lost_since - HEARTBEAT),
            Err(broadcast::error::RecvError::Lagged(_)) => inner.resync(Utc::now() - HEARTBEAT),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
