use crate::helpers::{TestApp, on_both_backends};

on_both_backends!(seeding_twice_changes_nothing);

async fn seeding_twice_changes_nothing(app: TestApp) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.json")).unwrap();
    let seed = techconf::service::seed::parse(&text).unwrap();
    assert!(
        seed.attendees.len() >= 200,
        "the demo has a few hundred attendees"
    );
    let first = techconf::service::seed::load(&app.db, &seed).await.unwrap();
    assert_eq!(first.conferences_added, 1);
    assert_eq!(first.attendees_added, seed.attendees.len());
    let second = techconf::service::seed::load(&app.db, &seed).await.unwrap();
    assert_eq!(second.conferences_added, 0);
    assert_eq!(second.attendees_added, 0);
    assert_eq!(second.attendees_present, seed.attendees.len());
    assert_eq!(app.count("attendee").await, seed.attendees.len() as i64);
    assert_eq!(app.count("job").await, 0, "seeding sends no email");
}
