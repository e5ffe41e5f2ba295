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

use std::fmt;
use std::io::{self, BufRead, Write};
use std::str::FromStr;
use std::sync::Arc;

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

/// Error returned by the [`FromStr`] implementations of [`LegacyDate`] and
/// [`LegacyTimestamp`] and by [`parse_legacy_bool`].
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

/// A calendar date (`date` column), validated (`YYYY-MM-DD`, real day of
/// month, year 1..=9999). `Display` gives `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegacyDate {
    /// Year, 1..=9999.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=28/29/30/31.
    pub day: u8,
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')),
    )
}

impl LegacyDate {
    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }
}

impl FromStr for LegacyDate {
    type Err = ParseValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("-infinity") {
            return Err(ParseValueError::new("infinite dates are not supported"));
        }
        if s.ends_with(" BC") {
            return Err(ParseValueError::new("BC dates are not supported"));
        }
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(ParseValueError::new("expected a date as YYYY-MM-DD"));
        }
        let (Some(year), Some(month), Some(day)) =
            (digits(&b[..4]), digits(&b[5..7]), digits(&b[8..10]))
        else {
            return Err(ParseValueError::new("expected a date as YYYY-MM-DD"));
        };
        if year == 0 {
            return Err(ParseValueError::new("year 0000 does not exist"));
        }
        let (year, month, day) = (year as i32, month as u8, day as u8);
        if !(1..=12).contains(&month) {
            return Err(ParseValueError::new("month out of range"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(ParseValueError::new("day out of range for the month"));
        }
        Ok(Self { year, month, day })
    }
}

impl fmt::Display for LegacyDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A point in time from a `timestamptz` (or `timestamp`) column, as written
/// by pg_dump with `DateStyle = ISO`:
/// `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]]` (a `T` separator and a `Z`
/// suffix are accepted too).
///
/// Convert with [`LegacyTimestamp::to_rfc3339`] (e.g. for
/// `chrono::DateTime::parse_from_rfc3339`) or
/// [`LegacyTimestamp::unix_micros`] (e.g. for
/// `chrono::DateTime::from_timestamp_micros`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegacyTimestamp {
    /// Local date (in the written offset).
    pub date: LegacyDate,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=59
    pub second: u8,
    /// 0..=999_999
    pub microsecond: u32,
    /// UTC offset in seconds as written (`+05:30` → 19_800). `None` when the
    /// value has no offset (a `timestamp without time zone` column, which is
    /// what SQLAlchemy's `DateTime` creates); such values are interpreted as
    /// UTC by the conversion methods, because the Flask application stored
    /// `datetime.utcnow()`.
    pub offset_seconds: Option<i32>,
}

impl LegacyTimestamp {
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub fn unix_micros(&self) -> i64 {
        let seconds = self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_seconds.unwrap_or(0));
        seconds * 1_000_000 + i64::from(self.microsecond)
    }

    /// The UTC timestamp for `micros` microseconds since the Unix epoch
    /// (`offset_seconds = Some(0)`).
    pub fn from_unix_micros(micros: i64) -> Self {
        let seconds = micros.div_euclid(1_000_000);
        let microsecond = micros.rem_euclid(1_000_000) as u32;
        let days = seconds.div_euclid(86_400);
        let secs_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Self {
            date: LegacyDate { year, month, day },
            hour: (secs_of_day / 3_600) as u8,
            minute: (secs_of_day / 60 % 60) as u8,
            second: (secs_of_day % 60) as u8,
            microsecond,
            offset_seconds: Some(0),
        }
    }

    /// RFC 3339 form, keeping the written offset:
    /// `2019-03-14 09:26:53.123456+05:30` → `2019-03-14T09:26:53.123456+05:30`.
    /// The fraction is omitted when zero and has no trailing zeros otherwise.
    /// A missing offset is rendered as `+00:00`; an offset with a seconds
    /// part (historical local mean time, not representable in RFC 3339) is
    /// converted to UTC.
    pub fn to_rfc3339(&self) -> String {
        let offset = self.offset_seconds.unwrap_or(0);
        if offset % 60 != 0 {
            return Self::from_unix_micros(self.unix_micros()).to_rfc3339();
        }
        let mut out = format!(
            "{}T{:02}:{:02}:{:02}",
            self.date, self.hour, self.minute, self.second
        );
        if self.microsecond != 0 {
            let fraction = format!("{:06}", self.microsecond);
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", abs / 3_600, abs / 60 % 60));
        out
    }
}

impl FromStr for LegacyTimestamp {
    type Err = ParseValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FORMAT: &str = "expected a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]";
        if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("-infinity") {
            return Err(ParseValueError::new(
                "infinite timestamps are not supported",
            ));
        }
        if s.ends_with(" BC") {
            return Err(ParseValueError::new("BC timestamps are not supported"));
        }
        let b = s.as_bytes();
        if b.len() < 19 || !matches!(b[10], b' ' | b'T') || b[13] != b':' || b[16] != b':' {
            return Err(ParseValueError::new(FORMAT));
        }
        let date = LegacyDate::from_str(s.get(..10).ok_or(ParseValueError::new(FORMAT))?)?;
        let (Some(hour), Some(minute), Some(second)) =
            (digits(&b[11..13]), digits(&b[14..16]), digits(&b[17..19]))
        else {
            return Err(ParseValueError::new(FORMAT));
        };
        if hour > 23 || minute > 59 || second > 59 {
            return Err(ParseValueError::new("time of day out of range"));
        }
        let mut rest = &b[19..];
        let mut microsecond = 0;
        if let Some(after_dot) = rest.strip_prefix(b".") {
            let len = after_dot.iter().take_while(|d| d.is_ascii_digit()).count();
            if !(1..=6).contains(&len) {
                return Err(ParseValueError::new(
                    "fractional seconds must have 1 to 6 digits",
                ));
            }
            let value = digits(&after_dot[..len]).ok_or(ParseValueError::new(FORMAT))?;
            microsecond = value * 10u32.pow(6 - len as u32);
            rest = &after_dot[len..];
        }
        let offset_seconds = match rest {
            [] => None,
            [b'Z' | b'z'] => Some(0),
            [sign @ (b'+' | b'-'), tail @ ..] => {
                let parts: Vec<&[u8]> = tail.split(|c| *c == b':').collect();
                if parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
                    return Err(ParseValueError::new(
                        "UTC offset must look like +HH, +HH:MM or +HH:MM:SS",
                    ));
                }
                let mut total = 0i32;
                for (part, unit) in parts.iter().zip([3_600, 60, 1]) {
                    let value = digits(part).ok_or(ParseValueError::new(FORMAT))?;
                    if unit != 3_600 && value > 59 {
                        return Err(ParseValueError::new("UTC offset out of range"));
                    }
                    total += value as i32 * unit;
                }
                if total > 15 * 3_600 + 59 * 60 + 59 {
                    return Err(ParseValueError::new("UTC offset out of range"));
                }
                Some(if *sign == b'-' { -total } else { total })
            }
            _ => return Err(ParseValueError::new(FORMAT)),
        };
        Ok(Self {
            date,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            microsecond,
            offset_seconds,
        })
    }
}

