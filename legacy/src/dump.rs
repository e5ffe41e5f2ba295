//! Streaming reader for PostgreSQL plain-format dumps of the legacy TechConf
//! (Flask) database.
//!
//! Teams migrating from the original Flask application back their PostgreSQL
//! database up with `pg_dump` in PLAIN format: SQL text in which table data
//! appears as `COPY <table> (<columns>) FROM stdin;` followed by one
//! tab-separated line per row and a terminating `\.` line. This module reads
//! such a file incrementally from any [`BufRead`] (a file, stdin, a byte
//! slice), so a dump with hundreds of thousands of rows is never held in
//! memory as a whole.
//!
//! The module has two layers:
//!
//! * [`DumpReader`] — a low-level event reader. It skips SQL statements
//!   (`SET`, `CREATE TABLE`, `ALTER TABLE`, `COMMENT ON`, `SELECT setval`,
//!   function bodies, psql meta-commands such as `\restrict`), recognises COPY
//!   blocks and yields [`DumpEvent`]s: [`DumpEvent::CopyStart`], one
//!   [`DumpEvent::Row`] per data line (fields decoded from the COPY text
//!   format, `None` = SQL `NULL`), [`DumpEvent::CopyEnd`], and
//!   [`DumpEvent::Skipped`] for COPY blocks of tables the caller did not ask
//!   for.
//! * [`LegacyRecords`] / [`read_legacy_dump`] — a typed layer that maps the
//!   `conference`, `attendee` and `notification` tables to
//!   [`LegacyConference`], [`LegacyAttendee`] and [`LegacyNotification`],
//!   looking columns up by NAME (pg_dump column order is irrelevant) and
//!   reporting the table, line, column and offending value when a field does
//!   not parse.
//!
//! The typed layer only checks *types* (integers, booleans, dates,
//! timestamps, non-NULL). Business validation — malformed e-mail addresses,
//! duplicate registrations, attendees pointing at a missing conference, empty
//! subjects — is left to the caller: such rows are returned as they are.
//!
//! Note that pg_dump writes tables in alphabetical order, so `attendee` rows
//! come *before* `conference` rows.
//!
//! Supported COPY text format (see the PostgreSQL `COPY` documentation):
//! fields separated by TAB, `\N` is NULL, escapes `\b \f \n \r \t \v \\`,
//! `\` + 1–3 octal digits, `\x` + 1–2 hex digits, any other `\c` is `c`
//! (including a backslash before a literal newline, which continues the row
//! on the next line). LF and CRLF line endings are accepted; decoded values
//! must be valid UTF-8. Only UTF-8 (or `SQL_ASCII`) dumps are accepted.

use std::io::{self, BufRead};
use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Offset, Timelike, Utc};

/// Names of the legacy TechConf tables understood by the typed layer.
pub const LEGACY_TABLES: [&str; 3] = ["conference", "attendee", "notification"];

/// Longest value (in characters) quoted verbatim in an error message.
const MAX_VALUE_IN_ERROR: usize = 120;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Everything that can go wrong while reading a legacy dump.
///
/// Line numbers are 1-based physical line numbers in the dump file. `table`
/// is the table name as written in the dump's COPY statement, unqualified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The underlying reader failed.
    #[error("I/O error while reading the dump after line {line}: {source}")]
    Io {
        /// Last line successfully read.
        line: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The input is a pg_dump archive or a compressed file, not SQL text.
    #[error("not a plain-format SQL dump: {reason}")]
    NotPlainFormat {
        /// What the input looks like and how to convert it.
        reason: &'static str,
    },

    /// `SET client_encoding` names an encoding other than UTF-8.
    #[error(
        "line {line}: the dump uses client_encoding {encoding:?}; only UTF8 dumps are supported \
         (re-run pg_dump with --encoding=UTF8)"
    )]
    UnsupportedEncoding {
        /// Line of the `SET client_encoding` statement.
        line: u64,
        /// The encoding named by the dump.
        encoding: String,
    },

    /// A `COPY` statement could not be parsed.
    #[error("line {line}: cannot parse COPY statement ({reason}): {statement}")]
    InvalidCopyStatement {
        /// Line of the statement.
        line: u64,
        /// What is wrong with it.
        reason: &'static str,
        /// The statement text (possibly shortened).
        statement: String,
    },

    /// A COPY block of a requested table is not in the default text format.
    #[error(
        "line {line}: COPY for table {table} uses options {options:?}; only the text format \
         written by pg_dump (`COPY ... FROM stdin;`) is supported"
    )]
    UnsupportedCopyFormat {
        /// Line of the COPY statement.
        line: u64,
        /// Table name.
        table: String,
        /// The text after `FROM stdin`.
        options: String,
    },

    /// End of file inside a COPY block: the dump is truncated.
    #[error(
        "truncated dump: COPY data for table {table} starting at line {start_line} is not \
         terminated by a `\\.` line before the end of the file (line {line})"
    )]
    UnterminatedCopy {
        /// Table name.
        table: String,
        /// Line of the COPY statement.
        start_line: u64,
        /// Last line of the file.
        line: u64,
    },

    /// A data row has a different number of fields than the COPY column list.
    #[error(
        "line {line}: row of table {table} has {found} fields but the COPY column list has {expected}"
    )]
    FieldCountMismatch {
        /// Table name.
        table: String,
        /// Line of the row.
        line: u64,
        /// Number of columns in the COPY statement.
        expected: usize,
        /// Number of tab-separated fields found.
        found: usize,
    },

    /// A field is not valid UTF-8 once its escapes are decoded.
    #[error(
        "line {line}: table {table}, column {column}: value is not valid UTF-8 after decoding escapes"
    )]
    InvalidUtf8 {
        /// Table name.
        table: String,
        /// Line of the row.
        line: u64,
        /// Column name (or `#n` if the COPY statement has no column list).
        column: String,
    },

    /// A COPY statement of a legacy table lacks a column the typed layer needs.
    #[error("line {line}: COPY for table {table} has no column {column:?}, which is required")]
    MissingColumn {
        /// Table name.
        table: String,
        /// Line of the COPY statement.
        line: u64,
        /// The missing column.
        column: String,
    },

    /// A legacy table appears in more than one COPY block.
    #[error(
        "line {line}: table {table} has a second COPY block (the first is at line {first_line}); \
         if the dump contains several schemas, select one with LegacyRecords::with_schema"
    )]
    DuplicateTable {
        /// Table name.
        table: String,
        /// Line of the second COPY statement.
        line: u64,
        /// Line of the first COPY statement.
        first_line: u64,
    },

    /// `\N` (NULL) in a column that the legacy schema declares NOT NULL.
    #[error("line {line}: table {table}, column {column}: unexpected NULL")]
    UnexpectedNull {
        /// Table name.
        table: String,
        /// Line of the row.
        line: u64,
        /// Column name.
        column: String,
    },

    /// A field does not parse as the column's type.
    #[error("line {line}: table {table}, column {column}: invalid value {value:?}: {reason}")]
    InvalidValue {
        /// Table name.
        table: String,
        /// Line of the row.
        line: u64,
        /// Column name.
        column: String,
        /// The offending value (shortened if very long).
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The input contains no COPY block for any of [`LEGACY_TABLES`].
    #[error("not a TechConf legacy dump: no conference/attendee/notification data found")]
    NotTechConfDump,
}

