//! Public registration is rate limited per client address and per conference.
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, registration, spawn_app_with};

const REGISTER: &str =
    "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }";

/// Registers `email`, optionally as if forwarded for `client`; returns the status, the
/// `Retry-After` header and the answer.
async fn register_from(
    app: &TestApp,
    conference: &str,
    email: &str,
    forwarded_for: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({"query": REGISTER, "variables": {"input": registration(conference, email)}}));
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn a_client_over_its_rate_gets_rate_limited_with_retry_after() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("REGISTRATION_RATE_PER_CLIENT", "6"),
            ("REGISTRATION_BURST_PER_CLIENT", "2"),
        ],
    )
    .await;
    let conference = app.create_conference("RustConf").await;
    for i in 0..2 {
        let (status, _, answer) =
            register_from(&app, &conference, &format!("a{i}@example.org"), None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(error_code(&answer), None, "{answer}");
    }
    // Without a trusted header configured, X-Forwarded-For is ignored: still the same client.
    let (status, retry_after, answer) =
        register_from(&app, &conference, "a2@example.org", Some("198.51.100.7")).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(error_code(&answer), Some("RATE_LIMITED"), "{answer}");
    let seconds = answer["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=10).contains(&seconds), "{answer}");
    assert_eq!(retry_after, Some(seconds.to_string()));
    assert_eq!(app.count("attendee").await, 2);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("TRUSTED_CLIENT_IP_HEADER", "X-Forwarded-For"),
            ("REGISTRATION_RATE_PER_CLIENT", "1"),
            ("REGISTRATION_BURST_PER_CLIENT", "1"),
            ("REGISTRATION_RATE_PER_CONFERENCE", "1"),
            ("REGISTRATION_BURST_PER_CONFERENCE", "3"),
        ],
    )
    .await;
    let conference = app.create_conference("RustConf").await;
    // The proxy appends the client it saw: the last entry counts, not what the client wrote.
    let (status, _, answer) = register_from(
        &app,
        &conference,
        "a@example.org",
        Some("10.0.0.1, 203.0.113.1"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, answer) = register_from(
        &app,
        &conference,
        "b@example.org",
        Some("10.0.0.1, 203.0.113.1"),
    )
    .await;
    assert_eq!(status, 429, "{answer}");
    let (status, _, answer) = register_from(
        &app,
        &conference,
        "c@example.org",
        Some("10.0.0.1, 203.0.113.2"),
    )
    .await;
    assert_eq!(status, 200, "another client: {answer}");
    let (status, _, answer) =
        register_from(&app, &conference, "d@example.org", Some("203.0.113.3")).await;
    assert_eq!(status, 200, "{answer}");
    // The conference's own rate (burst 3) now refuses a fourth client too.
    let (status, _, answer) =
        register_from(&app, &conference, "e@example.org", Some("203.0.113.4")).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(error_code(&answer), Some("RATE_LIMITED"));
    // Another conference is not affected.
    let other = app.create_conference("PyCon").await;
    let (status, _, answer) =
        register_from(&app, &other, "e@example.org", Some("203.0.113.4")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.count("attendee").await, 4);
}

#[tokio::test]
async fn zero_turns_the_registration_rate_limits_off() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("REGISTRATION_RATE_PER_CLIENT", "0"),
            ("REGISTRATION_RATE_PER_CONFERENCE", "0"),
        ],
    )
    .await;
    let conference = app.create_conference("RustConf").await;
    for i in 0..15 {
        let (status, _, answer) =
            register_from(&app, &conference, &format!("a{i}@example.org"), None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(error_code(&answer), None, "{answer}");
    }
}
