//! Attendees: registration (with its confirmation job) and search.
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
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
    let row = attendee::Model {
        id: Uuid::now_v7(),
        conference_id,
        first_name: new.first_name,
        last_name: new.last_name,
        email: new.email.into_inner(),
        job_position: new.job_position,
        company: new.company,
        city: new.city,
        state: new.state,
        interests: new.interests,
        comments: new.comments,
        submitted_at: Utc::now(),
        legacy_id: None,
    };
    let txn = crate::db::begin_write(db).await?;
    attendee::Entity::insert(active(&row))
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

pub fn active(row: &attendee::Model) -> attendee::ActiveModel {
    attendee::ActiveModel {
        id: Set(row.id),
        conference_id: Set(row.conference_id),
        first_name: Set(row.first_name.clone()),
        last_name: Set(row.last_name.clone()),
        email: Set(row.email.clone()),
        job_position: Set(row.job_position.clone()),
        company: Set(row.company.clone()),
        city: Set(row.city.clone()),
        state: Set(row.state.clone()),
        interests: Set(row.interests.clone()),
        comments: Set(row.comments.clone()),
        submitted_at: Set(row.submitted_at),
        legacy_id: Set(row.legacy_id),
    }
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<attendee::Model> {
    attendee::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("attendee", id))
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