impl DumpError {
    /// The dump line the error refers to, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Io { line, .. }
            | Self::UnsupportedEncoding { line, .. }
            | Self::InvalidCopyStatement { line, .. }
            | Self::UnsupportedCopyFormat { line, .. }
            | Self::UnterminatedCopy { line, .. }
            | Self::FieldCountMismatch { line, .. }
            | Self::InvalidUtf8 { line, .. }
            | Self::MissingColumn { line, .. }
            | Self::DuplicateTable { line, .. }
            | Self::UnexpectedNull { line, .. }
            | Self::InvalidValue { line, .. } => Some(*line),
            Self::NotPlainFormat { .. } | Self::NotTechConfDump => None,
        }
    }
}

/// Error returned by [`parse_legacy_date`], [`parse_legacy_timestamp`] and
/// [`parse_legacy_bool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseValueError {
    reason: &'static str,
}

impl ParseValueError {
    fn new(reason: &'static str) -> Self {
        Self { reason }
    }

    /// Human-readable reason.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

fn shorten(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_IN_ERROR) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Low-level event reader
// ---------------------------------------------------------------------------

/// One event produced by [`DumpReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpEvent {
    /// A `COPY ... FROM stdin;` block of a selected table begins.
    CopyStart {
        /// Schema qualifier (`public`), if the statement has one.
        schema: Option<String>,
        /// Table name, unquoted (quoted identifiers keep their case,
        /// unquoted ones are folded to lower case as PostgreSQL does).
        table: Arc<str>,
        /// Column names in the order of the row fields. Empty if the
        /// statement has no column list (pg_dump always writes one).
        columns: Vec<String>,
        /// Line of the COPY statement.
        line_number: u64,
    },
    /// One data row of the current COPY block.
    Row {
        /// Table name (same `Arc` as in the preceding `CopyStart`).
        table: Arc<str>,
        /// Line on which the row starts.
        line_number: u64,
        /// Decoded fields, one per column; `None` is SQL `NULL` (`\N`).
        fields: Vec<Option<String>>,
    },
    /// The `\.` line closing the current COPY block.
    CopyEnd {
        /// Table name.
        table: Arc<str>,
        /// Line of the `\.` terminator.
        line_number: u64,
        /// Number of rows in the block.
        rows: u64,
    },
    /// A complete COPY block of a table that was not selected (see
    /// [`DumpReader::with_tables`] / [`DumpReader::with_schema`]). Its rows
    /// are not decoded, only counted.
    Skipped {
        /// Schema qualifier, if any.
        schema: Option<String>,
        /// Table name.
        table: String,
        /// Line of the COPY statement.
        line_number: u64,
        /// Number of rows in the block.
        rows: u64,
    },
}

/// Streaming reader of the COPY blocks in a plain-format pg_dump file.
///
/// Use [`DumpReader::next_event`] or the [`Iterator`] implementation. After
/// the first error the reader is finished and yields nothing more.
///
/// ```ignore
/// let mut reader = DumpReader::new(std::io::stdin().lock()).with_tables(["attendee"]);
/// while let Some(event) = reader.next_event()? {
///     if let DumpEvent::Row { fields, .. } = event { /* ... */ }
/// }
/// ```
pub struct DumpReader<R> {
    input: R,
    /// Current line (or COPY record), without its line terminator.
    buf: Vec<u8>,
    /// Field boundaries of the current row: (start, end, contains backslash).
    spans: Vec<(usize, usize, bool)>,
    /// Number of physical lines consumed so far.
    line: u64,
    started: bool,
    finished: bool,
    scanner: SqlScanner,
    copy: Option<CopyState>,
    tables: Option<Vec<String>>,
    schema: Option<String>,
}

struct CopyState {
    schema: Option<String>,
    table: Arc<str>,
    columns: Vec<String>,
    start_line: u64,
    rows: u64,
    selected: bool,
}