impl fmt::Display for LegacyTimestamp {
    /// Same as [`LegacyTimestamp::to_rfc3339`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
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
    pub date: LegacyDate,
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
    pub submitted_date: LegacyTimestamp,
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
    pub submitted_date: Option<LegacyTimestamp>,
    /// `completed_date timestamptz NULL`
    pub completed_date: Option<LegacyTimestamp>,
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

/// A column of a legacy table, resolved against a COPY column list.
struct Col {
    name: &'static str,
    index: Option<usize>,
}

struct ColumnResolver<'a> {
    table: LegacyTable,
    columns: &'a [String],
    line: u64,
}

impl ColumnResolver<'_> {
    fn optional(&self, name: &'static str) -> Col {
        Col {
            name,
            index: self.columns.iter().position(|c| c == name),
        }
    }

    fn required(&self, name: &'static str) -> Result<Col, DumpError> {
        let col = self.optional(name);
        if col.index.is_none() {
            return Err(DumpError::MissingColumn {
                table: self.table.name().to_owned(),
                line: self.line,
                column: name.to_owned(),
            });
        }
        Ok(col)
    }
}

/// The fields of one row, consumed column by column.
struct RowFields {
    table: LegacyTable,
    line: u64,
    fields: Vec<Option<String>>,
}

impl RowFields {
    fn optional(&mut self, col: &Col) -> Option<String> {
        col.index
            .and_then(|i| self.fields.get_mut(i))
            .and_then(Option::take)
    }

    fn text(&mut self, col: &Col) -> Result<String, DumpError> {
        self.optional(col).ok_or_else(|| DumpError::UnexpectedNull {
            table: self.table.name().to_owned(),
            line: self.line,
            column: col.name.to_owned(),
        })
    }

    fn invalid(&self, col: &Col, value: &str, reason: &'static str) -> DumpError {
        DumpError::InvalidValue {
            table: self.table.name().to_owned(),
            line: self.line,
            column: col.name.to_owned(),
            value: shorten(value),
            reason,
        }
    }

    fn parsed<T>(
        &mut self,
        col: &Col,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Result<T, DumpError> {
        let value = self.text(col)?;
        parse(&value).map_err(|reason| self.invalid(col, &value, reason))
    }

    fn optional_parsed<T>(
        &mut self,
        col: &Col,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Result<Option<T>, DumpError> {
        match self.optional(col) {
            None => Ok(None),
            Some(value) => parse(&value)
                .map(Some)
                .map_err(|reason| self.invalid(col, &value, reason)),
        }
    }
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

fn parse_date(value: &str) -> Result<LegacyDate, &'static str> {
    value.parse::<LegacyDate>().map_err(|e| e.reason())
}

fn parse_timestamp(value: &str) -> Result<LegacyTimestamp, &'static str> {
    value.parse::<LegacyTimestamp>().map_err(|e| e.reason())
}

struct ConferenceCols {
    id: Col,
    name: Col,
    active: Col,
    date: Col,
    price: Col,
    address: Col,
}

struct AttendeeCols {
    id: Col,
    first_name: Col,
    last_name: Col,
    conference_id: Col,
    job_position: Col,
    email: Col,
    company: Col,
    city: Col,
    state: Col,
    interests: Col,
    submitted_date: Col,
    comments: Col,
}

struct NotificationCols {
    id: Col,
    status: Col,
    message: Col,
    submitted_date: Col,
    completed_date: Col,
    subject: Col,
}

/// Maps rows of the current COPY block to typed records.
enum TableParser {
    Conference(ConferenceCols),
    Attendee(Box<AttendeeCols>),
    Notification(NotificationCols),
}

impl TableParser {
    fn resolve(table: LegacyTable, columns: &[String], line: u64) -> Result<Self, DumpError> {
        let r = ColumnResolver {
            table,
            columns,
            line,
        };
        Ok(match table {
            LegacyTable::Conference => Self::Conference(ConferenceCols {
                id: r.required("id")?,
                name: r.required("name")?,
                active: r.required("active")?,
                date: r.required("date")?,
                price: r.required("price")?,
                address: r.required("address")?,
            }),
            LegacyTable::Attendee => Self::Attendee(Box::new(AttendeeCols {
                id: r.required("id")?,
                first_name: r.required("first_name")?,
                last_name: r.required("last_name")?,
                conference_id: r.required("conference_id")?,
                job_position: r.required("job_position")?,
                email: r.required("email")?,
                company: r.required("company")?,
                city: r.required("city")?,
                state: r.required("state")?,
                interests: r.optional("interests"),
                submitted_date: r.required("submitted_date")?,
                comments: r.optional("comments"),
            })),
            LegacyTable::Notification => Self::Notification(NotificationCols {
                id: r.required("id")?,
                status: r.required("status")?,
                message: r.required("message")?,
                submitted_date: r.optional("submitted_date"),
                completed_date: r.optional("completed_date"),
                subject: r.required("subject")?,
            }),
        })
    }

    fn parse(&self, line: u64, fields: Vec<Option<String>>) -> Result<LegacyRecord, DumpError> {
        match self {
            Self::Conference(c) => {
                let mut row = RowFields {
                    table: LegacyTable::Conference,
                    line,
                    fields,
                };
                Ok(LegacyRecord::Conference(LegacyConference {
                    line_number: line,
                    id: row.parsed(&c.id, parse_i32)?,
                    name: row.text(&c.name)?,
                    active: row.parsed(&c.active, parse_bool)?,
                    date: row.parsed(&c.date, parse_date)?,
                    price: row.parsed(&c.price, parse_price)?,
                    address: row.text(&c.address)?,
                }))
            }
            Self::Attendee(c) => {
                let mut row = RowFields {
                    table: LegacyTable::Attendee,
                    line,
                    fields,
                };
                Ok(LegacyRecord::Attendee(LegacyAttendee {
                    line_number: line,
                    id: row.parsed(&c.id, parse_i32)?,
                    first_name: row.text(&c.first_name)?,
                    last_name: row.text(&c.last_name)?,
                    conference_id: row.parsed(&c.conference_id, parse_i32)?,
                    job_position: row.text(&c.job_position)?,
                    email: row.text(&c.email)?,
                    company: row.text(&c.company)?,
                    city: row.text(&c.city)?,
                    state: row.text(&c.state)?,
                    interests: row.optional(&c.interests),
                    submitted_date: row.parsed(&c.submitted_date, parse_timestamp)?,
                    comments: row.optional(&c.comments),
                }))
            }
            Self::Notification(c) => {
                let mut row = RowFields {
                    table: LegacyTable::Notification,
                    line,
                    fields,
                };
                Ok(LegacyRecord::Notification(LegacyNotification {
                    line_number: line,
                    id: row.parsed(&c.id, parse_i32)?,
                    status: row.text(&c.status)?,
                    message: row.text(&c.message)?,
                    submitted_date: row.optional_parsed(&c.submitted_date, parse_timestamp)?,
                    completed_date: row.optional_parsed(&c.completed_date, parse_timestamp)?,
                    subject: row.text(&c.subject)?,
                }))
            }
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
            match record? {
                LegacyRecord::Conference(c) => dump.conferences.push(c),
                LegacyRecord::Attendee(a) => dump.attendees.push(a),
                LegacyRecord::Notification(n) => dump.notifications.push(n),
            }
        }
        dump.tables = records.tables;
        dump.ignored_tables = records.ignored;
        Ok(dump)
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

// ---------------------------------------------------------------------------
// Synthetic dumps (benchmarks, tests)
// ---------------------------------------------------------------------------

/// Writes `value` in COPY text format (`None` → `\N`).
fn write_copy_field<W: Write>(w: &mut W, value: Option<&str>) -> io::Result<()> {
    let Some(value) = value else {
        return w.write_all(b"\\N");
    };
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        w.write_all(&bytes[start..i])?;
        w.write_all(escape)?;
        start = i + 1;
    }
    w.write_all(&bytes[start..])
}

fn write_copy_row<W: Write>(w: &mut W, fields: &[Option<&str>]) -> io::Result<()> {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            w.write_all(b"\t")?;
        }
        write_copy_field(w, *field)?;
    }
    w.write_all(b"\n")
}

