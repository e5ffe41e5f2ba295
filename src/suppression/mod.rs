//! The suppression list: addresses that get no more notifications, for one conference or
//! for all of them. The one owner of the `suppression` table.
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

/// The `scope` value of a suppression that covers every conference.
pub const ALL_CONFERENCES: &str = "all";

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
/// its address is suppressed for its conference or for all. Addresses are compared
/// lower-cased: `suppress` stores them so.
pub const SUPPRESSED_ATTENDEE: &str = "EXISTS (SELECT 1 FROM suppression s \
     WHERE s.email = LOWER(a.email) AND (s.conference_id = a.conference_id OR s.conference_id IS NULL))";

fn scope(conference_id: Option<Uuid>) -> String {
    conference_id.map_or_else(|| ALL_CONFERENCES.to_owned(), |id| id.to_string())
}

/// Adds `email` to the list for `conference_id` (`None`: every conference). Adding an
/// address that is already there changes nothing; returns whether a row was added.
pub async fn suppress(
    db: &impl ConnectionTrait,
    email: &str,
    conference_id: Option<Uuid>,
    reason: Reason,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO suppression (id, email, conference_id, scope, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email, scope) DO NOTHING",
            vec![
                Uuid::now_v7().into(),
                email.trim().to_lowercase().into(),
                conference_id.into(),
                scope(conference_id).into(),
                reason.as_str().into(),
                Utc::now().into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The suppressions that apply to `conference_id` (its own and the global ones), or every
/// suppression when `None`, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    conference_id: Option<Uuid>,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<suppression::Model>> {
    let mut select = suppression::Entity::find();
    if let Some(conference_id) = conference_id {
        select = select.filter(
            Condition::any()
                .add(suppression::Column::ConferenceId.eq(conference_id))
                .add(suppression::Column::ConferenceId.is_null()),
        );
    }
    Ok(page::fetch(db, select, suppression::Column::Id, request).await?)
}

/// Removes the suppression of `email` for `conference_id` (`None`: the global one).
pub async fn remove(
    db: &impl ConnectionTrait,
    email: &str,
    conference_id: Option<Uuid>,
) -> ApiResult<()> {
    let email = email.trim().to_lowercase();
    let result = suppression::Entity::delete_many()
        .filter(suppression::Column::Email.eq(email.clone()))
        .filter(suppression::Column::Scope.eq(scope(conference_id)))
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
