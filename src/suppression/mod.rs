//! The suppression list: addresses that get no more notifications, for one conference or
//! for all the conferences of its organization. The one owner of the `suppression` table.
//!
//! Unsubscribe links, hard bounces and complaints add to it; admins list and remove
//! entries. Planning reads it (`worker::plan`), recording a suppressed address as a
//! `suppressed` delivery instead of sending. Registration confirmations are transactional
//! and never consult it.
use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::suppression;
use crate::error::{ApiError, ApiResult};
use crate::service::page::{self, Page, PageRequest};
use crate::tenancy::Scope;

/// Why an address is suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The recipient used an unsubscribe link.
    Unsubscribed,
    /// The provider reported a permanent failure.
    Bounced,
    /// The recipient marked a message as spam.
    Complained,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsubscribed => "unsubscribed",
            Reason::Bounced => "bounced",
            Reason::Complained => "complained",
        }
    }
}

/// SQL condition, true when the attendee `a` (its row aliased `a`) must not be emailed:
/// its address is suppressed for its conference or for all its organization's conferences.
/// Addresses are compared lower-cased: `suppress` stores them so.
pub const SUPPRESSED_ATTENDEE: &str = "EXISTS (SELECT 1 FROM suppression s \
     WHERE s.email = LOWER(a.email) AND (s.conference_id = a.conference_id \
     OR (s.conference_id IS NULL AND s.organization_id = \
         (SELECT c.organization_id FROM conference c WHERE c.id = a.conference_id))))";

/// What the unique index is on: the conference id, or the organization's for all of them.
fn scope(organization_id: Uuid, conference_id: Option<Uuid>) -> String {
    conference_id.unwrap_or(organization_id).to_string()
}

/// Adds `email` to the organization's list for `conference_id` (`None`: every conference of
/// the organization). Adding an address that is already there changes nothing; returns
/// whether a row was added.
pub async fn suppress(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    email: &str,
    conference_id: Option<Uuid>,
    reason: Reason,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO suppression (id, email, conference_id, scope, reason, created_at, \
             organization_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email, scope) DO NOTHING",
            vec![
                Uuid::now_v7().into(),
                email.trim().to_lowercase().into(),
                conference_id.into(),
                scope(organization_id, conference_id).into(),
                reason.as_str().into(),
                Utc::now().into(),
                organization_id.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The suppressions in scope that apply to `conference_id` (its own and its organization's
/// global ones), or every suppression in scope when `None`, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    conference_id: Option<Uuid>,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<suppression::Model>> {
    let mut select = suppression::Entity::find()
        .filter(scope.organization_condition(suppression::Column::OrganizationId));
    if let Some(conference_id) = conference_id {
        let conference = scope.conference(db, conference_id).await?;
        select = select
            .filter(suppression::Column::OrganizationId.eq(conference.organization_id))
            .filter(
                Condition::any()
                    .add(suppression::Column::ConferenceId.eq(conference_id))
                    .add(suppression::Column::ConferenceId.is_null()),
            );
    }
    Ok(page::fetch(db, select, suppression::Column::Id, request).await?)
}

/// Removes the suppression of `email` for `conference_id` (`None`: the organization's
/// global one).
pub async fn remove(
    db: &impl ConnectionTrait,
    scope: &Scope,
    email: &str,
    conference_id: Option<Uuid>,
) -> ApiResult<()> {
    let email = email.trim().to_lowercase();
    let key = match conference_id {
        Some(id) => scope.conference(db, id).await?.id,
        None => scope.organization_for_create()?,
    };
    let result = suppression::Entity::delete_many()
        .filter(suppression::Column::Email.eq(email.clone()))
        .filter(scope.organization_condition(suppression::Column::OrganizationId))
        .filter(suppression::Column::Scope.eq(key.to_string()))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(ApiError::NotFound(match conference_id {
            Some(id) => format!("{email} is not suppressed for conference {id}"),
            None => format!("{email} is not suppressed for all conferences"),
        }));
    }
    Ok(())
}