impl<R: BufRead> DumpReader<R> {
    /// Creates a reader that reports the COPY blocks of every table.
    pub fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::with_capacity(512),
            spans: Vec::new(),
            line: 0,
            started: false,
            finished: false,
            scanner: SqlScanner::default(),
            copy: None,
            tables: None,
            schema: None,
        }
    }

    /// Only report COPY blocks of these tables (unqualified names, compared
    /// exactly with the unquoted/case-folded table name). Blocks of other
    /// tables produce a single [`DumpEvent::Skipped`].
    pub fn with_tables<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(tables.into_iter().map(Into::into).collect());
        self
    }

    /// Only report COPY blocks whose schema is `schema`. An unqualified COPY
    /// statement matches any schema filter.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Number of physical lines read so far.
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// Reads up to the next event. Returns `Ok(None)` at the end of the dump.
    pub fn next_event(&mut self) -> Result<Option<DumpEvent>, DumpError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.advance();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn advance(&mut self) -> Result<Option<DumpEvent>, DumpError> {
        if !self.started {
            self.started = true;
            self.check_format()?;
        }
        loop {
            if self.copy.is_some() {
                if let Some(event) = self.copy_step()? {
                    return Ok(Some(event));
                }
            } else {
                if !self.read_sql_line()? {
                    return Ok(None);
                }
                if let Some(event) = self.sql_step()? {
                    return Ok(Some(event));
                }
            }
        }
    }

    /// Rejects pg_dump archives and compressed files up front, with a hint.
    fn check_format(&mut self) -> Result<(), DumpError> {
        let line = self.line;
        let head = self
            .input
            .fill_buf()
            .map_err(|source| DumpError::Io { line, source })?;
        let reason = if head.starts_with(b"PGDMP") {
            "this is a pg_dump custom-format archive (-Fc); convert it to SQL with \
             `pg_restore -f dump.sql <archive>`"
        } else if head.starts_with(b"toc.dat\0") {
            "this is a pg_dump tar-format archive (-Ft); convert it to SQL with \
             `pg_restore -f dump.sql <archive>`"
        } else if head.starts_with(&[0x1f, 0x8b]) {
            "the file is gzip-compressed; decompress it first (e.g. `gunzip -c dump.sql.gz`)"
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            "the file is zstd-compressed; decompress it first (e.g. `zstd -dc dump.sql.zst`)"
        } else {
            return Ok(());
        };
        Err(DumpError::NotPlainFormat { reason })
    }

    /// Reads one SQL line into `buf` (terminator stripped). `false` at EOF.
    fn read_sql_line(&mut self) -> Result<bool, DumpError> {
        self.buf.clear();
        if !read_physical_line(&mut self.input, &mut self.buf, &mut self.line)? {
            return Ok(false);
        }
        if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        strip_line_terminator(&mut self.buf);
        Ok(true)
    }

    fn sql_step(&mut self) -> Result<Option<DumpEvent>, DumpError> {
        let line = self.buf.as_slice();
        if self.scanner.at_statement_start() {
            let text = line.trim_ascii_start();
            if text.first() == Some(&b'\\') {
                // psql meta-command (`\restrict`, `\connect`, ...): one line.
                return Ok(None);
            }
            if starts_with_keyword(text, b"COPY") {
                return self.start_copy();
            }
            if starts_with_keyword(text, b"SET") {
                self.handle_set()?;
            }
        }
        self.scanner.scan_line(&self.buf);
        Ok(None)
    }

    fn handle_set(&mut self) -> Result<(), DumpError> {
        let Some((name, value)) = parse_set_statement(&self.buf) else {
            return Ok(());
        };
        match name.as_str() {
            "client_encoding" => {
                let normalized: String = value
                    .chars()
                    .filter(|c| *c != '-' && *c != '_')
                    .collect::<String>()
                    .to_ascii_uppercase();
                if !matches!(normalized.as_str(), "UTF8" | "UNICODE" | "SQLASCII") {
                    return Err(DumpError::UnsupportedEncoding {
                        line: self.line,
                        encoding: value,
                    });
                }
            }
            "standard_conforming_strings" => {
                self.scanner.backslash_strings =
                    matches!(value.to_ascii_lowercase().as_str(), "off" | "false" | "0");
            }
            _ => {}
        }
        Ok(())
    }

    fn start_copy(&mut self) -> Result<Option<DumpEvent>, DumpError> {
        let line = self.line;
        let statement = || shorten(&String::from_utf8_lossy(&self.buf));
        let header =
            parse_copy_statement(&self.buf).map_err(|reason| DumpError::InvalidCopyStatement {
                line,
                reason,
                statement: statement(),
            })?;
        for (i, column) in header.columns.iter().enumerate() {
            if header.columns[..i].contains(column) {
                return Err(DumpError::InvalidCopyStatement {
                    line,
                    reason: "duplicate column name",
                    statement: statement(),
                });
            }
        }
        let table_selected = self
            .tables
            .as_ref()
            .is_none_or(|tables| tables.contains(&header.table));
        let schema_selected = match (&self.schema, &header.schema) {
            (Some(wanted), Some(actual)) => wanted == actual,
            _ => true,
        };
        let selected = table_selected && schema_selected;
        if selected && !header.options.is_empty() {
            return Err(DumpError::UnsupportedCopyFormat {
                line,
                table: header.table,
                options: header.options,
            });
        }
        let table: Arc<str> = Arc::from(header.table);
        let event = selected.then(|| DumpEvent::CopyStart {
            schema: header.schema.clone(),
            table: Arc::clone(&table),
            columns: header.columns.clone(),
            line_number: line,
        });
        self.copy = Some(CopyState {
            schema: header.schema,
            table,
            columns: header.columns,
            start_line: line,
            rows: 0,
            selected,
        });
        Ok(event)
    }

    fn copy_step(&mut self) -> Result<Option<DumpEvent>, DumpError> {
        let Some(copy) = self.copy.as_mut() else {
            return Ok(None);
        };
        let record = read_copy_record(&mut self.input, &mut self.buf, &mut self.line)?;
        match record {
            CopyRecord::Row { line_number } => {
                copy.rows += 1;
                if !copy.selected {
                    return Ok(None);
                }
                let fields = decode_row(
                    &self.buf,
                    &mut self.spans,
                    &copy.columns,
                    &copy.table,
                    line_number,
                )?;
                Ok(Some(DumpEvent::Row {
                    table: Arc::clone(&copy.table),
                    line_number,
                    fields,
                }))
            }
            CopyRecord::Terminator => {
                let Some(copy) = self.copy.take() else {
                    return Ok(None);
                };
                Ok(Some(if copy.selected {
                    DumpEvent::CopyEnd {
                        table: copy.table,
                        line_number: self.line,
                        rows: copy.rows,
                    }
                } else {
                    DumpEvent::Skipped {
                        schema: copy.schema,
                        table: copy.table.to_string(),
                        line_number: copy.start_line,
                        rows: copy.rows,
                    }
                }))
            }
            CopyRecord::Eof => Err(DumpError::UnterminatedCopy {
                table: copy.table.to_string(),
                start_line: copy.start_line,
                line: self.line,
            }),
        }
    }
}

impl<R: BufRead> Iterator for DumpReader<R> {
    type Item = Result<DumpEvent, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// Appends one physical line (with its `\n`, if any) to `buf`.
/// Returns `false` at end of input.
fn read_physical_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    line: &mut u64,
) -> Result<bool, DumpError> {
    let read = input
        .read_until(b'\n', buf)
        .map_err(|source| DumpError::Io {
            line: *line,
            source,
        })?;
    if read == 0 {
        return Ok(false);
    }
    *line += 1;
    Ok(true)
}

fn strip_line_terminator(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
}

/// True if `bytes` ends with a backslash that escapes whatever follows.
fn ends_with_escape(bytes: &[u8]) -> bool {
    bytes.iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
}

enum CopyRecord {
    Row {
        line_number: u64,
    },
    Terminator,
    /// End of input (possibly in the middle of a row): the block is truncated.
    Eof,
}

/// Reads one COPY data record into `buf`, without its line terminator.
///
/// A record normally is one line; a backslash before the newline escapes it
/// and the record continues on the next line (PostgreSQL accepts this).
fn read_copy_record<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    line: &mut u64,
) -> Result<CopyRecord, DumpError> {
    buf.clear();
    let line_number = *line + 1;
    loop {
        if !read_physical_line(input, buf, line)? {
            return Ok(CopyRecord::Eof);
        }
        if buf.last() != Some(&b'\n') {
            // Last line of the file, without a newline: fine only for `\.`.
            if buf.last() == Some(&b'\r') && !ends_with_escape(&buf[..buf.len() - 1]) {
                buf.pop();
            }
            return Ok(if buf.as_slice() == b"\\." {
                CopyRecord::Terminator
            } else {
                CopyRecord::Eof
            });
        }
        let content_end = buf.len() - 1;
        if ends_with_escape(&buf[..content_end]) {
            // Escaped newline: it is data, keep reading.
            continue;
        }
        buf.pop();
        if buf.last() == Some(&b'\r') && !ends_with_escape(&buf[..buf.len() - 1]) {
            buf.pop();
        }
        return Ok(if buf.as_slice() == b"\\." {
            CopyRecord::Terminator
        } else {
            CopyRecord::Row { line_number }
        });
    }
}

