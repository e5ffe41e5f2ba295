//! Campaigns: who a notification reaches (`Audience`, `audiencePreview`), when it is
//! planned (`sendAt`, `rescheduleNotification`), when it stops itself (`autoPause`), and
//! test sends (`sendTestNotification`).
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{ListConnection, connection, decode_cursor};
use super::notification::Notification;
use super::types::Attendee;
use super::{ADMINS, READERS, db, parse_id, require, scope};
use crate::domain::{self, CampaignLimits};
use crate::error::{ApiError, ApiResult, IntoGraphql};
use crate::service::{self, campaign::TestSend, page::PageRequest};

/// Which attendees of the conference receive a notification. Criteria combine with AND; the
/// values of one list with OR, compared without regard to case; an omitted criterion does not
/// filter (an empty list is refused). With no criteria at all, a notification goes to every
/// attendee registered **when it is planned** (at `sendAt` for a scheduled one), not when it
/// was created. As an output, the audience a notification was created with.
#[derive(InputObject, SimpleObject, Clone, Debug)]
#[graphql(input_name = "AudienceInput")]
pub struct Audience {
    pub company: Option<Vec<String>>,
    pub job_position: Option<Vec<String>>,
    pub city: Option<Vec<String>>,
    pub state: Option<Vec<String>>,
    /// A piece of the attendee's interests, without regard to case.
    pub interests_contain: Option<String>,
    /// Registered at or after this instant.
    pub registered_after: Option<DateTime<Utc>>,
    /// Registered before this instant.
    pub registered_before: Option<DateTime<Utc>>,
    pub attendee_ids: Option<Vec<ID>>,
}

impl Audience {
    /// The domain's criteria, checked against the limits.
    pub fn parse(self, limits: &CampaignLimits) -> ApiResult<domain::Audience> {
        let attendee_ids = match self.attendee_ids {
            Some(ids) if ids.len() > limits.audience_max_attendee_ids => {
                return Err(ApiError::validation(
                    "audience.attendeeIds",
                    format!("at most {} ids", limits.audience_max_attendee_ids),
                ));
            }
            Some(ids) => Some(
                ids.iter()
                    .map(|id| parse_id("audience.attendeeIds", id))
                    .collect::<ApiResult<Vec<Uuid>>>()?,
            ),
            None => None,
        };
        Ok(domain::Audience {
            company: self.company,
            job_position: self.job_position,
            city: self.city,
            state: self.state,
            interests_contain: self.interests_contain,
            registered_after: self.registered_after,
            registered_before: self.registered_before,
            attendee_ids,
        }
        .check(limits)?)
    }
}

impl From<domain::Audience> for Audience {
    fn from(a: domain::Audience) -> Self {
        Self {
            company: a.company,
            job_position: a.job_position,
            city: a.city,
            state: a.state,
            interests_contain: a.interests_contain,
            registered_after: a.registered_after,
            registered_before: a.registered_before,
            attendee_ids: a
                .attendee_ids
                .map(|ids| ids.into_iter().map(|id| ID(id.to_string())).collect()),
        }
    }
}

/// A notification pauses itself when more than `failureRatio` of its last
/// `minimumAttempts` finished deliveries failed. Transient failures that are retried do not
/// count; a delivery counts once, when it ends sent or failed.
#[derive(InputObject, SimpleObject, Clone, Copy, Debug)]
#[graphql(input_name = "AutoPauseInput")]
pub struct AutoPause {
    /// Greater than 0, at most 1 (1 never pauses).
    pub failure_ratio: f64,
    /// The window: the last this many finished deliveries; nothing is judged before.
    pub minimum_attempts: i32,
}

impl AutoPause {
    pub fn parse(self, limits: &CampaignLimits) -> ApiResult<domain::AutoPause> {
        let minimum_attempts = u32::try_from(self.minimum_attempts)
            .map_err(|_| ApiError::validation("autoPause.minimumAttempts", "must be positive"))?;
        Ok(domain::AutoPause {
            failure_ratio: self.failure_ratio,
            minimum_attempts,
        }
        .check(limits)?)
    }
}

impl From<domain::AutoPause> for AutoPause {
    fn from(a: domain::AutoPause) -> Self {
        Self {
            failure_ratio: a.failure_ratio,
            minimum_attempts: i32::try_from(a.minimum_attempts).unwrap_or(i32::MAX),
        }
    }
}

/// The attendees an audience selects now.
pub struct AudiencePreview {
    conference_id: Uuid,
    audience: Option<domain::Audience>,
}

#[Object]
impl AudiencePreview {
    /// How many attendees match now.
    async fn count(&self, ctx: &Context<'_>) -> Result<u64> {
        let page = service::campaign::audience_preview(
            db(ctx),
            &scope(ctx),
            self.conference_id,
            self.audience.clone(),
            &limits(ctx),
            PageRequest::new(Some(0), None).gql()?,
        )
        .await
        .gql()?;
        Ok(page.total_count)
    }

