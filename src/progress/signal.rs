//! Change signals: "this notification's rows changed", "this attendee registered".
//!
//! On PostgreSQL a signal is a `pg_notify` sent inside the transaction that makes the change,
//! so PostgreSQL delivers it to every listening API process only once the rows are committed.
//! On SQLite (the embedded default, worker in-process) the signal travels on an in-process
//! channel instead, published by the caller right after its commit.
use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tokio::sync::broadcast;
use uuid::Uuid;

/// The PostgreSQL channel carrying ids of notifications whose progress changed.
pub const PROGRESS_CHANNEL: &str = "techconf_progress";
/// The PostgreSQL channel that wakes idle workers when a job is enqueued (no payload).
pub const WAKE_CHANNEL: &str = "techconf_jobs";
/// The PostgreSQL channel carrying `conference_id:attendee_id` of new registrations.
pub const REGISTRATION_CHANNEL: &str = "techconf_registrations";

/// Signals kept for in-process listeners; a listener that falls further behind resyncs.
const LOCAL_CAPACITY: usize = 4096;

/// One committed change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The notification's status or counters changed (or it was created).
    Notification(Uuid),
    /// An attendee registered for a conference.
    Registration { conference: Uuid, attendee: Uuid },
}

impl Change {
    /// The change a PostgreSQL notification on `channel` announces, if it is well formed.
    pub fn parse(channel: &str, payload: &str) -> Option<Self> {
        match channel {
            PROGRESS_CHANNEL => Uuid::parse_str(payload).ok().map(Change::Notification),
            REGISTRATION_CHANNEL => {
                let (conference, attendee) = payload.split_once(':')?;
                Some(Change::Registration {
                    conference: Uuid::parse_str(conference).ok()?,
                    attendee: Uuid::parse_str(attendee).ok()?,
                })
            }
            _ => None,
        }
    }

    fn channel_and_payload(&self) -> (&'static str, String) {
        match self {
            Change::Notification(id) => (PROGRESS_CHANNEL, id.to_string()),
            Change::Registration {
                conference,
                attendee,
            } => (REGISTRATION_CHANNEL, format!("{conference}:{attendee}")),
        }
    }
}

/// A signal written as part of a transaction. PostgreSQL delivers it on commit by itself; the
/// in-process channel needs `publish` once the transaction has committed.
#[must_use = "call `publish()` once the transaction has committed"]
#[derive(Debug)]
pub struct Signal(Option<Change>);

impl Signal {
    /// Nothing changed: nothing to publish.
    pub fn none() -> Self {
        Signal(None)
    }

    /// Hands the change to in-process listeners (nothing to do on PostgreSQL).
    pub fn publish(self) {
        if let Some(change) = self.0 {
            // No receiver means nobody is watching: nothing to deliver.
            let _ = local().send(change);
        }
    }
}

/// Announces a change to `notification` as part of the current transaction.
pub async fn notification_changed(
    conn: &impl ConnectionTrait,
    notification: Uuid,
) -> Result<Signal, DbErr> {
    announce(conn, Change::Notification(notification)).await
}

/// Announces a registration as part of the current transaction.
pub async fn attendee_registered(
    conn: &impl ConnectionTrait,
    conference: Uuid,
    attendee: Uuid,
) -> Result<Signal, DbErr> {
    announce(
        conn,
        Change::Registration {
            conference,
            attendee,
        },
    )
    .await
}

async fn announce(conn: &impl ConnectionTrait, change: Change) -> Result<Signal, DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(Signal(Some(change)));
    }
    let (channel, payload) = change.channel_and_payload();
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        vec![channel.into(), payload.into()],
    ))
    .await?;
    Ok(Signal(None))
}

/// The in-process channel: every SQLite change published in this process.
pub(crate) fn local() -> &'static broadcast::Sender<Change> {
    static LOCAL: OnceLock<broadcast::Sender<Change>> = OnceLock::new();
    LOCAL.get_or_init(|| broadcast::channel(LOCAL_CAPACITY).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_through_their_channel() {
        let changes = [
            Change::Notification(Uuid::now_v7()),
            Change::Registration {
                conference: Uuid::now_v7(),
                attendee: Uuid::now_v7(),
            },
        ];
        for change in changes {
            let (channel, payload) = change.channel_and_payload();
            assert_eq!(Change::parse(channel, &payload), Some(change));
        }
    }

    #[test]
    fn malformed_payloads_are_ignored() {
        assert_eq!(Change::parse(PROGRESS_CHANNEL, "not-a-uuid"), None);
        assert_eq!(Change::parse(REGISTRATION_CHANNEL, "no-colon"), None);
        assert_eq!(
            Change::parse("elsewhere", &Uuid::now_v7().to_string()),
            None
        );
    }

    #[tokio::test]
    async fn sqlite_signals_wait_for_publish() {
        let mut receiver = local().subscribe();
        let id = Uuid::now_v7();
        let signal = Signal(Some(Change::Notification(id)));
        signal.publish();
        loop {
            match receiver.recv().await {
                Ok(Change::Notification(got)) if got == id => break,
                Ok(_) => continue,
                Err(err) => panic!("{err}"),
            }
        }
    }
}
