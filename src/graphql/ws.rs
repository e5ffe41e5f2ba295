//! One GraphQL WebSocket connection, in either protocol (`graphql-transport-ws` or the
//! legacy `graphql-ws`).
//!
//! async-graphql's protocol machine does the protocol: `connection_init` (with the caller's
//! authentication), `ping`/`pong`, errors, and every subscription that is not multiplexed.
//! Around it, this loop adds two things:
//!
//! - **Multiplexed progress.** A `subscribe` (`start`) that `Multiplexer::join` accepts never
//!   reaches async-graphql: its events are the shared execution's bytes, framed here as
//!   `{"type":"next","id":…,"payload":…}` (`"data"` in the legacy protocol), then `complete`.
//!   A `complete` (`stop`) from the client ends it, as async-graphql would.
//! - **Dead clients.** Every `ping_interval` the server pings: a `{"type":"ping"}` message in
//!   `graphql-transport-ws` (clients answer `pong`), a WebSocket ping frame in the legacy
//!   protocol (browsers answer by themselves). A connection from which nothing at all (no
//!   message, no pong) has arrived for `ping_timeout` is closed (code 4408), so its
//!   subscriptions stop costing events.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::http::{
    WebSocket as ProtocolMachine, WebSocketProtocols as Protocols, WsMessage,
};
use async_graphql::{Data, Request};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::StatusCode;
use axum::http::request::Parts;
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use super::TechConfSchema;
use super::multiplex::{Multiplexer, Subscriber, authentication_of};
use crate::auth::Authentication;

/// What every WebSocket connection of the process shares: the multiplexed executions, and
/// when to ping a connection and give up on it.
#[derive(Clone)]
pub struct Subscriptions {
    pub schema: TechConfSchema,
    pub multiplexer: Multiplexer,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
}

/// The protocol the client asked for in `Sec-WebSocket-Protocol`.
pub struct Protocol(pub Protocols);

impl<S: Send + Sync> FromRequestParts<S> for Protocol {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .and_then(|protocols| {
                protocols
                    .split(',')
                    .find_map(|p| p.trim().parse::<Protocols>().ok())
            })
            .map(Self)
            .ok_or(StatusCode::BAD_REQUEST)
    }
}

/// Close code for a client that stopped answering (as `graphql-ws` uses for timeouts).
const CLOSE_NO_ANSWER: u16 = 4408;
/// Client messages queued for the protocol machine before reading from the socket waits.
const PASSTHROUGH_QUEUE: usize = 16;

/// A multiplexed subscription's events: `(id as JSON, Some(payload))`, then `(id, None)`.
type Events = BoxStream<'static, (Arc<str>, Option<Arc<str>>)>;

/// A client message, as far as this loop needs to read it.
#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Request>,
}

