//! Notifications: creation (row + plan job in one transaction), reads and delivery lists.
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::auth::Principal;
use crate::domain::{
    DeliveryStatus, NotificationStatus, NotificationTemplate, TemplateLimits, required_text,
};
use crate::entity::{delivery, notification};
use crate::error::{ApiError, ApiResult};
use crate::queue::{self, JobPayload};

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
    let conference = super::conference::get(db, input.conference_id).await?;

    let now = Utc::now();
    let row = notification::Model {
        id: Uuid::now_v7(),
        conference_id: Some(conference.id),
        subject: input.subject.clone(),
        message: input.message.clone(),
        status: NotificationStatus::Queued.as_str().to_owned(),
        total: 0,
        sent: 0,
        failed: 0,
        cancelled: 0,
        submitted_at: now,
        started_at: None,
        completed_at: None,
        updated_at: now,
        created_by: created_by.clone(),
        idempotency_key: key.clone(),
        legacy_id: None,
        legacy_status: None,
        rate_tat: None,
    };
    let txn = crate::db::begin_write(db).await?;
    let inserted = notification::Entity::insert(active(&row))
        .exec_without_returning(&txn)
        .await;
    if let Err(err) = inserted {
        drop(txn);
        // Two requests with the same key raced: the loser answers with the winner's row.
        if let Some(key) = &key
            && let Some(existing) = find_by_key(db, &created_by, key).await?
        {
            return replay(existing, &input);
        }
        return Err(err.into());
    }
    queue::enqueue(
        &txn,
        &JobPayload::Plan {
            notification_id: row.id,
        },
        None,
    )
    .await?;
    let created = crate::progress::notification_changed(&txn, row.id).await?;
    txn.commit().await?;
    created.publish();
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

fn active(row: &notification::Model) -> notification::ActiveModel {
    notification::ActiveModel {
        id: Set(row.id),
        conference_id: Set(row.conference_id),
        subject: Set(row.subject.clone()),
        message: Set(row.message.clone()),
        status: Set(row.status.clone()),
        total: Set(row.total),
        sent: Set(row.sent),
        failed: Set(row.failed),
        cancelled: Set(row.cancelled),
        submitted_at: Set(row.submitted_at),
        started_at: Set(row.started_at),
        completed_at: Set(row.completed_at),
        updated_at: Set(row.updated_at),
        created_by: Set(row.created_by.clone()),
        idempotency_key: Set(row.idempotency_key.clone()),
        legacy_id: Set(row.legacy_id),
        legacy_status: Set(row.legacy_status.clone()),
        rate_tat: Set(row.rate_tat),
    }
}

/// Renders the templates for one attendee of the conference, or for sample values.
pub async fn preview(
    db: &impl ConnectionTrait,
    conference_id: Uuid,
    attendee_id: Option<Uuid>,
    subject: &str,
    message: &str,
    limits: &TemplateLimits,
) -> ApiResult<crate::domain::RenderedEmail> {
    use crate::domain::{ConferenceFields, RecipientFields};
    let template = NotificationTemplate::compile(subject, message, limits)?;
    let conference = super::conference::get(db, conference_id).await?;
    let mut fields = RecipientFields::sample();
    if let Some(attendee_id) = attendee_id {
        let a = super::attendee::get(db, attendee_id).await?;
        if a.conference_id != conference_id {
            return Err(ApiError::validation(
                "attendeeId",
                "the attendee is registered for another conference",
            ));
        }
        fields = RecipientFields {
            first_name: a.first_name,
            last_name: a.last_name,
            email: a.email,
            company: a.company,
            job_position: a.job_position,
            city: a.city,
            state: a.state,
            conference: fields.conference,
        };
    }
    fields.conference = ConferenceFields {
        name: conference.name,
        starts_on: conference.starts_on.to_string(),
        address: conference.address,
    };
    Ok(template
        .render(&fields)
        .await
        .map_err(crate::domain::ValidationError::from)?)
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<notification::Model> {
    notification::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("notification", id))
}

pub async fn list(
    db: &impl ConnectionTrait,
    conference_id: Option<Uuid>,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<notification::Model>> {
    let mut select = notification::Entity::find();
    if let Some(conference_id) = conference_id {
        super::conference::get(db, conference_id).await?;
        select = select.filter(notification::Column::ConferenceId.eq(conference_id));
    }
    Ok(page::fetch(db, select, notification::Column::Id, request).await?)
}

pub async fn deliveries(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
    status: Option<DeliveryStatus>,
    request: PageRequest<i64>,
) -> ApiResult<Page<delivery::Model>> {
    let mut select =
        delivery::Entity::find().filter(delivery::Column::NotificationId.eq(notification_id));
    if let Some(status) = status {
        select = select.filter(delivery::Column::Status.eq(status.as_str()));
    }
    Ok(page::fetch(db, select, delivery::Column::Id, request).await?)
}
