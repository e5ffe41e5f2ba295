//! Notification names, newest-first listing, the date and money template filters, and
//! server-side drafts (saved, listed, continued, deleted, bounded, per token).
use serde_json::{Value, json};
use techconf::domain::Role;

use crate::helpers::{
    Backend, TestApp, assert_no_errors, error_code, on_both, on_both_backends, spawn_app_with,
};

on_both_backends!(
    a_name_defaults_to_the_subject_as_the_sample_attendee_reads_it,
    notifications_are_listed_newest_first_across_pages,
    dates_and_prices_are_written_out_by_template_filters,
    drafts_are_saved_continued_and_deleted_by_their_own_token,
    draft_fields_are_bounded_and_checked,
);
on_both!(each_token_keeps_a_bounded_number_of_drafts_per_conference);

const CREATE: &str = "mutation($input: CreateNotificationInput!) {
    createNotification(input: $input) { id name subject }
}";
const LIST: &str = "query($c: ID, $first: Int, $after: String) {
    notifications(conferenceId: $c, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id name }
    }
}";
const SAVE: &str = "mutation($input: SaveNotificationDraftInput!) {
    saveNotificationDraft(input: $input) { id conferenceId name subject message createdAt updatedAt }
}";
const DRAFTS: &str =
    "query($c: ID!) { notificationDrafts(conferenceId: $c) { id name subject message } }";
const DRAFT: &str = "query($id: ID!) { notificationDraft(id: $id) { id name subject message } }";
const DELETE: &str = "mutation($id: ID!) { deleteNotificationDraft(id: $id) }";

async fn create(app: &TestApp, input: Value) -> Value {
    let answer = app.as_admin(CREATE, json!({ "input": input })).await;
    assert_no_errors(&answer);
    answer["data"]["createNotification"].clone()
}

async fn a_name_defaults_to_the_subject_as_the_sample_attendee_reads_it(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    let unnamed = create(
        &app,
        json!({"conferenceId": c, "subject": "{{ conference.name }}: your badge",
               "message": "Attached."}),
    )
    .await;
    assert_eq!(unnamed["name"], "RustConf: your badge");
    assert_eq!(unnamed["subject"], "{{ conference.name }}: your badge");
    let blank = create(
        &app,
        json!({"conferenceId": c, "name": "   ", "subject": "Hi {{ last_name }}", "message": "x"}),
    )
    .await;
    assert_eq!(blank["name"], "Hi Lovelace");
    let named = create(
        &app,
        json!({"conferenceId": c, "name": "  Badges, second batch ", "subject": "Hi", "message": "x"}),
    )
    .await;
    assert_eq!(named["name"], "Badges, second batch");

    // A default from a long subject is cut to the name's limit.
    let long = create(
        &app,
        json!({"conferenceId": c, "subject": "é".repeat(300), "message": "x"}),
    )
    .await;
    let name = long["name"].as_str().unwrap();
    assert_eq!(name.chars().count(), 200, "{name}");
    assert!(name.ends_with('…'), "{name}");

    // A name given is checked: nothing is saved when it is too long or has control characters.
    let before = app.count("notification").await;
    for bad in ["n".repeat(201), "a\u{7}b".to_owned()] {
        let answer = app
            .as_admin(
                CREATE,
                json!({"input": {"conferenceId": c, "name": bad, "subject": "Hi", "message": "x"}}),
            )
            .await;
        assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["field"], "name",
            "{answer}"
        );
    }
    assert_eq!(app.count("notification").await, before);
}

