//! Conferences: public reads; admin creation, edits, closing and reopening.
use async_graphql::{Context, ID, Object, Result};

use super::connection::{ListConnection, connection, decode_cursor};
use super::types::{Conference, CreateConferenceInput, UpdateConferenceInput};
use super::{ADMINS, db, parse_id, require, scope};
use crate::domain::{ConferenceDetails, NewConference};
use crate::error::IntoGraphql;
use crate::service::{self, page::PageRequest};

#[derive(Default)]
pub struct ConferenceQuery;

#[Object]
impl ConferenceQuery {
    /// Conferences, oldest first: the caller's organization's, or every one without a token
    /// (the public list to register from).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn conferences(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ListConnection<Conference>> {
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page = service::conference::list(db(ctx), &scope(ctx), request)
            .await
            .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }

    /// One conference: of the caller's organization, or any without a token.
    async fn conference(&self, ctx: &Context<'_>, id: ID) -> Result<Conference> {
        let id = parse_id("id", &id).gql()?;
        service::conference::get(db(ctx), &scope(ctx), id)
            .await
            .map(Conference::from)
            .gql()
    }
}

#[derive(Default)]
pub struct ConferenceMutation;

#[Object]
impl ConferenceMutation {
    /// Creates a conference. Admin only.
    async fn create_conference(
        &self,
        ctx: &Context<'_>,
        input: CreateConferenceInput,
    ) -> Result<Conference> {
        require(ctx, ADMINS).gql()?;
        let new = NewConference::parse(
            &input.name,
            input.starts_on.0,
            input.price,
            &input.address,
            input.active,
        )
        .map_err(Into::into)
        .gql()?;
        let details = ConferenceDetails::parse(&input.currency, input.region.as_deref())
            .map_err(Into::into)
            .gql()?;
        service::conference::create_with_details(db(ctx), &scope(ctx), new, details)
            .await
            .map(Conference::from)
            .gql()
    }

    /// Changes a conference's name, date, price, currency, address or region. Admin only.
    async fn update_conference(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateConferenceInput,
    ) -> Result<Conference> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        let new = NewConference::parse(
            &input.name,
            input.starts_on.0,
            input.price,
            &input.address,
            true,
        )
        .map_err(Into::into)
        .gql()?;
        let details = ConferenceDetails::parse(&input.currency, input.region.as_deref())
            .map_err(Into::into)
            .gql()?;
        service::conference::update(db(ctx), &scope(ctx), id, new, details)
            .await
            .map(Conference::from)
            .gql()
    }

    /// Opens (`active: true`) or closes registration for a conference. Admin only.
    async fn set_conference_active(
        &self,
        ctx: &Context<'_>,
        id: ID,
        active: bool,
    ) -> Result<Conference> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::conference::set_active(db(ctx), &scope(ctx), id, active)
            .await
            .map(Conference::from)
            .gql()
    }
}
