use std::collections::HashSet;

use chrono::Utc;
use sea_orm::EntityTrait;
use serde_json::json;
use techconf::entity::attendee;

use crate::helpers::{TestApp, assert_no_errors, error_code, on_both_backends};

on_both_backends!(
    walking_250_attendees_visits_each_exactly_once,
    search_filters_case_insensitively,
    page_sizes_and_cursors_are_checked,
);

async fn add_attendees(app: &TestApp, conference: &str, n: usize) -> HashSet<String> {
    let conference_id = conference.parse().unwrap();
    let rows: Vec<_> = (0..n)
        .map(|i| {
            techconf::service::attendee::active(&attendee::Model {
                id: uuid::Uuid::now_v7(),
                conference_id,
                first_name: format!("First{i}"),
                last_name: if i % 10 == 0 {
                    "Hopper".into()
                } else {
                    format!("Last{i}")
                },
                email: format!("person{i}@example.org"),
                job_position: "Engineer".into(),
                company: if i == 7 {
                    "100%_Pure Ltd".into()
                } else {
                    "Acme".into()
                },
                city: "Porto".into(),
                state: "PT".into(),
                interests: None,
                comments: None,
                submitted_at: Utc::now(),
                legacy_id: None,
            })
        })
        .collect();
    let ids = rows
        .iter()
        .map(|r| r.id.clone().unwrap().to_string())
        .collect();
    for chunk in rows.chunks(100) {
        attendee::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.db)
            .await
            .unwrap();
    }
    ids
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
