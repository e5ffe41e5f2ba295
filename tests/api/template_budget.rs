//! Templates run on a budget: template bombs against the real server, each
//! refused with a typed error while `/healthz` keeps answering and memory stays bounded.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use techconf::store::notification::NewNotification;

use crate::helpers::{
    Backend, CREATE_NOTIFICATION, TestApp, assert_healthz_answers, error_code,
    healthz_stays_responsive, insert_attendees, new_database, on_both, spawn_app_on,
    spawn_app_with,
};

const PREVIEW: &str = "query($c: ID!, $s: String!, $m: String!) {
    previewNotification(conferenceId: $c, subject: $s, message: $m) { subject body }
}";

const NESTED_RANGES: &str =
    "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}";
const REPLACE_BOMB: &str = "{{ ('x'*100000000)|replace('x','xxxxxxxxxx')|length }}";

/// Resident memory of this test process, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

async fn preview(app: &TestApp, conference: &str, subject: &str, message: &str) -> Value {
    app.as_admin(
        PREVIEW,
        json!({"c": conference, "s": subject, "m": message}),
    )
    .await
}

#[track_caller]
fn assert_refused(answer: &Value, needle: &str) {
    assert_eq!(error_code(answer), Some("VALIDATION"), "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "expected `{needle}` in {answer}");
}

on_both!(
    previews_of_template_bombs_are_refused_while_healthz_answers,
    a_notification_that_would_outgrow_its_budget_is_refused_at_creation,
    a_poison_notification_fails_its_deliveries_and_the_server_lives,
);

async fn previews_of_template_bombs_are_refused_while_healthz_answers(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let conference = app.create_conference("RustConf").await;
    let before = rss_mib();

    // The preview: two nested loops over 'x'*100000 (refused: `*` repeats text).
    let nested_x = "{% for a in 'x'*100000 %}{% for b in 'x'*100000 %}{% endfor %}{% endfor %}";
    assert_refused(&preview(&app, &conference, "Hi", nested_x).await, "`*`");
    assert_refused(&preview(&app, &conference, "Hi", REPLACE_BOMB).await, "`*`");
    // The same growth without `*` is refused by the static size bound.
    let chained = format!(
        "{{{{ first_name{} }}}}",
        "|replace('a','aaaaaaaaaa')".repeat(8)
    );
    assert_refused(&preview(&app, &conference, "Hi", &chained).await, "limit");

    // Loops that pass the static check run out of fuel, on blocking threads: eight at
    // once, while /healthz is asked again and again.
    let bombs =
        futures::future::join_all((0..8).map(|_| preview(&app, &conference, "Hi", NESTED_RANGES)));
    let answers = healthz_stays_responsive(&app, bombs).await;
    for answer in &answers {
        assert_refused(answer, "TEMPLATE_FUEL");
    }
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 200, "memory grew by {grown} MiB");

    // An honest preview still renders.
    let ok = preview(
        &app,
        &conference,
        "Hi {{ first_name }}",
        "{{ conference.name }}",
    )
    .await;
    assert_eq!(
        ok["data"]["previewNotification"]["subject"], "Hi Ada",
        "{ok}"
    );
}

async fn a_notification_that_would_outgrow_its_budget_is_refused_at_creation(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let conference = app.create_conference("RustConf").await;
    let create = |subject: &str, message: &str| {
        app.as_admin(
            CREATE_NOTIFICATION,
            json!({"input": {"conferenceId": conference, "subject": subject, "message": message}}),
        )
    };
    // The 10 MB email.
    assert_refused(&create("Hi", "{{ 'x' * 10000000 }}").await, "`*`");
    // 10 MB through a loop: the output cap stops the trial render.
    let long = "{% for i in range(100000) %}{{ conference.address }}{% endfor %}";
    assert_refused(&create("Hi", long).await, "TEMPLATE_MAX_BODY_BYTES");
    // A budget blown only for attendees who are not Ada: creation tries the other branch.
    let poison = format!("{{% if first_name != 'Ada' %}}{NESTED_RANGES}{{% endif %}}");
    assert_refused(&create("Hi", &poison).await, "TEMPLATE_FUEL");
    let poison = format!("{{% if last_name == 'Hopper' %}}{NESTED_RANGES}{{% endif %}}");
    assert_refused(&create("Hi", &poison).await, "TEMPLATE_FUEL");
    assert_eq!(app.count("notification").await, 0);
}

/// Saves a notification as an older version would have, without today's template checks:
/// the lifecycle store writes the row and its plan job.
async fn insert_unchecked(app: &TestApp, conference: &str, message: &str) -> String {
    let (row, _signal) = techconf::store::notification::create(
        &app.db,
        NewNotification {
            name: "Hi".into(),
            conference_id: conference.parse().unwrap(),
            subject: "Hi {{ first_name }}".into(),
            message: message.into(),
            created_by: "test".into(),
            idempotency_key: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    row.id.to_string()
}

async fn failed_errors(app: &TestApp, id: &str) -> Vec<String> {
    let answer = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { deliveries(status: FAILED) { nodes { lastError } } } }",
            json!({"id": id}),
        )
        .await;
    answer["data"]["notification"]["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["lastError"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_poison_notification_fails_its_deliveries_and_the_server_lives(backend: Backend) {
    // The API and the worker in one process, as `serve --with-worker` runs them.
    let app = spawn_app_on(new_database(backend).await, &[], true).await;
    let conference = app.create_conference("RustConf").await;
    // Attendees First0..First4; the first, "Ada", takes the cheap branch.
    let ids = insert_attendees(&app.db, &conference, &crate::helpers::emails(5)).await;
    techconf::entity::attendee::Entity::update_many()
        .col_expr(
            techconf::entity::attendee::Column::FirstName,
            sea_orm::sea_query::Expr::value("Ada"),
        )
        .filter(techconf::entity::attendee::Column::Id.eq(ids[0]))
        .exec(&app.db)
        .await
        .unwrap();
    let before = rss_mib();

    // A fuel bomb for everyone but Ada: four deliveries fail with the reason, Ada's is sent.
    let fuel = insert_unchecked(
        &app,
        &conference,
        &format!("{{% if first_name != 'Ada' %}}{NESTED_RANGES}{{% endif %}}Hello"),
    )
    .await;
    let done = healthz_stays_responsive(&app, app.wait_until_finished(&fuel)).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(1), Some(4))
    );
    for error in failed_errors(&app, &fuel).await {
        assert!(error.contains("TEMPLATE_FUEL"), "{error}");
    }

    // The memory bomb behind the same condition: refused when the worker compiles
    // it, so every delivery fails with the reason and nothing is allocated.
    let memory = insert_unchecked(
        &app,
        &conference,
        &format!("{{% if first_name != 'Ada' %}}{REPLACE_BOMB}{{% endif %}}"),
    )
    .await;
    let done = app.wait_until_finished(&memory).await;
    assert_eq!(done["failed"].as_i64(), Some(5), "{done}");
    for error in failed_errors(&app, &memory).await {
        assert!(error.contains("`*`"), "{error}");
    }
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 200, "memory grew by {grown} MiB");
    // The process lives: the API still answers.
    assert_healthz_answers(&app).await;
    app.wait_until_no_jobs().await;
}