async fn notifications_are_listed_newest_first_across_pages(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    let mut created = Vec::new();
    for i in 0..5 {
        let n = create(
            &app,
            json!({"conferenceId": c, "name": format!("N{i}"), "subject": "Hi", "message": "x"}),
        )
        .await;
        created.push(n["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..5 {
        let answer = app
            .as_admin(LIST, json!({"c": c, "first": 2, "after": after}))
            .await;
        assert_no_errors(&answer);
        let page = &answer["data"]["notifications"];
        assert_eq!(page["totalCount"], 5);
        for node in page["nodes"].as_array().unwrap() {
            seen.push(node["id"].as_str().unwrap().to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");
    // Across conferences too.
    let answer = app.as_admin(LIST, json!({"first": 1})).await;
    assert_eq!(answer["data"]["notifications"]["nodes"][0]["name"], "N4");
}

async fn dates_and_prices_are_written_out_by_template_filters(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    let preview = "query($c: ID!, $s: String!, $m: String!) {
        previewNotification(conferenceId: $c, subject: $s, message: $m) { subject body }
    }";
    let answer = app
        .as_admin(
            preview,
            json!({"c": c, "s": "{{ conference.name }} on {{ conference.starts_on | date(\"long\") }}",
                   "m": "{{ conference.starts_on | date('short') }}: {{ conference.price | money }} \
                         ({{ conference.price | money('USD') }}, {{ conference.currency }})"}),
        )
        .await;
    assert_no_errors(&answer);
    let rendered = &answer["data"]["previewNotification"];
    assert_eq!(rendered["subject"], "RustConf on Wednesday 12 May 2027");
    assert_eq!(rendered["body"], "12/05/2027: €199.50 (US$199.50, EUR)");

    // Bad arguments are refused when the notification is created, naming the problem.
    for (message, needle) in [
        (
            "{{ conference.starts_on | date('%Y%Y%Y') }}",
            "long, medium",
        ),
        ("{{ first_name | date }}", "2027-10-12"),
        ("{{ conference.price | money('euros') }}", "three-letter"),
    ] {
        let answer = app
            .as_admin(
                CREATE,
                json!({"input": {"conferenceId": c, "subject": "Hi", "message": message}}),
            )
            .await;
        assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
        let text = answer["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(needle), "`{text}` should mention `{needle}`");
    }
    assert_eq!(app.count("notification").await, 0);
}

async fn drafts_are_saved_continued_and_deleted_by_their_own_token(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    let other_conference = app.create_conference("PyCon").await;
    let saved = app
        .as_admin(
            SAVE,
            json!({"input": {"conferenceId": c, "subject": "Hello {{ first_na", "message": ""}}),
        )
        .await;
    assert_no_errors(&saved);
    let draft = &saved["data"]["saveNotificationDraft"];
    let id = draft["id"].as_str().unwrap().to_owned();
    assert_eq!(
        draft["name"], "",
        "half-written templates are kept as typed"
    );
    assert_eq!(draft["subject"], "Hello {{ first_na");

    // Saving again with the id replaces it: one draft, the latest text.
    let again = app
        .as_admin(
            SAVE,
            json!({"input": {"id": id, "conferenceId": c, "name": "Reminder",
                             "subject": "Hello {{ first_name }}", "message": "  Soon.\n"}}),
        )
        .await;
    assert_no_errors(&again);
    assert_eq!(app.count("notification_draft").await, 1);
    let read = app.as_admin(DRAFT, json!({"id": id})).await;
    assert_eq!(
        read["data"]["notificationDraft"],
        json!({"id": id, "name": "Reminder", "subject": "Hello {{ first_name }}", "message": "  Soon.\n"})
    );
    let listed = app.as_admin(DRAFTS, json!({"c": c})).await;
    assert_eq!(listed["data"]["notificationDrafts"][0]["id"], id.as_str());
    let elsewhere = app.as_admin(DRAFTS, json!({"c": other_conference})).await;
    assert_eq!(elsewhere["data"]["notificationDrafts"], json!([]));
    // A draft stays with its conference.
    let moved = app
        .as_admin(
            SAVE,
            json!({"input": {"id": id, "conferenceId": other_conference, "subject": "x", "message": "y"}}),
        )
        .await;
    assert_eq!(error_code(&moved), Some("VALIDATION"), "{moved}");

    // Another admin token neither sees, changes nor deletes it; an integrator cannot draft.
    let other = app.token(Role::Admin).await;
    let theirs = app.graphql(Some(&other), DRAFTS, json!({"c": c})).await;
    assert_eq!(theirs["data"]["notificationDrafts"], json!([]));
    for (query, variables) in [
        (DRAFT, json!({"id": id})),
        (DELETE, json!({"id": id})),
        (
            SAVE,
            json!({"input": {"id": id, "conferenceId": c, "subject": "x", "message": "y"}}),
        ),
    ] {
        let answer = app.graphql(Some(&other), query, variables).await;
        assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
    }
    let integrator = app.token(Role::Integrator).await;
    let answer = app
        .graphql(Some(&integrator), DRAFTS, json!({"c": c}))
        .await;
    assert_eq!(error_code(&answer), Some("FORBIDDEN"), "{answer}");

    let deleted = app.as_admin(DELETE, json!({"id": id})).await;
    assert_eq!(
        deleted["data"]["deleteNotificationDraft"], true,
        "{deleted}"
    );
    assert_eq!(app.count("notification_draft").await, 0);
    let gone = app.as_admin(DRAFT, json!({"id": id})).await;
    assert_eq!(error_code(&gone), Some("NOT_FOUND"), "{gone}");
}

async fn draft_fields_are_bounded_and_checked(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    for (input, field) in [
        (
            json!({"conferenceId": c, "subject": "s".repeat(501), "message": ""}),
            "subject",
        ),
        (
            json!({"conferenceId": c, "subject": "", "message": "m".repeat(50_001)}),
            "message",
        ),
        (
            json!({"conferenceId": c, "name": "n".repeat(201), "subject": "", "message": ""}),
            "name",
        ),
        (
            json!({"conferenceId": c, "subject": "a\nb", "message": ""}),
            "subject",
        ),
        (
            json!({"conferenceId": c, "subject": "", "message": "bell\u{7}"}),
            "message",
        ),
    ] {
        let answer = app.as_admin(SAVE, json!({ "input": input })).await;
        assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["field"], field,
            "{answer}"
        );
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    let answer = app
        .as_admin(
            SAVE,
            json!({"input": {"conferenceId": unknown, "subject": "", "message": ""}}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
    assert_eq!(app.count("notification_draft").await, 0);
}

async fn each_token_keeps_a_bounded_number_of_drafts_per_conference(backend: Backend) {
    let app = spawn_app_with(backend, &[("DRAFT_MAX_PER_CONFERENCE", "2")]).await;
    let c = app.create_conference("RustConf").await;
    let save =
        |subject: &str| json!({"input": {"conferenceId": c, "subject": subject, "message": ""}});
    let first = app.as_admin(SAVE, save("one")).await;
    assert_no_errors(&first);
    assert_no_errors(&app.as_admin(SAVE, save("two")).await);
    let third = app.as_admin(SAVE, save("three")).await;
    assert_eq!(error_code(&third), Some("LIMIT_EXCEEDED"), "{third}");
    assert!(
        third["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("DRAFT_MAX_PER_CONFERENCE"),
        "{third}"
    );
    assert_eq!(app.count("notification_draft").await, 2);
    // Replacing one is not a new one; another token has its own allowance.
    let id = first["data"]["saveNotificationDraft"]["id"].clone();
    let replaced = app
        .as_admin(
            SAVE,
            json!({"input": {"id": id, "conferenceId": c, "subject": "one, edited", "message": ""}}),
        )
        .await;
    assert_no_errors(&replaced);
    let other = app.token(Role::Admin).await;
    assert_no_errors(&app.graphql(Some(&other), SAVE, save("theirs")).await);
    // Most recently saved first.
    let listed = app.as_admin(DRAFTS, json!({"c": c})).await;
    let subjects: Vec<&str> = listed["data"]["notificationDrafts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["one, edited", "two"]);
}
