use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use techconf::domain::Role;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, assert_no_errors, error_code, on_both_backends, open_websocket};

on_both_backends!(
    reading_attendees_without_a_token_is_unauthenticated,
    an_unknown_token_is_unauthenticated,
    an_integrator_cannot_use_admin_mutations_but_can_read,
    a_created_admin_token_works_and_is_stored_hashed,
    websocket_connections_need_a_valid_token,
);

const ATTENDEES: &str = "query($c: ID!) { attendees(conferenceId: $c) { totalCount } }";

async fn reading_attendees_without_a_token_is_unauthenticated(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app.graphql(None, ATTENDEES, json!({"c": conference})).await;
    assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
    let answer = app
        .graphql(None, "{ notifications { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
    // Conferences are public.
    let answer = app
        .graphql(
            None,
            "{ conferences { totalCount nodes { name } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&answer);
    assert_eq!(answer["data"]["conferences"]["totalCount"], 1);
}

async fn an_unknown_token_is_unauthenticated(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app
        .graphql(
            Some("tc_not-a-real-token"),
            ATTENDEES,
            json!({"c": conference}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("invalid"), "{message}");
}

async fn an_integrator_cannot_use_admin_mutations_but_can_read(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let integrator = app.token(Role::Integrator).await;
    let answer = app
        .graphql(
            Some(&integrator),
            "mutation($c: ID!) { createNotification(input: {conferenceId: $c, subject: \"Hi\", message: \"Hello\"}) { id } }",
            json!({"c": conference}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("FORBIDDEN"), "{answer}");
    let answer = app
        .graphql(
            Some(&integrator),
            "mutation { createConference(input: {name: \"X\", startsOn: \"2027-01-01\", price: 1, address: \"y\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("FORBIDDEN"), "{answer}");
    assert_eq!(app.count("notification").await, 0);

    let answer = app
        .graphql(Some(&integrator), ATTENDEES, json!({"c": conference}))
        .await;
    assert_no_errors(&answer);
    let viewer = app
        .graphql(Some(&integrator), "{ viewer { role } }", json!({}))
        .await;
    assert_eq!(viewer["data"]["viewer"]["role"], "INTEGRATOR");
}

async fn a_created_admin_token_works_and_is_stored_hashed(app: TestApp) {
    let token = app.token(Role::Admin).await;
    let answer = app
        .graphql(Some(&token), "{ viewer { name role } }", json!({}))
        .await;
    assert_eq!(answer["data"]["viewer"]["role"], "ADMIN", "{answer}");
    assert_eq!(
        app.count(&format!("api_token WHERE token_hash = '{token}'"))
            .await,
        0,
        "the token itself is never stored"
    );
    assert_eq!(app.count("api_token").await, 1);
}

/// Opens `/graphql/ws` with `protocol`, sends `connection_init` with `payload`, and returns
/// the first message the server answers with (or the close reason).
async fn ws_init(app: &TestApp, protocol: &str, payload: Value) -> String {
    let mut socket = open_websocket(&app.address, protocol).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": payload}).to_string(),
        ))
        .await
        .unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Close(frame))) => {
                return format!(
                    "closed: {}",
                    frame.map(|f| f.reason.to_string()).unwrap_or_default()
                );
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return format!("error: {err}"),
            None => return "closed".into(),
        }
    }
}

async fn websocket_connections_need_a_valid_token(app: TestApp) {
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let refused = ws_init(&app, protocol, json!({})).await;
        assert!(!refused.contains("connection_ack"), "{protocol}: {refused}");
        assert!(
            refused.contains("API token"),
            "{protocol}: the reason is given: {refused}"
        );

        let refused = ws_init(&app, protocol, json!({"token": "tc_wrong"})).await;
        assert!(!refused.contains("connection_ack"), "{protocol}: {refused}");

        let bearer = format!("Bearer {}", app.admin_token);
        let accepted = ws_init(&app, protocol, json!({"authorization": bearer})).await;
        assert!(
            accepted.contains("connection_ack"),
            "{protocol}: {accepted}"
        );
        let accepted = ws_init(&app, protocol, json!({"token": app.admin_token})).await;
        assert!(
            accepted.contains("connection_ack"),
            "{protocol}: {accepted}"
        );
    }
}
