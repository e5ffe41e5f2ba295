//! Attendees: registration (with its confirmation job) and search.
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TryIntoModel,
    sea_query::{Expr, ExprTrait, Func},
};
use uuid::Uuid;

use super::page::{self, Page, PageRequest};
use crate::domain::NewAttendee;
use crate::entity::{attendee, conference};
use crate::error::{ApiError, ApiResult};
use crate::queue::{self, JobPayload};

/// Registers an attendee and enqueues their confirmation email, in one transaction.
pub async fn register(
    db: &DatabaseConnection,
    conference_id: Uuid,
    new: NewAttendee,
) -> ApiResult<attendee::Model> {
    let conference = super::conference::get(db, conference_id).await?;
    if !conference.active {
        return Err(ApiError::validation(
            "conferenceId",
            format!("registration for {} is closed", conference.name),
        ));
    }
    let mut active = new.into_active_model();
    active.id = Set(Uuid::now_v7());
    active.conference_id = Set(conference_id);
    active.submitted_at = Set(Utc::now());
    active.legacy_id = Set(None);
    let row = active.clone().try_into_model()?;
    let txn = crate::db::begin_write(db).await?;
    attendee::Entity::insert(active)
        .exec_without_returning(&txn)
        .await
        .map_err(|e| {
            ApiError::conflict_on_unique(
                e,
                format!(
                    "{} is already registered for {}",
                    row.email, conference.name
                ),
            )
        })?;
    queue::enqueue(
        &txn,
        &JobPayload::Confirmation {
            attendee_id: row.id,
        },
        None,
    )
    .await?;
    let registered = crate::progress::attendee_registered(&txn, conference_id, row.id).await?;
    txn.commit().await?;
    registered.publish();
    Ok(row)
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<attendee::Model> {
    super::find_by_id::<attendee::Entity>(db, id, "attendee").await
}

/// The attendees of a conference, optionally filtered by a case-insensitive search over
/// names, email and company.
pub async fn list(
    db: &impl ConnectionTrait,
    conference_id: Uuid,
    search: Option<&str>,
    request: PageRequest<Uuid>,
) -> ApiResult<Page<attendee::Model>> {
    conference::Entity::find_by_id(conference_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("conference", conference_id))?;
    let mut select =
        attendee::Entity::find().filter(attendee::Column::ConferenceId.eq(conference_id));
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        if term.chars().count() > 100 {
            return Err(ApiError::validation(
                "search",
                "must be at most 100 characters",
            ));
        }
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let mut any = Condition::any();
        for column in [
            attendee::Column::FirstName,
            attendee::Column::LastName,
            attendee::Column::Email,
            attendee::Column::Company,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        select = select.filter(any);
    }
    Ok(page::fetch(db, select, attendee::Column::Id, request).await?)
}

fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_in_search_terms_are_escaped() {
        assert_eq!(super::escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
