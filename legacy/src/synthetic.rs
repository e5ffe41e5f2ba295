//! Synthetic plain-format dumps of the legacy schema, for tests and benchmarks (feature
//! `synthetic`): large, deterministic, and awkward in the ways real data is (escapes, NULLs,
//! non-ASCII text, two UTC offsets).
use std::io::{self, Write};

use chrono::{DateTime, Days, TimeDelta};

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
/// [`read_legacy_dump`](crate::dump::read_legacy_dump); some values contain tabs, newlines, backslashes,
/// non-ASCII text and NULLs. The writer is buffered internally.
pub fn write_synthetic_dump<W: Write>(
    w: W,
    conferences: u32,
    attendees_per_conference: u32,
) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(64 * 1024, w);
    w.write_all(SYNTHETIC_HEADER.as_bytes())?;

    // 2019-01-01T00:00:00Z
    let base = DateTime::UNIX_EPOCH + TimeDelta::days(17_897);
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
        let submitted = format!(
            "{}{offset}",
            (base + TimeDelta::microseconds(micros)).format("%Y-%m-%d %H:%M:%S%.6f")
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
        let date = (base.date_naive() + Days::new(u64::from(c % 3_650))).to_string();
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::dump::{LegacyNotificationStatus, read_legacy_dump};

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
            dump.attendees[0].submitted_date.offset().local_minus_utc(),
            19_800
        );
        assert_eq!(dump.conferences[0].date.to_string(), "2019-01-01");
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
