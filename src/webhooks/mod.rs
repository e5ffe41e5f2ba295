//! Delivery events from email providers: bounces and complaints, under `/webhooks/<provider>`.
//!
//! Each provider's module authenticates the request as that provider specifies and turns
//! its payload into [`ProviderEvent`]s; [`apply`] records them. What an event does:
//!
//! - hard bounce: the delivery becomes `bounced` (it was `sent`; `Notification.bounced`
//!   counts it) and the address is suppressed for every conference;
//! - complaint: the address is suppressed for every conference;
//! - soft bounce, delivered, anything else: recorded in `delivery_event` only.
//!
//! Events are matched to deliveries by our Message-ID. Every event is stored once per
//! (provider, event id), in the transaction that acts on it, so a replayed or duplicated
//! event changes nothing. Order does not matter: a bounce only ever moves `sent` to
//! `bounced`, nothing moves it back, and suppressing twice is suppressing once. An event
//! for a delivery whose send is not recorded yet (the provider can be faster than the
//! worker's batch) is refused with 503, so the provider retries it later.
pub mod azure;
pub mod sendgrid;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr};
use secrecy::SecretString;
use uuid::Uuid;

use crate::config::ConfigError;
use crate::store;
use crate::suppression::{self, Reason};

/// `WEBHOOK_*` settings; an endpoint whose setting is unset answers 404.
#[derive(Clone, Debug, Default)]
pub struct WebhookSettings {
    /// `WEBHOOK_AZURE_SECRET`: the shared secret Event Grid sends (query or header).
    pub azure_secret: Option<SecretString>,
    /// `WEBHOOK_SENDGRID_PUBLIC_KEY`: the Event Webhook's verification key.
    pub sendgrid_key: Option<p256::ecdsa::VerifyingKey>,
}

impl WebhookSettings {
    pub fn from_lookup(get: &impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let azure_secret = match get("WEBHOOK_AZURE_SECRET") {
            Some(secret) if secret.trim().len() < 16 => {
                return Err(ConfigError {
                    variable: "WEBHOOK_AZURE_SECRET",
                    reason: "must be at least 16 characters".into(),
                });
            }
            other => other.map(|s| SecretString::from(s.trim().to_owned())),
        };
        let sendgrid_key = get("WEBHOOK_SENDGRID_PUBLIC_KEY")
            .map(|key| {
                sendgrid::parse_public_key(&key).map_err(|reason| ConfigError {
                    variable: "WEBHOOK_SENDGRID_PUBLIC_KEY",
                    reason,
                })
            })
            .transpose()?;
        Ok(Self {
            azure_secret,
            sendgrid_key,
        })
    }
}

/// What a provider says happened to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Delivered,
    SoftBounce,
    HardBounce,
    Complaint,
    Other,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Delivered => "delivered",
            EventKind::SoftBounce => "soft_bounce",
            EventKind::HardBounce => "hard_bounce",
            EventKind::Complaint => "complaint",
            EventKind::Other => "other",
        }
    }
}

/// One event, in TechConf's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's id for the event: what makes a replay recognisable.
    pub event_id: String,
    /// Our Message-ID, as the provider reports it (with or without angle brackets).
    pub message_id: Option<String>,
    pub kind: EventKind,
    pub detail: Option<String>,
}

/// What [`apply`] did with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Seen before: nothing changed.
    Duplicate,
    /// Stored and acted on (or stored only, for kinds that only get recorded).
    Recorded,
    /// Matches a delivery whose send is not recorded yet: try again later.
    NotYet,
}

/// Our Message-IDs are stored with angle brackets.
fn normalise_message_id(id: &str) -> String {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{id}>")
}

/// Records one event and acts on it, in one transaction.
pub async fn apply(
    db: &sea_orm::DatabaseConnection,
    provider: &str,
    event: &ProviderEvent,
) -> Result<Applied, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    let message_id = event.message_id.as_deref().map(normalise_message_id);
    let delivery = match &message_id {
        None => None,
        Some(id) => {
            txn.query_one_raw(sql(
                backend,
                "SELECT id, notification_id, email, status FROM delivery WHERE message_id = $1",
                vec![id.clone().into()],
            ))
            .await?
        }
    };
    let delivery = match delivery {
        None => None,
        Some(row) => Some((
            row.try_get::<i64>("", "id")?,
            row.try_get::<Uuid>("", "notification_id")?,
            row.try_get::<String>("", "email")?,
            row.try_get::<String>("", "status")?,
        )),
    };
    let acts = matches!(event.kind, EventKind::HardBounce | EventKind::Complaint);
    if acts
        && let Some((.., status)) = &delivery
        && (status == "pending" || status == "sending")
    {
        return Ok(Applied::NotYet);
    }
    let inserted = txn
        .execute_raw(sql(
            backend,
            "INSERT INTO delivery_event \
                 (id, provider, event_id, message_id, delivery_id, kind, detail, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (provider, event_id) DO NOTHING",
            vec![
                Uuid::now_v7().into(),
                provider.into(),
                truncate(&event.event_id, 200).into(),
                message_id.as_deref().map(|m| truncate(m, 200)).into(),
                delivery.as_ref().map(|d| d.0).into(),
                event.kind.as_str().into(),
                event.detail.as_deref().map(|d| truncate(d, 2000)).into(),
                Utc::now().into(),
            ],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Applied::Duplicate);
    }
    let mut changed = store::Signal::none();
    if let Some((delivery_id, notification_id, email, _)) = &delivery {
        // Suppressions belong to the organization that sent the message.
        let organization = crate::tenancy::organization_of_notification(&txn, *notification_id)
            .await?
            .unwrap_or_else(crate::tenancy::default_organization);
        match event.kind {
            EventKind::HardBounce => {
                let detail = event.detail.as_deref().unwrap_or("bounced");
                changed = store::delivery::bounce(
                    &txn,
                    *delivery_id,
                    *notification_id,
                    &truncate(detail, 2000),
                )
                .await?;
                suppression::suppress(&txn, organization, email, None, Reason::Bounced).await?;
            }
            EventKind::Complaint => {
                suppression::suppress(&txn, organization, email, None, Reason::Complained).await?;
            }
            _ => {}
        }
    }
    txn.commit().await?;
    changed.publish();
    Ok(Applied::Recorded)
}

/// `$n` placeholders bind natively on both backends.
fn sql(backend: sea_orm::DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Applies a provider's events in order and sums up the HTTP answer: 200 when all were
/// recorded (or seen before), 503 when one must be retried later, 500 on a database error.
pub async fn apply_all(
    db: &sea_orm::DatabaseConnection,
    provider: &str,
    events: &[ProviderEvent],
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    let mut status = StatusCode::OK;
    for event in events {
        match apply(db, provider, event).await {
            Ok(Applied::Recorded | Applied::Duplicate) => {}
            Ok(Applied::NotYet) => status = StatusCode::SERVICE_UNAVAILABLE,
            Err(err) => {
                tracing::error!(provider, error = %err, "could not record a delivery event");
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_compared_with_angle_brackets() {
        assert_eq!(normalise_message_id("a.b@x.org"), "<a.b@x.org>");
        assert_eq!(normalise_message_id(" <a.b@x.org> "), "<a.b@x.org>");
    }
}