const SYNTHETIC_HEADER: &str = "--
-- PostgreSQL database dump
--

-- Dumped from database version 15.8
-- Dumped by pg_dump version 15.8

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.attendee (
    id integer NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    conference_id integer NOT NULL,
    job_position text NOT NULL,
    email text NOT NULL,
    company text NOT NULL,
    city text NOT NULL,
    state text NOT NULL,
    interests text,
    submitted_date timestamp with time zone NOT NULL,
    comments text
);

ALTER TABLE public.attendee ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.attendee_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.conference (
    id integer NOT NULL,
    name character varying(100) NOT NULL,
    active bit(1) NOT NULL,
    date date NOT NULL,
    price double precision NOT NULL,
    address character varying(300) NOT NULL
);

ALTER TABLE public.conference ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.conference_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.notification (
    id integer NOT NULL,
    status text NOT NULL,
    message text NOT NULL,
    submitted_date timestamp with time zone,
    completed_date timestamp with time zone,
    subject text NOT NULL
);

ALTER TABLE public.notification ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.notification_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

";

const FIRST_NAMES: [&str; 8] = [
    "Alice", "Bob", "Chloé", "Dmitri", "Émile", "Fatima", "Guo", "Hannah",
];
const LAST_NAMES: [&str; 8] = [
    "Johnson",
    "Smith",
    "O'Brien",
    "Müller",
    "Nakamura",
    "Okafor",
    "Silva",
    "Van der Berg",
];
const CITIES: [(&str, &str); 4] = [
    ("Seattle", "WA"),
    ("Austin", "TX"),
    ("Boston", "MA"),
    ("Denver", "CO"),
];