fn column_label(columns: &[String], index: usize) -> String {
    columns
        .get(index)
        .cloned()
        .unwrap_or_else(|| format!("#{}", index + 1))
}

/// Splits a COPY text-format record into fields and decodes them.
fn decode_row(
    raw: &[u8],
    spans: &mut Vec<(usize, usize, bool)>,
    columns: &[String],
    table: &str,
    line: u64,
) -> Result<Vec<Option<String>>, DumpError> {
    spans.clear();
    let mut start = 0;
    let mut i = 0;
    let mut escaped = false;
    while i < raw.len() {
        match raw[i] {
            b'\t' => {
                spans.push((start, i, escaped));
                i += 1;
                start = i;
                escaped = false;
            }
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    spans.push((start, raw.len(), escaped));

    if !columns.is_empty() && spans.len() != columns.len() {
        return Err(DumpError::FieldCountMismatch {
            table: table.to_owned(),
            line,
            expected: columns.len(),
            found: spans.len(),
        });
    }
    let mut fields = Vec::with_capacity(spans.len());
    for (index, &(start, end, escaped)) in spans.iter().enumerate() {
        let field =
            decode_field(&raw[start..end], escaped).ok_or_else(|| DumpError::InvalidUtf8 {
                table: table.to_owned(),
                line,
                column: column_label(columns, index),
            })?;
        fields.push(field);
    }
    Ok(fields)
}

/// Decodes one COPY text field. Outer `None` = invalid UTF-8.
fn decode_field(raw: &[u8], has_backslash: bool) -> Option<Option<String>> {
    if !has_backslash {
        return std::str::from_utf8(raw).ok().map(|s| Some(s.to_owned()));
    }
    if raw == b"\\N" {
        return Some(None);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        i += 1;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        // A trailing lone backslash is dropped, as PostgreSQL does.
        let Some(&c) = raw.get(i) else { break };
        i += 1;
        let decoded = match c {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                // PostgreSQL keeps the low byte of values above \377.
                (value & 0xff) as u8
            }
            b'x' => match raw.get(i).and_then(|d| hex_value(*d)) {
                Some(high) => {
                    i += 1;
                    match raw.get(i).and_then(|d| hex_value(*d)) {
                        Some(low) => {
                            i += 1;
                            high * 16 + low
                        }
                        None => high,
                    }
                }
                // `\x` not followed by a hex digit is a plain `x`.
                None => b'x',
            },
            other => other,
        };
        out.push(decoded);
    }
    String::from_utf8(out).ok().map(Some)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// SQL scanning (outside COPY blocks)
// ---------------------------------------------------------------------------

/// Tracks just enough SQL lexical state across lines to know whether a line
/// starts a new statement, so that e.g. a line `COPY x FROM stdin;` inside a
/// dollar-quoted function body or a multi-line string is not mistaken for a
/// COPY statement.
#[derive(Default)]
struct SqlScanner {
    state: LexState,
    /// Non-blank, non-comment text seen since the last `;`.
    in_statement: bool,
    /// `standard_conforming_strings = off`: backslashes escape in '...'.
    backslash_strings: bool,
}

#[derive(Default)]
enum LexState {
    #[default]
    Normal,
    SingleQuoted {
        backslash_escapes: bool,
    },
    DoubleQuoted,
    DollarQuoted(Vec<u8>),
    BlockComment(u32),
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl SqlScanner {
    fn at_statement_start(&self) -> bool {
        matches!(self.state, LexState::Normal) && !self.in_statement
    }

    fn scan_line(&mut self, line: &[u8]) {
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            let next = line.get(i + 1).copied();
            match &mut self.state {
                LexState::Normal => match b {
                    b'-' if next == Some(b'-') => return,
                    b'/' if next == Some(b'*') => {
                        self.state = LexState::BlockComment(1);
                        i += 1;
                    }
                    b'\'' => {
                        let e_prefix = i >= 1
                            && matches!(line[i - 1], b'e' | b'E')
                            && (i < 2 || !is_ident_byte(line[i - 2]));
                        self.state = LexState::SingleQuoted {
                            backslash_escapes: e_prefix || self.backslash_strings,
                        };
                        self.in_statement = true;
                    }
                    b'"' => {
                        self.state = LexState::DoubleQuoted;
                        self.in_statement = true;
                    }
                    b'$' if i == 0 || !is_ident_byte(line[i - 1]) => {
                        self.in_statement = true;
                        let tag_len = line[i + 1..]
                            .iter()
                            .take_while(|c| is_ident_byte(**c) && **c != b'$')
                            .count();
                        let close = i + 1 + tag_len;
                        let valid_tag = line.get(i + 1).is_none_or(|c| !c.is_ascii_digit());
                        if valid_tag && line.get(close) == Some(&b'$') {
                            self.state = LexState::DollarQuoted(line[i..=close].to_vec());
                            i = close;
                        }
                    }
                    b';' => self.in_statement = false,
                    _ if b.is_ascii_whitespace() => {}
                    _ => self.in_statement = true,
                },
                LexState::SingleQuoted { backslash_escapes } => {
                    if b == b'\\' && *backslash_escapes {
                        i += 1;
                    } else if b == b'\'' {
                        if next == Some(b'\'') {
                            i += 1;
                        } else {
                            self.state = LexState::Normal;
                        }
                    }
                }
                LexState::DoubleQuoted => {
                    if b == b'"' {
                        if next == Some(b'"') {
                            i += 1;
                        } else {
                            self.state = LexState::Normal;
                        }
                    }
                }
                LexState::DollarQuoted(tag) => {
                    if line[i..].starts_with(tag) {
                        i += tag.len() - 1;
                        self.state = LexState::Normal;
                    }
                }
                LexState::BlockComment(depth) => {
                    if b == b'/' && next == Some(b'*') {
                        *depth += 1;
                        i += 1;
                    } else if b == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        i += 1;
                        if *depth == 0 {
                            self.state = LexState::Normal;
                        }
                    }
                }
            }
            i += 1;
        }
    }
}

fn starts_with_keyword(text: &[u8], keyword: &[u8]) -> bool {
    text.len() > keyword.len()
        && text[..keyword.len()].eq_ignore_ascii_case(keyword)
        && text[keyword.len()].is_ascii_whitespace()
}

/// Parses `SET name = value;` / `SET name TO value;` into (lower-case name,
/// unquoted value).
fn parse_set_statement(line: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let rest = text.get(3..)?.trim_start();
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let name = rest[..name_len].to_ascii_lowercase();
    let rest = rest[name_len..].trim_start();
    let rest = if let Some(r) = rest.strip_prefix('=') {
        r
    } else if rest
        .get(..2)
        .is_some_and(|kw| kw.eq_ignore_ascii_case("to"))
    {
        rest.get(2..)?
    } else {
        return None;
    };
    let value = rest.trim().trim_end_matches(';').trim();
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value);
    Some((name, value.to_owned()))
}

