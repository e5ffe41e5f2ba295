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
use crate::service::{
    self, deliveries::DeliveryFilter, notification::CreateNotification, page::PageRequest,
};

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
    /// What lists and headings show: the name given at creation, or the subject as the
    /// sample attendee would read it (the subject template for notifications from before
    /// names).
    async fn name(&self) -> &str {
        self.0.name.as_deref().unwrap_or(&self.0.subject)
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
    /// When a scheduled notification is (or was) planned. `startedAt` later than this shows
    /// how late planning started (no worker was running at `sendAt`, say).
    async fn send_at(&self) -> Option<DateTime<Utc>> {
        self.0.send_at
    }
    /// The audience criteria it was created with; null: every attendee registered when it
    /// is planned.
    async fn audience(&self) -> Result<Option<super::campaign::Audience>> {
        crate::domain::Audience::from_json(self.0.audience.as_deref())
            .map(|a| a.map(Into::into))
            .map_err(|e| crate::error::ApiError::Internal(anyhow::anyhow!(e)))
            .gql()
    }
    /// Its auto-pause rule; null: it never pauses itself.
    async fn auto_pause(&self) -> Option<super::campaign::AutoPause> {
        crate::domain::AutoPause::from_json(self.0.auto_pause.as_deref()).map(Into::into)
    }
    /// Why it paused itself (auto-pause); null otherwise, and again once resumed.
    async fn paused_reason(&self) -> Option<&str> {
        self.0.paused_reason.as_deref()
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
    /// The recipients in the order they were planned: the delivery log. Optionally only
    /// those in one status, and only those whose email or name (as registered, "first last")
    /// contains `search` (case-insensitive, at most 100 characters).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<DeliveryStatus>,
        #[graphql(desc = "A part of the recipient's email or name.")] search: Option<String>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Delivery>> {
        require(ctx, READERS).gql()?;
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let filter = DeliveryFilter {
            status: status.map(Into::into),
            search,
        };
        let page = service::deliveries::list(db(ctx), &scope(ctx), self.0.id, &filter, request)
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
    /// Notifications, newest first; of one conference if `conferenceId` is given.
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
    /// Queues a notification to the attendees of a conference (every attendee registered
    /// when it is planned, or those its `audience` selects then), now or at `sendAt`. Admin
    /// only. The templates and campaign settings are checked first: nothing is saved when
    /// they are refused.
    async fn create_notification(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationInput,
    ) -> Result<Notification> {
        let principal = require(ctx, ADMINS).gql()?;
        let conference_id = parse_id("conferenceId", &input.conference_id).gql()?;
        let campaigns = super::campaign::limits(ctx);
        let audience = input
            .audience
            .map(|a| a.parse(&campaigns))
            .transpose()
            .gql()?;
        let auto_pause = input
            .auto_pause
            .map(|a| a.parse(&campaigns))
            .transpose()
            .gql()?;
        service::notification::create(
            db(ctx),
            &scope(ctx),
            principal,
            CreateNotification {
                conference_id,
                name: input.name,
                subject: input.subject,
                message: input.message,
                idempotency_key: input.idempotency_key,
                send_at: input.send_at,
                audience,
                auto_pause,
            },
            &template_limits(ctx),
            &campaigns,
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

    /// Stops for good: pending recipients become cancelled; a scheduled notification is never
    /// planned. Admin only.
    async fn cancel_notification(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::controls::cancel(db(ctx), &scope(ctx), id)
            .await
            .map(Notification)
            .gql()
    }

    /// Sends again to the recipients whose delivery failed, and says how many. Admin only.
    /// Hard bounces (failed deliveries to an address suppressed after a bounce, and
    /// deliveries the provider reported bounced) are skipped unless `includeBounced`;
    /// addresses that unsubscribed or complained are never retried. A `CONFLICT` when there
    /// is nothing to retry.
    async fn retry_failed_deliveries(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "Also retry hard bounces, sending to those addresses again \
                          (default false).")]
        include_bounced: Option<bool>,
    ) -> Result<RetryFailedDeliveries> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        let include_bounced = include_bounced.unwrap_or(false);
        let report = service::controls::retry_failed(
            db(ctx),
            &scope(ctx),
            id,
            slice_size(ctx),
            include_bounced,
        )
        .await
        .gql()?;
        Ok(RetryFailedDeliveries {
            notification: Notification(report.notification),
            retried: count(report.retried),
            skipped_bounced: count(report.skipped_bounced),
            skipped_suppressed: count(report.skipped_suppressed),
        })
    }
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// What `retryFailedDeliveries` did.
#[derive(async_graphql::SimpleObject)]
pub struct RetryFailedDeliveries {
    /// The notification as it is after the retry (`failed` is down by the retried ones).
    pub notification: Notification,
    /// Deliveries made pending again.
    pub retried: i32,
    /// Hard bounces left alone (retry them with `includeBounced: true`).
    pub skipped_bounced: i32,
    /// Failed deliveries to addresses that unsubscribed or complained since: never retried.
    pub skipped_suppressed: i32,
}
