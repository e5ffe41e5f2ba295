//! Notifications: creation (row + plan job in one transaction), reads, and the deliveries
//! to one address. A notification's delivery log is [`super::deliveries`].
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::auth::Principal;
use crate::domain::{
    Audience, AutoPause, CampaignLimits, NotificationTemplate, RecipientFields, TemplateLimits,
    required_text,
};
use crate::entity::{delivery, notification};
use crate::error::{ApiError, ApiResult};
use crate::mail::{conference_context, recipient_context};
use crate::store::{self, notification::NewNotification};
use crate::tenancy::Scope;

/// What an admin asks to send.
#[derive(Clone, Debug)]
pub struct CreateNotification {
    pub conference_id: Uuid,
    /// What lists show; blank or absent: the subject as the sample attendee would read it.
    pub name: Option<String>,
    pub subject: String,
    pub message: String,
    pub idempotency_key: Option<String>,
    /// Plan then instead of now (`SCHEDULED` until then).
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who receives it; none: every attendee registered when it is planned.
    pub audience: Option<Audience>,
    /// When it pauses itself; none: the `AUTO_PAUSE_*` defaults.
    pub auto_pause: Option<AutoPause>,
}

/// Validates the templates and the campaign settings, then writes the notification
/// (`QUEUED`, or `SCHEDULED` with a `send_at` ahead) and its plan job in one transaction. With an idempotency key already used by the same token, returns the
/// notification that key created instead of creating another.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    principal: &Principal,
    input: CreateNotification,
    limits: &TemplateLimits,
    campaigns: &CampaignLimits,
) -> ApiResult<notification::Model> {
    let created_by = principal.identity();
    let key = input
        .idempotency_key
        .as_deref()
        .map(|k| required_text("idempotencyKey", k, 200))
        .transpose()?;
    if let Some(key) = &key
        && let Some(existing) = find_by_key(db, &created_by, key).await?
    {
        return replay(existing, &input);
    }
    let name = input
        .name
        .as_deref()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| required_text("name", n, NAME_MAX))
        .transpose()?;
    let template = NotificationTemplate::compile(&input.subject, &input.message, limits)?;
    template
        .check()
        .await
        .map_err(crate::domain::ValidationError::from)?;
    let send_at = input
        .send_at
        .map(|at| super::campaign::check_send_at(at, campaigns))
        .transpose()?;
    let audience = input
        .audience
        .clone()
        .map(|a| a.check(campaigns))
        .transpose()?;
    let auto_pause = input
        .auto_pause
        .unwrap_or(campaigns.auto_pause_default)
        .check(campaigns)?;
    let conference = scope.conference(db, input.conference_id).await?;
    let name = match name {
        Some(name) => name,
        None => default_name(&template, &conference).await?,
    };

    let created = store::notification::create(
        db,
        NewNotification {
            conference_id: conference.id,
            name,
            subject: input.subject.clone(),
            message: input.message.clone(),
            created_by: created_by.clone(),
            idempotency_key: key.clone(),
            send_at,
            audience,
            auto_pause: Some(auto_pause),
        },
    )
    .await;
    let (row, signal) = match created {
        Ok(created) => created,
        Err(err) => {
            // Two requests with the same key raced: the loser answers with the winner's row.
            if let Some(key) = &key
                && let Some(existing) = find_by_key(db, &created_by, key).await?
            {
                return replay(existing, &input);
            }
            return Err(err.into());
        }
    };
    signal.publish();
    tracing::info!(
        notification_id = %row.id,
        conference_id = %conference.id,
        status = %row.status,
        send_at = ?row.send_at,
        targeted = row.audience.is_some(),
        "notification queued"
    );
    Ok(row)
}

/// The longest notification name, in characters.
pub const NAME_MAX: usize = 200;

/// The subject as the sample attendee would read it, cut to [`NAME_MAX`] characters: a name
/// for lists that needs no template syntax to read, and holds nobody's personal data.
async fn default_name(
    template: &NotificationTemplate,
    conference: &crate::entity::conference::Model,
) -> ApiResult<String> {
    let email = template
        .render(&sample_fields(conference))
        .await
        .map_err(crate::domain::ValidationError::from)?;
    Ok(truncate_chars(&email.subject, NAME_MAX))
}

/// `text` with at most `max` characters, an ellipsis marking a cut.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

