//! GraphQL output and input types. They are built from rows but are not rows, so the
//! database can change without breaking clients.
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain;
use crate::entity;
use crate::error::IntoGraphql;

use super::loader::{AttendeeLoader, load_one};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Waiting for its `sendAt`; planned then (recipients are counted at that moment).
    Scheduled,
    Queued,
    Sending,
    /// Paused while deliveries were in flight: `PAUSED` once they are recorded.
    Pausing,
    Paused,
    /// Cancelled while deliveries were in flight: `CANCELLED` once they are recorded, with
    /// final counts.
    Cancelling,
    Completed,
    CompletedWithErrors,
    Cancelled,
}

impl From<domain::NotificationStatus> for NotificationStatus {
    fn from(s: domain::NotificationStatus) -> Self {
        use domain::NotificationStatus as D;
        match s {
            D::Scheduled => Self::Scheduled,
            D::Queued => Self::Queued,
            D::Sending => Self::Sending,
            D::Pausing => Self::Pausing,
            D::Paused => Self::Paused,
            D::Cancelling => Self::Cancelling,
            D::Completed => Self::Completed,
            D::CompletedWithErrors => Self::CompletedWithErrors,
            D::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Sending,
    Sent,
    Failed,
    Cancelled,
    /// Not sent: the address is on the suppression list.
    Suppressed,
    /// Sent, then reported as a hard bounce by the provider.
    Bounced,
}

impl From<domain::DeliveryStatus> for DeliveryStatus {
    fn from(s: domain::DeliveryStatus) -> Self {
        use domain::DeliveryStatus as D;
        match s {
            D::Pending => Self::Pending,
            D::Sending => Self::Sending,
            D::Sent => Self::Sent,
            D::Failed => Self::Failed,
            D::Cancelled => Self::Cancelled,
            D::Suppressed => Self::Suppressed,
            D::Bounced => Self::Bounced,
        }
    }
}

impl From<DeliveryStatus> for domain::DeliveryStatus {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Sending => Self::Sending,
            DeliveryStatus::Sent => Self::Sent,
            DeliveryStatus::Failed => Self::Failed,
            DeliveryStatus::Cancelled => Self::Cancelled,
            DeliveryStatus::Suppressed => Self::Suppressed,
            DeliveryStatus::Bounced => Self::Bounced,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Integrator,
    /// Every organization of the installation.
    Operator,
}

impl From<domain::Role> for Role {
    fn from(r: domain::Role) -> Self {
        match r {
            domain::Role::Admin => Role::Admin,
            domain::Role::Integrator => Role::Integrator,
            domain::Role::Operator => Role::Operator,
        }
    }
}

/// The API token a request was made with.
#[derive(SimpleObject)]
pub struct Viewer {
    pub name: String,
    pub role: Role,
}

/// A conference. Public: it carries no attendee data.
#[derive(SimpleObject, Clone)]
pub struct Conference {
    pub id: ID,
    pub name: String,
    pub starts_on: Date,
    /// The ticket price in the conference's currency.
    pub price: f64,
    pub address: String,
    /// Whether registration is open.
    pub active: bool,
    /// ISO 4217 code of the price, e.g. `EUR`.
    pub currency: String,
    /// State or region, where the address has one.
    pub region: Option<String>,
}

impl From<entity::conference::Model> for Conference {
    fn from(m: entity::conference::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name,
            starts_on: Date(m.starts_on),
            price: m.price_cents as f64 / 100.0,
            address: m.address,
            active: m.active,
            currency: m.currency,
            region: m.region,
        }
    }
}

/// A registered attendee. Its email is visible only with an API token.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Attendee {
    pub id: ID,
    pub conference_id: ID,
    pub first_name: String,
    pub last_name: String,
    #[graphql(skip)]
    pub email: String,
    pub job_position: String,
    pub company: String,
    pub city: String,
    pub state: String,
    pub interests: Option<String>,
    pub comments: Option<String>,
    pub submitted_at: DateTime<Utc>,
}

#[ComplexObject]
impl Attendee {
    /// Needs an API token.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        super::require(ctx, super::READERS).gql()?;
        Ok(&self.email)
    }
}

