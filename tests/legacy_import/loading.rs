//! What an import writes: each legacy table mapped onto TechConf's, every value carried over.
use chrono::{DateTime, Utc};
use techconf::legacy::import::CREATED_BY;

use crate::helpers::{
    Backend, fixture_text, import, on_both_backends, read_fixture, read_text, target,
};

fn utc(value: &str) -> DateTime<Utc> {
    value.parse().unwrap()
}

on_both_backends!(
    a_dump_is_imported_with_its_values_intact,
    each_legacy_status_maps_to_a_terminal_status_and_nothing_is_queued,
    a_notification_without_a_submitted_date_takes_the_next_best_time,
);

async fn a_dump_is_imported_with_its_values_intact(backend: Backend) {
    let target = target(backend).await;
    let report = import(&target, &read_fixture("basic.sql")).await;

    assert!(report.committed);
    let t = report.tables;
    assert_eq!((t.conference.read, t.conference.inserted), (2, 2));
    assert_eq!(
        (t.attendee.read, t.attendee.inserted, t.attendee.skipped),
        (11, 8, 3)
    );
    assert_eq!(
        (
            t.notification.read,
            t.notification.inserted,
            t.notification.skipped
        ),
        (5, 4, 1)
    );
    assert_eq!(target.counts().await, [2, 8, 4, 0, 0]);

    let seattle = target.conference(1).await;
    assert_eq!(seattle.name, "TechConf 2019");
    assert_eq!(seattle.starts_on.to_string(), "2019-04-20");
    assert_eq!(seattle.price_cents, 49_500);
    assert!(seattle.active);
    let boston = target.conference(2).await;
    assert_eq!(
        boston.price_cents, 29_999,
        "299.99 is rounded to whole cents"
    );
    assert!(!boston.active);
    assert_eq!(
        boston.address, "Hynes Convention Center, 900 Boylston St, Boston, MA 02115",
        "a multi-line legacy address becomes one line"
    );

    let alice = target.attendee(1).await.unwrap();
    assert_eq!(alice.conference_id, seattle.id);
    assert_eq!(alice.submitted_at, utc("2019-03-01T09:15:22.123456Z"));
    let bob = target.attendee(2).await.unwrap();
    assert_eq!(
        bob.email, "Bob.Smith@Example.com",
        "the email keeps its case"
    );
    assert_eq!(
        (bob.interests, bob.comments),
        (None, None),
        "NULLs stay NULL"
    );
    let rene = target.attendee(5).await.unwrap();
    assert_eq!(
        (
            rene.first_name.as_str(),
            rene.company.as_str(),
            rene.city.as_str()
        ),
        ("René", "Société Générale", "Montréal"),
        "octal escapes"
    );
    assert_eq!(rene.interests.as_deref(), Some("Serverless\tContainers"));
    assert_eq!(
        rene.comments.as_deref(),
        Some("Allergies:\n- peanuts\n- shellfish")
    );
    let zoe = target.attendee(7).await.unwrap();
    assert_eq!(zoe.conference_id, boston.id);
    assert_eq!(
        (zoe.first_name.as_str(), zoe.company.as_str()),
        ("Zoë", "Studio \"Blue\""),
        "hex escapes"
    );
    assert_eq!(
        zoe.comments.as_deref(),
        Some("Windows path: C:\\Users\\zoe")
    );
    assert_eq!(zoe.submitted_at, utc("2018-05-19T23:59:59.999999Z"));
    let tanaka = target.attendee(8).await.unwrap();
    assert_eq!(tanaka.company, "東京大学");
    assert_eq!(
        tanaka.submitted_at,
        utc("2018-05-20T12:56:53.123456Z"),
        "+05:30 converted to UTC"
    );
    let eve = target.attendee(9).await.unwrap();
    assert_eq!(
        eve.submitted_at,
        utc("2018-05-21T13:00:00Z"),
        "-06 converted to UTC"
    );
    assert_eq!(eve.interests.as_deref(), Some("Web\\Mobile"));
    let frank = target.attendee(10).await.unwrap();
    assert_eq!(frank.comments.as_deref(), Some("First line\r\nSecond line"));
    let grace = target.attendee(11).await.unwrap();
    assert_eq!(grace.comments.as_deref(), Some("Trailing backslash \\"));

    let keynote = target.notification(1).await.unwrap();
    assert_eq!(keynote.subject, "Keynote location change");
    assert_eq!(
        keynote.message,
        "Dear attendee,\n\nThe keynote moves to Hall B."
    );
    assert_eq!(
        keynote.conference_id, None,
        "legacy notifications had no conference"
    );
    assert_eq!(keynote.submitted_at, utc("2019-04-01T10:00:00.000001Z"));
    assert_eq!(keynote.created_by, CREATED_BY);
    assert_eq!(keynote.created_by, "legacy-import");
    assert_eq!(keynote.idempotency_key, None);
}

