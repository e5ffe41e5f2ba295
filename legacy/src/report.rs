//! What an import did: counts per table, every skipped row with its reason, and notes on rows
//! imported with a rule worth knowing. Printed as text for people or as JSON for scripts.
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::dump::LegacyTable;

/// Why a legacy row was not imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The same legacy id appears twice in one table.
    DuplicateId,
    /// An attendee whose conference is neither in the source nor imported before (or was
    /// itself skipped).
    MissingConference,
    /// An attendee email that TechConf would refuse at registration.
    InvalidEmail,
    /// Another field that TechConf would refuse (too long, blank, control characters...).
    InvalidValue,
    /// A second registration with the same email (ignoring case) for the same conference.
    DuplicateEmail,
    /// A notification with a blank subject.
    EmptySubject,
}

impl Problem {
    pub fn label(self) -> &'static str {
        match self {
            Self::DuplicateId => "duplicate id",
            Self::MissingConference => "missing conference",
            Self::InvalidEmail => "invalid email",
            Self::InvalidValue => "invalid value",
            Self::DuplicateEmail => "duplicate email",
            Self::EmptySubject => "empty subject",
        }
    }
}

/// A legacy row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    pub table: &'static str,
    pub legacy_id: i32,
    /// Line of the row in the dump; `None` when reading a live database.
    pub line: Option<u64>,
    pub problem: Problem,
    pub reason: String,
}

/// A legacy row that was imported, with something the operator should know about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowNote {
    pub table: &'static str,
    pub legacy_id: i32,
    pub line: Option<u64>,
    pub note: String,
}

/// What happened to the rows of one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    /// Rows in the source.
    pub read: u64,
    /// New in TechConf.
    pub inserted: u64,
    /// Imported before, and changed since: overwritten with the legacy values.
    pub updated: u64,
    /// Imported before and identical: not written.
    pub unchanged: u64,
    /// Not imported; each is listed in [`ImportReport::skipped`].
    pub skipped: u64,
}

/// Counts for the three legacy tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tables {
    pub conference: TableCounts,
    pub attendee: TableCounts,
    pub notification: TableCounts,
}

impl Tables {
    pub fn get_mut(&mut self, table: LegacyTable) -> &mut TableCounts {
        match table {
            LegacyTable::Conference => &mut self.conference,
            LegacyTable::Attendee => &mut self.attendee,
            LegacyTable::Notification => &mut self.notification,
        }
    }

    fn rows(&self) -> [(&'static str, &TableCounts); 3] {
        [
            ("conference", &self.conference),
            ("attendee", &self.attendee),
            ("notification", &self.notification),
        ]
    }
}

/// A table of the dump that is not part of the legacy schema and was left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IgnoredTable {
    pub name: String,
    pub rows: u64,
}

/// The outcome of one import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The dump file, `-` for standard input, or the legacy database URL (password hidden).
    pub source: String,
    pub dry_run: bool,
    /// Whether the changes were committed (false for a dry run or a refused `--strict` run).
    pub committed: bool,
    pub tables: Tables,
    pub skipped: Vec<SkippedRow>,
    pub notes: Vec<RowNote>,
    pub ignored_tables: Vec<IgnoredTable>,
}

impl ImportReport {
    pub fn new(source: impl Into<String>, dry_run: bool) -> Self {
        Self {
            source: source.into(),
            dry_run,
            committed: false,
            tables: Tables::default(),
            skipped: Vec::new(),
            notes: Vec::new(),
            ignored_tables: Vec::new(),
        }
    }

    pub fn skip(
        &mut self,
        table: LegacyTable,
        legacy_id: i32,
        line: Option<u64>,
        problem: Problem,
        reason: impl Into<String>,
    ) {
        self.tables.get_mut(table).skipped += 1;
        self.skipped.push(SkippedRow {
            table: table.name(),
            legacy_id,
            line,
            problem,
            reason: reason.into(),
        });
    }

    pub fn note(
        &mut self,
        table: LegacyTable,
        legacy_id: i32,
        line: Option<u64>,
        note: impl Into<String>,
    ) {
        self.notes.push(RowNote {
            table: table.name(),
            legacy_id,
            line,
            note: note.into(),
        });
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn row_label(out: &mut String, table: &str, legacy_id: i32, line: Option<u64>) {
    let _ = write!(out, "  {table} {legacy_id}");
    if let Some(line) = line {
        let _ = write!(out, " (line {line})");
    }
}

impl fmt::Display for ImportReport {
    /// The readable report that `techconf import-legacy` prints by default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = writeln!(out, "Legacy import from {}", self.source);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<14}{:>8}{:>10}{:>9}{:>11}{:>9}",
            "table", "read", "inserted", "updated", "unchanged", "skipped"
        );
        for (name, c) in self.tables.rows() {
            let _ = writeln!(
                out,
                "{name:<14}{:>8}{:>10}{:>9}{:>11}{:>9}",
                c.read, c.inserted, c.updated, c.unchanged, c.skipped
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nSkipped rows ({}):", self.skipped.len());
            for row in &self.skipped {
                row_label(&mut out, row.table, row.legacy_id, row.line);
                let _ = writeln!(out, ": {}: {}", row.problem.label(), row.reason);
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nNotes ({}):", self.notes.len());
            for row in &self.notes {
                row_label(&mut out, row.table, row.legacy_id, row.line);
                let _ = writeln!(out, ": {}", row.note);
            }
        }
        if !self.ignored_tables.is_empty() {
            let tables: Vec<String> = self
                .ignored_tables
                .iter()
                .map(|t| {
                    let plural = if t.rows == 1 { "" } else { "s" };
                    format!("{} ({} row{plural})", t.name, t.rows)
                })
                .collect();
            let _ = writeln!(
                out,
                "\nOther tables in the dump, not imported: {}",
                tables.join(", ")
            );
        }
        let _ = writeln!(out);
        let outcome = if self.committed {
            "Committed."
        } else if self.dry_run {
            "Dry run: nothing was written (the transaction was rolled back)."
        } else {
            "Nothing was written."
        };
        let _ = writeln!(out, "{outcome}");
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ImportReport {
        let mut report = ImportReport::new("dump.sql", true);
        report.tables.attendee.read = 2;
        report.tables.attendee.inserted = 1;
        report.skip(
            LegacyTable::Attendee,
            4,
            Some(220),
            Problem::InvalidEmail,
            "email \"x\" is not a valid email address",
        );
        report.note(
            LegacyTable::Notification,
            2,
            None,
            "never completed: imported as CANCELLED",
        );
        report
    }

    #[test]
    fn the_text_report_lists_counts_skipped_rows_and_notes() {
        let text = report().to_string();
        assert!(text.contains("attendee             2         1"), "{text}");
        assert!(
            text.contains(
                "  attendee 4 (line 220): invalid email: email \"x\" is not a valid email address"
            ),
            "{text}"
        );
        assert!(text.contains("  notification 2: never completed"), "{text}");
        assert!(
            text.ends_with("Dry run: nothing was written (the transaction was rolled back).\n")
        );
    }

    #[test]
    fn skipping_a_row_counts_it_in_its_table() {
        let report = report();
        assert_eq!(report.tables.attendee.skipped, 1);
        assert_eq!(report.tables.conference, TableCounts::default());
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["skipped"][0]["problem"], "invalid_email");
        assert_eq!(json["notes"][0]["line"], serde_json::Value::Null);
    }
}
