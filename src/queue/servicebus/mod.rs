//! Azure Service Bus as the production queue.
//!
//! Jobs are still rows written in the business transaction (the outbox); the
//! [`relay`] publishes unpublished rows to a Service Bus queue with `MessageId = job id`, and
//! workers receive them with peek-lock through a [`ServiceBusQueue`]. Enabled by
//! `SERVICEBUS_CONNECTION_STRING` (and `SERVICEBUS_QUEUE`, default `notificationqueue`).
//!
//! How a worker consumes (`src/worker/servicebus.rs` has the details and the reasons):
//! 1. `receive(wait)`; `None` means the queue stayed empty.
//! 2. A `MessageId` that is not a job id, or a body that does not parse: `reject` (complete +
//!    error log). It could never succeed, so it must not loop.
//! 3. Claim the job row by id (`DatabaseQueue::claim_by_id`): the row lease, not the message
//!    lock, keeps a job from running twice at once. No row: the job is done; complete.
//! 4. `keep_locked(&msg, lock_duration / 2)` while the job runs.
//! 5. Record the outcome on the row, then `complete`. A job that must run again later is
//!    handed over to a successor row that the relay publishes when due (a new id, so the
//!    queue's duplicate detection cannot drop it). `abandon` only when the outcome cannot be
//!    recorded; past the queue's max delivery count the broker dead-letters the message.
//! 6. `LockLost` on complete or renew: the message comes back and finds the row as it was
//!    left.
pub mod client;
pub mod connection_string;
pub mod relay;
mod transport;

use std::time::Duration;

pub use client::{
    LockGuard, ReceivedMessage, RetryPolicy, ServiceBusError, ServiceBusQueue,
    ServiceBusQueueBuilder,
};
pub use connection_string::{ConnectionString, ConnectionStringError};
pub use relay::{RelayError, RelayOptions, publish_batch, publish_pending, run_relay, spawn_relay};

/// The queue name used when `SERVICEBUS_QUEUE` is not set (from the original TechConf design).
pub const DEFAULT_QUEUE: &str = "notificationqueue";

/// `SERVICEBUS_*`, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceBusSettings {
    pub connection: ConnectionString,
    pub queue: String,
    /// `SERVICEBUS_ENDPOINT`: send requests to this base URL (e.g. `http://127.0.0.1:41234`)
    /// instead of `https://NS.servicebus.windows.net`, with SAS tokens still signed for the
    /// latter. For tests and local emulators only.
    pub endpoint: Option<String>,
    pub relay: RelaySettings,
}

/// How the outbox relay runs inside `techconf serve` and `techconf worker`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySettings {
    /// `SERVICEBUS_RELAY` (`on`, the default, or `off`): whether this process runs a relay.
    /// Several relays may run at once; at least one must.
    pub enabled: bool,
    /// `SERVICEBUS_RELAY_BATCH` (default 100): rows claimed and published per pass.
    pub batch_size: usize,
    /// `SERVICEBUS_RELAY_LEASE_MS` (default 60000): how long a claimed batch is kept from other
    /// relays; after a relay dies, its claimed rows wait this long for another relay.
    pub lease: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        let defaults = RelayOptions::default();
        Self {
            enabled: true,
            batch_size: defaults.batch_size,
            lease: defaults.lease,
        }
    }
}

impl RelaySettings {
    /// The relay's options with these settings.
    pub fn options(&self) -> RelayOptions {
        RelayOptions {
            batch_size: self.batch_size,
            lease: self.lease,
            ..RelayOptions::default()
        }
    }
}

/// A bad Service Bus setting; [`SettingsError::variable`] names the variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Connection(#[from] ConnectionStringError),
    #[error("{0}")]
    Queue(String),
    #[error("{reason}")]
    Other {
        variable: &'static str,
        reason: String,
    },
}

impl SettingsError {
    pub fn variable(&self) -> &'static str {
        match self {
            SettingsError::Connection(_) => "SERVICEBUS_CONNECTION_STRING",
            SettingsError::Queue(_) => "SERVICEBUS_QUEUE",
            SettingsError::Other { variable, .. } => variable,
        }
    }
}

