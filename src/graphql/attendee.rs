//! Attendees: public registration, and the searchable list for token holders.
use async_graphql::{Context, ID, Object, Result};

use super::connection::{ListConnection, connection, decode_cursor};
use super::roster::AttendeeOrder;
use super::types::{Attendee, RegisterAttendeeInput};
use super::{READERS, db, parse_id, require, scope};
use crate::domain::NewAttendee;
use crate::error::IntoGraphql;
use crate::service::roster::{AttendeeFilter, ColumnFilter};
use crate::service::{
    self,
    roster::{RosterPage, SortCursor},
};

#[derive(Default)]
pub struct AttendeeQuery;

#[Object]
impl AttendeeQuery {
    /// The attendees of a conference, in the order they were added unless `orderBy` says
    /// otherwise. Needs an API token. Page forward with `after` (cursors stay valid however
    /// the list changes), or jump with `offset`.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    #[expect(clippy::too_many_arguments, reason = "one per GraphQL argument")]
    async fn attendees(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Rows to skip, to jump to a page; not with `after`.")] offset: Option<i32>,
        #[graphql(
            desc = "Case-insensitive match on name, email, company, job position, city or state."
        )]
        search: Option<String>,
        #[graphql(desc = "Per-column matches, all of which must hold.")] filter: Option<
            ColumnFilter,
        >,
        order_by: Option<AttendeeOrder>,
    ) -> Result<ListConnection<Attendee>> {
        require(ctx, READERS).gql()?;
        let conference_id = parse_id("conferenceId", &conference_id).gql()?;
        let request =
            RosterPage::new(first, decode_cursor(after.as_deref()).gql()?, offset).gql()?;
        let filter = AttendeeFilter {
            search,
            columns: filter.unwrap_or_default(),
        };
        let sort = order_by.map(Into::into).unwrap_or_default();
        let db = db(ctx);
        let page = service::roster::list(db, &scope(ctx), conference_id, &filter, sort, &request)
            .await
            .gql()?;
        let backend = db.get_database_backend();
        Ok(connection(
            page,
            after.is_some() || request.offset > 0,
            |m| SortCursor::of(sort, m, backend),
        ))
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
