//! Connections are bounded, tried with real sockets: slow headers and stalled bodies are cut
//! off, WebSockets must send `connection_init` in time, sockets per token and subscriptions
//! per socket are capped, and revoking a token closes its sockets.
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use techconf::domain::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Backend, TestApp, on_both, spawn_app_with};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&received).into(), Instant::now()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let app = spawn_app_with(Backend::Sqlite, &[("HTTP_HEADER_READ_TIMEOUT_MS", "500")]).await;
    let mut stream = TcpStream::connect(host(&app)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header line every 200 ms, never the blank line that ends them.
    let trickle = async {
        for i in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    let (_, closed) = tokio::time::timeout(WAIT, read_until_closed(&mut stream))
        .await
        .expect("the server closed the connection");
    assert!(
        closed - started < Duration::from_secs(4),
        "cut off after {:?}",
        closed - started
    );
    // Honest requests are unaffected.
    let ok = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success());
}

#[tokio::test]
async fn a_body_that_stalls_is_cut_off_without_a_server_error() {
    let app = spawn_app_with(Backend::Sqlite, &[("HTTP_BODY_READ_TIMEOUT_MS", "500")]).await;
    let mut stream = TcpStream::connect(host(&app)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let (answer, closed) = tokio::time::timeout(WAIT, read_until_closed(&mut stream))
        .await
        .expect("the server answered and closed");
    assert!(
        closed - started < Duration::from_secs(3),
        "{:?}",
        closed - started
    );
    let status_line = answer.lines().next().unwrap_or_default();
    assert!(
        !status_line.contains(" 500 ") && !status_line.is_empty(),
        "{answer}"
    );
    assert!(
        status_line.contains(" 408 ") || status_line.contains(" 400 "),
        "{answer}"
    );
}

async fn open_socket(app: &TestApp) -> Socket {
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next text message, or the close frame's code and reason.
async fn next(socket: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the server answered in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or((0, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                }));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err((0, "dropped".into())),
        }
    }
}

async fn init(socket: &mut Socket, token: &str) -> Result<Value, (u16, String)> {
    send(
        socket,
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}),
    )
    .await;
    next(socket).await
}

async fn subscribe(socket: &mut Socket, id: &str, conference: &str) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {
            "query": "subscription($c: ID!) { attendeeRegistered(conferenceId: $c) { id } }",
            "variables": {"c": conference}}}),
    )
    .await;
}

