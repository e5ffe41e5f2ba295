//! The loader: legacy conferences, attendees and notifications into TechConf's tables, in one
//! transaction, keyed by `legacy_id` so that running it again inserts only what is new and
//! rewrites only what changed.
//!
//! It reads what TechConf already holds first (rows imported before, and the emails already
//! registered in those conferences), decides row by row in memory, and then writes in a few
//! large `INSERT ... ON CONFLICT (legacy_id) DO UPDATE` statements: no round trip per row.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ActiveValue::Set, ColumnTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, IdenStatic, IntoActiveModel, Iterable, QueryFilter,
    QuerySelect, sea_query::Query,
};
use uuid::Uuid;

use super::dump::LegacyTable;
use super::mapping::{self, Refusal};
use super::report::{IgnoredTable, ImportReport, Problem};
use super::source::LegacyData;
use crate::entity::{attendee, conference, notification};

/// `created_by` of every imported notification.
pub const CREATED_BY: &str = "legacy-import";

#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// Refuse the whole import if any row has a problem.
    pub strict: bool,
    /// Roll back instead of committing.
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// `--strict` and at least one row has a problem; nothing was written.
    #[error(
        "{} row(s) cannot be imported and --strict was given; nothing was imported",
        .0.skipped.len()
    )]
    Strict(Box<ImportReport>),
    #[error("writing to the TechConf database: {0}")]
    Database(#[from] DbErr),
}

/// Imports `data` into `db`: everything or nothing.
pub async fn import(
    db: &DatabaseConnection,
    data: &LegacyData,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::new(data.describe(), options.dry_run);
    report.ignored_tables = data
        .dump
        .ignored_tables
        .iter()
        .map(|t| IgnoredTable {
            name: t.table.clone(),
            rows: t.rows,
        })
        .collect();
    let txn = crate::db::begin_write(db).await?;
    let existing = Existing::load(&txn).await?;
    let plan = Planner::new(data, &existing, &mut report).plan();
    if options.strict && !report.skipped.is_empty() {
        txn.rollback().await?;
        return Err(ImportError::Strict(Box::new(report)));
    }
    write(&txn, plan).await?;
    if options.dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
        report.committed = true;
    }
    tracing::info!(
        source = %report.source,
        committed = report.committed,
        attendees_inserted = report.tables.attendee.inserted,
        attendees_updated = report.tables.attendee.updated,
        skipped = report.skipped.len(),
        "legacy import finished"
    );
    Ok(report)
}

/// Who already holds an email address in a conference.
#[derive(Clone, Copy, Debug)]
enum Holder {
    /// A row already in TechConf (imported when `legacy_id` is set).
    Stored { id: Uuid, legacy_id: Option<i32> },
    /// An attendee imported by this run.
    Imported { legacy_id: i32 },
}

/// What TechConf holds before the import.
struct Existing {
    conferences: HashMap<i32, conference::Model>,
    attendees: HashMap<i32, attendee::Model>,
    notifications: HashMap<i32, notification::Model>,
    /// `(conference, lower(email))` of every attendee of an imported conference.
    emails: HashMap<(Uuid, String), Holder>,
}

