//! Running the import again, a dry run, and sources that cannot be read: all or nothing, and
//! nothing twice.
use sea_orm::{ConnectionTrait, DbBackend};
use techconf::legacy::source::read_dump;
use techconf::legacy::{ImportError, ImportOptions};
use techconf::legacy::{ImportReport, Origin};

use crate::helpers::{
    Backend, fixture, fixture_text, import, import_with, on_both_backends, read_fixture, read_text,
    target,
};

on_both_backends!(
    importing_the_same_dump_again_changes_nothing,
    a_changed_legacy_row_updates_the_imported_row_in_place,
    a_dry_run_reports_everything_and_writes_nothing,
    a_truncated_or_corrupt_dump_is_refused_before_anything_is_written,
    attendees_of_a_conference_imported_earlier_are_linked_to_it,
    a_database_error_while_writing_leaves_nothing_behind,
);

fn counts(report: &ImportReport) -> [(u64, u64, u64, u64, u64); 3] {
    let t = report.tables;
    [t.conference, t.attendee, t.notification]
        .map(|c| (c.read, c.inserted, c.updated, c.unchanged, c.skipped))
}

async fn importing_the_same_dump_again_changes_nothing(backend: Backend) {
    let target = target(backend).await;
    let data = read_fixture("basic.sql");
    let first = import(&target, &data).await;
    let alice = target.attendee(1).await.unwrap();
    let keynote = target.notification(1).await.unwrap();

    let again = import(&target, &data).await;
    assert_eq!(
        counts(&again),
        [(2, 0, 0, 2, 0), (11, 0, 0, 8, 3), (5, 0, 0, 4, 1)]
    );
    assert_eq!(
        again.skipped, first.skipped,
        "the same rows are reported again"
    );
    assert_eq!(target.counts().await, [2, 8, 4, 0, 0]);
    assert_eq!(
        target.attendee(1).await.unwrap(),
        alice,
        "same id, same values"
    );
    assert_eq!(
        target.notification(1).await.unwrap(),
        keynote,
        "not even updated_at moves"
    );
}

async fn a_changed_legacy_row_updates_the_imported_row_in_place(backend: Backend) {
    let target = target(backend).await;
    import(&target, &read_fixture("basic.sql")).await;
    let alice = target.attendee(1).await.unwrap();
    let seattle = target.conference(1).await;

    let changed = fixture_text("basic.sql")
        .replace("\tContoso\t", "\tContoso Ltd\t")
        .replace("2018-05-21 07:00:00-06", "2018-05-21 07:00:00-05")
        .replace(
            "TechConf 2019\t1\t2019-04-20\t495",
            "TechConf 2019\t1\t2019-04-21\t450",
        )
        .replace(
            "Friday.\t2019-04-02 09:00:00+00\t\\N",
            "Friday.\t2019-04-02 09:00:00+00\t2019-04-02 09:05:00+00",
        );
    let report = import(&target, &read_text(&changed)).await;
    assert_eq!(
        counts(&report),
        [(2, 0, 1, 1, 0), (11, 0, 2, 6, 3), (5, 0, 1, 3, 1)]
    );
    assert_eq!(target.counts().await, [2, 8, 4, 0, 0], "nothing duplicated");
    assert_eq!(
        target.attendee(9).await.unwrap().submitted_at.to_rfc3339(),
        "2018-05-21T12:00:00+00:00",
        "a changed time alone is an update"
    );

    let updated = target.attendee(1).await.unwrap();
    assert_eq!(updated.id, alice.id, "the TechConf id is kept");
    assert_eq!(updated.company, "Contoso Ltd");
    let conference = target.conference(1).await;
    assert_eq!(conference.id, seattle.id);
    assert_eq!(conference.created_at, seattle.created_at);
    assert_eq!(conference.starts_on.to_string(), "2019-04-21");
    assert_eq!(conference.price_cents, 45_000);
    let reminder = target.notification(2).await.unwrap();
    assert_eq!(reminder.status, "COMPLETED", "it completed after all");
    assert_eq!(target.count("job").await, 0);
}

async fn a_dry_run_reports_everything_and_writes_nothing(backend: Backend) {
    let target = target(backend).await;
    let dry_run = ImportOptions {
        strict: false,
        dry_run: true,
    };
    let report = import_with(&target, &read_fixture("basic.sql"), dry_run)
        .await
        .unwrap();
    assert!(report.dry_run && !report.committed);
    assert_eq!(
        counts(&report),
        [(2, 2, 0, 0, 0), (11, 8, 0, 0, 3), (5, 4, 0, 0, 1)],
        "the same report as a real import"
    );
    assert_eq!(report.skipped.len(), 4);
    assert!(
        report
            .to_string()
            .ends_with("Dry run: nothing was written (the transaction was rolled back).\n")
    );
    assert_eq!(target.counts().await, [0, 0, 0, 0, 0]);
}

async fn a_truncated_or_corrupt_dump_is_refused_before_anything_is_written(backend: Backend) {
    let target = target(backend).await;
    import(&target, &read_fixture("clean.sql")).await;
    let before = target.counts().await;

    let err = techconf::legacy::source::read_dump_file(&fixture("truncated.sql")).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("truncated.sql"), "{message}");
    assert!(
        message.contains(
            "truncated dump: COPY data for table attendee starting at line 216 is not \
             terminated"
        ),
        "{message}"
    );

    // An impossible date in the last-but-one table, after every attendee has been read.
    let corrupt = fixture_text("basic.sql").replace("\t2019-04-20\t", "\t2019-04-31\t");
    let err = read_dump(corrupt.as_bytes(), Origin::Stdin).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "line 236: table conference, column date: invalid value \"2019-04-31\": day out of \
         range for the month"
    );
    assert_eq!(target.counts().await, before);
}

async fn attendees_of_a_conference_imported_earlier_are_linked_to_it(backend: Backend) {
    let target = target(backend).await;
    import(&target, &read_fixture("clean.sql")).await;
    let conference = target.conference(1).await;
    // A later dump of the attendee table alone (`pg_dump --table=attendee`).
    let partial = "COPY public.attendee (id, first_name, last_name, conference_id, job_position, \
                   email, company, city, state, interests, submitted_date, comments) FROM stdin;\n\
                   100\tLate\tComer\t1\tEngineer\tlate@example.com\tContoso\tSeattle\tWA\t\\N\t\
                   2023-04-01 10:00:00+00\t\\N\n\\.\n";
    let report = import(&target, &read_text(partial)).await;
    assert_eq!(report.tables.attendee.inserted, 1, "{report}");
    assert_eq!(
        target.attendee(100).await.unwrap().conference_id,
        conference.id
    );
}

async fn a_database_error_while_writing_leaves_nothing_behind(backend: Backend) {
    let target = target(backend).await;
    // Notifications are written last, after conferences and attendees.
    let refuse = match target.db.get_database_backend() {
        DbBackend::Sqlite => {
            "CREATE TRIGGER refuse BEFORE INSERT ON notification \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        }
        _ => {
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON notification \
             FOR EACH ROW EXECUTE FUNCTION refuse()"
        }
    };
    target.db.execute_unprepared(refuse).await.unwrap();

    let err = import_with(
        &target,
        &read_fixture("basic.sql"),
        ImportOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImportError::Database(_)), "{err}");
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert_eq!(target.counts().await, [0, 0, 0, 0, 0]);
}