async fn each_legacy_status_maps_to_a_terminal_status_and_nothing_is_queued(backend: Backend) {
    let target = target(backend).await;
    let report = import(&target, &read_fixture("basic.sql")).await;

    // "Notifications submitted" with a completed_date: COMPLETED, counts unknown.
    let n = target.notification(1).await.unwrap();
    assert_eq!(n.status, "COMPLETED");
    assert_eq!((n.total, n.sent, n.failed, n.cancelled), (0, 0, 0, 0));
    assert_eq!(n.completed_at, Some(utc("2019-04-01T10:02:13.654321Z")));
    assert_eq!(n.legacy_status.as_deref(), Some("Notifications submitted"));

    // "Notifications submitted" never completed: CANCELLED, with a note in the report.
    let n = target.notification(2).await.unwrap();
    assert_eq!(n.status, "CANCELLED");
    assert_eq!((n.total, n.sent), (0, 0));
    assert_eq!(n.completed_at, None);
    assert_eq!(n.legacy_status.as_deref(), Some("Notifications submitted"));

    // "Notified 5 attendees": COMPLETED, 5 of 5 sent.
    let n = target.notification(3).await.unwrap();
    assert_eq!(n.status, "COMPLETED");
    assert_eq!((n.total, n.sent, n.failed), (5, 5, 0));
    assert_eq!(n.completed_at, Some(utc("2019-04-03T08:31:02.5Z")));
    assert_eq!(n.legacy_status.as_deref(), Some("Notified 5 attendees"));

    // Anything else: CANCELLED, the original text kept.
    let n = target.notification(4).await.unwrap();
    assert_eq!(n.status, "CANCELLED");
    assert_eq!(
        n.legacy_status.as_deref(),
        Some("Failed: SMTP connection refused")
    );

    let noted: Vec<(i32, &str)> = report
        .notes
        .iter()
        .map(|note| (note.legacy_id, note.note.as_str()))
        .collect();
    assert_eq!(noted.len(), 2, "{noted:?}");
    assert_eq!(noted[0].0, 2);
    assert!(noted[0].1.contains("never completed"), "{}", noted[0].1);
    assert!(noted[0].1.contains("CANCELLED"), "{}", noted[0].1);
    assert_eq!(noted[1].0, 4);
    assert!(
        noted[1].1.contains("\"Failed: SMTP connection refused\""),
        "{}",
        noted[1].1
    );

    // Imported notifications are history: no plan or send job, no delivery.
    assert_eq!(target.count("job").await, 0);
    assert_eq!(target.count("delivery").await, 0);
}

async fn a_notification_without_a_submitted_date_takes_the_next_best_time(backend: Backend) {
    let target = target(backend).await;
    let text = fixture_text("basic.sql").replace(
        "5\tNotified 2 attendees",
        "6\tNotified 1 attendee\tOnly completed.\t\\N\t2019-05-01 08:00:00+02\tDone\n\
         7\tNotified 1 attendee\tNo dates at all.\t\\N\t\\N\tUndated\n\
         5\tNotified 2 attendees",
    );
    let before = Utc::now();
    let report = import(&target, &read_text(&text)).await;

    let completed_only = target.notification(6).await.unwrap();
    assert_eq!(completed_only.submitted_at, utc("2019-05-01T06:00:00Z"));
    assert_eq!(
        completed_only.completed_at,
        Some(utc("2019-05-01T06:00:00Z"))
    );
    let undated = target.notification(7).await.unwrap();
    assert!(undated.submitted_at >= before - chrono::Duration::seconds(1));
    assert_eq!(undated.completed_at, None);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.legacy_id == 7 && n.note.contains("time of the first import")),
        "{report}"
    );

    // Importing again keeps that first time: the row is unchanged.
    let again = import(&target, &read_text(&text)).await;
    assert_eq!(again.tables.notification.updated, 0, "{again}");
    assert_eq!(
        target.notification(7).await.unwrap().submitted_at,
        undated.submitted_at
    );
}
