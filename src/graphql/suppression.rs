//! The suppression list for admins: who gets no notifications, and taking an address off.
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{ListConnection, connection, decode_cursor};
use super::{ADMINS, db, parse_id, require, scope};
use crate::entity::suppression;
use crate::error::IntoGraphql;
use crate::service::page::PageRequest;

/// An address that gets no notifications: for one conference, or for all of them.
#[derive(SimpleObject)]
pub struct Suppression {
    pub email: String,
    /// The conference it applies to; null: every conference.
    pub conference_id: Option<ID>,
    /// `unsubscribed`, `bounced` or `complained`.
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<suppression::Model> for Suppression {
    fn from(m: suppression::Model) -> Self {
        Self {
            email: m.email,
            conference_id: m.conference_id.map(|id| ID(id.to_string())),
            reason: m.reason,
            created_at: m.created_at,
        }
    }
}

#[derive(Default)]
pub struct SuppressionQuery;

#[Object]
impl SuppressionQuery {
    /// Suppressed addresses, oldest first. With `conferenceId`: those that apply to that
    /// conference (its own and the global ones). Admin only.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn suppressions(
        &self,
        ctx: &Context<'_>,
        conference_id: Option<ID>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Suppression>> {
        require(ctx, ADMINS).gql()?;
        let conference_id = conference_id
            .map(|id| parse_id("conferenceId", &id))
            .transpose()
            .gql()?;
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page = crate::suppression::list(db(ctx), &scope(ctx), conference_id, request)
            .await
            .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }
}

#[derive(Default)]
pub struct SuppressionMutation;

#[Object]
impl SuppressionMutation {
    /// Takes an address off the suppression list for one conference, or (without
    /// `conferenceId`) its all-conferences entry. Admin only; `NOT_FOUND` if there is none.
    async fn remove_suppression(
        &self,
        ctx: &Context<'_>,
        email: String,
        conference_id: Option<ID>,
    ) -> Result<bool> {
        require(ctx, ADMINS).gql()?;
        let conference_id = conference_id
            .map(|id| parse_id("conferenceId", &id))
            .transpose()
            .gql()?;
        crate::suppression::remove(db(ctx), &scope(ctx), &email, conference_id)
            .await
            .gql()?;
        Ok(true)
    }
}
