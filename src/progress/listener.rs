//! The process's one PostgreSQL `LISTEN` connection, shared by everything that waits for a
//! `NOTIFY`: the progress hub (progress and registration signals) and the worker (job
//! wake-ups). It reconnects with backoff when the connection drops, and tells its
//! subscribers when it is listening again and since when signals may have been lost, so each
//! can catch up its own way (the hub re-reads, a worker looks for jobs).
//!
//! [`Listener::shared`] returns the listener of the database `db` points at, starting it on
//! first use; it stops when the last handle is dropped.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{broadcast, watch};

use super::signal::{PROGRESS_CHANNEL, REGISTRATION_CHANNEL, WAKE_CHANNEL};

/// The `application_name` of the listener connection, to find it in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "techconf-progress";
/// Every channel the process listens on.
const CHANNELS: [&str; 3] = [PROGRESS_CHANNEL, REGISTRATION_CHANNEL, WAKE_CHANNEL];
/// Notifications a subscriber may fall behind by before it is told it lagged.
const CAPACITY: usize = 4096;
/// When the driver reconnected by itself, the moment of the loss is unknown: signals are
/// assumed lost since this long before.
const UNKNOWN_LOSS: Duration = Duration::from_secs(5);

/// What the listener heard.
#[derive(Clone, Debug)]
pub enum Heard {
    /// A `NOTIFY` on one of the channels.
    Notification { channel: String, payload: String },
    /// Listening (again): signals sent since `lost_since` may never arrive.
    Listening { lost_since: DateTime<Utc> },
}

/// A handle on the shared listener; cheap to clone.
#[derive(Clone)]
pub struct Listener {
    inner: Arc<Inner>,
}

struct Inner {
    heard: broadcast::Sender<Heard>,
    /// Dropped with the last handle, which stops the connection task.
    _alive: watch::Sender<()>,
}

impl Listener {
    /// The listener for `db`'s PostgreSQL database, shared by every caller in this process.
    pub fn shared(db: &DatabaseConnection) -> Self {
        static LISTENERS: OnceLock<Mutex<HashMap<String, Weak<Inner>>>> = OnceLock::new();
        let options = db.get_postgres_connection_pool().connect_options();
        let key = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let mut listeners = LISTENERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        listeners.retain(|_, inner| inner.strong_count() > 0);
        if let Some(inner) = listeners.get(&key).and_then(Weak::upgrade) {
            return Self { inner };
        }
        let (alive, closed) = watch::channel(());
        let inner = Arc::new(Inner {
            heard: broadcast::channel(CAPACITY).0,
            _alive: alive,
        });
        listeners.insert(key, Arc::downgrade(&inner));
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(
                (*options)
                    .clone()
                    .application_name(LISTENER_APPLICATION_NAME),
            );
        tokio::spawn(listen(pool, inner.heard.clone(), closed));
        Self { inner }
    }

    /// Everything heard from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Heard> {
        self.inner.heard.subscribe()
    }
}

/// Listens until every handle is dropped, re-establishing the connection when it drops.
async fn listen(
    pool: sea_orm::sqlx::PgPool,
    heard: broadcast::Sender<Heard>,
    mut closed: watch::Receiver<()>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut lost_since = Utc::now();
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all(CHANNELS).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            connected = connected => connected,
            _ = closed.changed() => return,
        };
        match connected {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                // Nobody listening is not an error: the hub or worker may subscribe later.
                let _ = heard.send(Heard::Listening { lost_since });
                let lost = loop {
                    let received = tokio::select! {
                        received = listener.try_recv() => received,
                        _ = closed.changed() => return,
                    };
                    match received {
                        Ok(Some(message)) => {
                            let _ = heard.send(Heard::Notification {
                                channel: message.channel().to_owned(),
                                payload: message.payload().to_owned(),
                            });
                        }
                        // The connection dropped and the driver reconnected by itself.
                        Ok(None) => {
                            tracing::warn!("listener connection reconnected; resyncing");
                            let lost_since = Utc::now()
                                - chrono::Duration::from_std(UNKNOWN_LOSS).unwrap_or_default();
                            let _ = heard.send(Heard::Listening { lost_since });
                        }
                        Err(err) => break err,
                    }
                };
                tracing::warn!(error = %lost, "listener lost its connection");
                lost_since = Utc::now();
            }
            Err(err) => {
                tracing::warn!(error = %err, "listener cannot connect; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = closed.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
