//! `techconf import-legacy`, run as an operator would: its reports, its exit codes and its
//! error messages.
use serde_json::Value;

use testkit::TestDatabase;

use crate::helpers::{Backend, fixture, import_legacy, stderr, stdout, target};

#[tokio::test]
async fn the_command_prints_a_readable_report_and_commits() {
    let target = target(Backend::Postgres).await;
    let basic = fixture("basic.sql");
    let out = import_legacy(target.database.url(), &[basic.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "table             read  inserted  updated  unchanged  skipped\n",
        "conference           2         2        0          0        0\n",
        "attendee            11         8        0          0        3\n",
        "notification         5         4        0          0        1\n",
        "Skipped rows (4):\n",
        "  attendee 3 (line 219): duplicate email: bob.smith@example.COM is already registered \
         for conference 1 by attendee 2 (emails are compared ignoring case)\n",
        "  attendee 4 (line 220): invalid email: email \"not-an-email\" is not a valid email \
         address\n",
        "  attendee 6 (line 222): missing conference: conference 99 is neither in the source \
         nor imported before\n",
        "  notification 5 (line 260): empty subject: the subject is empty\n",
        "Notes (2):\n",
        "  notification 2 (line 257): submitted but never completed by the legacy worker: \
         imported as CANCELLED, and it will not be sent\n",
        "Other tables in the dump, not imported: alembic_version (1 row), flask_sessions (2 \
         rows)\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.ends_with("\nCommitted.\n"), "{text}");
    assert_eq!(target.counts().await, [2, 8, 4, 0, 0]);
}

#[tokio::test]
async fn the_json_report_lists_counts_and_every_skipped_row() {
    let target = target(Backend::Sqlite).await;
    let basic = fixture("basic.sql");
    let out = import_legacy(
        target.database.url(),
        &["--report", "json", "--dry-run", basic.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();

    assert_eq!(report["source"], basic.to_str().unwrap());
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["committed"], false);
    assert_eq!(
        report["tables"]["attendee"],
        serde_json::json!({"read": 11, "inserted": 8, "updated": 0, "unchanged": 0, "skipped": 3})
    );
    let mut tables: Vec<&String> = report["tables"].as_object().unwrap().keys().collect();
    tables.sort();
    assert_eq!(tables, ["attendee", "conference", "notification"]);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["skipped"][1],
        serde_json::json!({
            "table": "attendee",
            "legacy_id": 4,
            "line": 220,
            "problem": "invalid_email",
            "reason": "email \"not-an-email\" is not a valid email address",
        })
    );
    assert_eq!(report["skipped"][3]["problem"], "empty_subject");
    assert_eq!(report["notes"][1]["legacy_id"], 4);
    assert_eq!(
        report["ignored_tables"],
        serde_json::json!([{"name": "alembic_version", "rows": 1}, {"name": "flask_sessions", "rows": 2}])
    );
    assert_eq!(
        target.counts().await,
        [0, 0, 0, 0, 0],
        "a dry run writes nothing"
    );
}

#[tokio::test]
async fn a_dry_run_says_that_nothing_was_written() {
    let target = target(Backend::Sqlite).await;
    let basic = fixture("basic.sql");
    let out = import_legacy(
        target.database.url(),
        &["--dry-run", basic.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .ends_with("\nDry run: nothing was written (the transaction was rolled back).\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(target.counts().await, [0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn strict_fails_with_exit_code_1_and_the_report() {
    let target = target(Backend::Sqlite).await;
    let basic = fixture("basic.sql");
    let out = import_legacy(
        target.database.url(),
        &["--strict", basic.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "error: 4 row(s) cannot be imported and --strict was given; nothing was imported"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Skipped rows (4):"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).ends_with("\nNothing was written.\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(target.counts().await, [0, 0, 0, 0, 0]);

    let clean = fixture("clean.sql");
    let out = import_legacy(
        target.database.url(),
        &["--strict", clean.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(target.counts().await, [2, 4, 2, 0, 0]);
}

#[tokio::test]
async fn a_truncated_dump_fails_with_exit_code_1_naming_the_table_and_line() {
    let target = target(Backend::Postgres).await;
    let clean = fixture("clean.sql");
    let out = import_legacy(target.database.url(), &[clean.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));

    let truncated = fixture("truncated.sql");
    let out = import_legacy(target.database.url(), &[truncated.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).lines().last().unwrap(),
        format!(
            "error: reading {}: truncated dump: COPY data for table attendee starting at line \
             216 is not terminated by a `\\.` line before the end of the file (line 220). \
             Nothing was imported.",
            truncated.display()
        )
    );
    assert_eq!(stdout(&out), "", "no report for a dump that cannot be read");
    assert_eq!(
        target.counts().await,
        [2, 4, 2, 0, 0],
        "the earlier import is untouched"
    );
}

#[tokio::test]
async fn a_missing_file_is_a_clear_error() {
    let target = target(Backend::Sqlite).await;
    let out = import_legacy(target.database.url(), &["no/such/dump.sql"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: opening no/such/dump.sql: No such file or directory"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn sqlite_is_migrated_first_and_postgres_must_be_migrated_already() {
    let clean = fixture("clean.sql");
    let sqlite = TestDatabase::sqlite();
    let out = import_legacy(sqlite.url(), &[clean.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("attendee             4         4"),
        "{}",
        stdout(&out)
    );

    let postgres = TestDatabase::postgres().await;
    let out = import_legacy(postgres.url(), &[clean.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("pending migration"),
        "{}",
        stderr(&out)
    );
}