    /// The matching attendees, in registration order.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn attendees(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Attendee>> {
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page = service::campaign::audience_preview(
            db(ctx),
            &scope(ctx),
            self.conference_id,
            self.audience.clone(),
            &limits(ctx),
            request,
        )
        .await
        .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }
}

#[derive(InputObject)]
pub struct SendTestNotificationInput {
    pub conference_id: ID,
    pub subject: String,
    pub message: String,
    /// Whose values fill the templates; default: the conference's first attendee (sample
    /// values when it has none).
    pub attendee_id: Option<ID>,
    /// Where the test goes: 1 to `TEST_SEND_MAX_RECIPIENTS` (default 5) addresses.
    pub to: Vec<String>,
}

/// What became of one test email.
#[derive(SimpleObject)]
pub struct TestSendRecipient {
    pub address: String,
    /// Accepted by the mail server.
    pub sent: bool,
    /// The server's reply or the error, when not sent.
    pub error: Option<String>,
}

/// A test send: the subject as sent (marked `[TEST]`) and each address's outcome.
#[derive(SimpleObject)]
pub struct TestSendResult {
    pub subject: String,
    pub recipients: Vec<TestSendRecipient>,
}

pub(super) fn limits(ctx: &Context<'_>) -> CampaignLimits {
    ctx.data_opt::<crate::config::WorkerSettings>()
        .map(|w| w.campaigns)
        .unwrap_or_default()
}

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    /// The attendees of a conference that `audience` selects now (all of them without one):
    /// the count and a first page, before anything is sent. A notification counts its
    /// recipients when it is planned, so attendees registering or leaving in between change
    /// its total.
    async fn audience_preview(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
        audience: Option<Audience>,
    ) -> Result<AudiencePreview> {
        require(ctx, READERS).gql()?;
        let conference_id = parse_id("conferenceId", &conference_id).gql()?;
        let limits = limits(ctx);
        let audience = audience.map(|a| a.parse(&limits)).transpose().gql()?;
        scope(ctx).conference(db(ctx), conference_id).await.gql()?;
        Ok(AudiencePreview {
            conference_id,
            audience,
        })
    }
}

#[derive(Default)]
pub struct CampaignMutation;

#[Object]
impl CampaignMutation {
    /// Plans a `SCHEDULED` notification at `sendAt` instead (a UTC instant). Admin only.
    /// Refused (`CONFLICT`) once planning has started.
    async fn reschedule_notification(
        &self,
        ctx: &Context<'_>,
        id: ID,
        send_at: DateTime<Utc>,
    ) -> Result<Notification> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::campaign::reschedule(db(ctx), &scope(ctx), id, send_at, &limits(ctx))
            .await
            .map(Notification::from)
            .gql()
    }

    /// Renders a subject and message for one attendee, as the worker would, and emails it,
    /// subject prefixed `[TEST]`, to the given addresses only. Admin only. Creates no
    /// notification and counts in no progress.
    async fn send_test_notification(
        &self,
        ctx: &Context<'_>,
        input: SendTestNotificationInput,
    ) -> Result<TestSendResult> {
        require(ctx, ADMINS).gql()?;
        let conference_id = parse_id("conferenceId", &input.conference_id).gql()?;
        let attendee_id = input
            .attendee_id
            .map(|id| parse_id("attendeeId", &id))
            .transpose()
            .gql()?;
        // Another organization's conference is NOT_FOUND whether or not this process can
        // send mail.
        scope(ctx).conference(db(ctx), conference_id).await.gql()?;
        let Some(outbound) = ctx
            .data_opt::<Option<crate::mail::Outbound>>()
            .and_then(Option::as_ref)
        else {
            return Err::<TestSendResult, _>(ApiError::Internal(anyhow::anyhow!(
                "this process has no mail transport"
            )))
            .gql();
        };
        let templates = ctx
            .data_opt::<crate::config::WorkerSettings>()
            .map(|w| w.templates)
            .unwrap_or_default();
        let (subject, recipients) = service::campaign::send_test(
            db(ctx),
            &scope(ctx),
            outbound,
            TestSend {
                conference_id,
                subject: input.subject,
                message: input.message,
                attendee_id,
                to: input.to,
            },
            &templates,
            &limits(ctx),
        )
        .await
        .gql()?;
        Ok(TestSendResult {
            subject,
            recipients: recipients
                .into_iter()
                .map(|r| TestSendRecipient {
                    address: r.address,
                    sent: r.sent,
                    error: r.error,
                })
                .collect(),
        })
    }
}