/// The sample attendee at a real conference: what previews without an attendee show.
fn sample_fields(conference: &crate::entity::conference::Model) -> RecipientFields {
    RecipientFields {
        conference: conference_context(conference),
        ..RecipientFields::sample()
    }
}

async fn find_by_key(
    db: &impl ConnectionTrait,
    created_by: &str,
    key: &str,
) -> ApiResult<Option<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::CreatedBy.eq(created_by))
        .filter(notification::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// A replayed key must carry the same request, or the client has a bug worth hearing about.
fn replay(
    existing: notification::Model,
    input: &CreateNotification,
) -> ApiResult<notification::Model> {
    if existing.conference_id != Some(input.conference_id)
        || existing.subject != input.subject
        || existing.message != input.message
    {
        return Err(ApiError::Conflict(format!(
            "idempotency key `{}` was already used for a different notification ({})",
            existing.idempotency_key.as_deref().unwrap_or_default(),
            existing.id
        )));
    }
    Ok(existing)
}

/// Renders the templates for one attendee of the conference, or for sample values.
pub async fn preview(
    db: &impl ConnectionTrait,
    scope: &Scope,
    conference_id: Uuid,
    attendee_id: Option<Uuid>,
    subject: &str,
    message: &str,
    limits: &TemplateLimits,
) -> ApiResult<Preview> {
    let template = NotificationTemplate::compile(subject, message, limits)?;
    let conference = scope.conference(db, conference_id).await?;
    let fields = match attendee_id {
        None => sample_fields(&conference),
        Some(attendee_id) => {
            let a = scope.attendee(db, attendee_id).await?;
            if a.conference_id != conference_id {
                return Err(ApiError::validation(
                    "attendeeId",
                    "the attendee is registered for another conference",
                ));
            }
            // The worker's own function, so the preview is what the attendee would get.
            recipient_context(&a, &a.email, conference_context(&conference))
        }
    };
    let email = template
        .render(&fields)
        .await
        .map_err(crate::domain::ValidationError::from)?;
    let html_document = crate::mail::html::document(&fields.conference.name, &email.html, None);
    Ok(Preview {
        email,
        html_document,
    })
}

/// A rendered notification for one attendee: both parts, the HTML in the email's layout.
pub struct Preview {
    pub email: crate::domain::RenderedEmail,
    pub html_document: String,
}

pub async fn get(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Uuid,
) -> ApiResult<notification::Model> {
    scope.notification(db, id).await
}

/// Notifications, newest first (ids are uuid v7: by creation), of one conference or all.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    conference_id: Option<Uuid>,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<notification::Model>> {
    let mut select = scope.notifications();
    if let Some(conference_id) = conference_id {
        scope.conference(db, conference_id).await?;
        select = select.filter(notification::Column::ConferenceId.eq(conference_id));
    }
    Ok(page::fetch_ordered(
        db,
        select,
        notification::Column::Id,
        request,
        page::Order::NewestFirst,
    )
    .await?)
}

/// The longest address the support lookup accepts (RFC 5321's limit on a path).
pub const EMAIL_MAX: usize = 254;

/// Every delivery to `email` (in any letter case) in the scope, across notifications,
/// oldest first: "did this person get it, and when?".
pub async fn deliveries_by_email(
    db: &impl ConnectionTrait,
    scope: &Scope,
    email: &str,
    request: PageRequest<i64>,
) -> ApiResult<Page<delivery::Model>> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > EMAIL_MAX || email.contains('\0') {
        return Err(ApiError::validation(
            "email",
            format!("must be an address of 1 to {EMAIL_MAX} characters"),
        ));
    }
    let select = scope
        .deliveries()
        .filter(Expr::expr(Func::lower(Expr::col(delivery::Column::Email))).eq(email));
    Ok(page::fetch(db, select, delivery::Column::Id, request).await?)
}

#[cfg(test)]
mod tests {
    use super::truncate_chars;

    #[test]
    fn names_are_cut_at_a_character_boundary_with_an_ellipsis() {
        assert_eq!(truncate_chars("short", 10), "short");
        assert_eq!(truncate_chars("exactly10!", 10), "exactly10!");
        assert_eq!(truncate_chars("éééééééééééé", 5), "éééé…");
        assert_eq!(truncate_chars("éééééééééééé", 5).chars().count(), 5);
    }
}