/// Serves one connection until either side closes it. `on_init` checks `connection_init`'s
/// payload and returns the connection's data, with its `Authentication`.
/// When `stop` completes, the connection closes with its code and reason (`crate::ws`:
/// no `connection_init` in time, a revoked token).
pub async fn serve<F, Fut>(
    socket: WebSocket,
    subscriptions: Subscriptions,
    protocol: Protocols,
    on_init: F,
    stop: impl Future<Output = (u16, String)> + Send,
) where
    F: FnOnce(serde_json::Value) -> Fut + Send + 'static,
    Fut: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let Subscriptions {
        schema,
        multiplexer,
        ping_interval,
        ping_timeout,
    } = subscriptions;
    let (mut sink, mut source) = socket.split();
    let (mut to_machine, machine_input) =
        futures::channel::mpsc::channel::<Vec<u8>>(PASSTHROUGH_QUEUE);
    let authenticated: Arc<OnceLock<Authentication>> = Arc::default();
    let slot = authenticated.clone();
    let limited: Arc<OnceLock<crate::ws::SubscriptionSlots>> = Arc::default();
    let limits = limited.clone();
    let machine = ProtocolMachine::new(schema, machine_input, protocol).on_connection_init(
        move |payload| async move {
            let data = on_init(payload).await?;
            if let Some(auth) = authentication_of(&data) {
                let _ = slot.set(auth.clone());
            }
            if let Some(slots) = crate::ws::subscription_slots_of(&data) {
                let _ = limits.set(slots.clone());
            }
            Ok(data)
        },
    );
    tokio::pin!(stop);
    futures::pin_mut!(machine);

    let (next_type, subscribe_type, stop_type) = match protocol {
        Protocols::GraphQLWS => ("next", "subscribe", "complete"),
        Protocols::SubscriptionsTransportWS => ("data", "start", "stop"),
    };
    let mut multiplexed: SelectAll<Events> = SelectAll::new();
    // The multiplexed subscriptions by id (as JSON), to stop them.
    let mut running: HashMap<Arc<str>, AbortHandle> = HashMap::new();
    let mut last_heard = Instant::now();
    let mut pings = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let outgoing = tokio::select! {
            incoming = source.next() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(_)) | None => break,
                };
                last_heard = Instant::now();
                let bytes = match message {
                    Message::Text(text) => text.as_bytes().to_vec(),
                    Message::Binary(bytes) => bytes.to_vec(),
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Close(_) => break,
                };
                match serde_json::from_slice::<ClientMessage>(&bytes) {
                    Ok(ClientMessage { kind, id: Some(id), payload: Some(request) })
                        if kind == subscribe_type =>
                    {
                        let joined = authenticated
                            .get()
                            .and_then(|auth| multiplexer.join(request, auth));
                        if let Some(subscriber) = joined {
                            let id: Arc<str> = json_string(&id).into();
                            if let Some(old) = running.remove(&id) {
                                old.abort();
                            }
                            let place = match crate::ws::take_subscription_slot(limited.get()) {
                                Ok(place) => place,
                                Err(error) => {
                                    let refusal = refused(next_type, &id, error);
                                    if sink.send(refusal).await.is_err()
                                        || sink.send(complete(&id)).await.is_err()
                                    {
                                        break;
                                    }
                                    continue;
                                }
                            };
                            let (events, handle) = subscription_events(id.clone(), subscriber);
                            let events = events
                                .map(move |event| {
                                    let _held = &place;
                                    event
                                })
                                .boxed();
                            running.insert(id, handle);
                            multiplexed.push(events);
                            continue;
                        }
                    }
                    Ok(ClientMessage { kind, id: Some(id), .. }) if kind == stop_type => {
                        let id = json_string(&id);
                        if let Some(handle) = running.remove(id.as_str()) {
                            handle.abort();
                            if sink.send(complete(&id)).await.is_err() {
                                break;
                            }
                            continue;
                        }
                    }
                    _ => {}
                }
                if to_machine.send(bytes).await.is_err() {
                    break;
                }
                continue;
            }
            reply = machine.next() => match reply {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => {
                    let code = crate::ws::init_refusal_code(code, &reason);
                    let _ = sink.send(close(code, reason)).await;
                    break;
                }
                None => break,
            },
            Some((id, event)) = multiplexed.next(), if !multiplexed.is_empty() => match event {
                Some(payload) => Message::Text(
                    format!("{{\"type\":\"{next_type}\",\"id\":{id},\"payload\":{payload}}}").into(),
                ),
                None => {
                    running.remove(&id);
                    complete(&id)
                }
            },
            (code, reason) = &mut stop => {
                let _ = sink.send(close(code, reason)).await;
                break;
            }
            _ = pings.tick() => {
                if last_heard.elapsed() >= ping_timeout {
                    let _ = sink
                        .send(close(CLOSE_NO_ANSWER, "no answer to pings".into()))
                        .await;
                    break;
                }
                match protocol {
                    Protocols::GraphQLWS => Message::Text(r#"{"type":"ping"}"#.into()),
                    Protocols::SubscriptionsTransportWS => Message::Ping(Default::default()),
                }
            }
        };
        if sink.send(outgoing).await.is_err() {
            break;
        }
    }
    for handle in running.values() {
        handle.abort();
    }
}

/// A multiplexed subscription's events, framed later: `(id, Some(payload))` for each event,
/// then `(id, None)` at the end, the id as JSON. Stops early when its handle is aborted.
fn subscription_events(id: Arc<str>, subscriber: Subscriber) -> (Events, AbortHandle) {
    let end = id.clone();
    let events = futures::stream::unfold(subscriber, |mut s| async move {
        s.next().await.map(|payload| (payload, s))
    })
    .map(move |payload| (id.clone(), Some(payload)))
    .chain(futures::stream::once(async move { (end, None) }));
    let (handle, registration) = AbortHandle::new_pair();
    (Abortable::new(events, registration).boxed(), handle)
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `complete` for the id given as JSON.
fn complete(id: &str) -> Message {
    Message::Text(format!("{{\"type\":\"complete\",\"id\":{id}}}").into())
}

/// The error answer to a subscription refused before it started, as the machine frames one.
fn refused(next_type: &str, id: &str, error: async_graphql::Error) -> Message {
    let response =
        async_graphql::Response::from_errors(vec![error.into_server_error(Default::default())]);
    let payload = serde_json::to_string(&response).unwrap_or_else(|_| "{}".into());
    Message::Text(format!("{{\"type\":\"{next_type}\",\"id\":{id},\"payload\":{payload}}}").into())
}

fn close(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
