use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};
use techconf::domain::Role;

use crate::helpers::{TestApp, assert_no_errors, error_code, on_both_backends};

on_both_backends!(
    a_notification_is_queued_with_its_plan_job,
    a_bad_template_is_refused_and_nothing_is_saved,
    the_notification_and_its_job_are_written_together_or_not_at_all,
    an_idempotency_key_returns_the_first_notification,
    an_unknown_notification_is_not_found,
);

const CREATE: &str = "mutation($input: CreateNotificationInput!) {
    createNotification(input: $input) { id status total sent failed pending subject conference { name } }
}";

fn input(conference: &str, subject: &str, message: &str) -> Value {
    json!({"input": {"conferenceId": conference, "subject": subject, "message": message}})
}

async fn a_notification_is_queued_with_its_plan_job(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app
        .as_admin(
            CREATE,
            input(
                &conference,
                "Hello {{ first_name }}",
                "See you at {{ conference.name }}",
            ),
        )
        .await;
    assert_no_errors(&answer);
    let n = &answer["data"]["createNotification"];
    assert_eq!(n["status"], "QUEUED");
    assert_eq!(n["total"], 0);
    assert_eq!(n["pending"], 0);
    assert_eq!(n["conference"]["name"], "RustConf");
    assert_eq!(app.count("notification").await, 1);
    assert_eq!(app.count("job WHERE kind = 'plan'").await, 1);

    let id = n["id"].as_str().unwrap();
    let read = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { status subject } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        read["data"]["notification"]["subject"],
        "Hello {{ first_name }}"
    );
}

async fn a_bad_template_is_refused_and_nothing_is_saved(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    for (subject, message, field, needle) in [
        ("Hello {{ first_name", "x", "subject", "syntax"),
        (
            "Hello",
            "{{ favourite_colour }}",
            "message",
            "favourite_colour",
        ),
        (
            "Hello {{ conference.budget }}",
            "x",
            "subject",
            "conference.budget",
        ),
        ("", "x", "subject", "empty"),
    ] {
        let answer = app
            .as_admin(CREATE, input(&conference, subject, message))
            .await;
        assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["field"], field,
            "{answer}"
        );
        let text = answer["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(needle), "`{text}` should mention `{needle}`");
    }
    assert_eq!(app.count("notification").await, 0);
    assert_eq!(app.count("job").await, 0);
}

async fn the_notification_and_its_job_are_written_together_or_not_at_all(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    // Make every job insert fail, as a full disk or a dropped connection would.
    let trigger = match app.db.get_database_backend() {
        DbBackend::Sqlite => "CREATE TRIGGER refuse_jobs BEFORE INSERT ON job \
             BEGIN SELECT RAISE(ABORT, 'job table unavailable'); END;"
            .to_owned(),
        _ => "CREATE FUNCTION refuse_jobs() RETURNS trigger AS $$ \
              BEGIN RAISE EXCEPTION 'job table unavailable'; END $$ LANGUAGE plpgsql; \
              CREATE TRIGGER refuse_jobs BEFORE INSERT ON job \
              FOR EACH ROW EXECUTE FUNCTION refuse_jobs();"
            .to_owned(),
    };
    app.db.execute_unprepared(&trigger).await.unwrap();
    let answer = app
        .as_admin(CREATE, input(&conference, "Hi", "Hello"))
        .await;
    assert_eq!(error_code(&answer), Some("INTERNAL"), "{answer}");
    assert!(
        !answer.to_string().contains("job table unavailable"),
        "database text never reaches clients: {answer}"
    );
    assert_eq!(
        app.count("notification").await,
        0,
        "no notification without its job"
    );
}

async fn an_idempotency_key_returns_the_first_notification(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let mut request = input(&conference, "Hi {{ first_name }}", "Hello");
    request["input"]["idempotencyKey"] = json!("send-2027-05-01");
    let first = app.as_admin(CREATE, request.clone()).await;
    let again = app.as_admin(CREATE, request.clone()).await;
    assert_no_errors(&first);
    assert_no_errors(&again);
    assert_eq!(
        first["data"]["createNotification"]["id"],
        again["data"]["createNotification"]["id"]
    );
    assert_eq!(app.count("notification").await, 1);
    assert_eq!(app.count("job").await, 1);

    // The same key with a different request is a client bug worth reporting.
    let mut changed = request.clone();
    changed["input"]["message"] = json!("Something else");
    let answer = app.as_admin(CREATE, changed).await;
    assert_eq!(error_code(&answer), Some("CONFLICT"), "{answer}");

    // Keys belong to the token that sent them.
    let other = app.token(Role::Admin).await;
    let answer = app.graphql(Some(&other), CREATE, request).await;
    assert_no_errors(&answer);
    assert_ne!(
        answer["data"]["createNotification"]["id"],
        first["data"]["createNotification"]["id"]
    );
    assert_eq!(app.count("notification").await, 2);
}

async fn an_unknown_notification_is_not_found(app: TestApp) {
    let id = uuid::Uuid::now_v7().to_string();
    let answer = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
    let answer = app.as_admin(CREATE, input(&id, "Hi", "Hello")).await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
}
