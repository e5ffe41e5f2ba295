//! Notifications: creation and reads, with their deliveries.
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use async_graphql::dataloader::DataLoader;

use super::connection::{ListConnection, connection, decode_cursor};
use super::loader::{ConferenceLoader, load_one};
use super::types::{
    Conference, CreateNotificationInput, Delivery, DeliveryStatus, NotificationStatus,
};
use super::{ADMINS, READERS, db, parse_id, require, scope};
use crate::entity::notification;
use crate::error::IntoGraphql;
use crate::service::{self, notification::CreateNotification, page::PageRequest};

/// A notification rendered for one recipient.
#[derive(async_graphql::SimpleObject)]
pub struct NotificationPreview {
    pub subject: String,
    /// The text part: the message as written.
    pub body: String,
    /// The HTML part: the message as Markdown, rendered, sanitised, in the email layout.
    /// Attendee values in it are escaped. Show it in a sandboxed iframe.
    pub html: String,
}

/// A notification and its progress.
pub struct Notification(notification::Model);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The subject template.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// The message template.
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn status(&self) -> NotificationStatus {
        self.0.status.into()
    }
    /// Recipients, known once the notification is planned.
    async fn total(&self) -> i32 {
        self.0.total
    }
    async fn sent(&self) -> i32 {
        self.0.sent
    }
    async fn failed(&self) -> i32 {
        self.0.failed
    }
    async fn cancelled(&self) -> i32 {
        self.0.cancelled
    }
    /// Recipients skipped because their address is on the suppression list.
    async fn suppressed(&self) -> i32 {
        self.0.suppressed
    }
    /// Recipients sent to, then reported bounced by the provider. Counted in `sent` as
    /// well: `sent + failed + cancelled + suppressed + pending = total`.
    async fn bounced(&self) -> i32 {
        self.0.bounced
    }
    /// Recipients neither sent, failed, cancelled nor suppressed yet.
    async fn pending(&self) -> i32 {
        (self.0.total - self.0.sent - self.0.failed - self.0.cancelled - self.0.suppressed).max(0)
    }
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
    /// The conference whose attendees receive it (none for some imported notifications).
    async fn conference(&self, ctx: &Context<'_>) -> Result<Option<Conference>> {
        let Some(id) = self.0.conference_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<DataLoader<ConferenceLoader>>();
        load_one(loader, "conference", id)
            .await
            .map(|c| Some(c.into()))
            .gql()
    }
    /// The recipients, optionally only those in one status.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<DeliveryStatus>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Delivery>> {
        require(ctx, READERS).gql()?;
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page = service::notification::deliveries(
            db(ctx),
            &scope(ctx),
            self.0.id,
            status.map(Into::into),
            request,
        )
        .await
        .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }
}

impl From<notification::Model> for Notification {
    fn from(m: notification::Model) -> Self {
        Self(m)
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// Notifications, oldest first; of one conference if `conferenceId` is given.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        conference_id: Option<ID>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Notification>> {
        require(ctx, READERS).gql()?;
        let conference_id = conference_id
            .map(|id| parse_id("conferenceId", &id))
            .transpose()
            .gql()?;
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page = service::notification::list(db(ctx), &scope(ctx), conference_id, request)
            .await
            .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }

    /// Renders a subject and message for one attendee (or sample values), as the worker
    /// would; template errors are `VALIDATION` errors naming the field.
    async fn preview_notification(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
        attendee_id: Option<ID>,
        subject: String,
        message: String,
    ) -> Result<NotificationPreview> {
        require(ctx, READERS).gql()?;
        let conference_id = parse_id("conferenceId", &conference_id).gql()?;
        let attendee_id = attendee_id
            .map(|id| parse_id("attendeeId", &id))
            .transpose()
            .gql()?;
        let rendered = service::notification::preview(
            db(ctx),
            &scope(ctx),
            conference_id,
            attendee_id,
            &subject,
            &message,
            &template_limits(ctx),
        )
        .await
        .gql()?;
        Ok(NotificationPreview {
            subject: rendered.email.subject,
            body: rendered.email.body,
            html: rendered.html_document,
        })
    }

    /// Every delivery to this address (in any letter case) in the caller's organization,
    /// across notifications, oldest first: status, attempts, last error, when it was sent
    /// or will be tried again, and the Message-ID. Answers "did this person get it, and
    /// when?" for support.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn deliveries_by_email(
        &self,
        ctx: &Context<'_>,
        email: String,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Delivery>> {
        require(ctx, READERS).gql()?;
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page =
            service::notification::deliveries_by_email(db(ctx), &scope(ctx), &email, request)
                .await
                .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }

    async fn notification(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        require(ctx, READERS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::notification::get(db(ctx), &scope(ctx), id)
            .await
            .map(Notification)
            .gql()
    }
}

#[derive(Default)]
pub struct NotificationMutation;

fn template_limits(ctx: &Context<'_>) -> crate::domain::TemplateLimits {
    ctx.data_opt::<crate::config::WorkerSettings>()
        .map(|w| w.templates)
        .unwrap_or_default()
}

fn slice_size(ctx: &Context<'_>) -> usize {
    ctx.data_opt::<crate::config::WorkerSettings>()
        .map_or(500, |w| w.slice_size)
}

#[Object]
impl NotificationMutation {
    /// Queues a notification to every attendee of a conference. Admin only. The templates
    /// are checked first: nothing is saved when they do not compile.
    async fn create_notification(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationInput,
    ) -> Result<Notification> {
        let principal = require(ctx, ADMINS).gql()?;
        let conference_id = parse_id("conferenceId", &input.conference_id).gql()?;
        service::notification::create(
            db(ctx),
            &scope(ctx),
            principal,
            CreateNotification {
                conference_id,
                subject: input.subject,
                message: input.message,
                idempotency_key: input.idempotency_key,
            },
            &template_limits(ctx),
        )
        .await
        .map(Notification)
        .gql()
    }

    /// Stops sending after the batch in flight. Admin only.
    async fn pause_notification(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::controls::pause(db(ctx), &scope(ctx), id)
            .await
            .map(Notification)
            .gql()
    }

    /// Continues a paused notification with the recipients still pending. Admin only.
    async fn resume_notification(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::controls::resume(db(ctx), &scope(ctx), id, slice_size(ctx))
            .await
            .map(Notification)
            .gql()
    }

    /// Stops for good: pending recipients become cancelled. Admin only.
    async fn cancel_notification(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::controls::cancel(db(ctx), &scope(ctx), id)
            .await
            .map(Notification)
            .gql()
    }

    /// Sends again to the recipients whose delivery failed. Admin only.
    async fn retry_failed_deliveries(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::controls::retry_failed(db(ctx), &scope(ctx), id, slice_size(ctx))
            .await
            .map(Notification)
            .gql()
    }
}