impl Existing {
    async fn load(txn: &DatabaseTransaction) -> Result<Self, DbErr> {
        let conferences = conference::Entity::find()
            .filter(conference::Column::LegacyId.is_not_null())
            .all(txn)
            .await?;
        let attendees = attendee::Entity::find()
            .filter(attendee::Column::LegacyId.is_not_null())
            .all(txn)
            .await?;
        let notifications = notification::Entity::find()
            .filter(notification::Column::LegacyId.is_not_null())
            .all(txn)
            .await?;
        // Attendees who registered in TechConf itself, in conferences that came from the legacy
        // database: an imported row must not take their email.
        let registered: Vec<(Uuid, Uuid, String)> = attendee::Entity::find()
            .select_only()
            .column(attendee::Column::Id)
            .column(attendee::Column::ConferenceId)
            .column(attendee::Column::Email)
            .filter(attendee::Column::LegacyId.is_null())
            .filter(
                attendee::Column::ConferenceId.in_subquery(
                    Query::select()
                        .column(conference::Column::Id)
                        .from(conference::Entity)
                        .and_where(conference::Column::LegacyId.is_not_null())
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(txn)
            .await?;

        let mut emails = HashMap::with_capacity(attendees.len() + registered.len());
        for a in &attendees {
            emails.insert(
                (a.conference_id, a.email.to_lowercase()),
                Holder::Stored {
                    id: a.id,
                    legacy_id: a.legacy_id,
                },
            );
        }
        for (id, conference_id, email) in registered {
            emails.insert(
                (conference_id, email.to_lowercase()),
                Holder::Stored {
                    id,
                    legacy_id: None,
                },
            );
        }
        Ok(Self {
            conferences: by_legacy_id(conferences, |c| c.legacy_id),
            attendees: by_legacy_id(attendees, |a| a.legacy_id),
            notifications: by_legacy_id(notifications, |n| n.legacy_id),
            emails,
        })
    }
}

fn by_legacy_id<T>(rows: Vec<T>, key: impl Fn(&T) -> Option<i32>) -> HashMap<i32, T> {
    rows.into_iter()
        .filter_map(|row| key(&row).map(|id| (id, row)))
        .collect()
}

/// The rows to write: new ones and changed ones (unchanged rows are left alone).
#[derive(Default)]
struct Plan {
    conferences: Vec<conference::ActiveModel>,
    attendees: Vec<attendee::ActiveModel>,
    notifications: Vec<notification::ActiveModel>,
}

/// Decides, row by row, what to insert, update, leave or skip, and fills the report.
struct Planner<'a> {
    data: &'a LegacyData,
    existing: &'a Existing,
    report: &'a mut ImportReport,
    now: DateTime<Utc>,
    plan: Plan,
}

/// A conference an attendee can point at, by legacy id.
enum ConferenceTarget {
    Available(Uuid),
    /// In the source, but skipped.
    Skipped,
}

// Rows set only the columns the import owns; a column another feature adds keeps its default.
#[allow(
    clippy::needless_update,
    reason = "whether every column is already set depends on which features have columns"
)]
impl<'a> Planner<'a> {
    fn new(data: &'a LegacyData, existing: &'a Existing, report: &'a mut ImportReport) -> Self {
        Self {
            data,
            existing,
            report,
            now: Utc::now(),
            plan: Plan::default(),
        }
    }

    fn plan(mut self) -> Plan {
        let conferences = self.conferences();
        self.attendees(&conferences);
        self.notifications();
        self.plan
    }

    fn skip(&mut self, table: LegacyTable, id: i32, line: u64, refusal: Refusal) {
        let line = self.data.line(line);
        self.report
            .skip(table, id, line, refusal.problem, refusal.reason);
    }

    /// Counts `row` as inserted, updated or unchanged, comparing it with the row stored
    /// before (as an active model), and returns it when it must be written. Columns in
    /// `ignore` change on every write and do not count as a change.
    fn decide<A: ActiveModelTrait>(
        &mut self,
        table: LegacyTable,
        stored: Option<A>,
        row: A,
        ignore: &[<A::Entity as EntityTrait>::Column],
    ) -> Option<A> {
        let counts = self.report.tables.get_mut(table);
        let Some(stored) = stored else {
            counts.inserted += 1;
            return Some(row);
        };
        let changed = <A::Entity as EntityTrait>::Column::iter()
            .filter(|column| !ignore.iter().any(|i| i.as_str() == column.as_str()))
            .any(|column| match row.get(column) {
                ActiveValue::Set(value) | ActiveValue::Unchanged(value) => {
                    stored.get(column).into_value() != Some(value)
                }
                ActiveValue::NotSet => false,
            });
        if changed {
            counts.updated += 1;
            Some(row)
        } else {
            counts.unchanged += 1;
            None
        }
    }

    /// Counts a source row as read; refuses it if its legacy id was seen already.
    fn admit(&mut self, table: LegacyTable, seen: &mut HashSet<i32>, id: i32, line: u64) -> bool {
        self.report.tables.get_mut(table).read += 1;
        if seen.insert(id) {
            return true;
        }
        let refusal = Refusal {
            problem: Problem::DuplicateId,
            reason: format!(
                "{} {id} appears more than once in the source; the first is kept",
                table.name()
            ),
        };
        self.skip(table, id, line, refusal);
        false
    }

