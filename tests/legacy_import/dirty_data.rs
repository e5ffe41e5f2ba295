//! Rows TechConf would refuse are skipped and reported with their reason, never dropped
//! silently; `--strict` turns any of them into a refusal of the whole import.
use chrono::Utc;
use sea_orm::{ActiveValue::Set, EntityTrait};
use techconf::entity::attendee;
use techconf::legacy::{ImportError, ImportOptions, Problem};
use uuid::Uuid;

use crate::helpers::{
    Backend, basic_with_attendees, import, import_with, on_both_backends, read_fixture, read_text,
    target,
};

on_both_backends!(
    each_kind_of_dirty_row_is_skipped_and_reported_with_its_reason,
    an_email_already_registered_in_techconf_is_a_duplicate,
    strict_refuses_a_dump_with_any_problem_and_writes_nothing,
);

async fn each_kind_of_dirty_row_is_skipped_and_reported_with_its_reason(backend: Backend) {
    let target = target(backend).await;
    let text = basic_with_attendees(&[
        // The same legacy id twice.
        "11\tGrace\tHopper\t1\tAdmiral\tgrace2@navy.example.mil\tUS Navy\tArlington\tVA\t\\N\t2019-03-10 10:10:10+00\t\\N",
        // A blank last name.
        "12\tMadonna\t \t1\tSinger\tmadonna@example.com\tLabel\tBay City\tMI\t\\N\t2019-03-10 10:10:10+00\t\\N",
    ]);
    let report = import(&target, &read_text(&text)).await;

    let skipped: Vec<(&str, i32, Option<u64>, Problem)> = report
        .skipped
        .iter()
        .map(|s| (s.table, s.legacy_id, s.line, s.problem))
        .collect();
    assert_eq!(
        skipped,
        [
            ("attendee", 3, Some(219), Problem::DuplicateEmail),
            ("attendee", 4, Some(220), Problem::InvalidEmail),
            ("attendee", 6, Some(222), Problem::MissingConference),
            ("attendee", 11, Some(228), Problem::DuplicateId),
            ("attendee", 12, Some(229), Problem::InvalidValue),
            ("notification", 5, Some(262), Problem::EmptySubject),
        ]
    );
    let reason = |id: i32| {
        report
            .skipped
            .iter()
            .find(|s| s.legacy_id == id && s.table == "attendee")
            .unwrap()
            .reason
            .as_str()
    };
    assert_eq!(
        reason(3),
        "bob.smith@example.COM is already registered for conference 1 by attendee 2 \
         (emails are compared ignoring case)"
    );
    assert_eq!(
        reason(4),
        "email \"not-an-email\" is not a valid email address"
    );
    assert_eq!(
        reason(6),
        "conference 99 is neither in the source nor imported before"
    );
    assert!(reason(11).contains("more than once"), "{}", reason(11));
    assert_eq!(reason(12), "last_name: must not be empty");
    assert_eq!(report.skipped[5].reason, "the subject is empty");

    assert_eq!(report.tables.attendee.skipped, 5);
    assert_eq!(report.tables.notification.skipped, 1);
    // The first registration of a duplicate pair is kept, the first row of a duplicate id too.
    assert!(target.attendee(2).await.is_some());
    assert!(target.attendee(3).await.is_none());
    assert_eq!(
        target.attendee(11).await.unwrap().email,
        "grace@navy.example.mil"
    );
    assert!(target.notification(5).await.is_none());
}

async fn an_email_already_registered_in_techconf_is_a_duplicate(backend: Backend) {
    let target = target(backend).await;
    import(&target, &read_fixture("basic.sql")).await;
    // Someone registers in TechConf itself for the imported conference...
    let seattle = target.conference(1).await;
    let newcomer = Uuid::now_v7();
    attendee::Entity::insert(attendee::ActiveModel {
        id: Set(newcomer),
        conference_id: Set(seattle.id),
        first_name: Set("New".into()),
        last_name: Set("Comer".into()),
        email: Set("newcomer@example.com".into()),
        job_position: Set("Engineer".into()),
        company: Set("Contoso".into()),
        city: Set("Seattle".into()),
        state: Set("WA".into()),
        interests: Set(None),
        comments: Set(None),
        submitted_at: Set(Utc::now()),
        legacy_id: Set(None),
    })
    .exec_without_returning(&target.db)
    .await
    .unwrap();

    // ...and a later backup has the same person, plus someone reusing an imported email.
    let text = basic_with_attendees(&[
        "12\tNew\tComer\t1\tEngineer\tNEWCOMER@example.com\tContoso\tSeattle\tWA\t\\N\t2019-03-11 10:00:00+00\t\\N",
        "13\tAmazing\tGrace\t1\tSinger\tGrace@Navy.example.mil\tChoir\tArlington\tVA\t\\N\t2019-03-12 10:00:00+00\t\\N",
        "14\tAlan\tTuring\t1\tMathematician\talan@example.org\tBletchley\tLondon\tLDN\t\\N\t2019-03-13 10:00:00+00\t\\N",
    ]);
    let report = import(&target, &read_text(&text)).await;

    let duplicates: Vec<(i32, &str)> = report
        .skipped
        .iter()
        .filter(|s| s.problem == Problem::DuplicateEmail)
        .map(|s| (s.legacy_id, s.reason.as_str()))
        .collect();
    assert_eq!(duplicates.len(), 3, "{duplicates:?}");
    assert_eq!(duplicates[0].0, 3);
    assert_eq!(duplicates[1].0, 12);
    assert_eq!(
        duplicates[1].1,
        format!(
            "NEWCOMER@example.com is already registered for conference 1 by {newcomer}, who \
             registered in TechConf (emails are compared ignoring case)"
        )
    );
    assert_eq!(duplicates[2].0, 13);
    assert!(
        duplicates[2].1.contains("by attendee 11"),
        "{}",
        duplicates[2].1
    );
    assert_eq!(
        report.tables.attendee.inserted, 1,
        "only Alan Turing is new"
    );
    assert!(target.attendee(14).await.is_some());
    assert_eq!(target.count("attendee").await, 8 + 1 + 1);
}

async fn strict_refuses_a_dump_with_any_problem_and_writes_nothing(backend: Backend) {
    let target = target(backend).await;
    let strict = ImportOptions {
        strict: true,
        dry_run: false,
    };
    let err = import_with(&target, &read_fixture("basic.sql"), strict)
        .await
        .unwrap_err();
    let ImportError::Strict(report) = &err else {
        panic!("expected a strict refusal, got {err}");
    };
    assert_eq!(report.skipped.len(), 4);
    assert!(!report.committed);
    assert_eq!(
        err.to_string(),
        "4 row(s) cannot be imported and --strict was given; nothing was imported"
    );
    assert_eq!(target.counts().await, [0, 0, 0, 0, 0]);

    // A clean dump passes.
    let report = import_with(&target, &read_fixture("clean.sql"), strict)
        .await
        .unwrap();
    assert!(report.committed && report.skipped.is_empty());
    assert_eq!(target.counts().await, [2, 4, 2, 0, 0]);
}
