//! The dump reader against hand-written dumps, the fixtures, and odd values.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::{self, Read};

use super::*;

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
        "{}/../tests/fixtures/legacy/{name}",
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

fn ts(s: &str) -> DateTime<FixedOffset> {
    parse_legacy_timestamp(s).unwrap()
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
    let err = events(
        "COPY public.conference (id, name, active) FROM stdin;\n1\tTechConf\t1\n2\tTechConf\n\\.\n",
    )
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
    assert!(matches!(&err, DumpError::InvalidValue { column, .. } if column == "submitted_date"));
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
    let d = parse_legacy_date("2019-03-14").unwrap();
    assert_eq!(d, NaiveDate::from_ymd_opt(2019, 3, 14).unwrap());
    assert_eq!(d.to_string(), "2019-03-14");
    assert!(parse_legacy_date("2000-02-29").is_ok());
    for (bad, reason) in [
        ("1900-02-29", "day out of range for the month"),
        ("2019-04-31", "day out of range for the month"),
        ("2019-04-00", "day out of range for the month"),
        ("2019-13-01", "month out of range"),
        ("2019-00-01", "month out of range"),
        ("0000-01-01", "year 0000 does not exist"),
        ("2019-03-14 BC", "BC dates are not supported"),
        ("infinity", "infinite dates are not supported"),
        ("19-03-14", "expected a date as YYYY-MM-DD"),
        ("2019-3-14", "expected a date as YYYY-MM-DD"),
        ("+201-03-14", "expected a date as YYYY-MM-DD"),
        ("2019/03/14", "expected a date as YYYY-MM-DD"),
        ("", "expected a date as YYYY-MM-DD"),
    ] {
        assert_eq!(
            parse_legacy_date(bad).map_err(|e| e.reason()),
            Err(reason),
            "{bad}"
        );
    }
}

#[test]
fn timestamps() {
    let t = ts("2019-03-14 09:26:53.123456+00");
    assert_eq!(t.to_rfc3339(), "2019-03-14T09:26:53.123456+00:00");
    assert_eq!(t.timestamp_micros(), 1_552_555_613_123_456);
    assert_eq!(
        ts("2019-03-14 09:26:53.5+05:30").to_rfc3339(),
        "2019-03-14T09:26:53.500+05:30"
    );
    assert_eq!(ts("2019-03-14 14:56:53.123456+05:30"), t);
    assert_eq!(
        ts("2019-03-14 03:26:53.123456-06").to_rfc3339(),
        "2019-03-14T03:26:53.123456-06:00"
    );
    assert_eq!(ts("2019-03-14 03:26:53.123456-06"), t);
    assert_eq!(
        ts("2019-03-14T09:26:53Z").to_rfc3339(),
        "2019-03-14T09:26:53+00:00"
    );
    // timestamp without time zone: read as UTC.
    let naive = ts("2019-03-14 09:26:53.123456");
    assert_eq!(naive.offset().local_minus_utc(), 0);
    assert_eq!(naive, t);
    // Local mean time: an offset with seconds.
    let lmt = ts("1890-01-01 00:00:00+00:53:28");
    assert_eq!(lmt.offset().local_minus_utc(), 3208);
    assert_eq!(lmt.to_utc().to_rfc3339(), "1889-12-31T23:06:32+00:00");
    assert_eq!(ts("1969-12-31 23:59:59.999999+00").timestamp_micros(), -1);
    assert_eq!(
        ts("2019-03-14 09:26:53-15:59:59")
            .offset()
            .local_minus_utc(),
        -57_599
    );
    for (bad, reason) in [
        (
            "2019-03-14",
            "expected a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]",
        ),
        (
            "2019-03-14 9:26:53+00",
            "expected a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]",
        ),
        (
            "2019-03-14 09:26:53 +00",
            "expected a timestamp as YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]",
        ),
        ("2019-03-14 24:00:00+00", "time of day out of range"),
        ("2019-03-14 09:60:00+00", "time of day out of range"),
        ("2019-03-14 23:59:60+00", "time of day out of range"),
        (
            "2019-03-14 09:26:53.+00",
            "fractional seconds must have 1 to 6 digits",
        ),
        (
            "2019-03-14 09:26:53.1234567+00",
            "fractional seconds must have 1 to 6 digits",
        ),
        (
            "2019-03-14 09:26:53+5",
            "UTC offset must look like +HH, +HH:MM or +HH:MM:SS",
        ),
        (
            "2019-03-14 09:26:53+0530",
            "UTC offset must look like +HH, +HH:MM or +HH:MM:SS",
        ),
        ("2019-03-14 09:26:53+16:00", "UTC offset out of range"),
        ("2019-03-14 09:26:53+05:60", "UTC offset out of range"),
        ("infinity", "infinite timestamps are not supported"),
        (
            "2019-03-14 09:26:53+00 BC",
            "BC timestamps are not supported",
        ),
        ("2019-02-30 09:26:53+00", "day out of range for the month"),
    ] {
        assert_eq!(
            parse_legacy_timestamp(bad).map_err(|e| e.reason()),
            Err(reason),
            "{bad}"
        );
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
    assert_eq!(a(8).submitted_date.offset().local_minus_utc(), 19_800);
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
            DumpEvent::Row { table, fields, .. } if &**table == "flask_sessions" => Some(fields),
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
        dump.attendees
            .iter()
            .all(|a| a.email.contains('@')
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
