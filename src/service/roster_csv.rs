//! Attendees as CSV: an export streamed page by page, and an import that parses every row
//! as a registration (`NewAttendee::parse`), matches rows to attendees by email (in any
//! case) and writes them in one transaction, or reports what it would do (a dry run).
//!
//! An import is all or nothing: with any rejected row it writes nothing, so fixing the file
//! and importing it again is always safe. Importing the same file twice changes nothing the
//! second time. Imported attendees get no confirmation email.
use crate::tenancy::Scope;
use std::collections::HashMap;

use futures::Stream;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    TryIntoModel,
};
use uuid::Uuid;

use super::csv_stream::{self, line};
use super::roster::{self, AttendeeFilter, Sort, SortCursor};
use crate::domain::{NewAttendee, Registration, ValidationError};
use crate::entity::attendee;
use crate::error::{ApiError, ApiResult};

/// The columns of an export, in order; an import reads the same names (in any case, with
/// or without underscores), ignores `registered_at` and any column it does not know.
pub const COLUMNS: [&str; 10] = [
    "first_name",
    "last_name",
    "email",
    "job_position",
    "company",
    "city",
    "state",
    "interests",
    "comments",
    "registered_at",
];

fn record(row: &attendee::Model) -> Vec<u8> {
    let registered = row.submitted_at.to_rfc3339();
    line(&[
        &row.first_name,
        &row.last_name,
        &row.email,
        &row.job_position,
        &row.company,
        &row.city,
        &row.state,
        row.interests.as_deref().unwrap_or(""),
        row.comments.as_deref().unwrap_or(""),
        &registered,
    ])
}

/// The attendees of a conference matching `filter`, in the order they were added, as CSV
/// chunks (the header first). The conference is checked before the first chunk, so an
/// unknown one is an error rather than an empty file.
pub async fn export(
    db: DatabaseConnection,
    scope: Scope,
    conference_id: Uuid,
    filter: AttendeeFilter,
) -> ApiResult<impl Stream<Item = Result<Vec<u8>, ApiError>> + Send + 'static> {
    let select = roster::matching(&db, &scope, conference_id, &filter).await?;
    Ok(csv_stream::paged(
        &COLUMNS,
        move |after: Option<SortCursor>| {
            let (db, select) = (db.clone(), select.clone());
            async move {
                roster::ordered(select, Sort::default(), after.as_ref())
                    .limit(csv_stream::PAGE_ROWS)
                    .all(&db)
                    .await
            }
        },
        |row: &attendee::Model| SortCursor {
            id: row.id,
            key: String::new(),
        },
        record,
    ))
}

/// A row an import refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    pub email: Option<String>,
    /// The field at fault, as the registration form names it (`firstName`, `email`, …).
    pub field: String,
    pub message: String,
}

/// What an import did, or (a dry run, or a file with rejected rows) would have done.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejection>,
    /// Whether the changes were written: not on a dry run, nor when any row was rejected.
    pub applied: bool,
}

/// The columns an import understands, by normalised header name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Column {
    FirstName,
    LastName,
    Email,
    JobPosition,
    Company,
    City,
    State,
    Interests,
    Comments,
}

const REQUIRED: [(Column, &str); 7] = [
    (Column::FirstName, "first_name"),
    (Column::LastName, "last_name"),
    (Column::Email, "email"),
    (Column::JobPosition, "job_position"),
    (Column::Company, "company"),
    (Column::City, "city"),
    (Column::State, "state"),
];

fn column(header: &str) -> Option<Column> {
    let name: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    Some(match name.as_str() {
        "firstname" => Column::FirstName,
        "lastname" => Column::LastName,
        "email" => Column::Email,
        "jobposition" => Column::JobPosition,
        "company" => Column::Company,
        "city" => Column::City,
        "state" => Column::State,
        "interests" => Column::Interests,
        "comments" => Column::Comments,
        _ => return None,
    })
}

