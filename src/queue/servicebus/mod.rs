//! Azure Service Bus as the production queue.
//!
//! Jobs are still rows written in the business transaction (the outbox); the
//! [`relay`] publishes unpublished rows to a Service Bus queue with `MessageId = job id`, and
//! workers receive them with peek-lock through a [`ServiceBusQueue`]. Enabled by
//! `SERVICEBUS_CONNECTION_STRING` (and `SERVICEBUS_QUEUE`, default `notificationqueue`).
//!
//! How a worker consumes, in short:
//! 1. `receive(wait)`; `None` means the queue stayed empty.
//! 2. No job id, or no such job row, or a payload that does not parse: `reject` (complete +
//!    error log). It could never succeed, so it must not loop.
//! 3. Otherwise `keep_locked(&msg, lock_duration / 2)` while the job runs.
//! 4. Success: `complete`. Failure worth retrying: `abandon` (redelivered with
//!    `DeliveryCount + 1`; past the queue's max delivery count the broker dead-letters it).
//! 5. `LockLost` on complete or renew: stop; the message comes back and the job, which only
//!    acts on `pending` deliveries, is safe to run again.
pub mod client;
pub mod connection_string;
pub mod relay;
mod transport;

pub use client::{
    LockGuard, ReceivedMessage, RetryPolicy, ServiceBusError, ServiceBusQueue,
    ServiceBusQueueBuilder,
};
pub use connection_string::{ConnectionString, ConnectionStringError};
pub use relay::{RelayError, RelayOptions, publish_batch, publish_pending, run_relay};

/// The queue name used when `SERVICEBUS_QUEUE` is not set (from the original TechConf design).
pub const DEFAULT_QUEUE: &str = "notificationqueue";

/// `SERVICEBUS_CONNECTION_STRING` and `SERVICEBUS_QUEUE`, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceBusSettings {
    pub connection: ConnectionString,
    pub queue: String,
}

/// A bad Service Bus setting; [`SettingsError::variable`] names the variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Connection(#[from] ConnectionStringError),
    #[error("{0}")]
    Queue(String),
}

impl SettingsError {
    pub fn variable(&self) -> &'static str {
        match self {
            SettingsError::Connection(_) => "SERVICEBUS_CONNECTION_STRING",
            SettingsError::Queue(_) => "SERVICEBUS_QUEUE",
        }
    }
}

impl ServiceBusSettings {
    /// From the two variables' values: `None` without a connection string (the database queue
    /// is used). The queue is `SERVICEBUS_QUEUE`, else the connection string's `EntityPath`,
    /// else [`DEFAULT_QUEUE`].
    pub fn from_vars(
        connection: Option<&str>,
        queue: Option<&str>,
    ) -> Result<Option<Self>, SettingsError> {
        let Some(connection) = connection.filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let connection: ConnectionString = connection.parse()?;
        let queue = queue.map(str::trim).filter(|q| !q.is_empty());
        let queue = match (queue, connection.entity_path()) {
            (Some(queue), Some(entity)) if !queue.eq_ignore_ascii_case(entity) => {
                return Err(SettingsError::Queue(format!(
                    "`{queue}` differs from the connection string's EntityPath `{entity}`, \
                     the only queue its key grants access to"
                )));
            }
            (Some(queue), _) => queue,
            (None, Some(entity)) => entity,
            (None, None) => DEFAULT_QUEUE,
        };
        validate_queue_name(queue).map_err(SettingsError::Queue)?;
        let queue = queue.to_owned();
        Ok(Some(Self { connection, queue }))
    }
}

/// Service Bus entity names: letters, digits, `.`, `-`, `_`, `/`; up to 260 characters;
/// beginning and ending with a letter or digit.
fn validate_queue_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/');
    let edges_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.len() > 260 || !edges_ok || !name.chars().all(allowed) {
        return Err(format!(
            "`{name}` is not a queue name: letters, digits, `.`, `-`, `_` and `/`, \
             beginning and ending with a letter or digit, at most 260 characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    const CS: &str = "Endpoint=sb://techconf.servicebus.windows.net/;\
                      SharedAccessKeyName=app;SharedAccessKey=s3cr3t-key=";

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
        Settings::from_lookup(|name| lookup(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn service_bus_is_off_without_a_connection_string() {
        assert!(settings(&[]).unwrap().servicebus.is_none());
        assert!(
            settings(&[("SERVICEBUS_QUEUE", "other")])
                .unwrap()
                .servicebus
                .is_none()
        );
    }

    #[test]
    fn the_queue_defaults_to_notificationqueue() {
        let s = settings(&[("SERVICEBUS_CONNECTION_STRING", CS)]).unwrap();
        let sb = s.servicebus.unwrap();
        assert_eq!(sb.queue, "notificationqueue");
        assert_eq!(sb.connection.namespace(), "techconf");
        let s = settings(&[
            ("SERVICEBUS_CONNECTION_STRING", CS),
            ("SERVICEBUS_QUEUE", "jobs"),
        ])
        .unwrap();
        assert_eq!(s.servicebus.unwrap().queue, "jobs");
        let with_entity = format!("{CS};EntityPath=fanout");
        let s = settings(&[("SERVICEBUS_CONNECTION_STRING", &with_entity)]).unwrap();
        assert_eq!(s.servicebus.unwrap().queue, "fanout");
    }

    #[test]
    fn bad_values_name_their_variable_and_never_show_the_key() {
        let err = settings(&[(
            "SERVICEBUS_CONNECTION_STRING",
            "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=s3cr3t-key=",
        )])
        .unwrap_err();
        assert_eq!(err.variable, "SERVICEBUS_CONNECTION_STRING");
        assert!(err.to_string().contains("SharedAccessKeyName"), "{err}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");

        let err = settings(&[
            ("SERVICEBUS_CONNECTION_STRING", CS),
            ("SERVICEBUS_QUEUE", "-bad name"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "SERVICEBUS_QUEUE");

        let with_entity = format!("{CS};EntityPath=fanout");
        let err = settings(&[
            ("SERVICEBUS_CONNECTION_STRING", &with_entity),
            ("SERVICEBUS_QUEUE", "other"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "SERVICEBUS_QUEUE");

        let s = settings(&[("SERVICEBUS_CONNECTION_STRING", CS)]).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn queue_names_follow_the_service_bus_rules() {
        assert!(validate_queue_name("notificationqueue").is_ok());
        assert!(validate_queue_name("a.b-c_d/e1").is_ok());
        for bad in ["", "-a", "a-", "a b", "a$b", &"a".repeat(261)] {
            assert!(validate_queue_name(bad).is_err(), "{bad}");
        }
    }
}