struct CopyHeader {
    schema: Option<String>,
    table: String,
    columns: Vec<String>,
    /// Whatever follows `FROM stdin` besides the final `;` (empty for pg_dump).
    options: String,
}

/// Small cursor over the bytes of a COPY statement.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An identifier: `"quoted ""x"""` keeps its case, unquoted is folded to
    /// lower case (ASCII only, like PostgreSQL with UTF-8).
    fn identifier(&mut self) -> Result<String, &'static str> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.bytes.get(self.pos) {
                        None => return Err("unterminated quoted identifier"),
                        Some(b'"') if self.bytes.get(self.pos + 1) == Some(&b'"') => {
                            out.push(b'"');
                            self.pos += 2;
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(&b) => {
                            out.push(b);
                            self.pos += 1;
                        }
                    }
                }
                if out.is_empty() {
                    return Err("empty quoted identifier");
                }
                Ok(String::from_utf8_lossy(&out).into_owned())
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let start = self.pos;
                while self.bytes.get(self.pos).is_some_and(|b| is_ident_byte(*b)) {
                    self.pos += 1;
                }
                let ident = String::from_utf8_lossy(&self.bytes[start..self.pos]);
                Ok(ident.to_ascii_lowercase())
            }
            _ => Err("expected an identifier"),
        }
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        self.skip_ws();
        let end = self.pos + keyword.len();
        let matches = self
            .bytes
            .get(self.pos..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword.as_bytes()))
            && self.bytes.get(end).is_none_or(|b| !is_ident_byte(*b));
        if matches {
            self.pos = end;
        }
        matches
    }
}

/// Parses `COPY [catalog.][schema.]table [(col, ...)] FROM stdin[ options];`.
fn parse_copy_statement(line: &[u8]) -> Result<CopyHeader, &'static str> {
    let mut cur = Cursor {
        bytes: line,
        pos: 0,
    };
    if !cur.keyword("COPY") {
        return Err("expected COPY");
    }
    let mut names = vec![cur.identifier()?];
    while cur.eat(b'.') {
        names.push(cur.identifier()?);
    }
    if names.len() > 3 {
        return Err("too many name qualifiers");
    }
    let table = names.pop().ok_or("expected a table name")?;
    let schema = names.pop();

    let mut columns = Vec::new();
    if cur.eat(b'(') && !cur.eat(b')') {
        loop {
            columns.push(cur.identifier()?);
            if cur.eat(b',') {
                continue;
            }
            if cur.eat(b')') {
                break;
            }
            return Err("expected ',' or ')' in the column list");
        }
    }
    if !cur.keyword("FROM") {
        return Err("expected FROM (only COPY ... FROM stdin is supported)");
    }
    if !cur.keyword("stdin") {
        return Err("expected stdin (only COPY ... FROM stdin is supported)");
    }
    cur.skip_ws();
    let rest = String::from_utf8_lossy(&line[cur.pos..]);
    let options = rest.trim().trim_end_matches(';').trim().to_owned();
    Ok(CopyHeader {
        schema,
        table,
        columns,
        options,
    })
}

// ---------------------------------------------------------------------------
// Dates and timestamps
// ---------------------------------------------------------------------------

// chrono does the calendar and reads the numbers. Its parser is lenient (one-digit fields, a
// space before the offset, leap second 60, no seconds in an offset), so each value is first
// checked against the exact shape PostgreSQL writes with `DateStyle = ISO`: a value in any other
// shape is refused, never guessed at.

/// `d` stands for one ASCII digit, any other byte for itself.
const DATE_SHAPE: &str = "dddd-dd-dd";
/// The time of day after the date and its separator.
const TIME_SHAPE: &str = "dd:dd:dd";
const TIMESTAMP_FORMAT: &str = "expected a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]";
/// PostgreSQL accepts UTC offsets up to 15:59:59.
const MAX_OFFSET_SECONDS: i32 = 15 * 3_600 + 59 * 60 + 59;

fn has_shape(value: &[u8], shape: &str) -> bool {
    value.len() == shape.len()
        && value.iter().zip(shape.bytes()).all(|(&b, s)| match s {
            b'd' => b.is_ascii_digit(),
            _ => b == s,
        })
}

fn reject_unsupported(value: &str, what: &'static str) -> Result<(), ParseValueError> {
    if value.eq_ignore_ascii_case("infinity") || value.eq_ignore_ascii_case("-infinity") {
        return Err(ParseValueError::new(match what {
            "date" => "infinite dates are not supported",
            _ => "infinite timestamps are not supported",
        }));
    }
    if value.ends_with(" BC") {
        return Err(ParseValueError::new(match what {
            "date" => "BC dates are not supported",
            _ => "BC timestamps are not supported",
        }));
    }
    Ok(())
}

/// A `date` value, `YYYY-MM-DD` (year 1..=9999, a real day of the month).
pub fn parse_legacy_date(value: &str) -> Result<NaiveDate, ParseValueError> {
    reject_unsupported(value, "date")?;
    if !has_shape(value.as_bytes(), DATE_SHAPE) {
        return Err(ParseValueError::new("expected a date as YYYY-MM-DD"));
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        // Tell a bad month from a bad day: the month is fine if its first day exists.
        let first_of_month = format!("{}-01", &value[..7]);
        ParseValueError::new(
            match NaiveDate::parse_from_str(&first_of_month, "%Y-%m-%d") {
                Ok(_) => "day out of range for the month",
                Err(_) => "month out of range",
            },
        )
    })?;
    if date.year() == 0 {
        return Err(ParseValueError::new("year 0000 does not exist"));
    }
    Ok(date)
}

