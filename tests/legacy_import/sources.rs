//! The same import from a live legacy database (`--from postgres://...`), from standard input
//! (`-`), and from the synthetic dumps the benchmark uses.
use techconf::config::DatabaseUrl;
use techconf::legacy::read_database;
use techconf::legacy::{ImportOptions, Problem};
use techconf_legacy::synthetic::write_synthetic_dump;
use testkit::{TempDir, TestDatabase};

use crate::helpers::{
    Backend, fixture, fixture_text, import, import_legacy, import_with, legacy_database,
    on_both_backends, psql_load, read_fixture, stderr, stdout, target,
};

on_both_backends!(a_live_legacy_database_imports_like_its_dump);

async fn a_live_legacy_database_imports_like_its_dump(backend: Backend) {
    let legacy = legacy_database(&fixture_text("basic.sql")).await;
    let data = read_database(&DatabaseUrl::new(legacy.url()))
        .await
        .unwrap();
    // The source is shown with its user info hidden, like every database URL.
    assert_eq!(data.describe(), techconf::config::redact_url(legacy.url()));

    let from_database = target(backend).await;
    let report = import(&from_database, &data).await;
    let from_dump = target(backend).await;
    let expected = import(&from_dump, &read_fixture("basic.sql")).await;

    assert_eq!(report.tables, expected.tables);
    let rows = |r: &techconf::legacy::ImportReport| -> Vec<(&str, i32, Problem, String)> {
        r.skipped
            .iter()
            .map(|s| (s.table, s.legacy_id, s.problem, s.reason.clone()))
            .collect()
    };
    assert_eq!(rows(&report), rows(&expected));
    assert!(
        report.skipped.iter().all(|s| s.line.is_none()),
        "no lines in a database"
    );
    for id in [1, 2, 5, 7, 8, 9, 10, 11] {
        let (a, b) = (
            from_database.attendee(id).await.unwrap(),
            from_dump.attendee(id).await.unwrap(),
        );
        assert_eq!(
            (
                &a.first_name,
                &a.email,
                &a.company,
                &a.interests,
                &a.comments,
                a.submitted_at
            ),
            (
                &b.first_name,
                &b.email,
                &b.company,
                &b.interests,
                &b.comments,
                b.submitted_at
            ),
            "attendee {id}"
        );
    }
    for id in [1, 2] {
        let (a, b) = (
            from_database.conference(id).await,
            from_dump.conference(id).await,
        );
        assert_eq!(
            (&a.name, a.starts_on, a.price_cents, &a.address, a.active),
            (&b.name, b.starts_on, b.price_cents, &b.address, b.active)
        );
    }
    for id in 1..=4 {
        let (a, b) = (
            from_database.notification(id).await.unwrap(),
            from_dump.notification(id).await.unwrap(),
        );
        assert_eq!(
            (
                &a.status,
                a.total,
                &a.legacy_status,
                &a.message,
                a.submitted_at,
                a.completed_at
            ),
            (
                &b.status,
                b.total,
                &b.legacy_status,
                &b.message,
                b.submitted_at,
                b.completed_at
            ),
            "notification {id}"
        );
    }
}

#[tokio::test]
async fn the_command_reads_a_live_legacy_database_with_from() {
    let legacy = legacy_database(&fixture_text("clean.sql")).await;
    let target = target(Backend::Sqlite).await;
    let out = import_legacy(
        target.database.url(),
        &["--from", legacy.url(), "--report", "json"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["source"], techconf::config::redact_url(legacy.url()));
    assert_eq!(report["tables"]["attendee"]["inserted"], 4);
    assert_eq!(target.counts().await, [2, 4, 2, 0, 0]);
}

#[tokio::test]
async fn an_unreachable_legacy_database_is_a_clear_error() {
    let target = target(Backend::Sqlite).await;
    let out = import_legacy(
        target.database.url(),
        &[
            "--from",
            "postgres://postgres@127.0.0.1:5432/techconf_no_such_legacy_db",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr(&out);
    assert!(
        stderr.contains("connecting to the legacy database postgres://***@127.0.0.1:5432/techconf_no_such_legacy_db"),
        "{stderr}"
    );
    assert!(stderr.contains("Nothing was imported."), "{stderr}");
}

#[tokio::test]
async fn a_dump_is_read_from_standard_input_with_a_dash() {
    let target = target(Backend::Sqlite).await;
    let out = import_legacy(target.database.url(), &["-"], Some(&fixture("basic.sql")));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Legacy import from -\n"), "{text}");
    assert!(
        text.contains("  attendee 4 (line 220): invalid email"),
        "{text}"
    );
    assert_eq!(target.counts().await, [2, 8, 4, 0, 0]);
}

#[tokio::test]
async fn a_synthetic_dump_loads_with_psql_and_imports_cleanly() {
    let dir = TempDir::new("synthetic").unwrap();
    let path = dir.path().join("synthetic.sql");
    write_synthetic_dump(std::fs::File::create(&path).unwrap(), 3, 40).unwrap();

    let legacy = TestDatabase::postgres().await;
    psql_load(&path, legacy.url());

    let target = target(Backend::Postgres).await;
    let strict = ImportOptions {
        strict: true,
        dry_run: false,
    };
    let data = techconf::legacy::source::read_dump_file(&path).unwrap();
    let report = import_with(&target, &data, strict).await.unwrap();
    assert_eq!(report.tables.attendee.inserted, 120);
    assert_eq!(target.counts().await, [3, 120, 3, 0, 0]);
}
