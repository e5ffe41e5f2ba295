//! Campaigns: the audience preview, rescheduling, and test sends. Creating a scheduled or
//! targeted notification is `notification::create`; the state changes are the store's.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::domain::{Audience, CampaignLimits, EmailAddress, TemplateLimits};
use crate::entity::{attendee, notification};
use crate::error::{ApiError, ApiResult};
use crate::mail::{NotificationEmail, Outbound, mask_address, notification_email};
use crate::store;
use crate::tenancy::Scope;

/// Checks a requested send time: not in the past (a minute of clock skew is allowed, and
/// means "now"), not further ahead than the setting allows.
pub fn check_send_at(send_at: DateTime<Utc>, limits: &CampaignLimits) -> ApiResult<DateTime<Utc>> {
    let now = Utc::now();
    if send_at < now - chrono::Duration::minutes(1) {
        return Err(ApiError::validation(
            "sendAt",
            "is in the past; leave it out to send now",
        ));
    }
    if send_at > now + limits.schedule_max_ahead {
        return Err(ApiError::validation(
            "sendAt",
            format!(
                "may be at most {} days ahead",
                limits.schedule_max_ahead.num_days()
            ),
        ));
    }
    Ok(send_at)
}

/// The attendees of the conference that `audience` selects now: the count and one page, in
/// registration order. Planning applies the same condition, so a preview taken just before
/// the notification is planned counts its recipients.
pub async fn audience_preview(
    db: &impl ConnectionTrait,
    scope: &Scope,
    conference_id: Uuid,
    audience: Option<Audience>,
    limits: &CampaignLimits,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<attendee::Model>> {
    scope.conference(db, conference_id).await?;
    let mut select =
        attendee::Entity::find().filter(attendee::Column::ConferenceId.eq(conference_id));
    if let Some(audience) = audience {
        let audience = audience.check(limits)?;
        select = select.filter(store::audience::condition(
            &audience,
            db.get_database_backend(),
            attendee::Entity,
        ));
    }
    Ok(page::fetch(db, select, attendee::Column::Id, request).await?)
}

/// Plans a scheduled notification at `send_at` instead; refused (`CONFLICT`) once planning
/// has started.
pub async fn reschedule(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Uuid,
    send_at: DateTime<Utc>,
    limits: &CampaignLimits,
) -> ApiResult<notification::Model> {
    scope.notification(db, id).await?;
    let send_at = check_send_at(send_at, limits)?;
    store::notification::reschedule(db, id, send_at)
        .await?
        .publish();
    tracing::info!(notification_id = %id, %send_at, "notification rescheduled");
    super::notification::get(db, scope, id).await
}

/// What a test send asks for.
pub struct TestSend {
    pub conference_id: Uuid,
    pub subject: String,
    pub message: String,
    /// The attendee whose values fill the templates; default: the first registered.
    pub attendee_id: Option<Uuid>,
    pub to: Vec<String>,
}

/// What became of one test email.
pub struct TestRecipient {
    pub address: String,
    pub sent: bool,
    pub error: Option<String>,
}

/// Renders the templates for one attendee (as the worker would) and emails the result,
/// subject marked `[TEST]`, to each given address and nobody else. It writes no notification
/// or delivery row and moves no counter.
pub async fn send_test(
    db: &DatabaseConnection,
    scope: &Scope,
    outbound: &Outbound,
    input: TestSend,
    templates: &TemplateLimits,
    limits: &CampaignLimits,
) -> ApiResult<(String, Vec<TestRecipient>)> {
    if input.to.is_empty() || input.to.len() > limits.test_send_max_recipients {
        return Err(ApiError::validation(
            "to",
            format!("give 1 to {} addresses", limits.test_send_max_recipients),
        ));
    }
    let mut to: Vec<EmailAddress> = Vec::with_capacity(input.to.len());
    for address in &input.to {
        let address =
            EmailAddress::parse(address).map_err(|e| ApiError::validation("to", e.message))?;
        if !to
            .iter()
            .any(|a| a.as_str().eq_ignore_ascii_case(address.as_str()))
        {
            to.push(address);
        }
    }
    let conference = scope.conference(db, input.conference_id).await?;
    let attendee_id = match input.attendee_id {
        Some(id) => Some(id),
        None => attendee::Entity::find()
            .filter(attendee::Column::ConferenceId.eq(conference.id))
            .order_by_asc(attendee::Column::Id)
            .one(db)
            .await?
            .map(|a| a.id),
    };
    let preview = super::notification::preview(
        db,
        scope,
        conference.id,
        attendee_id,
        &input.subject,
        &input.message,
        templates,
    )
    .await?;
    let mut rendered = preview.email;
    rendered.subject = format!("[TEST] {}", rendered.subject);
    let mut recipients = Vec::with_capacity(to.len());
    for address in to {
        let email = notification_email(
            &outbound.sender,
            NotificationEmail {
                // A fresh id: a test never shares a Message-ID with the real send.
                notification: Uuid::now_v7(),
                attendee: attendee_id.unwrap_or_default(),
                to: address.as_str(),
                name: "",
                conference_name: &conference.name,
                rendered: &rendered,
                unsubscribe: None,
            },
        );
        let result = match email {
            Ok(email) => outbound.mailer.send(&email).await,
            Err(err) => Err(err),
        };
        crate::metrics::record_test_send(result.is_ok());
        tracing::info!(
            conference_id = %conference.id,
            to = %mask_address(address.as_str()),
            sent = result.is_ok(),
            "test email"
        );
        recipients.push(TestRecipient {
            address: address.into_inner(),
            sent: result.is_ok(),
            error: result.err().map(|e| e.message),
        });
    }
    Ok((rendered.subject, recipients))
}
