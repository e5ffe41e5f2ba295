//! Notifications: creation (row + plan job in one transaction), reads and delivery lists.
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::auth::Principal;
use crate::domain::{
    DeliveryStatus, NotificationTemplate, RecipientFields, TemplateLimits, required_text,
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
    pub subject: String,
    pub message: String,
    pub idempotency_key: Option<String>,
}

/// Validates the templates, then writes the notification (QUEUED) and its plan job in one
/// transaction. With an idempotency key already used by the same token, returns the
/// notification that key created instead of creating another.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    principal: &Principal,
    input: CreateNotification,
    limits: &TemplateLimits,
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
    NotificationTemplate::compile(&input.subject, &input.message, limits)?
        .check()
        .await
        .map_err(crate::domain::ValidationError::from)?;
    let conference = scope.conference(db, input.conference_id).await?;

    let created = store::notification::create(
        db,
        NewNotification {
            conference_id: conference.id,
            subject: input.subject.clone(),
            message: input.message.clone(),
            created_by: created_by.clone(),
            idempotency_key: key.clone(),
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
    tracing::info!(notification_id = %row.id, conference_id = %conference.id, "notification queued");
    Ok(row)
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
    let conference = conference_context(&conference);
    let fields = match attendee_id {
        None => RecipientFields {
            conference,
            ..RecipientFields::sample()
        },
        Some(attendee_id) => {
            let a = scope.attendee(db, attendee_id).await?;
            if a.conference_id != conference_id {
                return Err(ApiError::validation(
                    "attendeeId",
                    "the attendee is registered for another conference",
                ));
            }
            // The worker's own function, so the preview is what the attendee would get.
            recipient_context(&a, &a.email, conference)
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
    Ok(page::fetch(db, select, notification::Column::Id, request).await?)
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

pub async fn deliveries(
    db: &impl ConnectionTrait,
    scope: &Scope,
    notification_id: Uuid,
    status: Option<DeliveryStatus>,
    request: PageRequest<i64>,
) -> ApiResult<Page<delivery::Model>> {
    scope.notification(db, notification_id).await?;
    let mut select =
        delivery::Entity::find().filter(delivery::Column::NotificationId.eq(notification_id));
    if let Some(status) = status {
        select = select.filter(delivery::Column::Status.eq(status));
    }
    Ok(page::fetch(db, select, delivery::Column::Id, request).await?)
}