impl From<entity::attendee::Model> for Attendee {
    fn from(m: entity::attendee::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            conference_id: ID(m.conference_id.to_string()),
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            job_position: m.job_position,
            company: m.company,
            city: m.city,
            state: m.state,
            interests: m.interests,
            comments: m.comments,
            submitted_at: m.submitted_at,
        }
    }
}

/// One recipient of one notification.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Delivery {
    pub id: ID,
    pub attendee_id: ID,
    /// The notification it is a recipient of.
    pub notification_id: ID,
    /// The address the email went (or goes) to.
    pub email: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The last error, e.g. the SMTP server's reply.
    pub last_error: Option<String>,
    /// The Message-ID of the email, the same on every attempt.
    pub message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Delivery {
    /// The notification: its subject, and when it was submitted and completed.
    async fn notification(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<super::notification::Notification> {
        let id = super::parse_id("notificationId", &self.notification_id).gql()?;
        crate::service::notification::get(super::db(ctx), &super::scope(ctx), id)
            .await
            .map(Into::into)
            .gql()
    }

    async fn attendee(&self, ctx: &Context<'_>) -> async_graphql::Result<Attendee> {
        let id = super::parse_id("attendeeId", &self.attendee_id).gql()?;
        let loader = ctx.data_unchecked::<DataLoader<AttendeeLoader>>();
        load_one(loader, "attendee", id)
            .await
            .map(Attendee::from)
            .gql()
    }
}

impl From<entity::delivery::Model> for Delivery {
    fn from(m: entity::delivery::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            attendee_id: ID(m.attendee_id.to_string()),
            notification_id: ID(m.notification_id.to_string()),
            email: m.email,
            status: m.status.into(),
            attempts: m.attempts,
            last_error: m.last_error,
            message_id: m.message_id,
            sent_at: m.sent_at,
            next_attempt_at: m.next_attempt_at,
        }
    }
}

#[derive(InputObject)]
pub struct RegisterAttendeeInput {
    pub conference_id: ID,
    #[graphql(flatten)]
    pub registration: domain::Registration,
}

#[derive(InputObject)]
pub struct CreateConferenceInput {
    pub name: String,
    pub starts_on: Date,
    pub price: f64,
    pub address: String,
    #[graphql(default = true)]
    pub active: bool,
    /// ISO 4217 code of the price.
    #[graphql(default_with = "\"EUR\".to_owned()")]
    pub currency: String,
    /// State or region; leave out where the address has none.
    pub region: Option<String>,
}

/// A conference's details as an organizer edits them (registration is opened and closed
/// with `setConferenceActive`).
#[derive(InputObject)]
pub struct UpdateConferenceInput {
    pub name: String,
    pub starts_on: Date,
    pub price: f64,
    pub address: String,
    pub currency: String,
    pub region: Option<String>,
}

#[derive(InputObject)]
pub struct CreateNotificationInput {
    pub conference_id: ID,
    /// What lists and headings show, at most 200 characters. Blank or absent: the subject
    /// as the sample attendee (Ada Lovelace) would read it.
    pub name: Option<String>,
    /// A template over the attendee and conference fields, e.g. `Hello {{ first_name }}`.
    pub subject: String,
    /// A template over the same fields as the subject.
    pub message: String,
    /// Retrying with the same key (from the same token) returns the first notification.
    pub idempotency_key: Option<String>,
    /// Send later: a UTC instant (at most `SCHEDULE_MAX_DAYS_AHEAD` ahead, not in the past).
    /// The notification is `SCHEDULED` until then, and is planned then: its recipients are
    /// the attendees matching at that moment.
    pub send_at: Option<DateTime<Utc>>,
    /// Who receives it; omitted: every attendee registered when it is planned.
    pub audience: Option<super::campaign::Audience>,
    /// When it pauses itself; omitted: the server's default (`AUTO_PAUSE_*`, 0.2 over 50).
    pub auto_pause: Option<super::campaign::AutoPause>,
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[async_graphql::Scalar(name = "Date")]
impl async_graphql::ScalarType for Date {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        match &value {
            async_graphql::Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    async_graphql::InputValueError::custom(format!(
                        "`{s}` is not a date in the form YYYY-MM-DD"
                    ))
                }),
            _ => Err(async_graphql::InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