/// A `timestamptz` (or `timestamp`) value as pg_dump writes it with `DateStyle = ISO`:
/// `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]]`; a `T` separator and a `Z` suffix are accepted
/// too. The written offset is kept. A value without one (a `timestamp without time zone`
/// column, which is what SQLAlchemy's `DateTime` creates) is read as UTC, because the Flask
/// application stored `datetime.utcnow()`.
pub fn parse_legacy_timestamp(value: &str) -> Result<DateTime<FixedOffset>, ParseValueError> {
    const FORMAT: &str = TIMESTAMP_FORMAT;
    reject_unsupported(value, "timestamp")?;
    let b = value.as_bytes();
    let (Some(date), Some(&separator), Some(time)) = (b.get(..10), b.get(10), b.get(11..19)) else {
        return Err(ParseValueError::new(FORMAT));
    };
    if !has_shape(date, DATE_SHAPE)
        || !matches!(separator, b' ' | b'T')
        || !has_shape(time, TIME_SHAPE)
    {
        return Err(ParseValueError::new(FORMAT));
    }
    let after_seconds = &value[19..];
    let fraction_len = match after_seconds.strip_prefix('.') {
        Some(digits) => match digits.bytes().take_while(u8::is_ascii_digit).count() {
            0 | 7.. => {
                return Err(ParseValueError::new(
                    "fractional seconds must have 1 to 6 digits",
                ));
            }
            n => n + 1,
        },
        None => 0,
    };
    let (local, offset) = value.split_at(19 + fraction_len);
    let date = parse_legacy_date(&local[..10])?;
    let time = NaiveTime::parse_from_str(&local[11..], "%H:%M:%S%.f")
        .ok()
        .filter(|t| t.nanosecond() < 1_000_000_000) // no leap second 60
        .ok_or(ParseValueError::new("time of day out of range"))?;
    let offset = parse_offset(offset)?;
    date.and_time(time)
        .and_local_timezone(offset)
        .single()
        .ok_or(ParseValueError::new(FORMAT))
}

/// `""` (no offset: UTC), `Z`, `+HH`, `+HH:MM` or `+HH:MM:SS` (local mean time before time
/// zones, in dumps of old dates).
fn parse_offset(value: &str) -> Result<FixedOffset, ParseValueError> {
    const SHAPE: &str = "UTC offset must look like +HH, +HH:MM or +HH:MM:SS";
    let (sign, rest) = match value {
        "" | "Z" | "z" => return Ok(Utc.fix()),
        _ if value.starts_with('+') => (1, &value[1..]),
        _ if value.starts_with('-') => (-1, &value[1..]),
        _ => return Err(ParseValueError::new(TIMESTAMP_FORMAT)),
    };
    if !["dd", "dd:dd", "dd:dd:dd"]
        .iter()
        .any(|shape| has_shape(rest.as_bytes(), shape))
    {
        return Err(ParseValueError::new(SHAPE));
    }
    let mut seconds = 0;
    for (part, unit) in rest.split(':').zip([3_600, 60, 1]) {
        let n: i32 = part.parse().map_err(|_| ParseValueError::new(SHAPE))?;
        if unit != 3_600 && n > 59 {
            return Err(ParseValueError::new("UTC offset out of range"));
        }
        seconds += n * unit;
    }
    if seconds > MAX_OFFSET_SECONDS {
        return Err(ParseValueError::new("UTC offset out of range"));
    }
    FixedOffset::east_opt(sign * seconds).ok_or(ParseValueError::new("UTC offset out of range"))
}

/// Parses a `bit(1)` (`0`/`1`) or `boolean` (`t`/`f`, `true`/`false`) value.
pub fn parse_legacy_bool(value: &str) -> Result<bool, ParseValueError> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        v if v.eq_ignore_ascii_case("t") || v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("f") || v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ParseValueError::new(
            "expected a bit(1) or boolean value (0/1/t/f)",
        )),
    }
}

// ---------------------------------------------------------------------------
// Typed legacy records
// ---------------------------------------------------------------------------

/// One of the three legacy TechConf tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyTable {
    /// `conference`
    Conference,
    /// `attendee`
    Attendee,
    /// `notification`
    Notification,
}

impl LegacyTable {
    /// The table name in the legacy schema.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conference => "conference",
            Self::Attendee => "attendee",
            Self::Notification => "notification",
        }
    }

    /// The columns the typed layer reads, and whether a COPY block must have each (the others
    /// are NULL when absent).
    pub fn columns(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::Conference => &[
                ("id", true),
                ("name", true),
                ("active", true),
                ("date", true),
                ("price", true),
                ("address", true),
            ],
            Self::Attendee => &[
                ("id", true),
                ("first_name", true),
                ("last_name", true),
                ("conference_id", true),
                ("job_position", true),
                ("email", true),
                ("company", true),
                ("city", true),
                ("state", true),
                ("interests", false),
                ("submitted_date", true),
                ("comments", false),
            ],
            Self::Notification => &[
                ("id", true),
                ("status", true),
                ("message", true),
                ("submitted_date", false),
                ("completed_date", false),
                ("subject", true),
            ],
        }
    }

    /// The table with this (unqualified, case-folded) name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "conference" => Some(Self::Conference),
            "attendee" => Some(Self::Attendee),
            "notification" => Some(Self::Notification),
            _ => None,
        }
    }
}

/// A row of the legacy `conference` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyConference {
    /// Dump line of the row (for diagnostics).
    pub line_number: u64,
    /// `id integer`
    pub id: i32,
    /// `name varchar(100)`
    pub name: String,
    /// `active bit(1)` (or boolean)
    pub active: bool,
    /// `date date`
    pub date: NaiveDate,
    /// `price double precision`; always finite.
    pub price: f64,
    /// `address varchar(300)`
    pub address: String,
}

/// A row of the legacy `attendee` table. Values are returned as stored: the
/// e-mail address is not validated and `conference_id` may point at a
/// conference that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyAttendee {
    /// Dump line of the row (for diagnostics).
    pub line_number: u64,
    /// `id integer`
    pub id: i32,
    /// `first_name text`
    pub first_name: String,
    /// `last_name text`
    pub last_name: String,
    /// `conference_id integer`
    pub conference_id: i32,
    /// `job_position text`
    pub job_position: String,
    /// `email text` (unvalidated)
    pub email: String,
    /// `company text`
    pub company: String,
    /// `city text`
    pub city: String,
    /// `state text`
    pub state: String,
    /// `interests text NULL` (also `None` if the column is absent)
    pub interests: Option<String>,
    /// `submitted_date timestamptz`
    pub submitted_date: DateTime<FixedOffset>,
    /// `comments text NULL` (also `None` if the column is absent)
    pub comments: Option<String>,
}

/// A row of the legacy `notification` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyNotification {
    /// Dump line of the row (for diagnostics).
    pub line_number: u64,
    /// `id integer`
    pub id: i32,
    /// `status text` — free text written by the old worker; see
    /// [`LegacyNotification::status_kind`].
    pub status: String,
    /// `message text`
    pub message: String,
    /// `submitted_date timestamptz NULL`
    pub submitted_date: Option<DateTime<FixedOffset>>,
    /// `completed_date timestamptz NULL`
    pub completed_date: Option<DateTime<FixedOffset>>,
    /// `subject text` (may be empty)
    pub subject: String,
}