/// Writes a synthetic plain-format pg_dump of the legacy TechConf schema with
/// `conferences` conferences, `attendees_per_conference` attendees each and
/// one notification per conference; used for benchmarks and tests.
///
/// The output is deterministic and parses without errors with
/// [`read_legacy_dump`]; some values contain tabs, newlines, backslashes,
/// non-ASCII text and NULLs. The writer is buffered internally.
pub fn write_synthetic_dump<W: Write>(
    w: W,
    conferences: u32,
    attendees_per_conference: u32,
) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(64 * 1024, w);
    w.write_all(SYNTHETIC_HEADER.as_bytes())?;

    // 2019-01-01T00:00:00Z
    let base = days_from_civil(2019, 1, 1) * 86_400 * 1_000_000;
    let total = u64::from(conferences) * u64::from(attendees_per_conference);

    w.write_all(b"COPY public.attendee (id, first_name, last_name, conference_id, job_position, email, company, city, state, interests, submitted_date, comments) FROM stdin;\n")?;
    for n in 0..total {
        let id = (n + 1).to_string();
        let conference_id = (n / u64::from(attendees_per_conference.max(1)) + 1).to_string();
        let first = FIRST_NAMES[(n % 8) as usize];
        let last = LAST_NAMES[(n / 8 % 8) as usize];
        let (city, state) = CITIES[(n % 4) as usize];
        let email = format!("attendee{}@example.com", n + 1);
        let company = format!("Company {}", n % 97);
        let interests = (n % 5 != 0).then_some("Rust, cloud\tnative, \"serverless\"");
        let comments = match n % 7 {
            0 => None,
            1 => Some("Line one\nLine two\\three"),
            _ => Some("Looking forward to it — à bientôt!"),
        };
        let offset = if n % 3 == 0 { "+05:30" } else { "+00" };
        let micros = (n % 1_000_000) as i64 * 61_123_457;
        let ts = LegacyTimestamp::from_unix_micros(base + micros);
        let submitted = format!(
            "{} {:02}:{:02}:{:02}.{:06}{offset}",
            ts.date, ts.hour, ts.minute, ts.second, ts.microsecond
        );
        write_copy_row(
            &mut w,
            &[
                Some(&id),
                Some(first),
                Some(last),
                Some(&conference_id),
                Some("Software Engineer"),
                Some(&email),
                Some(&company),
                Some(city),
                Some(state),
                interests,
                Some(&submitted),
                comments,
            ],
        )?;
    }
    w.write_all(b"\\.\n\n\n")?;

    w.write_all(b"COPY public.conference (id, name, active, date, price, address) FROM stdin;\n")?;
    for c in 0..conferences {
        let id = (c + 1).to_string();
        let name = format!("TechConf {}", 2000 + c % 100);
        let date =
            LegacyTimestamp::from_unix_micros(base + i64::from(c % 3_650) * 86_400 * 1_000_000)
                .date
                .to_string();
        let price = format!("{}.99", 100 + c % 400);
        let active = if c % 2 == 0 { "1" } else { "0" };
        write_copy_row(
            &mut w,
            &[
                Some(&id),
                Some(&name),
                Some(active),
                Some(&date),
                Some(&price),
                Some("1 Convention Plaza, Seattle, WA"),
            ],
        )?;
    }
    w.write_all(b"\\.\n\n\n")?;

    w.write_all(b"COPY public.notification (id, status, message, submitted_date, completed_date, subject) FROM stdin;\n")?;
    for c in 0..conferences {
        let id = (c + 1).to_string();
        let status = format!("Notified {attendees_per_conference} attendees");
        write_copy_row(
            &mut w,
            &[
                Some(&id),
                Some(&status),
                Some("Dear attendee,\n\nSee you soon!"),
                Some("2019-03-01 10:00:00+00"),
                Some("2019-03-01 10:05:00.5+00"),
                Some("Reminder"),
            ],
        )?;
    }
    w.write_all(b"\\.\n\n\n")?;

    // The sequences behind the identity columns, as pg_dump writes them (so that psql can
    // load the dump too).
    for (sequence, last) in [
        ("attendee", total),
        ("conference", u64::from(conferences)),
        ("notification", u64::from(conferences)),
    ] {
        writeln!(
            w,
            "SELECT pg_catalog.setval('public.{sequence}_id_seq', {}, {});\n",
            last.max(1),
            last > 0
        )?;
    }
    w.write_all(
        b"ALTER TABLE ONLY public.attendee\n    ADD CONSTRAINT attendee_pkey PRIMARY KEY (id);\n\n\
          --\n-- PostgreSQL database dump complete\n--\n\n",
    )?;
    w.flush()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Read;

    fn events(input: &str) -> Result<Vec<DumpEvent>, DumpError> {
        DumpReader::new(input.as_bytes()).collect()
    }

    fn rows_of(input: &[u8]) -> Vec<Vec<Option<String>>> {
        DumpReader::new(input)
            .map(|e| e.unwrap())
            .filter_map(|e| match e {
                DumpEvent::Row { fields, .. } => Some(fields),
                _ => None,
            })
            .collect()
    }

    fn rows(input: &str) -> Vec<Vec<Option<String>>> {
        rows_of(input.as_bytes())
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/legacy/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    const ATTENDEE_COLS: &str = "id, first_name, last_name, conference_id, job_position, email, \
                                 company, city, state, interests, submitted_date, comments";

    const GOOD_ATTENDEE: &str = "1\tAda\tLovelace\t1\tEngineer\tada@example.com\tACME\tLondon\tLDN\t\\N\t2019-03-14 09:26:53.123456+00\t\\N";

    fn attendee_dump(rows: &[&str]) -> String {
        let mut out = format!("COPY public.attendee ({ATTENDEE_COLS}) FROM stdin;\n");
        for row in rows {
            out.push_str(row);
            out.push('\n');
        }
        out.push_str("\\.\n");
        out
    }

    fn ts(s: &str) -> LegacyTimestamp {
        s.parse().unwrap()
    }

    // --- COPY text format -------------------------------------------------

    #[test]
    fn decodes_every_escape() {
        let input = "COPY t (a) FROM stdin;\n\
                     x\\by\\fz\\nw\\rv\\tu\\vt\\\\s\n\
                     \\101\\7\\60\\1012\\303\\251\n\
                     \\x41\\x9\\x4a4\\xzz\\xC3\\xA9\n\
                     \\q\\.\\N\\'\\\"\n\
                     \\\\N\n\
                     \\.\n";
        assert_eq!(
            rows(input),
            vec![
                vec![s("x\u{8}y\u{c}z\nw\rv\tu\u{b}t\\s")],
                vec![s("A\u{7}0A2é")],
                vec![s("A\tJ4xzzé")],
                vec![s("q.N'\"")],
                vec![s("\\N")],
            ]
        );
    }

    #[test]
    fn octal_escape_above_377_keeps_low_byte() {
        // \501 = 0o501 = 0x141 -> low byte 0x41 'A', like PostgreSQL.
        assert_eq!(
            rows("COPY t (a) FROM stdin;\n\\501\n\\.\n"),
            vec![vec![s("A")]]
        );
    }

    #[test]
    fn null_empty_and_escaped_tab_fields() {
        let input = "COPY t (a, b, c, d) FROM stdin;\n\\N\t\ta\\\tb\t\\N\n\\.\n";
        assert_eq!(rows(input), vec![vec![None, s(""), s("a\tb"), None]]);
    }

    #[test]
    fn raw_utf8_passes_through() {
        assert_eq!(
            rows("COPY t (a, b) FROM stdin;\n東京大学\tZoë\n\\.\n"),
            vec![vec![s("東京大学"), s("Zoë")]]
        );
    }

    #[test]
    fn invalid_utf8_from_escapes_is_an_error() {
        let err = events("COPY public.t (a, name) FROM stdin;\nok\tcaf\\351\n\\.\n").unwrap_err();
        assert!(
            matches!(&err, DumpError::InvalidUtf8 { table, line: 2, column } if table == "t" && column == "name"),
            "{err:?}"
        );
        assert!(err.to_string().contains("line 2"));
        // Invalid raw bytes as well.
        let mut raw = b"COPY t (a) FROM stdin;\n".to_vec();
        raw.extend_from_slice(b"\xff\n\\.\n");
        let err = DumpReader::new(raw.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(
            matches!(err, DumpError::InvalidUtf8 { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn crlf_line_endings() {
        let input = "SET client_encoding = 'UTF8';\r\n\r\nCOPY public.t (a, b) FROM stdin;\r\n1\tx\\r\r\n2\t\\N\r\n\\.\r\nSELECT 1;\r\n";
        let events = events(input).unwrap();
        assert_eq!(
            events,
            vec![
                DumpEvent::CopyStart {
                    schema: s("public"),
                    table: Arc::from("t"),
                    columns: vec!["a".into(), "b".into()],
                    line_number: 3,
                },
                DumpEvent::Row {
                    table: Arc::from("t"),
                    line_number: 4,
                    fields: vec![s("1"), s("x\r")],
                },
                DumpEvent::Row {
                    table: Arc::from("t"),
                    line_number: 5,
                    fields: vec![s("2"), None],
                },
                DumpEvent::CopyEnd {
                    table: Arc::from("t"),
                    line_number: 6,
                    rows: 2,
                },
            ]
        );
    }

    #[test]
    fn backslash_newline_continues_the_row() {
        let input = "COPY t (a, b) FROM stdin;\nfirst\\\nsecond\tx\n3\\\\\ty\n\\.\n";
        let events = events(input).unwrap();
        assert!(matches!(
            &events[1],
            DumpEvent::Row { line_number: 2, fields, .. } if *fields == vec![s("first\nsecond"), s("x")]
        ));
        assert!(matches!(
            &events[2],
            DumpEvent::Row { line_number: 4, fields, .. } if *fields == vec![s("3\\"), s("y")]
        ));
        assert!(matches!(
            &events[3],
            DumpEvent::CopyEnd {
                line_number: 5,
                rows: 2,
                ..
            }
        ));
    }

    #[test]
    fn empty_copy_block_and_terminator_without_newline() {
        let events = events(
            "COPY public.notification (id) FROM stdin;\n\\.\nCOPY public.t (a) FROM stdin;\n1\n\\.",
        )
        .unwrap();
        assert_eq!(events.len(), 5);
        assert!(matches!(
            &events[1],
            DumpEvent::CopyEnd {
                rows: 0,
                line_number: 2,
                ..
            }
        ));
        assert!(matches!(
            &events[4],
            DumpEvent::CopyEnd {
                rows: 1,
                line_number: 5,
                ..
            }
        ));
        // CRLF file whose last line is `\.` without a newline.
        assert_eq!(
            rows("COPY t (a) FROM stdin;\r\nx\r\n\\.\r"),
            vec![vec![s("x")]]
        );
    }

    #[test]
    fn last_sql_line_without_newline() {
        let events =
            events("COPY t (a) FROM stdin;\nx\n\\.\n\nSELECT pg_catalog.setval('s', 1, true);")
                .unwrap();
        assert_eq!(events.len(), 3);
    }

    // --- Truncation and structural errors ----------------------------------

    #[test]
    fn truncated_inside_a_row() {
        let input = format!("SET x = 1;\n{}", attendee_dump(&[GOOD_ATTENDEE]));
        let cut = input.find("\\.").unwrap() - 10;
        let err = events(&input[..cut]).unwrap_err();
        assert!(
            matches!(&err, DumpError::UnterminatedCopy { table, start_line: 2, line: 3 } if table == "attendee"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("truncated dump"), "{err}");
    }

    #[test]
    fn truncated_after_complete_rows() {
        // Complete rows, with and without final newline, but no `\.`.
        for input in [
            "COPY t (a) FROM stdin;\n1\n2\n",
            "COPY t (a) FROM stdin;\n1\n2",
        ] {
            let mut reader = DumpReader::new(input.as_bytes());
            let mut rows = 0;
            let err = loop {
                match reader.next_event() {
                    Ok(Some(DumpEvent::Row { .. })) => rows += 1,
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("expected an error"),
                    Err(e) => break e,
                }
            };
            assert!(
                matches!(err, DumpError::UnterminatedCopy { line: 3, .. }),
                "{err:?}"
            );
            assert!(rows >= 1);
            // The reader is finished after an error.
            assert!(reader.next_event().unwrap().is_none());
        }
    }

    #[test]
    fn truncated_inside_an_ignored_table() {
        let err = events("COPY public.flask_sessions (id) FROM stdin;\n1\n")
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, DumpError::UnterminatedCopy { .. }));
        let err = DumpReader::new(&b"COPY public.flask_sessions (id) FROM stdin;\n1\n"[..])
            .with_tables(["attendee"])
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(matches!(err, DumpError::UnterminatedCopy { .. }), "{err:?}");
    }

    #[test]
    fn field_count_mismatch() {
        let err = events("COPY public.conference (id, name, active) FROM stdin;\n1\tTechConf\t1\n2\tTechConf\n\\.\n")
            .unwrap_err();
        assert!(
            matches!(&err, DumpError::FieldCountMismatch { table, line: 3, expected: 3, found: 2 } if table == "conference"),
            "{err:?}"
        );
        assert!(err.to_string().contains("line 3"));
        let err = events("COPY t (a) FROM stdin;\nx\ty\n\\.\n").unwrap_err();
        assert!(matches!(
            err,
            DumpError::FieldCountMismatch {
                expected: 1,
                found: 2,
                ..
            }
        ));
    }

    #[test]
    fn invalid_copy_statements() {
        let err = events("COPY public.t (a, b FROM stdin;\n").unwrap_err();
        assert!(
            matches!(err, DumpError::InvalidCopyStatement { line: 1, .. }),
            "{err:?}"
        );
        let err = events("COPY t (a, a) FROM stdin;\n\\.\n").unwrap_err();
        assert!(matches!(
            err,
            DumpError::InvalidCopyStatement {
                reason: "duplicate column name",
                ..
            }
        ));
        let err = events("COPY t (a) FROM stdin WITH (FORMAT csv);\n1\n\\.\n").unwrap_err();
        assert!(
            matches!(err, DumpError::UnsupportedCopyFormat { line: 1, .. }),
            "{err:?}"
        );
        // Unsupported format in a table nobody asked for is just skipped.
        let events = DumpReader::new(&b"COPY t (a) FROM stdin WITH (FORMAT csv);\n1\n\\.\n"[..])
            .with_tables(["attendee"])
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert!(matches!(&events[..], [DumpEvent::Skipped { rows: 1, .. }]));
    }

    #[test]
    fn pg_dump_archives_are_rejected_with_a_hint() {
        let err = events("PGDMP\u{1}\u{e}\u{0}").unwrap_err();
        assert!(err.to_string().contains("pg_restore"), "{err}");
        let err = DumpReader::new(&[0x1f_u8, 0x8b, 8, 0][..])
            .next_event()
            .unwrap_err();
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn non_utf8_client_encoding_is_rejected() {
        let err = events("SET client_encoding = 'LATIN1';\n").unwrap_err();
        assert!(
            matches!(&err, DumpError::UnsupportedEncoding { line: 1, encoding } if encoding == "LATIN1"),
            "{err:?}"
        );
        assert!(
            events("SET client_encoding TO 'utf-8';\nSET client_encoding = 'SQL_ASCII';\n").is_ok()
        );
        // Odd SET statements must not trip the parser (multibyte text, no value).
        assert!(events("SET x é;\nSET client_encoding\nSET\n").is_ok());
    }

    #[test]
    fn io_errors_are_reported() {
        struct Failing;
        impl io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let input = io::BufReader::new(io::Cursor::new(b"SET a = 1;\n".to_vec()).chain(Failing));
        let err = DumpReader::new(input)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(matches!(err, DumpError::Io { line: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("disk on fire"));
    }

    // --- Statement recognition ----------------------------------------------

    #[test]
    fn schema_qualification_and_quoted_identifiers() {
        let input = "COPY attendee (id) FROM stdin;\n1\n\\.\n\
                     COPY \"public\".\"attendee\" (\"id\") FROM stdin;\n2\n\\.\n\
                     COPY Public.ATTENDEE (ID) FROM stdin;\n3\n\\.\n\
                     COPY public.\"Attendee\" (\"Id\", \"a \"\"q\"\" b\") FROM stdin;\n4\t5\n\\.\n\
                     COPY techdb.archive.attendee (id) FROM stdin;\n6\n\\.\n";
        let starts: Vec<(Option<String>, String, Vec<String>)> = events(input)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                DumpEvent::CopyStart {
                    schema,
                    table,
                    columns,
                    ..
                } => Some((schema, table.to_string(), columns)),
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            vec![
                (None, "attendee".into(), vec!["id".into()]),
                (s("public"), "attendee".into(), vec!["id".into()]),
                (s("public"), "attendee".into(), vec!["id".into()]),
                (
                    s("public"),
                    "Attendee".into(),
                    vec!["Id".into(), "a \"q\" b".into()]
                ),
                (s("archive"), "attendee".into(), vec!["id".into()]),
            ]
        );
        // Table filter: "Attendee" (quoted, mixed case) is a different table.
        let selected = DumpReader::new(input.as_bytes())
            .with_tables(["attendee"])
            .with_schema("public")
            .filter(|e| matches!(e, Ok(DumpEvent::CopyStart { .. })))
            .count();
        assert_eq!(selected, 3); // unqualified + two public.attendee
    }

    #[test]
    fn unknown_tables_are_skipped() {
        let input = "COPY public.flask_sessions (id, data) FROM stdin;\n1\t\\\\x00\n2\t\\N\n\\.\n\
                     COPY public.attendee (id) FROM stdin;\n7\n\\.\n";
        let events: Vec<DumpEvent> = DumpReader::new(input.as_bytes())
            .with_tables(["attendee"])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            events[0],
            DumpEvent::Skipped {
                schema: s("public"),
                table: "flask_sessions".into(),
                line_number: 1,
                rows: 2,
            }
        );
        assert!(
            matches!(&events[2], DumpEvent::Row { line_number: 6, fields, .. } if *fields == vec![s("7")])
        );
        assert_eq!(events.len(), 4);
    }

    #[test]
    fn copy_inside_strings_comments_and_function_bodies_is_not_a_copy() {
        let input = "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $_$\n\
                     SELECT 1;\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     $_$;\n\
                     COMMENT ON TABLE x IS 'multi\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     it''s';\n\
                     /* block\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     */\n\
                     SELECT 1,\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     SET standard_conforming_strings = off;\n\
                     SELECT 'it\\'s\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     ';\n\
                     SELECT E'\\'\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     ', $$ $tag$ $$, \"x;y\" -- ;\n\
                     ;\n\
                     \\restrict abc\n\
                     COPY public.attendee (id) FROM stdin;\n\
                     42\n\
                     \\.\n";
        let events = events(input).unwrap();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(matches!(
            &events[0],
            DumpEvent::CopyStart {
                line_number: 22,
                ..
            }
        ));
        assert!(matches!(&events[1], DumpEvent::Row { fields, .. } if *fields == vec![s("42")]));
    }

    #[test]
    fn streams_without_reading_ahead() {
        struct Exploding;
        impl io::Read for Exploding {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("read past the first row");
            }
        }
        let prefix = format!("{}junk", attendee_dump(&[GOOD_ATTENDEE]));
        let cut = prefix.find(GOOD_ATTENDEE).unwrap() + GOOD_ATTENDEE.len() + 1;
        let input = io::BufReader::with_capacity(
            16,
            io::Cursor::new(prefix.as_bytes()[..cut].to_vec()).chain(Exploding),
        );
        let mut records = LegacyRecords::new(input);
        let first = records.next().unwrap().unwrap();
        assert!(matches!(first, LegacyRecord::Attendee(a) if a.first_name == "Ada"));
    }

    // --- Typed layer ----------------------------------------------------------

    #[test]
    fn typed_attendee_with_reordered_columns() {
        let input = "COPY public.attendee (comments, email, submitted_date, state, city, company, \
                     job_position, conference_id, last_name, first_name, id, interests, extra) FROM stdin;\n\
                     Hi\\tthere\tada@example.com\t2019-03-14 09:26:53.123456+05:30\tLDN\tLondon\tACME\t\
                     Engineer\t1\tLovelace\tAda\t42\t\\N\tignored\n\\.\n";
        let dump = read_legacy_dump(input.as_bytes()).unwrap();
        assert_eq!(
            dump.attendees,
            vec![LegacyAttendee {
                line_number: 2,
                id: 42,
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                conference_id: 1,
                job_position: "Engineer".into(),
                email: "ada@example.com".into(),
                company: "ACME".into(),
                city: "London".into(),
                state: "LDN".into(),
                interests: None,
                submitted_date: ts("2019-03-14 09:26:53.123456+05:30"),
                comments: s("Hi\tthere"),
            }]
        );
        assert!(dump.has_table(LegacyTable::Attendee));
        assert!(!dump.has_table(LegacyTable::Conference));
    }

    #[test]
    fn optional_columns_may_be_absent_required_ones_may_not() {
        let input = "COPY attendee (id, first_name, last_name, conference_id, job_position, email, \
                     company, city, state, submitted_date) FROM stdin;\n\
                     1\tA\tB\t1\tDev\ta@b.c\tX\tY\tZ\t2019-01-01 00:00:00+00\n\\.\n";
        let dump = read_legacy_dump(input.as_bytes()).unwrap();
        assert_eq!(dump.attendees[0].interests, None);
        assert_eq!(dump.attendees[0].comments, None);

        let err = read_legacy_dump(
            "COPY conference (id, name, active, date, price) FROM stdin;\n\\.\n".as_bytes(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, DumpError::MissingColumn { table, line: 1, column } if table == "conference" && column == "address"),
            "{err:?}"
        );
    }

    #[test]
    fn bad_integer_names_table_line_column_and_value() {
        let bad = GOOD_ATTENDEE.replacen('1', "12x", 1);
        let input = format!("SET a = 1;\n\n{}", attendee_dump(&[GOOD_ATTENDEE, &bad]));
        let err = read_legacy_dump(input.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, DumpError::InvalidValue { table, line: 5, column, value, .. }
                if table == "attendee" && column == "id" && value == "12x"),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("line 5") && message.contains("attendee"),
            "{message}"
        );
        assert!(
            message.contains("column id") && message.contains("\"12x\""),
            "{message}"
        );
        assert_eq!(err.line(), Some(5));
    }

    #[test]
    fn other_bad_values() {
        let conference = |active: &str, date: &str, price: &str| {
            format!(
                "COPY conference (id, name, active, date, price, address) FROM stdin;\n\
                 1\tTC\t{active}\t{date}\t{price}\tSomewhere\n\\.\n"
            )
        };
        let ok = read_legacy_dump(conference("t", "2024-02-29", "1e+2").as_bytes()).unwrap();
        assert!(ok.conferences[0].active);
        assert_eq!(ok.conferences[0].price, 100.0);
        for (input, column) in [
            (conference("2", "2019-01-01", "1"), "active"),
            (conference("1", "2019-02-29", "1"), "date"),
            (conference("1", "2019-1-01", "1"), "date"),
            (conference("1", "infinity", "1"), "date"),
            (conference("1", "2019-01-01", "NaN"), "price"),
            (conference("1", "2019-01-01", "12,50"), "price"),
            (conference("\\N", "2019-01-01", "1"), "active"),
        ] {
            let err = read_legacy_dump(input.as_bytes()).unwrap_err();
            match &err {
                DumpError::InvalidValue {
                    column: c, line: 2, ..
                }
                | DumpError::UnexpectedNull {
                    column: c, line: 2, ..
                } => assert_eq!(c, column),
                other => panic!("{other:?}"),
            }
        }
        let err = read_legacy_dump(
            "COPY notification (id, status, message, submitted_date, completed_date, subject) FROM stdin;\n\
             1\tx\ty\t2019-01-01 25:00:00+00\t\\N\ts\n\\.\n"
                .as_bytes(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, DumpError::InvalidValue { column, .. } if column == "submitted_date")
        );
    }

    #[test]
    fn long_bad_values_are_shortened_in_errors() {
        let long = "9".repeat(500);
        let input = format!(
            "COPY conference (id, name, active, date, price, address) FROM stdin;\n{long}\tTC\t1\t2019-01-01\t1\tX\n\\.\n"
        );
        let err = read_legacy_dump(input.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }

    #[test]
    fn no_techconf_tables_is_an_error() {
        let input = "SET a = 1;\nCOPY public.flask_sessions (id) FROM stdin;\n1\n\\.\n";
        let err = read_legacy_dump(input.as_bytes()).unwrap_err();
        assert!(matches!(err, DumpError::NotTechConfDump));
        assert_eq!(
            err.to_string(),
            "not a TechConf legacy dump: no conference/attendee/notification data found"
        );
        assert!(matches!(
            read_legacy_dump(&b""[..]),
            Err(DumpError::NotTechConfDump)
        ));
        // An empty legacy table counts as present.
        let dump = read_legacy_dump(&b"COPY public.notification (id) FROM stdin;\n\\.\n"[..]);
        assert!(matches!(dump, Err(DumpError::MissingColumn { .. })));
        let dump = read_legacy_dump(
            &b"COPY public.notification (id, status, message, subject) FROM stdin;\n\\.\n"[..],
        )
        .unwrap();
        assert!(dump.has_table(LegacyTable::Notification) && dump.notifications.is_empty());
    }

    #[test]
    fn duplicate_tables_and_schema_filter() {
        let input = "COPY public.conference (id, name, active, date, price, address) FROM stdin;\n\
                     1\tA\t1\t2019-01-01\t1\tX\n\\.\n\
                     COPY archive.conference (id, name, active, date, price, address) FROM stdin;\n\
                     2\tB\t0\t2018-01-01\t1\tY\n\\.\n";
        let err = read_legacy_dump(input.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                DumpError::DuplicateTable {
                    line: 4,
                    first_line: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let dump =
            LegacyDump::from_records(LegacyRecords::new(input.as_bytes()).with_schema("archive"))
                .unwrap();
        assert_eq!(dump.conferences.len(), 1);
        assert_eq!(dump.conferences[0].id, 2);
        assert_eq!(dump.ignored_tables[0].schema.as_deref(), Some("public"));
    }

    // --- Dates, timestamps, statuses -------------------------------------------

    #[test]
    fn dates() {
        let d: LegacyDate = "2019-03-14".parse().unwrap();
        assert_eq!((d.year, d.month, d.day), (2019, 3, 14));
        assert_eq!(d.to_string(), "2019-03-14");
        assert!("2000-02-29".parse::<LegacyDate>().is_ok());
        for bad in [
            "1900-02-29",
            "2019-13-01",
            "2019-04-31",
            "0000-01-01",
            "2019-03-14 BC",
            "19-03-14",
            "2019/03/14",
            "",
        ] {
            assert!(bad.parse::<LegacyDate>().is_err(), "{bad}");
        }
        assert_eq!(
            "1970-01-01"
                .parse::<LegacyDate>()
                .unwrap()
                .days_since_epoch(),
            0
        );
        assert_eq!(
            "1969-12-31"
                .parse::<LegacyDate>()
                .unwrap()
                .days_since_epoch(),
            -1
        );
    }

    #[test]
    fn timestamps() {
        let t = ts("2019-03-14 09:26:53.123456+00");
        assert_eq!(t.to_rfc3339(), "2019-03-14T09:26:53.123456+00:00");
        assert_eq!(t.unix_micros(), 1_552_555_613_123_456);
        assert_eq!(
            ts("2019-03-14 09:26:53.5+05:30").to_rfc3339(),
            "2019-03-14T09:26:53.5+05:30"
        );
        assert_eq!(
            ts("2019-03-14 14:56:53.123456+05:30").unix_micros(),
            t.unix_micros()
        );
        assert_eq!(
            ts("2019-03-14 03:26:53.123456-06").to_rfc3339(),
            "2019-03-14T03:26:53.123456-06:00"
        );
        assert_eq!(
            ts("2019-03-14 03:26:53.123456-06").unix_micros(),
            t.unix_micros()
        );
        assert_eq!(
            ts("2019-03-14T09:26:53Z").to_rfc3339(),
            "2019-03-14T09:26:53+00:00"
        );
        // timestamp without time zone: no offset, treated as UTC.
        let naive = ts("2019-03-14 09:26:53.123456");
        assert_eq!(naive.offset_seconds, None);
        assert_eq!(naive.unix_micros(), t.unix_micros());
        assert_eq!(naive.to_rfc3339(), "2019-03-14T09:26:53.123456+00:00");
        // Local mean time offsets with seconds are converted to UTC.
        let lmt = ts("1890-01-01 00:00:00+00:53:28");
        assert_eq!(lmt.offset_seconds, Some(3208));
        assert_eq!(lmt.to_rfc3339(), "1889-12-31T23:06:32+00:00");
        assert_eq!(ts("1969-12-31 23:59:59.999999+00").unix_micros(), -1);
        assert_eq!(
            LegacyTimestamp::from_unix_micros(-1).to_rfc3339(),
            "1969-12-31T23:59:59.999999+00:00"
        );
        for bad in [
            "2019-03-14",
            "2019-03-14 24:00:00+00",
            "2019-03-14 09:60:00+00",
            "2019-03-14 09:26:53.+00",
            "2019-03-14 09:26:53.1234567+00",
            "2019-03-14 09:26:53+5",
            "2019-03-14 09:26:53+16:00",
            "2019-03-14 09:26:53 +00",
            "infinity",
            "2019-03-14 09:26:53+00 BC",
            "2019-02-30 09:26:53+00",
        ] {
            assert!(bad.parse::<LegacyTimestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans() {
        for (v, expected) in [
            ("1", true),
            ("0", false),
            ("t", true),
            ("f", false),
            ("TRUE", true),
            ("false", false),
        ] {
            assert_eq!(parse_legacy_bool(v), Ok(expected), "{v}");
        }
        for v in ["", "2", "yes", " 1"] {
            assert!(parse_legacy_bool(v).is_err(), "{v}");
        }
    }

    #[test]
    fn notification_statuses() {
        use LegacyNotificationStatus as S;
        assert_eq!(S::classify("Notifications submitted"), S::Submitted);
        assert_eq!(S::classify(" notifications Submitted "), S::Submitted);
        assert_eq!(
            S::classify("Notified 5 attendees"),
            S::Notified { attendees: 5 }
        );
        assert_eq!(
            S::classify("Notified 1 attendee"),
            S::Notified { attendees: 1 }
        );
        assert_eq!(S::classify("Notified five attendees"), S::Other);
        assert_eq!(S::classify("Failed: SMTP error"), S::Other);
        assert_eq!(S::classify(""), S::Other);
    }

    // --- Fixtures ----------------------------------------------------------------

    #[test]
    fn fixture_basic() {
        let dump = read_legacy_dump(fixture("basic.sql").as_slice()).unwrap();
        assert_eq!(
            dump.tables
                .iter()
                .map(|t| (t.table.as_str(), t.line_number, t.rows))
                .collect::<Vec<_>>(),
            vec![
                ("attendee", 216, 11),
                ("conference", 235, 2),
                ("notification", 255, 5)
            ]
        );
        assert_eq!(
            dump.ignored_tables
                .iter()
                .map(|t| (t.table.as_str(), t.rows))
                .collect::<Vec<_>>(),
            vec![("alembic_version", 1), ("flask_sessions", 2)]
        );

        // Conferences: one active, one inactive; escaped newline in address.
        let [c1, c2] = dump.conferences.as_slice() else {
            panic!()
        };
        assert_eq!(
            (c1.id, c1.name.as_str(), c1.active, c1.price),
            (1, "TechConf 2019", true, 495.0)
        );
        assert_eq!(c1.date.to_string(), "2019-04-20");
        assert_eq!(
            (c2.id, c2.active, c2.price, c2.line_number),
            (2, false, 299.99, 237)
        );
        assert_eq!(
            c2.address,
            "Hynes Convention Center\n900 Boylston St, Boston, MA 02115"
        );

        let a = |id: i32| dump.attendees.iter().find(|a| a.id == id).unwrap();
        assert_eq!(dump.attendees.len(), 11);
        assert_eq!(a(1).line_number, 217);
        assert_eq!(
            a(1).submitted_date.to_rfc3339(),
            "2019-03-01T09:15:22.123456+00:00"
        );
        assert_eq!(
            (a(2).interests.as_deref(), a(2).comments.as_deref()),
            (None, None)
        );
        // Duplicate e-mail within conference 1, differing only in case.
        assert_eq!(a(2).email.to_lowercase(), a(3).email.to_lowercase());
        assert_ne!(a(2).email, a(3).email);
        assert_eq!((a(2).conference_id, a(3).conference_id), (1, 1));
        assert_eq!(a(4).email, "not-an-email");
        // Octal escapes.
        assert_eq!(a(5).first_name, "René");
        assert_eq!(a(5).company, "Société Générale");
        assert_eq!(a(5).city, "Montréal");
        assert_eq!(a(5).interests.as_deref(), Some("Serverless\tContainers"));
        assert_eq!(
            a(5).comments.as_deref(),
            Some("Allergies:\n- peanuts\n- shellfish")
        );
        // Missing conference.
        assert_eq!(a(6).conference_id, 99);
        assert!(!dump.conferences.iter().any(|c| c.id == 99));
        // Hex escapes and backslashes.
        assert_eq!(a(7).first_name, "Zoë");
        assert_eq!(a(7).company, "Studio \"Blue\"");
        assert_eq!(
            a(7).comments.as_deref(),
            Some("Windows path: C:\\Users\\zoe")
        );
        assert_eq!(
            a(7).submitted_date.to_rfc3339(),
            "2018-05-19T23:59:59.999999+00:00"
        );
        // Raw UTF-8 and a +05:30 offset.
        assert_eq!(
            (a(8).first_name.as_str(), a(8).company.as_str()),
            ("健", "東京大学")
        );
        assert_eq!(a(8).submitted_date.offset_seconds, Some(19_800));
        assert_eq!(
            a(8).submitted_date.to_rfc3339(),
            "2018-05-20T18:26:53.123456+05:30"
        );
        assert_eq!(a(9).interests.as_deref(), Some("Web\\Mobile"));
        assert_eq!(
            a(9).submitted_date.to_rfc3339(),
            "2018-05-21T07:00:00-06:00"
        );
        assert_eq!(a(10).comments.as_deref(), Some("First line\r\nSecond line"));
        assert_eq!(a(11).comments.as_deref(), Some("Trailing backslash \\"));

        let n = |id: i32| dump.notifications.iter().find(|n| n.id == id).unwrap();
        assert_eq!(n(1).status_kind(), LegacyNotificationStatus::Submitted);
        assert!(n(1).completed_date.is_some());
        assert_eq!(
            n(1).message,
            "Dear attendee,\n\nThe keynote moves to Hall B."
        );
        assert_eq!(
            n(1).completed_date.map(|t| t.to_rfc3339()).as_deref(),
            Some("2019-04-01T10:02:13.654321+00:00")
        );
        assert_eq!(n(2).status_kind(), LegacyNotificationStatus::Submitted);
        assert_eq!(n(2).completed_date, None);
        assert_eq!(
            n(3).status_kind(),
            LegacyNotificationStatus::Notified { attendees: 5 }
        );
        assert_eq!(n(3).message, "Thanks for registering!");
        assert_eq!(n(4).status_kind(), LegacyNotificationStatus::Other);
        assert_eq!(n(4).status, "Failed: SMTP connection refused");
        assert_eq!(n(5).subject, "");
        assert_eq!(n(5).line_number, 260);
    }

    #[test]
    fn fixture_basic_raw_events() {
        let bytes = fixture("basic.sql");
        let events: Vec<DumpEvent> = DumpReader::new(bytes.as_slice())
            .collect::<Result<_, _>>()
            .unwrap();
        let tables: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                DumpEvent::CopyStart { table, .. } => Some(&**table),
                _ => None,
            })
            .collect();
        assert_eq!(
            tables,
            [
                "alembic_version",
                "attendee",
                "conference",
                "flask_sessions",
                "notification"
            ]
        );
        // bytea hex output keeps its leading backslash after decoding; quoted column name.
        let session = events
            .iter()
            .find_map(|e| match e {
                DumpEvent::Row { table, fields, .. } if &**table == "flask_sessions" => {
                    Some(fields)
                }
                _ => None,
            })
            .unwrap();
        assert!(session[2].as_deref().unwrap().starts_with("\\x8004"));
        assert!(events.iter().any(|e| matches!(
            e,
            DumpEvent::CopyStart { columns, .. } if columns.last().map(String::as_str) == Some("user")
        )));
    }

    #[test]
    fn fixture_basic_with_crlf_line_endings() {
        let text = String::from_utf8(fixture("basic.sql")).unwrap();
        let crlf = text.replace('\n', "\r\n");
        let dump = read_legacy_dump(crlf.as_bytes()).unwrap();
        let lf = read_legacy_dump(text.as_bytes()).unwrap();
        assert_eq!(dump, lf);
    }

    #[test]
    fn fixture_clean() {
        let dump = read_legacy_dump(fixture("clean.sql").as_slice()).unwrap();
        assert_eq!(
            (
                dump.conferences.len(),
                dump.attendees.len(),
                dump.notifications.len()
            ),
            (2, 4, 2)
        );
        assert!(dump.ignored_tables.is_empty());
        assert!(dump.conferences.iter().all(|c| c.active));
        assert_eq!(dump.conferences[1].price, 149.5);
        assert!(
            dump.attendees.iter().all(|a| a.email.contains('@')
                && dump.conferences.iter().any(|c| c.id == a.conference_id))
        );
        assert!(
            dump.notifications
                .iter()
                .all(|n| n.completed_date.is_some() && !n.subject.is_empty())
        );
    }

    #[test]
    fn fixture_truncated() {
        let bytes = fixture("truncated.sql");
        let mut records = LegacyRecords::new(bytes.as_slice());
        let mut attendees = 0;
        let err = loop {
            match records.next() {
                Some(Ok(LegacyRecord::Attendee(_))) => attendees += 1,
                Some(Ok(other)) => panic!("unexpected {other:?}"),
                Some(Err(e)) => break e,
                None => panic!("truncated dump parsed without error"),
            }
        };
        assert_eq!(attendees, 3);
        assert!(
            matches!(&err, DumpError::UnterminatedCopy { table, start_line: 216, line: 220 } if table == "attendee"),
            "{err:?}"
        );
        assert!(records.next().is_none());
        assert!(read_legacy_dump(bytes.as_slice()).is_err());
    }

    // --- Synthetic dumps ---------------------------------------------------------

    #[test]
    fn synthetic_dump_round_trips() {
        let mut out = Vec::new();
        write_synthetic_dump(&mut out, 3, 50).unwrap();
        let dump = read_legacy_dump(out.as_slice()).unwrap();
        assert_eq!(dump.conferences.len(), 3);
        assert_eq!(dump.attendees.len(), 150);
        assert_eq!(dump.notifications.len(), 3);
        assert_eq!(dump.attendees[149].conference_id, 3);
        assert_eq!(
            dump.attendees[1].comments.as_deref(),
            Some("Line one\nLine two\\three")
        );
        assert_eq!(dump.attendees[0].comments, None);
        assert_eq!(dump.attendees[0].interests, None);
        assert_eq!(
            dump.attendees[1].interests.as_deref(),
            Some("Rust, cloud\tnative, \"serverless\"")
        );
        assert_eq!(
            dump.attendees[0].submitted_date.offset_seconds,
            Some(19_800)
        );
        assert_eq!(
            dump.notifications[0].status_kind(),
            LegacyNotificationStatus::Notified { attendees: 50 }
        );
        let mut empty = Vec::new();
        write_synthetic_dump(&mut empty, 0, 0).unwrap();
        let dump = read_legacy_dump(empty.as_slice()).unwrap();
        assert_eq!(dump.tables.len(), 3);
    }

    #[test]
    fn copy_field_writer_escapes() {
        let mut out = Vec::new();
        write_copy_row(&mut out, &[Some("a\tb\nc\rd\\e"), None, Some("")]).unwrap();
        assert_eq!(out, b"a\\tb\\nc\\rd\\\\e\t\\N\t\n");
    }
}