    fn conferences(&mut self) -> HashMap<i32, ConferenceTarget> {
        let table = LegacyTable::Conference;
        let (data, existing) = (self.data, self.existing);
        let rows = by_id(&data.dump.conferences, |c| c.id);
        let mut seen = HashSet::with_capacity(rows.len());
        let mut targets = HashMap::with_capacity(rows.len());
        for c in rows {
            if !self.admit(table, &mut seen, c.id, c.line_number) {
                continue;
            }
            let new = match mapping::conference(c) {
                Ok(new) => new,
                Err(refusal) => {
                    self.skip(table, c.id, c.line_number, refusal);
                    targets.insert(c.id, ConferenceTarget::Skipped);
                    continue;
                }
            };
            let stored = existing.conferences.get(&c.id);
            let id = stored.map_or_else(Uuid::now_v7, |s| s.id);
            targets.insert(c.id, ConferenceTarget::Available(id));
            let row = conference::ActiveModel {
                id: Set(id),
                name: Set(new.name),
                starts_on: Set(new.starts_on),
                price_cents: Set(new.price_cents),
                address: Set(new.address),
                active: Set(new.active),
                legacy_id: Set(Some(c.id)),
                created_at: Set(stored.map_or(self.now, |s| s.created_at)),
                ..Default::default()
            };
            let stored = stored.cloned().map(IntoActiveModel::into_active_model);
            if let Some(row) = self.decide(table, stored, row, &[]) {
                self.plan.conferences.push(row);
            }
        }
        // A source without a conference (a partial dump) may still hold attendees of one that
        // an earlier import brought in.
        for (legacy_id, stored) in &existing.conferences {
            targets
                .entry(*legacy_id)
                .or_insert(ConferenceTarget::Available(stored.id));
        }
        targets
    }

    fn attendees(&mut self, conferences: &HashMap<i32, ConferenceTarget>) {
        let table = LegacyTable::Attendee;
        let (data, existing) = (self.data, self.existing);
        // The registration with the lowest legacy id wins a duplicate email.
        let rows = by_id(&data.dump.attendees, |a| a.id);
        let mut seen = HashSet::with_capacity(rows.len());
        let mut emails = existing.emails.clone();
        for a in rows {
            if !self.admit(table, &mut seen, a.id, a.line_number) {
                continue;
            }
            let conference_id = match conferences.get(&a.conference_id) {
                Some(ConferenceTarget::Available(id)) => *id,
                Some(ConferenceTarget::Skipped) => {
                    let refusal = missing_conference(format!(
                        "conference {} was skipped (see its own entry)",
                        a.conference_id
                    ));
                    self.skip(table, a.id, a.line_number, refusal);
                    continue;
                }
                None => {
                    let refusal = missing_conference(format!(
                        "conference {} is neither in the source nor imported before",
                        a.conference_id
                    ));
                    self.skip(table, a.id, a.line_number, refusal);
                    continue;
                }
            };
            let new = match mapping::attendee(a) {
                Ok(new) => new,
                Err(refusal) => {
                    self.skip(table, a.id, a.line_number, refusal);
                    continue;
                }
            };
            let key = (conference_id, new.email().to_lowercase());
            if let Some(refusal) = email_taken(emails.get(&key), a.id, new.email(), a.conference_id)
            {
                self.skip(table, a.id, a.line_number, refusal);
                continue;
            }
            emails.insert(key, Holder::Imported { legacy_id: a.id });
            let stored = existing.attendees.get(&a.id);
            let mut row = new.into_active_model();
            row.id = Set(stored.map_or_else(Uuid::now_v7, |s| s.id));
            row.conference_id = Set(conference_id);
            row.submitted_at = Set(a.submitted_date.to_utc());
            row.legacy_id = Set(Some(a.id));
            let stored = stored.cloned().map(IntoActiveModel::into_active_model);
            if let Some(row) = self.decide(table, stored, row, &[]) {
                self.plan.attendees.push(row);
            }
        }
    }