/// Interpretation of the free-text legacy notification status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyNotificationStatus {
    /// "Notifications submitted": queued for the worker (check
    /// `completed_date` to see whether it finished anyway).
    Submitted,
    /// "Notified N attendees": the worker finished sending.
    Notified {
        /// N
        attendees: u32,
    },
    /// Anything else.
    Other,
}

impl LegacyNotificationStatus {
    /// Classifies a legacy status text (case-insensitive, surrounding
    /// whitespace ignored): "Notifications submitted", "Notified 5 attendees"
    /// ("attendee" singular accepted), anything else is `Other`.
    pub fn classify(status: &str) -> Self {
        let status = status.trim();
        if status.eq_ignore_ascii_case("notifications submitted") {
            return Self::Submitted;
        }
        let words: Vec<&str> = status.split_whitespace().collect();
        if let [first, count, last] = words.as_slice()
            && first.eq_ignore_ascii_case("notified")
            && (last.eq_ignore_ascii_case("attendees") || last.eq_ignore_ascii_case("attendee"))
            && let Ok(attendees) = count.parse::<u32>()
        {
            return Self::Notified { attendees };
        }
        Self::Other
    }
}

impl LegacyNotification {
    /// [`LegacyNotificationStatus::classify`] applied to `status`.
    pub fn status_kind(&self) -> LegacyNotificationStatus {
        LegacyNotificationStatus::classify(&self.status)
    }
}

/// A typed row from one of the legacy tables.
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyRecord {
    /// A `conference` row.
    Conference(LegacyConference),
    /// An `attendee` row.
    Attendee(LegacyAttendee),
    /// A `notification` row.
    Notification(LegacyNotification),
}

/// A COPY block seen in the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// Schema qualifier, if any.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// Line of the COPY statement.
    pub line_number: u64,
    /// Number of data rows (final once the block has been read).
    pub rows: u64,
}

/// Where a legacy record's values come from, column by column: a row of a dump's COPY block
/// or of a live legacy database. Both give text, so both go through the same parsers and
/// [`read_record`].
pub(crate) trait ColumnValues {
    type Error;

    /// The value of `column`: `None` for NULL, or for an optional column the source lacks.
    fn take(&mut self, column: &'static str) -> Result<Option<String>, Self::Error>;

    fn unexpected_null(&self, column: &'static str) -> Self::Error;

    fn invalid(&self, column: &'static str, value: &str, reason: &'static str) -> Self::Error;

    fn text(&mut self, column: &'static str) -> Result<String, Self::Error> {
        self.take(column)?
            .ok_or_else(|| self.unexpected_null(column))
    }

    fn parsed<T>(
        &mut self,
        column: &'static str,
        parse: fn(&str) -> Result<T, &'static str>,
    ) -> Result<T, Self::Error> {
        let value = self.text(column)?;
        parse(&value).map_err(|reason| self.invalid(column, &value, reason))
    }

    fn optional_parsed<T>(
        &mut self,
        column: &'static str,
        parse: fn(&str) -> Result<T, &'static str>,
    ) -> Result<Option<T>, Self::Error> {
        match self.take(column)? {
            None => Ok(None),
            Some(value) => parse(&value)
                .map(Some)
                .map_err(|reason| self.invalid(column, &value, reason)),
        }
    }
}

/// One record of `table`, its values taken from `values`.
pub(crate) fn read_record<V: ColumnValues>(
    table: LegacyTable,
    line_number: u64,
    v: &mut V,
) -> Result<LegacyRecord, V::Error> {
    Ok(match table {
        LegacyTable::Conference => LegacyRecord::Conference(LegacyConference {
            line_number,
            id: v.parsed("id", parse_i32)?,
            name: v.text("name")?,
            active: v.parsed("active", parse_bool)?,
            date: v.parsed("date", parse_date)?,
            price: v.parsed("price", parse_price)?,
            address: v.text("address")?,
        }),
        LegacyTable::Attendee => LegacyRecord::Attendee(LegacyAttendee {
            line_number,
            id: v.parsed("id", parse_i32)?,
            first_name: v.text("first_name")?,
            last_name: v.text("last_name")?,
            conference_id: v.parsed("conference_id", parse_i32)?,
            job_position: v.text("job_position")?,
            email: v.text("email")?,
            company: v.text("company")?,
            city: v.text("city")?,
            state: v.text("state")?,
            interests: v.take("interests")?,
            submitted_date: v.parsed("submitted_date", parse_timestamp)?,
            comments: v.take("comments")?,
        }),
        LegacyTable::Notification => LegacyRecord::Notification(LegacyNotification {
            line_number,
            id: v.parsed("id", parse_i32)?,
            status: v.text("status")?,
            message: v.text("message")?,
            submitted_date: v.optional_parsed("submitted_date", parse_timestamp)?,
            completed_date: v.optional_parsed("completed_date", parse_timestamp)?,
            subject: v.text("subject")?,
        }),
    })
}

fn parse_i32(value: &str) -> Result<i32, &'static str> {
    value.parse().map_err(|_| "expected an integer (32-bit)")
}

fn parse_price(value: &str) -> Result<f64, &'static str> {
    let price: f64 = value.parse().map_err(|_| "expected a number")?;
    if price.is_finite() {
        Ok(price)
    } else {
        Err("the price must be a finite number")
    }
}

fn parse_bool(value: &str) -> Result<bool, &'static str> {
    parse_legacy_bool(value).map_err(|e| e.reason())
}

fn parse_date(value: &str) -> Result<NaiveDate, &'static str> {
    parse_legacy_date(value).map_err(|e| e.reason())
}

fn parse_timestamp(value: &str) -> Result<DateTime<FixedOffset>, &'static str> {
    parse_legacy_timestamp(value).map_err(|e| e.reason())
}

/// Maps the rows of the current COPY block to typed records: where each column the typed
/// layer reads stands in the block's column list.
struct TableParser {
    table: LegacyTable,
    positions: Vec<(&'static str, Option<usize>)>,
}

impl TableParser {
    fn resolve(table: LegacyTable, columns: &[String], line: u64) -> Result<Self, DumpError> {
        let mut positions = Vec::with_capacity(table.columns().len());
        for &(name, required) in table.columns() {
            let index = columns.iter().position(|c| c == name);
            if required && index.is_none() {
                return Err(DumpError::MissingColumn {
                    table: table.name().to_owned(),
                    line,
                    column: name.to_owned(),
                });
            }
            positions.push((name, index));
        }
        Ok(Self { table, positions })
    }

