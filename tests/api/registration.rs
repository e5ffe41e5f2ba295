use serde_json::json;

use crate::helpers::{TestApp, assert_no_errors, error_code, on_both_backends, registration};

on_both_backends!(
    a_valid_registration_is_saved_with_its_confirmation_job,
    the_same_email_in_another_case_is_a_conflict,
    invalid_input_is_refused_and_nothing_is_saved,
    an_unknown_or_closed_conference_refuses_registration,
    attendee_emails_are_hidden_without_a_token,
);

async fn a_valid_registration_is_saved_with_its_confirmation_job(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app.register(&conference, "ada@example.org").await;
    assert_no_errors(&answer);
    assert_eq!(answer["data"]["registerAttendee"]["firstName"], "Ada");
    assert_eq!(
        answer["data"]["registerAttendee"]["conferenceId"],
        conference
    );
    assert_eq!(app.count("attendee").await, 1);
    assert_eq!(
        app.count("job WHERE kind = 'confirmation'").await,
        1,
        "a confirmation email is queued with the registration"
    );
}

async fn the_same_email_in_another_case_is_a_conflict(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    assert_no_errors(&app.register(&conference, "ada@example.org").await);
    let again = app.register(&conference, "ADA@Example.org").await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    let message = again["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("already registered"), "{message}");
    assert_eq!(app.count("attendee").await, 1);
    assert_eq!(
        app.count("job").await,
        1,
        "no job for the refused registration"
    );

    // The same person may register for another conference.
    let other = app.create_conference("GopherCon").await;
    assert_no_errors(&app.register(&other, "ada@example.org").await);
}

async fn invalid_input_is_refused_and_nothing_is_saved(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let query =
        "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }";
    let cases = [
        ("email", json!("not-an-email")),
        ("firstName", json!("   ")),
        ("company", json!("x".repeat(101))),
        ("comments", json!("bell \u{7}")),
    ];
    for (field, value) in cases {
        let mut input = registration(&conference, "ada@example.org");
        input[field] = value;
        let answer = app.graphql(None, query, json!({"input": input})).await;
        assert_eq!(error_code(&answer), Some("VALIDATION"), "{field}: {answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["field"], field,
            "the error names the field: {answer}"
        );
    }
    assert_eq!(app.count("attendee").await, 0);
    assert_eq!(app.count("job").await, 0);
}

async fn an_unknown_or_closed_conference_refuses_registration(app: TestApp) {
    let unknown = uuid::Uuid::now_v7().to_string();
    let answer = app.register(&unknown, "ada@example.org").await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
    let answer = app.register("not-a-uuid", "ada@example.org").await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");

    let closed = app
        .as_admin(
            "mutation { createConference(input: {name: \"Past\", startsOn: \"2020-01-01\", price: 0, address: \"x\", active: false}) { id } }",
            json!({}),
        )
        .await;
    let closed = closed["data"]["createConference"]["id"].as_str().unwrap();
    let answer = app.register(closed, "ada@example.org").await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    assert_eq!(app.count("attendee").await, 0);
}

async fn attendee_emails_are_hidden_without_a_token(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app
        .graphql(
            None,
            "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id email } }",
            json!({"input": registration(&conference, "ada@example.org")}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
    assert!(!answer.to_string().contains("ada@example.org"));

    let listed = app
        .as_admin(
            "query($c: ID!) { attendees(conferenceId: $c) { nodes { email } } }",
            json!({"c": conference}),
        )
        .await;
    assert_no_errors(&listed);
    assert_eq!(
        listed["data"]["attendees"]["nodes"][0]["email"],
        "ada@example.org"
    );
}
