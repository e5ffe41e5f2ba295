//! Notification drafts: a name, subject and message saved as an admin writes them, so a
//! reload, a closed tab or another device loses nothing. Drafts belong to the token that
//! wrote them (another token's draft, or a draft on a conference outside the caller's
//! organization, is `NOT_FOUND`); each token keeps at most
//! `DRAFT_MAX_PER_CONFERENCE` per conference. A draft is not checked as a template: it may be
//! half written. It is checked when it is sent (`createNotification`).
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::notification::NAME_MAX;
use crate::auth::Principal;
use crate::domain::{MAX_MESSAGE, MAX_SUBJECT, optional_text, untrimmed_text};
use crate::entity::notification_draft;
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

/// What an admin's editor sends: `id` to replace a draft, none to start one.
#[derive(Clone, Debug)]
pub struct SaveDraft {
    pub id: Option<Uuid>,
    pub conference_id: Uuid,
    pub name: Option<String>,
    pub subject: String,
    pub message: String,
}

/// Creates or replaces a draft. Replacing is last-write-wins: two devices editing one draft
/// keep whichever saved last.
pub async fn save(
    db: &DatabaseConnection,
    scope: &Scope,
    principal: &Principal,
    input: SaveDraft,
    max_per_conference: usize,
) -> ApiResult<notification_draft::Model> {
    let owner = principal.identity();
    let name = optional_text("name", input.name.as_deref(), NAME_MAX)?.unwrap_or_default();
    // Kept exactly as typed: the editor shows them back.
    let subject = untrimmed_text("subject", &input.subject, MAX_SUBJECT, false)?;
    let message = untrimmed_text("message", &input.message, MAX_MESSAGE, true)?;
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let row = match input.id {
        Some(id) => {
            let existing = find_owned(&txn, scope, &owner, id).await?;
            if existing.conference_id != input.conference_id {
                return Err(ApiError::validation(
                    "conferenceId",
                    "the draft belongs to another conference",
                ));
            }
            let row = notification_draft::Model {
                name,
                subject,
                message,
                updated_at: now,
                ..existing
            };
            notification_draft::Entity::update(notification_draft::ActiveModel {
                id: Set(row.id),
                name: Set(row.name.clone()),
                subject: Set(row.subject.clone()),
                message: Set(row.message.clone()),
                updated_at: Set(now),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
            row
        }
        None => {
            scope.conference(&txn, input.conference_id).await?;
            let held = notification_draft::Entity::find()
                .filter(notification_draft::Column::Owner.eq(&owner))
                .filter(notification_draft::Column::ConferenceId.eq(input.conference_id))
                .count(&txn)
                .await?;
            if held >= max_per_conference as u64 {
                return Err(ApiError::LimitExceeded {
                    limit: "drafts",
                    message: format!(
                        "at most {max_per_conference} drafts per conference \
                         (DRAFT_MAX_PER_CONFERENCE); send or delete one first"
                    ),
                });
            }
            let row = notification_draft::Model {
                id: Uuid::now_v7(),
                conference_id: input.conference_id,
                owner,
                name,
                subject,
                message,
                created_at: now,
                updated_at: now,
            };
            notification_draft::Entity::insert(row.clone().into_active_model())
                .exec_without_returning(&txn)
                .await?;
            row
        }
    };
    txn.commit().await?;
    tracing::debug!(draft_id = %row.id, conference_id = %row.conference_id, created = input.id.is_none(), "draft saved");
    Ok(row)
}

/// One of the caller's drafts.
pub async fn get(
    db: &impl ConnectionTrait,
    scope: &Scope,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<notification_draft::Model> {
    find_owned(db, scope, &principal.identity(), id).await
}

/// The caller's drafts for a conference, most recently saved first (at most
/// `DRAFT_MAX_PER_CONFERENCE`, so no paging).
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    principal: &Principal,
    conference_id: Uuid,
    max_per_conference: usize,
) -> ApiResult<Vec<notification_draft::Model>> {
    scope.conference(db, conference_id).await?;
    Ok(notification_draft::Entity::find()
        .filter(notification_draft::Column::Owner.eq(principal.identity()))
        .filter(notification_draft::Column::ConferenceId.eq(conference_id))
        .order_by_desc(notification_draft::Column::UpdatedAt)
        .order_by_desc(notification_draft::Column::Id)
        .limit(max_per_conference as u64)
        .all(db)
        .await?)
}

/// Deletes one of the caller's drafts (sent, or abandoned).
pub async fn delete(
    db: &impl ConnectionTrait,
    scope: &Scope,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let owner = principal.identity();
    let deleted = notification_draft::Entity::delete_many()
        .filter(notification_draft::Column::Id.eq(id))
        .filter(notification_draft::Column::Owner.eq(owner))
        .filter(scope.conference_condition(notification_draft::Column::ConferenceId))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::not_found("draft", id));
    }
    Ok(())
}

/// The draft `id`, if `owner` wrote it and its conference is in scope.
async fn find_owned(
    db: &impl ConnectionTrait,
    scope: &Scope,
    owner: &str,
    id: Uuid,
) -> ApiResult<notification_draft::Model> {
    notification_draft::Entity::find_by_id(id)
        .filter(notification_draft::Column::Owner.eq(owner))
        .filter(scope.conference_condition(notification_draft::Column::ConferenceId))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("draft", id))
}