    fn parse(&self, line: u64, fields: Vec<Option<String>>) -> Result<LegacyRecord, DumpError> {
        read_record(
            self.table,
            line,
            &mut DumpRow {
                parser: self,
                line,
                fields,
            },
        )
    }
}

/// The fields of one dump row, taken column by column.
struct DumpRow<'a> {
    parser: &'a TableParser,
    line: u64,
    fields: Vec<Option<String>>,
}

impl ColumnValues for DumpRow<'_> {
    type Error = DumpError;

    fn take(&mut self, column: &'static str) -> Result<Option<String>, DumpError> {
        Ok(self
            .parser
            .positions
            .iter()
            .find(|(name, _)| *name == column)
            .and_then(|(_, index)| *index)
            .and_then(|i| self.fields.get_mut(i))
            .and_then(Option::take))
    }

    fn unexpected_null(&self, column: &'static str) -> DumpError {
        DumpError::UnexpectedNull {
            table: self.parser.table.name().to_owned(),
            line: self.line,
            column: column.to_owned(),
        }
    }

    fn invalid(&self, column: &'static str, value: &str, reason: &'static str) -> DumpError {
        DumpError::InvalidValue {
            table: self.parser.table.name().to_owned(),
            line: self.line,
            column: column.to_owned(),
            value: shorten(value),
            reason,
        }
    }
}

/// Streaming iterator of typed records from a legacy dump.
///
/// Yields the rows of `conference`, `attendee` and `notification` in dump
/// order (pg_dump: alphabetical, so attendees first). COPY blocks of other
/// tables are skipped and listed in [`LegacyRecords::ignored_tables`]. At the
/// end of the input it yields [`DumpError::NotTechConfDump`] if none of the
/// three tables had a COPY block (an empty block counts as present). After
/// an error the iterator is finished; treat any error as fatal for the whole
/// import (run the import in a transaction).
pub struct LegacyRecords<R> {
    reader: DumpReader<R>,
    current: Option<TableParser>,
    tables: Vec<TableSummary>,
    ignored: Vec<TableSummary>,
    finished: bool,
}

impl<R: BufRead> LegacyRecords<R> {
    /// Reads the legacy tables from `input`, in any schema (a table that
    /// appears in two schemas is a [`DumpError::DuplicateTable`] error).
    pub fn new(input: R) -> Self {
        Self {
            reader: DumpReader::new(input).with_tables(LEGACY_TABLES),
            current: None,
            tables: Vec::new(),
            ignored: Vec::new(),
            finished: false,
        }
    }

    /// Only read the legacy tables of this schema (e.g. `"public"`).
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.reader = self.reader.with_schema(schema);
        self
    }

    /// COPY blocks of legacy tables seen so far (with final row counts for
    /// completed blocks).
    pub fn tables(&self) -> &[TableSummary] {
        &self.tables
    }

    /// COPY blocks of other tables skipped so far.
    pub fn ignored_tables(&self) -> &[TableSummary] {
        &self.ignored
    }

    /// Number of dump lines read so far.
    pub fn line_number(&self) -> u64 {
        self.reader.line_number()
    }

    fn advance(&mut self) -> Result<Option<LegacyRecord>, DumpError> {
        loop {
            let Some(event) = self.reader.next_event()? else {
                if self.tables.is_empty() {
                    return Err(DumpError::NotTechConfDump);
                }
                return Ok(None);
            };
            match event {
                DumpEvent::CopyStart {
                    schema,
                    table,
                    columns,
                    line_number,
                } => {
                    let Some(kind) = LegacyTable::from_name(&table) else {
                        continue;
                    };
                    if let Some(first) = self.tables.iter().find(|t| *t.table == *table) {
                        return Err(DumpError::DuplicateTable {
                            table: table.to_string(),
                            line: line_number,
                            first_line: first.line_number,
                        });
                    }
                    self.current = Some(TableParser::resolve(kind, &columns, line_number)?);
                    self.tables.push(TableSummary {
                        schema,
                        table: table.to_string(),
                        line_number,
                        rows: 0,
                    });
                }
                DumpEvent::Row {
                    line_number,
                    fields,
                    ..
                } => {
                    if let Some(parser) = &self.current {
                        return parser.parse(line_number, fields).map(Some);
                    }
                }
                DumpEvent::CopyEnd { rows, .. } => {
                    self.current = None;
                    if let Some(last) = self.tables.last_mut() {
                        last.rows = rows;
                    }
                }
                DumpEvent::Skipped {
                    schema,
                    table,
                    line_number,
                    rows,
                } => self.ignored.push(TableSummary {
                    schema,
                    table,
                    line_number,
                    rows,
                }),
            }
        }
    }
}

impl<R: BufRead> Iterator for LegacyRecords<R> {
    type Item = Result<LegacyRecord, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let result = self.advance();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result.transpose()
    }
}

/// All legacy records of a dump, collected in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyDump {
    /// `conference` rows in dump order.
    pub conferences: Vec<LegacyConference>,
    /// `attendee` rows in dump order.
    pub attendees: Vec<LegacyAttendee>,
    /// `notification` rows in dump order.
    pub notifications: Vec<LegacyNotification>,
    /// COPY blocks of the legacy tables found (a missing table means the
    /// dump had no COPY block for it).
    pub tables: Vec<TableSummary>,
    /// COPY blocks of other tables that were ignored.
    pub ignored_tables: Vec<TableSummary>,
}

impl LegacyDump {
    /// Drains `records` into vectors.
    pub fn from_records<R: BufRead>(mut records: LegacyRecords<R>) -> Result<Self, DumpError> {
        let mut dump = Self::default();
        for record in &mut records {
            dump.push(record?);
        }
        dump.tables = records.tables;
        dump.ignored_tables = records.ignored;
        Ok(dump)
    }

    pub(crate) fn push(&mut self, record: LegacyRecord) {
        match record {
            LegacyRecord::Conference(c) => self.conferences.push(c),
            LegacyRecord::Attendee(a) => self.attendees.push(a),
            LegacyRecord::Notification(n) => self.notifications.push(n),
        }
    }

    /// Whether the dump had a COPY block (possibly empty) for `table`.
    pub fn has_table(&self, table: LegacyTable) -> bool {
        self.tables.iter().any(|t| t.table == table.name())
    }
}

/// Reads all legacy records of a dump (any schema) into memory.
/// Equivalent to `LegacyDump::from_records(LegacyRecords::new(input))`.
pub fn read_legacy_dump<R: BufRead>(input: R) -> Result<LegacyDump, DumpError> {
    LegacyDump::from_records(LegacyRecords::new(input))
}

#[cfg(test)]
mod tests;