    fn notifications(&mut self) {
        let table = LegacyTable::Notification;
        let (data, existing) = (self.data, self.existing);
        let rows = by_id(&data.dump.notifications, |n| n.id);
        let mut seen = HashSet::with_capacity(rows.len());
        for n in rows {
            if !self.admit(table, &mut seen, n.id, n.line_number) {
                continue;
            }
            let outcome = match mapping::subject(n).and_then(|()| mapping::notification(n)) {
                Ok(outcome) => outcome,
                Err(refusal) => {
                    self.skip(table, n.id, n.line_number, refusal);
                    continue;
                }
            };
            let line = data.line(n.line_number);
            if let Some(note) = outcome.note {
                self.report.note(table, n.id, line, note);
            }
            let stored = existing.notifications.get(&n.id);
            let completed_at = n.completed_date.map(|at| at.to_utc());
            let submitted_at = match n.submitted_date.map(|at| at.to_utc()).or(completed_at) {
                Some(at) => at,
                None => {
                    self.report.note(
                        table,
                        n.id,
                        line,
                        "no submitted or completed date: the time of the first import is used",
                    );
                    stored.map_or(self.now, |s| s.submitted_at)
                }
            };
            let row = notification::ActiveModel {
                id: Set(stored.map_or_else(Uuid::now_v7, |s| s.id)),
                conference_id: Set(None),
                subject: Set(n.subject.clone()),
                message: Set(n.message.clone()),
                status: Set(outcome.status),
                total: Set(outcome.recipients),
                sent: Set(outcome.recipients),
                failed: Set(0),
                cancelled: Set(0),
                submitted_at: Set(submitted_at),
                started_at: Set(None),
                completed_at: Set(completed_at),
                updated_at: Set(self.now),
                created_by: Set(CREATED_BY.to_owned()),
                idempotency_key: Set(None),
                legacy_id: Set(Some(n.id)),
                legacy_status: Set(Some(n.status.clone())),
                ..Default::default()
            };
            let stored = stored.cloned().map(IntoActiveModel::into_active_model);
            if let Some(row) = self.decide(table, stored, row, &[notification::Column::UpdatedAt]) {
                self.plan.notifications.push(row);
            }
        }
    }
}

/// Rows in legacy id order, so that "the first" of two rows means the same on every run.
fn by_id<T>(rows: &[T], id: impl Fn(&T) -> i32) -> Vec<&T> {
    let mut rows: Vec<&T> = rows.iter().collect();
    rows.sort_by_key(|row| id(row));
    rows
}

fn missing_conference(reason: String) -> Refusal {
    Refusal {
        problem: Problem::MissingConference,
        reason,
    }
}

/// Whether someone else already holds this email in this conference.
fn email_taken(
    holder: Option<&Holder>,
    legacy_id: i32,
    email: &str,
    legacy_conference: i32,
) -> Option<Refusal> {
    let whom = match holder? {
        Holder::Stored {
            legacy_id: Some(other),
            ..
        } if *other == legacy_id => return None,
        Holder::Stored {
            legacy_id: Some(other),
            ..
        }
        | Holder::Imported { legacy_id: other } => format!("attendee {other}"),
        Holder::Stored {
            id,
            legacy_id: None,
        } => format!("{id}, who registered in TechConf"),
    };
    Some(Refusal {
        problem: Problem::DuplicateEmail,
        reason: format!(
            "{} is already registered for conference {legacy_conference} by {whom} \
             (emails are compared ignoring case)",
            email
        ),
    })
}

/// Writes the plan, parents first. A row imported before keeps its TechConf id: the conflict
/// on `legacy_id` turns its insert into an update of every column the row sets but those in
/// `keep` (the id and, for a conference, its creation time).
async fn write(txn: &DatabaseTransaction, plan: Plan) -> Result<(), DbErr> {
    use conference::Column as C;
    crate::store::upsert_by_legacy_id::<conference::Entity>(
        txn,
        plan.conferences,
        C::LegacyId,
        &[C::Id, C::CreatedAt],
    )
    .await?;
    crate::store::upsert_by_legacy_id::<attendee::Entity>(
        txn,
        plan.attendees,
        attendee::Column::LegacyId,
        &[attendee::Column::Id],
    )
    .await?;
    crate::store::notification::import_legacy(txn, plan.notifications).await
}
