//! Managing attendees (admin): per-column filters and sorting for `attendees`, editing,
//! removing, and CSV import. The CSV export is plain HTTP (`crate::export`).
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};

use super::types::Attendee;
use super::{ADMINS, db, parse_id, require, scope};
use crate::config::ApiLimits;
use crate::domain::{NewAttendee, Registration};
use crate::error::IntoGraphql;
use crate::service::{roster, roster_csv};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

#[derive(InputObject)]
pub struct AttendeeOrder {
    pub field: roster::SortField,
    #[graphql(default_with = "SortDirection::Asc")]
    pub direction: SortDirection,
}

impl From<AttendeeOrder> for roster::Sort {
    fn from(order: AttendeeOrder) -> Self {
        Self {
            field: order.field,
            descending: order.direction == SortDirection::Desc,
        }
    }
}

/// An attendee's fields as an organizer edits them; checked as a registration is.
#[derive(InputObject)]
pub struct UpdateAttendeeInput {
    #[graphql(flatten)]
    pub registration: Registration,
}

/// A CSV row an import refused.
#[derive(SimpleObject)]
pub struct ImportRejection {
    /// The line of the file (the header is line 1).
    pub line: i32,
    pub email: Option<String>,
    /// The field at fault, named as in the registration form (`email`, `firstName`, …), or
    /// `csv` for an unreadable row.
    pub field: String,
    pub message: String,
}

/// What an import did or, on a dry run or with rejected rows, would do.
#[derive(SimpleObject)]
pub struct AttendeeImport {
    pub dry_run: bool,
    /// Whether anything was written: only without `dryRun` and when no row was rejected.
    pub applied: bool,
    /// Data rows in the file.
    pub rows: i32,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: Vec<ImportRejection>,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Default)]
pub struct RosterMutation;

#[Object]
impl RosterMutation {
    /// Changes an attendee's fields, with the registration form's checks. Admin only; the
    /// email must stay unique (in any case) within the conference.
    async fn update_attendee(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAttendeeInput,
    ) -> Result<Attendee> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        let new = NewAttendee::try_from(input.registration)
            .map_err(Into::into)
            .gql()?;
        roster::update(db(ctx), &scope(ctx), id, new)
            .await
            .map(Attendee::from)
            .gql()
    }

    /// Removes an attendee and returns their id. Admin only. An attendee with notification
    /// deliveries on record stays (`CONFLICT`), so the delivery log remains complete.
    async fn remove_attendee(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        roster::remove(db(ctx), &scope(ctx), id)
            .await
            .map(|m| ID(m.id.to_string()))
            .gql()
    }

    /// Imports attendees from CSV (the columns of the export; `registered_at` and unknown
    /// columns are ignored). Rows are matched by email, in any case: new ones are added,
    /// known ones take the file's fields, so importing a file twice changes nothing. Every
    /// row is checked as a registration; with any rejected row, or with `dryRun`, nothing
    /// is written and the answer says what would have happened. Admin only. No
    /// confirmation emails are sent.
    async fn import_attendees(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
        csv: String,
        #[graphql(default = false)] dry_run: bool,
    ) -> Result<AttendeeImport> {
        require(ctx, ADMINS).gql()?;
        let conference_id = parse_id("conferenceId", &conference_id).gql()?;
        let max_rows = ctx.data_unchecked::<ApiLimits>().import_max_rows;
        let report =
            roster_csv::import(db(ctx), &scope(ctx), conference_id, &csv, dry_run, max_rows)
                .await
                .gql()?;
        Ok(AttendeeImport {
            dry_run,
            applied: report.applied,
            rows: count(report.rows),
            created: count(report.created),
            updated: count(report.updated),
            unchanged: count(report.unchanged),
            rejected: report
                .rejected
                .into_iter()
                .map(|r| ImportRejection {
                    line: i32::try_from(r.line).unwrap_or(i32::MAX),
                    email: r.email,
                    field: r.field,
                    message: r.message,
                })
                .collect(),
        })
    }
}
