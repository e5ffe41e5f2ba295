//! Attendees: public registration, and the searchable list for token holders.
use async_graphql::{Context, ID, Object, Result};

use super::connection::{ListConnection, connection, decode_cursor};
use super::types::{Attendee, RegisterAttendeeInput};
use super::{READERS, db, parse_id, require};
use crate::domain::NewAttendee;
use crate::error::IntoGraphql;
use crate::service::{self, page::PageRequest};

#[derive(Default)]
pub struct AttendeeQuery;

#[Object]
impl AttendeeQuery {
    /// The attendees of a conference, in registration order. Needs an API token.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn attendees(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Case-insensitive match on names, email or company.")] search: Option<
            String,
        >,
    ) -> Result<ListConnection<Attendee>> {
        require(ctx, READERS).gql()?;
        let conference_id = parse_id("conferenceId", &conference_id).gql()?;
        let request = PageRequest::new(first, decode_cursor(after.as_deref()).gql()?).gql()?;
        let page = service::attendee::list(db(ctx), conference_id, search.as_deref(), request)
            .await
            .gql()?;
        Ok(connection(page, after.is_some(), |m| m.id))
    }
}

#[derive(Default)]
pub struct AttendeeMutation;

#[Object]
impl AttendeeMutation {
    /// Registers for a conference. Public. The same email (in any case) can register once
    /// per conference; a confirmation email follows.
    async fn register_attendee(
        &self,
        ctx: &Context<'_>,
        input: RegisterAttendeeInput,
    ) -> Result<Attendee> {
        let conference_id = parse_id("conferenceId", &input.conference_id).gql()?;
        let new = NewAttendee::try_from(input.registration)
            .map_err(Into::into)
            .gql()?;
        service::attendee::register(db(ctx), conference_id, new)
            .await
            .map(Attendee::from)
            .gql()
    }
}