impl ServiceBusSettings {
    /// From the two variables' values: `None` without a connection string (the database queue
    /// is used). The queue is `SERVICEBUS_QUEUE`, else the connection string's `EntityPath`,
    /// else [`DEFAULT_QUEUE`]. The other settings take their defaults.
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
        Ok(Some(Self {
            connection,
            queue,
            endpoint: None,
            relay: RelaySettings::default(),
        }))
    }

    /// Every `SERVICEBUS_*` variable, read through `get` (which returns `None` for unset or
    /// blank variables).
    pub fn from_lookup(
        get: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let Some(mut settings) = Self::from_vars(
            get("SERVICEBUS_CONNECTION_STRING").as_deref(),
            get("SERVICEBUS_QUEUE").as_deref(),
        )?
        else {
            return Ok(None);
        };
        if let Some(endpoint) = get("SERVICEBUS_ENDPOINT") {
            let endpoint = endpoint.trim().to_owned();
            transport::EndpointOverride::parse(&endpoint).map_err(|reason| {
                SettingsError::Other {
                    variable: "SERVICEBUS_ENDPOINT",
                    reason,
                }
            })?;
            settings.endpoint = Some(endpoint);
        }
        if let Some(relay) = get("SERVICEBUS_RELAY") {
            settings.relay.enabled = match relay.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => true,
                "off" | "false" | "0" | "no" => false,
                other => {
                    return Err(SettingsError::Other {
                        variable: "SERVICEBUS_RELAY",
                        reason: format!("`{other}`: expected `on` or `off`"),
                    });
                }
            };
        }
        let positive = |variable: &'static str| -> Result<Option<u64>, SettingsError> {
            let Some(raw) = get(variable) else {
                return Ok(None);
            };
            match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(SettingsError::Other {
                    variable,
                    reason: format!("`{raw}`: expected a positive whole number"),
                }),
            }
        };
        if let Some(batch) = positive("SERVICEBUS_RELAY_BATCH")? {
            settings.relay.batch_size = usize::try_from(batch).unwrap_or(usize::MAX);
        }
        if let Some(lease) = positive("SERVICEBUS_RELAY_LEASE_MS")? {
            settings.relay.lease = Duration::from_millis(lease);
        }
        Ok(Some(settings))
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
    fn the_relay_and_endpoint_settings_have_defaults_and_name_their_variable() {
        let s = settings(&[("SERVICEBUS_CONNECTION_STRING", CS)]).unwrap();
        let sb = s.servicebus.unwrap();
        assert_eq!(sb.endpoint, None);
        assert_eq!(sb.relay, RelaySettings::default());
        assert!(sb.relay.enabled);

        let s = settings(&[
            ("SERVICEBUS_CONNECTION_STRING", CS),
            ("SERVICEBUS_ENDPOINT", "http://127.0.0.1:4000"),
            ("SERVICEBUS_RELAY", "off"),
            ("SERVICEBUS_RELAY_BATCH", "5"),
            ("SERVICEBUS_RELAY_LEASE_MS", "1500"),
        ])
        .unwrap();
        let sb = s.servicebus.unwrap();
        assert_eq!(sb.endpoint.as_deref(), Some("http://127.0.0.1:4000"));
        assert!(!sb.relay.enabled);
        assert_eq!(sb.relay.options().batch_size, 5);
        assert_eq!(sb.relay.options().lease, Duration::from_millis(1500));

        for (variable, value) in [
            ("SERVICEBUS_ENDPOINT", "ftp://x"),
            ("SERVICEBUS_RELAY", "sometimes"),
            ("SERVICEBUS_RELAY_BATCH", "0"),
            ("SERVICEBUS_RELAY_LEASE_MS", "soon"),
        ] {
            let err =
                settings(&[("SERVICEBUS_CONNECTION_STRING", CS), (variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
        // Without a connection string the other variables are not looked at.
        assert!(
            settings(&[("SERVICEBUS_RELAY", "sometimes")])
                .unwrap()
                .servicebus
                .is_none()
        );
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
