use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{
    TestApp, assert_no_errors, emails, error_code, insert_attendees, on_both_backends,
};

on_both_backends!(
    walking_250_attendees_visits_each_exactly_once,
    search_filters_case_insensitively,
    page_sizes_and_cursors_are_checked,
);

async fn add_attendees(app: &TestApp, conference: &str, n: usize) -> HashSet<String> {
    insert_attendees(&app.db, conference, &emails(n))
        .await
        .into_iter()
        .map(|id| id.to_string())
        .collect()
}

const PAGE: &str = "query($c: ID!, $after: String, $first: Int, $search: String) {
    attendees(conferenceId: $c, first: $first, after: $after, search: $search) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id } }
    }
}";

async fn walking_250_attendees_visits_each_exactly_once(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let expected = add_attendees(&app, &conference, 250).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let answer = app
            .as_admin(PAGE, json!({"c": conference, "first": 100, "after": after}))
            .await;
        assert_no_errors(&answer);
        let page = &answer["data"]["attendees"];
        assert_eq!(page["totalCount"], 250);
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    let unique: HashSet<String> = seen.into_iter().collect();
    assert_eq!(unique, expected);
}

async fn search_filters_case_insensitively(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    add_attendees(&app, &conference, 30).await;
    let count = |answer: &serde_json::Value| answer["data"]["attendees"]["totalCount"].clone();
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "search": "hOPPer"}))
        .await;
    assert_eq!(count(&answer), 3, "{answer}");
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "search": "PERSON12@"}))
        .await;
    assert_eq!(count(&answer), 1, "{answer}");
    // LIKE wildcards are matched literally.
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "search": "100%_"}))
        .await;
    assert_eq!(count(&answer), 1, "{answer}");
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "search": "%"}))
        .await;
    assert_eq!(count(&answer), 1, "{answer}");
}

async fn page_sizes_and_cursors_are_checked(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "first": 101}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "first": -1}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    let answer = app
        .as_admin(PAGE, json!({"c": conference, "after": "garbage!"}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
}