#[tokio::test]
async fn a_socket_that_sends_no_connection_init_is_closed_with_4408() {
    let app = spawn_app_with(Backend::Sqlite, &[("WS_INIT_TIMEOUT_MS", "300")]).await;
    let mut idle = open_socket(&app).await;
    let started = Instant::now();
    let closed = next(&mut idle).await;
    assert_eq!(closed.as_ref().map_err(|e| e.0), Err(4408), "{closed:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A socket that initialises in time stays open past the timeout.
    let mut prompt = open_socket(&app).await;
    let ack = init(&mut prompt, &app.admin_token).await.unwrap();
    assert_eq!(ack["type"], "connection_ack");
    tokio::time::sleep(Duration::from_millis(600)).await;
    send(&mut prompt, json!({"type": "ping"})).await;
    assert_eq!(next(&mut prompt).await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn sockets_per_token_and_subscriptions_per_socket_are_capped() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("WS_MAX_CONNECTIONS_PER_TOKEN", "2"),
            ("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "2"),
        ],
    )
    .await;
    let conference = app.create_conference("RustConf").await;
    let token = app.token(Role::Integrator).await;
    let mut first = open_socket(&app).await;
    init(&mut first, &token).await.unwrap();
    let mut second = open_socket(&app).await;
    init(&mut second, &token).await.unwrap();
    let mut third = open_socket(&app).await;
    let refused = init(&mut third, &token).await.unwrap_err();
    assert_eq!(refused.0, 4429, "{refused:?}");
    assert!(refused.1.contains("TOO_MANY_CONNECTIONS"), "{refused:?}");
    // Another token is counted apart.
    let mut admin = open_socket(&app).await;
    init(&mut admin, &app.admin_token).await.unwrap();
    // Closing a socket frees its place.
    first.close(None).await.unwrap();
    let mut again = tokio::time::timeout(WAIT, async {
        loop {
            let mut socket = open_socket(&app).await;
            if init(&mut socket, &token).await.is_ok() {
                return socket;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a freed place is taken again");

    subscribe(&mut again, "a", &conference).await;
    subscribe(&mut again, "b", &conference).await;
    subscribe(&mut again, "c", &conference).await;
    let refused = next(&mut again).await.unwrap();
    assert_eq!(refused["id"], "c", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    assert_eq!(
        next(&mut again).await.unwrap(),
        json!({"type": "complete", "id": "c"})
    );
    // Completing one frees a slot on the same socket.
    send(&mut again, json!({"id": "a", "type": "complete"})).await;
    assert_eq!(
        next(&mut again).await.unwrap(),
        json!({"type": "complete", "id": "a"})
    );
    subscribe(&mut again, "d", &conference).await;
    subscribe(&mut again, "e", &conference).await;
    let refused = next(&mut again).await.unwrap();
    assert_eq!(refused["id"], "e", "d was accepted, e refused: {refused}");
    assert_eq!(
        next(&mut again).await.unwrap(),
        json!({"type": "complete", "id": "e"})
    );
    // The accepted ones receive events.
    app.register(&conference, "ada@example.org").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let event = next(&mut again).await.unwrap();
        assert_eq!(event["type"], "next", "{event}");
        ids.push(event["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["b", "d"]);
}

#[tokio::test]
async fn multiplexed_progress_subscriptions_count_against_the_cap_too() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "2")],
    )
    .await;
    let conference = app.create_conference("RustConf").await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    let mut socket = open_socket(&app).await;
    init(&mut socket, &app.admin_token).await.unwrap();
    let mut answers = Vec::new();
    for n in ["1", "2", "3"] {
        send(
            &mut socket,
            json!({"id": n, "type": "subscribe", "payload": {
                "query": "subscription($id: ID!) { notificationProgress(id: $id) { status } }",
                "variables": {"id": id}}}),
        )
        .await;
    }
    // Each accepted one sends its snapshot; the third is refused.
    while answers.len() < 3 {
        let message = next(&mut socket).await.unwrap();
        if message["type"] == "next" {
            answers.push(message);
        }
    }
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|m| m["payload"]["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS")
        .collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0]["id"], "3", "{answers:?}");
}

on_both!(revoking_a_token_closes_its_sockets_within_seconds);

async fn revoking_a_token_closes_its_sockets_within_seconds(backend: Backend) {
    let app = spawn_app_with(backend, &[("WS_REVOCATION_CHECK_MS", "200")]).await;
    let conference = app.create_conference("RustConf").await;
    let token = app.token(Role::Integrator).await;
    let mut revoked = open_socket(&app).await;
    init(&mut revoked, &token).await.unwrap();
    subscribe(&mut revoked, "1", &conference).await;
    let mut kept = open_socket(&app).await;
    init(&mut kept, &app.admin_token).await.unwrap();
    subscribe(&mut kept, "1", &conference).await;

    let n = techconf::auth::revoke_token(&app.db, "test integrator")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let started = Instant::now();
    let closed = next(&mut revoked).await.unwrap_err();
    assert_eq!(closed.0, 4403, "{closed:?}");
    assert!(closed.1.contains("revoked"), "{closed:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // It receives no registration; the admin's socket does.
    app.register(&conference, "ada@example.org").await;
    let event = next(&mut kept).await.unwrap();
    assert_eq!(event["type"], "next", "{event}");
    // And the revoked token cannot connect again.
    let mut retry = open_socket(&app).await;
    assert!(init(&mut retry, &token).await.is_err());
}