/// One data row, parsed, with the line it came from.
struct Parsed {
    line: u64,
    attendee: NewAttendee,
}

/// Parses the file: every row becomes a registration or a rejection.
fn parse(csv_text: &str, max_rows: usize) -> ApiResult<(Vec<Parsed>, Vec<Rejection>)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ApiError::validation("csv", format!("the header row is unreadable: {e}")))?
        .clone();
    let positions: HashMap<Column, usize> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| column(h).map(|c| (c, i)))
        .collect();
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|(c, _)| !positions.contains_key(c))
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(
            "csv",
            format!(
                "the header row has no column for {} (expected {})",
                missing.join(", "),
                COLUMNS.join(",")
            ),
        ));
    }
    let mut parsed = Vec::new();
    let mut rejected = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (index, result) in reader.records().enumerate() {
        if index >= max_rows {
            return Err(ApiError::validation(
                "csv",
                format!("at most {max_rows} rows can be imported at once"),
            ));
        }
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rejected.push(Rejection {
                    line,
                    email: None,
                    field: "csv".into(),
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: Column| positions.get(&c).and_then(|&i| record.get(i));
        let text = |c: Column| get(c).unwrap_or("").to_owned();
        let fields = Registration {
            first_name: text(Column::FirstName),
            last_name: text(Column::LastName),
            email: text(Column::Email),
            job_position: text(Column::JobPosition),
            company: text(Column::Company),
            city: text(Column::City),
            state: text(Column::State),
            interests: get(Column::Interests).map(str::to_owned),
            comments: get(Column::Comments).map(str::to_owned),
        };
        let email = Some(fields.email.trim().to_owned()).filter(|e| !e.is_empty());
        match NewAttendee::try_from(fields) {
            Err(ValidationError { field, message }) => rejected.push(Rejection {
                line,
                email,
                field,
                message,
            }),
            Ok(attendee) => {
                let key = attendee.email().to_lowercase();
                if let Some(first) = seen.get(&key) {
                    rejected.push(Rejection {
                        line,
                        email,
                        field: "email".into(),
                        message: format!("the same email is already on line {first}"),
                    });
                } else {
                    seen.insert(key, line);
                    parsed.push(Parsed { line, attendee });
                }
            }
        }
    }
    Ok((parsed, rejected))
}

/// Imports `csv_text` into a conference: new emails become attendees, known ones (in any
/// case) take the file's fields. Writes nothing on a dry run or when any row is rejected.
pub async fn import(
    db: &DatabaseConnection,
    scope: &Scope,
    conference_id: Uuid,
    csv_text: &str,
    dry_run: bool,
    max_rows: usize,
) -> ApiResult<ImportReport> {
    scope.conference(db, conference_id).await?;
    let (parsed, rejected) = parse(csv_text, max_rows)?;
    let mut report = ImportReport {
        rows: parsed.len() + rejected.len(),
        rejected,
        ..ImportReport::default()
    };
    let txn = crate::db::begin_write(db).await?;
    let mut existing: HashMap<String, attendee::Model> = attendee::Entity::find()
        .filter(attendee::Column::ConferenceId.eq(conference_id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| (m.email.to_lowercase(), m))
        .collect();
    let write = !dry_run && report.rejected.is_empty();
    let mut last_created = None;
    for Parsed {
        line,
        attendee: new,
    } in parsed
    {
        let email = new.email().to_owned();
        match existing.remove(&email.to_lowercase()) {
            Some(current) => {
                let mut active = new.into_active_model();
                active.id = Set(current.id);
                active.conference_id = Set(current.conference_id);
                active.submitted_at = Set(current.submitted_at);
                active.legacy_id = Set(current.legacy_id);
                if active.clone().try_into_model()? == current {
                    report.unchanged += 1;
                    continue;
                }
                report.updated += 1;
                if write {
                    active.id = sea_orm::ActiveValue::Unchanged(current.id);
                    attendee::Entity::update(active)
                        .exec(&txn)
                        .await
                        .map_err(|e| {
                            ApiError::conflict_on_unique(
                                e,
                                format!("line {line}: {email} is registered twice"),
                            )
                        })?;
                }
            }
            None => {
                report.created += 1;
                if write {
                    let active = super::attendee::new_active(conference_id, new);
                    let id = active.id.clone().unwrap();
                    super::attendee::insert(&txn, active, || {
                        format!("line {line}: {email} was registered meanwhile; import again")
                    })
                    .await?;
                    last_created = Some(id);
                }
            }
        }
    }
    if !write {
        txn.rollback().await?;
        return Ok(report);
    }
    // One event for the whole import, so live attendee counts refresh once.
    let signal = match last_created {
        Some(id) => Some(crate::progress::attendee_registered(&txn, conference_id, id).await?),
        None => None,
    };
    txn.commit().await?;
    if let Some(signal) = signal {
        signal.publish();
    }
    report.applied = true;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "First Name,last_name,EMAIL,jobPosition,company,city,state,registered_at\n";

    #[test]
    fn headers_are_matched_loosely_and_rows_parse_as_registrations() {
        let csv = format!("{HEADER}Ada,Lovelace,ada@example.org,Engineer,AE,London,LDN,x\n");
        let (parsed, rejected) = parse(&csv, 10).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(parsed[0].attendee.fields().first_name, "Ada");
        assert_eq!(parsed[0].line, 2);
    }

    #[test]
    fn each_rejected_row_names_its_line_field_and_reason() {
        let csv = format!(
            "{HEADER}Ada,Lovelace,not-an-email,Engineer,AE,London,LDN,\n\
             ,Hopper,grace@example.org,Admiral,Navy,Arlington,VA,\n\
             Ada,Lovelace,ADA@example.org,Engineer,AE,London,LDN,\n\
             Ada,Lovelace,ada@example.org,Engineer,AE,London,LDN,\n"
        );
        let (parsed, rejected) = parse(&csv, 10).unwrap();
        let summary: Vec<(u64, &str)> = rejected
            .iter()
            .map(|r| (r.line, r.field.as_str()))
            .collect();
        assert_eq!(summary, [(2, "email"), (3, "firstName"), (5, "email")]);
        assert_eq!(rejected[2].message, "the same email is already on line 4");
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn a_missing_required_column_refuses_the_file() {
        let err = parse("first_name,email\nAda,ada@example.org\n", 10)
            .err()
            .unwrap();
        assert_eq!(err.code(), "VALIDATION");
        assert!(err.to_string().contains("last_name"), "{err}");
    }

    #[test]
    fn too_many_rows_refuse_the_file() {
        let csv = format!(
            "{HEADER}{}",
            "Ada,Lovelace,a@example.org,E,AE,London,LDN,\n".repeat(3)
        );
        assert!(parse(&csv, 2).is_err());
    }

    #[test]
    fn exported_fields_with_commas_quotes_and_newlines_read_back_unchanged() {
        let row = attendee::Model {
            id: Uuid::now_v7(),
            conference_id: Uuid::now_v7(),
            first_name: "Ana \"Nan\"".into(),
            last_name: "da Silva, Jr".into(),
            email: "ana@example.org".into(),
            job_position: "Engineer".into(),
            company: "Acme".into(),
            city: "Lisbon".into(),
            state: "LX".into(),
            interests: Some("Rust\nGraphQL".into()),
            comments: None,
            submitted_at: chrono::Utc::now(),
            legacy_id: None,
        };
        let mut csv = line(&COLUMNS);
        csv.extend(record(&row));
        let (parsed, rejected) = parse(std::str::from_utf8(&csv).unwrap(), 10).unwrap();
        assert!(rejected.is_empty());
        let a = parsed[0].attendee.fields();
        assert_eq!(a.first_name, row.first_name);
        assert_eq!(a.last_name, row.last_name);
        assert_eq!(a.interests, row.interests);
        assert_eq!(a.comments, None);
    }
}
