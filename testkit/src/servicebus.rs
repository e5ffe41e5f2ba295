//! `FakeServiceBus`: an in-process HTTP server implementing the Azure Service Bus REST data
//! plane as Microsoft documents it, for contract tests of a real client.
//!
//! * Send: `POST /{queue}/messages`, with an optional `BrokerProperties` JSON header
//!   (`MessageId`, `Label`, ...). A `MessageId` seen within the queue's duplicate detection
//!   window is accepted (201) and dropped, as Service Bus does.
//! * Peek-lock: `POST /{queue}/messages/head?timeout=N` answers 201 with the body, a
//!   `BrokerProperties` header (`DeliveryCount`, `LockToken`, `LockedUntilUtc`, `MessageId`,
//!   `SequenceNumber`, ...) and a `Location` header with the lock URI, or 204 when nothing
//!   arrived within N seconds. Waiting receivers are woken by a `Notify` (a send, an unlock,
//!   a lock expiring), never by polling.
//! * On the lock URI `/{queue}/messages/{sequenceNumber|messageId}/{lockToken}`: `DELETE`
//!   completes, `PUT` unlocks, `POST` renews; 404 when the lock is unknown or expired.
//! * Receive-and-delete: `DELETE /{queue}/messages/head`.
//! * Locks expire after the queue's lock duration; the message is delivered again with
//!   `DeliveryCount + 1`. An unlock or an expiry past the max delivery count moves it to the
//!   dead-letter sub-queue `/{queue}/$DeadLetterQueue` (readable with peek-lock too).
//! * Every request needs `Authorization: SharedAccessSignature sr=..&sig=..&se=..&skn=..`:
//!   the signature is checked (HMAC-SHA256 of `sr + "\n" + se` with the key), `sr` must name
//!   `https://NS.servicebus.windows.net/...` (the *original* resource, a prefix of the
//!   request path), `se` must lie in the future, `skn` must be the key name. Otherwise 401.
//! * Fault injection: [`FakeServiceBus::throttle_next`] answers the next N requests with 429
//!   or 503; [`FakeServiceBus::down`] closes the listener and drops every connection
//!   (connection refused), [`FakeServiceBus::up`] listens again on the same port.
//! * Inspection: messages available, in flight, dead-lettered; every send received (with its
//!   `MessageId` and whether it was dropped as a duplicate); every request's status; how many
//!   TCP connections were accepted (to check that a client pools them).
//!
//! Not implemented: sessions, scheduled messages, batch send, topics and subscriptions, and the
//! management plane (queues are declared with the builder).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

/// The DNS suffix of Service Bus namespaces in the public Azure cloud.
pub const HOST_SUFFIX: &str = ".servicebus.windows.net";
/// The dead-letter sub-queue's path segment.
pub const DEAD_LETTER_QUEUE: &str = "$DeadLetterQueue";
/// What Service Bus reports as the time to live of a message without one (TimeSpan.MaxValue).
const MAX_TIME_TO_LIVE_SECS: f64 = 922_337_203_685.477_5;
/// A peek-lock without `timeout` waits this long, like Service Bus.
const DEFAULT_RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`FakeServiceBus::up`] retries binding the old port.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of one queue, as on a real namespace.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub lock_duration: Duration,
    pub max_delivery_count: u32,
    /// `None`: duplicate detection off.
    pub duplicate_detection_window: Option<Duration>,
}

impl Default for QueueConfig {
    /// Service Bus's defaults (lock 60 s, 10 deliveries), with duplicate detection on (10 min).
    fn default() -> Self {
        Self {
            lock_duration: Duration::from_secs(60),
            max_delivery_count: 10,
            duplicate_detection_window: Some(Duration::from_secs(600)),
        }
    }
}

/// A message as the fake holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    pub message_id: String,
    pub body: String,
    pub sequence_number: i64,
    /// How many times it was locked so far.
    pub delivery_count: u32,
    pub label: Option<String>,
    pub content_type: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    /// Set on dead-lettered messages, e.g. `MaxDeliveryCountExceeded`.
    pub dead_letter_reason: Option<String>,
}

/// One `POST /{queue}/messages` that passed authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRecord {
    pub queue: String,
    pub message_id: String,
    pub body: String,
    /// Dropped by duplicate detection.
    pub duplicate: bool,
}

/// One request and how it was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// Builds a [`FakeServiceBus`].
#[derive(Clone, Debug)]
pub struct FakeServiceBusBuilder {
    namespace: String,
    key_name: String,
    key: String,
    queues: Vec<(String, QueueConfig)>,
}

impl Default for FakeServiceBusBuilder {
    fn default() -> Self {
        Self {
            namespace: "techconf-test".to_owned(),
            key_name: "RootManageSharedAccessKey".to_owned(),
            key: BASE64.encode(uuid::Uuid::now_v7().as_bytes()),
            queues: Vec::new(),
        }
    }
}

impl FakeServiceBusBuilder {
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    pub fn key_name(mut self, key_name: &str) -> Self {
        self.key_name = key_name.to_owned();
        self
    }

    pub fn key(mut self, key: &str) -> Self {
        self.key = key.to_owned();
        self
    }

    /// Declares a queue. Without any, the fake has `notificationqueue` with the defaults.
    pub fn queue(mut self, name: &str, config: QueueConfig) -> Self {
        self.queues.push((name.to_owned(), config));
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start(self) -> FakeServiceBus {
        let mut queues: Vec<_> = self.queues;
        if queues.is_empty() {
            queues.push(("notificationqueue".to_owned(), QueueConfig::default()));
        }
        let state = State_ {
            queues: queues
                .into_iter()
                .map(|(name, config)| (name.to_ascii_lowercase(), Queue::new(name, config)))
                .collect(),
            next_sequence: 1,
            throttle: None,
            sends: Vec::new(),
            requests: Vec::new(),
        };
        let shared = Arc::new(Shared {
            namespace: self.namespace,
            key_name: self.key_name,
            key: self.key,
            state: Mutex::new(state),
            changed: Notify::new(),
            connections: AtomicUsize::new(0),
            connection_tasks: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        });
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("FakeServiceBus: cannot bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("FakeServiceBus: local_addr");
        let accept = spawn_accept_loop(listener, shared.clone());
        FakeServiceBus {
            shared,
            addr,
            accept: Mutex::new(Some(accept)),
        }
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeServiceBus {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for FakeServiceBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServiceBus")
            .field("namespace", &self.shared.namespace)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeServiceBus {
    /// A fake with the defaults: namespace `techconf-test`, a random key, `notificationqueue`.
    pub async fn start() -> FakeServiceBus {
        Self::builder().start().await
    }

    pub fn builder() -> FakeServiceBusBuilder {
        FakeServiceBusBuilder::default()
    }

    /// Where clients must send their requests instead: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    pub fn key_name(&self) -> &str {
        &self.shared.key_name
    }

    pub fn key(&self) -> &str {
        &self.shared.key
    }

    /// The standard connection string of this namespace.
    pub fn connection_string(&self) -> String {
        self.connection_string_with_key(&self.shared.key)
    }

    /// The connection string with another key (to provoke 401s).
    pub fn connection_string_with_key(&self, key: &str) -> String {
        format!(
            "Endpoint=sb://{}{HOST_SUFFIX}/;SharedAccessKeyName={};SharedAccessKey={key}",
            self.shared.namespace, self.shared.key_name
        )
    }

    /// `https://NS.servicebus.windows.net/{path}`: what SAS tokens are signed over.
    pub fn resource_uri(&self, path: &str) -> String {
        format!(
            "https://{}{HOST_SUFFIX}/{}",
            self.shared.namespace,
            path.trim_start_matches('/')
        )
    }

    /// Answers the next `requests` requests with `status` (429 or 503, say), whatever they are.
    pub fn throttle_next(&self, requests: usize, status: u16) {
        self.shared.state().throttle = (requests > 0).then_some((requests, status));
    }

    /// Stops listening and drops every open connection: clients get connection errors.
    pub fn down(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        if let Some(accept) = lock(&self.accept).take() {
            accept.abort();
        }
        for task in lock(&self.shared.connection_tasks).drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port (retrying while the OS still holds it).
    pub async fn up(&self) {
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("FakeServiceBus: cannot listen on {} again: {e}", self.addr),
            }
        };
        self.shared.down.store(false, Ordering::SeqCst);
        *lock(&self.accept) = Some(spawn_accept_loop(listener, self.shared.clone()));
    }

    /// Messages waiting in `queue` (not locked), in order.
    pub fn messages(&self, queue: &str) -> Vec<FakeMessage> {
        self.inspect(queue, |q| q.active.available.values().cloned().collect())
    }

    /// Messages of `queue` locked by a receiver right now.
    pub fn in_flight(&self, queue: &str) -> Vec<FakeMessage> {
        self.inspect(queue, |q| {
            let mut locked: Vec<_> = q
                .active
                .locked
                .values()
                .map(|l| l.message.clone())
                .collect();
            locked.sort_by_key(|m| m.sequence_number);
            locked
        })
    }

    /// Messages in `queue`'s dead-letter sub-queue (available or locked), in order.
    pub fn dead_lettered(&self, queue: &str) -> Vec<FakeMessage> {
        self.inspect(queue, |q| {
            let mut all: Vec<_> = q.dead.available.values().cloned().collect();
            all.extend(q.dead.locked.values().map(|l| l.message.clone()));
            all.sort_by_key(|m| m.sequence_number);
            all
        })
    }

    /// Every authenticated send, duplicates included, in arrival order.
    pub fn sends(&self) -> Vec<SendRecord> {
        self.shared.state().sends.clone()
    }

    /// Every request with its status, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.state().requests.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn inspect<T>(&self, queue: &str, f: impl FnOnce(&Queue) -> T) -> T {
        let mut state = self.shared.state();
        let queue = state
            .queues
            .get_mut(&queue.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("FakeServiceBus: no queue `{queue}`"));
        queue.expire_locks(Instant::now());
        f(queue)
    }
}

impl Drop for FakeServiceBus {
    fn drop(&mut self) {
        self.down();
    }
}

/// A SAS token the way Service Bus documents it, for tests that send raw requests:
/// `SharedAccessSignature sr=<urlencoded uri>&sig=<urlencoded base64 HMAC-SHA256 of
/// "<urlencoded uri>\n<expiry>">&se=<expiry>&skn=<key name>`.
pub fn sas_token(resource_uri: &str, key_name: &str, key: &str, expiry_unix: i64) -> String {
    let sr = url_encode(resource_uri);
    let sig = url_encode(&sign(key, &format!("{sr}\n{expiry_unix}")));
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry_unix}&skn={key_name}")
}

fn sign(key: &str, text: &str) -> String {
    let mut mac = hmac_for(key);
    mac.update(text.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

fn hmac_for(key: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length")
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn url_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Shared {
    namespace: String,
    key_name: String,
    key: String,
    state: Mutex<State_>,
    /// Woken on every change a waiting receiver may care about.
    changed: Notify,
    connections: AtomicUsize,
    connection_tasks: Mutex<Vec<AbortHandle>>,
    down: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State_> {
        lock(&self.state)
    }

    fn host(&self) -> String {
        format!("{}{HOST_SUFFIX}", self.namespace)
    }
}

// `State` is axum's extractor; this is the fake's mutable state.
struct State_ {
    queues: HashMap<String, Queue>,
    next_sequence: i64,
    throttle: Option<(usize, u16)>,
    sends: Vec<SendRecord>,
    requests: Vec<RequestRecord>,
}

struct Queue {
    name: String,
    config: QueueConfig,
    active: Entity,
    dead: Entity,
    /// MessageId → when first seen, for duplicate detection.
    seen: HashMap<String, Instant>,
}

#[derive(Default)]
struct Entity {
    available: BTreeMap<i64, FakeMessage>,
    locked: HashMap<String, Locked>,
}

struct Locked {
    message: FakeMessage,
    until: Instant,
}

impl Queue {
    fn new(name: String, config: QueueConfig) -> Self {
        Self {
            name,
            config,
            active: Entity::default(),
            dead: Entity::default(),
            seen: HashMap::new(),
        }
    }

    fn entity(&mut self, dead_letter: bool) -> &mut Entity {
        if dead_letter {
            &mut self.dead
        } else {
            &mut self.active
        }
    }

    /// Returns expired locks' messages to the queue (or the dead-letter queue); returns the
    /// earliest lock expiry still pending.
    fn expire_locks(&mut self, now: Instant) -> Option<Instant> {
        for dead_letter in [false, true] {
            let expired: Vec<String> = self
                .entity(dead_letter)
                .locked
                .iter()
                .filter(|(_, l)| l.until <= now)
                .map(|(token, _)| token.clone())
                .collect();
            for token in expired {
                if let Some(locked) = self.entity(dead_letter).locked.remove(&token) {
                    self.release(locked.message, dead_letter);
                }
            }
        }
        self.active
            .locked
            .values()
            .chain(self.dead.locked.values())
            .map(|l| l.until)
            .min()
    }

    /// An unlocked or expired message: back in line, or dead-lettered past the max count.
    fn release(&mut self, mut message: FakeMessage, dead_letter: bool) {
        if !dead_letter && message.delivery_count >= self.config.max_delivery_count {
            message.dead_letter_reason = Some("MaxDeliveryCountExceeded".to_owned());
            self.dead.available.insert(message.sequence_number, message);
        } else {
            self.entity(dead_letter)
                .available
                .insert(message.sequence_number, message);
        }
    }

    /// Locks the first available message.
    fn lock_next(&mut self, dead_letter: bool, now: Instant) -> Option<(String, FakeMessage)> {
        let lock_duration = self.config.lock_duration;
        let entity = self.entity(dead_letter);
        let (_, mut message) = entity.available.pop_first()?;
        message.delivery_count += 1;
        let token = uuid::Uuid::now_v7().to_string();
        entity.locked.insert(
            token.clone(),
            Locked {
                message: message.clone(),
                until: now + lock_duration,
            },
        );
        Some((token, message))
    }
}

fn spawn_accept_loop(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let router = Router::new().fallback(handle).with_state(shared.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            if shared.down.load(Ordering::SeqCst) {
                continue;
            }
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let service = TowerToHyperService::new(router.clone());
            let task = tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            let mut tasks = lock(&shared.connection_tasks);
            tasks.retain(|t| !t.is_finished());
            tasks.push(task.abort_handle());
        }
    })
}

/// What a request addresses.
enum Target {
    Send,
    Head,
    Lock { reference: String, token: String },
}

struct Route {
    queue: String,
    dead_letter: bool,
    target: Target,
}

/// `/{queue}[/$DeadLetterQueue]/messages[/head | /{ref}/{lockToken}]`.
fn route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let at = segments.iter().skip(1).position(|s| *s == "messages")? + 1;
    let mut entity = &segments[..at];
    let dead_letter = entity.last().is_some_and(|last| {
        last.eq_ignore_ascii_case(DEAD_LETTER_QUEUE)
            || last.eq_ignore_ascii_case("%24DeadLetterQueue")
    });
    if dead_letter {
        entity = &entity[..entity.len() - 1];
    }
    if entity.is_empty() {
        return None;
    }
    let target = match &segments[at + 1..] {
        [] => Target::Send,
        ["head"] => Target::Head,
        [reference, token] => Target::Lock {
            reference: (*reference).to_owned(),
            token: (*token).to_owned(),
        },
        _ => return None,
    };
    Some(Route {
        queue: entity.join("/"),
        dead_letter,
        target,
    })
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let response = respond(&shared, &method, &uri, &headers, body).await;
    shared.state().requests.push(RequestRecord {
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
    });
    response
}

async fn respond(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut state = shared.state();
        if let Some((remaining, status)) = state.throttle {
            state.throttle = (remaining > 1).then_some((remaining - 1, status));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return error(status, "SubCode=50002. The request was throttled (fake).");
        }
    }
    if let Err(reason) = authorize(shared, uri.path(), headers) {
        return error(StatusCode::UNAUTHORIZED, &reason);
    }
    let Some(route) = route(uri.path()) else {
        return error(StatusCode::NOT_FOUND, "no such operation");
    };
    if !shared
        .state()
        .queues
        .contains_key(&route.queue.to_ascii_lowercase())
    {
        return error(StatusCode::GONE, "the queue does not exist");
    }
    match (&route.target, method.as_str()) {
        (Target::Send, "POST") if !route.dead_letter => send(shared, &route, headers, body),
        (Target::Head, "POST") => receive(shared, &route, uri, true).await,
        (Target::Head, "DELETE") => receive(shared, &route, uri, false).await,
        (Target::Lock { reference, token }, "DELETE" | "PUT" | "POST") => {
            settle(shared, &route, method, reference, token)
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "unsupported method for this resource",
        ),
    }
}

/// Checks the SAS token against the original resource URI of the request.
fn authorize(shared: &Shared, path: &str, headers: &HeaderMap) -> Result<(), String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("MissingToken: no Authorization header")?
        .to_str()
        .map_err(|_| "MalformedToken: not text")?;
    let token = value
        .strip_prefix("SharedAccessSignature ")
        .ok_or("MalformedToken: not a SharedAccessSignature")?;
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for part in token.split('&') {
        let (name, raw) = part
            .split_once('=')
            .ok_or("MalformedToken: a field is not name=value")?;
        if fields.insert(name, raw).is_some() {
            return Err(format!("MalformedToken: `{name}` twice"));
        }
    }
    let field = |name: &str| {
        fields
            .get(name)
            .copied()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("MalformedToken: no `{name}`"))
    };
    let (sr_raw, sig_raw, se, skn) = (field("sr")?, field("sig")?, field("se")?, field("skn")?);
    if url_decode(skn) != shared.key_name {
        return Err("InvalidSignature: unknown key name".to_owned());
    }
    let expiry: i64 = se
        .parse()
        .map_err(|_| "MalformedToken: `se` is not a number".to_owned())?;
    if expiry <= Utc::now().timestamp() {
        return Err("ExpiredToken: the token has expired".to_owned());
    }
    let signature = BASE64
        .decode(url_decode(sig_raw))
        .map_err(|_| "MalformedToken: `sig` is not base64".to_owned())?;
    let mut mac = hmac_for(&shared.key);
    mac.update(format!("{sr_raw}\n{se}").as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| "InvalidSignature: the signature does not match".to_owned())?;

    // The audience must be this namespace and a prefix of the requested resource.
    let audience = url_decode(sr_raw);
    let audience = audience.split('?').next().unwrap_or_default();
    let audience =
        url::Url::parse(audience).map_err(|_| "InvalidAudience: `sr` is not a URI".to_owned())?;
    if !matches!(audience.scheme(), "https" | "http" | "sb")
        || !audience
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(&shared.host()))
    {
        return Err(format!(
            "InvalidAudience: the token is for another resource than {}",
            shared.host()
        ));
    }
    let scope = audience.path().trim_end_matches('/').to_ascii_lowercase();
    let requested = path.trim_end_matches('/').to_ascii_lowercase();
    if !(scope.is_empty() || requested == scope || requested.starts_with(&format!("{scope}/"))) {
        return Err("InvalidAudience: the token does not cover this entity".to_owned());
    }
    Ok(())
}

fn send(shared: &Shared, route: &Route, headers: &HeaderMap, body: Bytes) -> Response {
    let properties: serde_json::Value = match headers.get("BrokerProperties") {
        None => serde_json::json!({}),
        Some(raw) => match raw.to_str().ok().and_then(|t| serde_json::from_str(t).ok()) {
            Some(value @ serde_json::Value::Object(_)) => value,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BrokerProperties is not a JSON object",
                );
            }
        },
    };
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return error(StatusCode::BAD_REQUEST, "the fake only stores UTF-8 bodies");
    };
    let text = |name: &str| {
        properties
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message_id = text("MessageId").unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let now = Instant::now();
    let mut guard = shared.state();
    let state = &mut *guard;
    let queue = state
        .queues
        .get_mut(&route.queue.to_ascii_lowercase())
        .expect("checked by the caller");
    let duplicate = match queue.config.duplicate_detection_window {
        Some(window) => {
            queue
                .seen
                .retain(|_, first| now.duration_since(*first) < window);
            queue.seen.contains_key(&message_id)
        }
        None => false,
    };
    state.sends.push(SendRecord {
        queue: queue.name.clone(),
        message_id: message_id.clone(),
        body: body.clone(),
        duplicate,
    });
    if !duplicate {
        if queue.config.duplicate_detection_window.is_some() {
            queue.seen.insert(message_id.clone(), now);
        }
        let sequence_number = state.next_sequence;
        state.next_sequence += 1;
        queue.active.available.insert(
            sequence_number,
            FakeMessage {
                message_id,
                body,
                sequence_number,
                delivery_count: 0,
                label: text("Label"),
                content_type: headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                enqueued_at: Utc::now(),
                dead_letter_reason: None,
            },
        );
    }
    drop(guard);
    shared.changed.notify_waiters();
    StatusCode::CREATED.into_response()
}

/// Peek-lock (`lock`) or receive-and-delete, waiting up to the `timeout` query parameter.
async fn receive(shared: &Shared, route: &Route, uri: &Uri, lock: bool) -> Response {
    let wait = uri
        .query()
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(name, _)| name == "timeout")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RECEIVE_TIMEOUT);
    let deadline = Instant::now() + wait;
    let key = route.queue.to_ascii_lowercase();
    loop {
        // Register for wake-ups before looking, so a send in between is not missed.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let next_expiry = {
            let now = Instant::now();
            let mut state = shared.state();
            let Some(queue) = state.queues.get_mut(&key) else {
                return error(StatusCode::GONE, "the queue does not exist");
            };
            let next_expiry = queue.expire_locks(now);
            if lock {
                if let Some((token, message)) = queue.lock_next(route.dead_letter, now) {
                    let locked_until = Utc::now()
                        + chrono::Duration::from_std(queue.config.lock_duration)
                            .unwrap_or_default();
                    let entity = if route.dead_letter {
                        format!("{}/{DEAD_LETTER_QUEUE}", queue.name)
                    } else {
                        queue.name.clone()
                    };
                    let location = format!(
                        "https://{}/{entity}/messages/{}/{token}",
                        shared.host(),
                        message.sequence_number
                    );
                    return delivered(&message, Some((&token, locked_until, &location)));
                }
            } else if let Some((_, message)) = queue.entity(route.dead_letter).available.pop_first()
            {
                let mut message = message;
                message.delivery_count += 1;
                return delivered(&message, None);
            }
            next_expiry
        };
        let now = Instant::now();
        if now >= deadline {
            return StatusCode::NO_CONTENT.into_response();
        }
        let wake = next_expiry.map_or(deadline, |expiry| expiry.min(deadline));
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// 201 with the body, `BrokerProperties` and, for a peek-lock, the lock's `Location`.
fn delivered(message: &FakeMessage, lock: Option<(&str, DateTime<Utc>, &str)>) -> Response {
    let http_date = |t: DateTime<Utc>| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut properties = serde_json::json!({
        "DeliveryCount": message.delivery_count,
        "EnqueuedSequenceNumber": message.sequence_number,
        "EnqueuedTimeUtc": http_date(message.enqueued_at),
        "MessageId": message.message_id,
        "SequenceNumber": message.sequence_number,
        "State": "Active",
        "TimeToLive": MAX_TIME_TO_LIVE_SECS,
    });
    if let Some(label) = &message.label {
        properties["Label"] = label.clone().into();
    }
    if let Some(reason) = &message.dead_letter_reason {
        properties["DeadLetterReason"] = reason.clone().into();
    }
    let mut response = (StatusCode::CREATED, message.body.clone()).into_response();
    if let Some((token, locked_until, location)) = lock {
        properties["LockToken"] = token.into();
        properties["LockedUntilUtc"] = http_date(locked_until).into();
        if let Ok(value) = HeaderValue::from_str(location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    let content_type = message
        .content_type
        .as_deref()
        .unwrap_or("application/atom+xml;type=entry;charset=utf-8");
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&properties.to_string()) {
        response.headers_mut().insert("BrokerProperties", value);
    }
    response
}

/// `DELETE` completes, `PUT` unlocks, `POST` renews the lock `token`.
fn settle(
    shared: &Shared,
    route: &Route,
    method: &Method,
    reference: &str,
    token: &str,
) -> Response {
    let now = Instant::now();
    let mut state = shared.state();
    let Some(queue) = state.queues.get_mut(&route.queue.to_ascii_lowercase()) else {
        return error(StatusCode::GONE, "the queue does not exist");
    };
    queue.expire_locks(now);
    let lock_duration = queue.config.lock_duration;
    let entity = queue.entity(route.dead_letter);
    let matches = entity.locked.get(token).is_some_and(|l| {
        reference == l.message.sequence_number.to_string() || reference == l.message.message_id
    });
    if !matches {
        return error(
            StatusCode::NOT_FOUND,
            "MessageLockLost: the lock supplied is invalid (expired, or the message was settled)",
        );
    }
    match method.as_str() {
        "DELETE" => {
            entity.locked.remove(token);
        }
        "PUT" => {
            if let Some(locked) = entity.locked.remove(token) {
                queue.release(locked.message, route.dead_letter);
            }
            drop(state);
            shared.changed.notify_waiters();
        }
        _ => {
            if let Some(locked) = entity.locked.get_mut(token) {
                locked.until = now + lock_duration;
            }
        }
    }
    StatusCode::OK.into_response()
}

/// An error the way Service Bus answers: a small XML document.
fn error(status: StatusCode, detail: &str) -> Response {
    let body = format!(
        "<Error><Code>{}</Code><Detail>{detail}</Detail></Error>",
        status.as_u16()
    );
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_rest_paths() {
        let r = route("/q/messages").unwrap();
        assert!(matches!(r.target, Target::Send) && r.queue == "q" && !r.dead_letter);
        let r = route("/q/$DeadLetterQueue/messages/head").unwrap();
        assert!(matches!(r.target, Target::Head) && r.queue == "q" && r.dead_letter);
        let r = route("/q/messages/7/abc").unwrap();
        assert!(
            matches!(r.target, Target::Lock { ref reference, ref token } if reference == "7" && token == "abc")
        );
        assert!(route("/messages").is_none());
        assert!(route("/q/messages/head/extra/x").is_none());
    }

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // Computed with Python's hmac/hashlib/urllib.parse.quote_plus over the same inputs.
        let token = sas_token(
            "https://techconf-test.servicebus.windows.net/notificationqueue/messages",
            "RootManageSharedAccessKey",
            "c2VjcmV0LWtleQ==",
            1_900_000_000,
        );
        assert_eq!(token, EXPECTED_TOKEN);
    }

    /// Sends `POST /{path}` with `authorization` straight to the fake; returns the status.
    async fn post(fake: &FakeServiceBus, path: &str, authorization: Option<String>) -> u16 {
        let mut request = reqwest::Client::new()
            .post(format!("{}/{path}", fake.endpoint()))
            .body("{}");
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    fn in_an_hour() -> i64 {
        Utc::now().timestamp() + 3600
    }

    #[tokio::test]
    async fn only_tokens_signed_over_the_original_uri_with_the_key_are_accepted() {
        let fake = FakeServiceBus::start().await;
        let path = "notificationqueue/messages";
        let (name, key) = (fake.key_name().to_owned(), fake.key().to_owned());
        let valid = sas_token(&fake.resource_uri(path), &name, &key, in_an_hour());
        assert_eq!(post(&fake, path, Some(valid)).await, 201);
        // Namespace- and entity-wide tokens cover the entity's paths too.
        let namespace = sas_token(&fake.resource_uri(""), &name, &key, in_an_hour());
        assert_eq!(post(&fake, path, Some(namespace)).await, 201);
        let entity = sas_token(
            &fake.resource_uri("notificationqueue"),
            &name,
            &key,
            in_an_hour(),
        );
        assert_eq!(post(&fake, path, Some(entity)).await, 201);

        let local_uri = format!("{}/{path}", fake.endpoint());
        let refused = [
            None,
            Some("Bearer abc".to_owned()),
            Some("SharedAccessSignature sr=x&sig=y".to_owned()),
            Some(sas_token(
                &fake.resource_uri(path),
                &name,
                "wrong-key",
                in_an_hour(),
            )),
            Some(sas_token(
                &fake.resource_uri(path),
                "other-policy",
                &key,
                in_an_hour(),
            )),
            Some(sas_token(
                &fake.resource_uri(path),
                &name,
                &key,
                Utc::now().timestamp() - 1,
            )),
            // Signed over the URL the request was redirected to, not the Service Bus one.
            Some(sas_token(&local_uri, &name, &key, in_an_hour())),
            Some(sas_token(
                &format!("https://elsewhere{HOST_SUFFIX}/{path}"),
                &name,
                &key,
                in_an_hour(),
            )),
            Some(sas_token(
                &fake.resource_uri("otherqueue"),
                &name,
                &key,
                in_an_hour(),
            )),
        ];
        for authorization in refused {
            let shown = format!("{authorization:?}");
            assert_eq!(post(&fake, path, authorization).await, 401, "{shown}");
        }
        // A valid token whose expiry was changed after signing.
        let tampered = sas_token(&fake.resource_uri(path), &name, &key, in_an_hour()).replace(
            &format!("se={}", in_an_hour()),
            &format!("se={}", in_an_hour() + 99),
        );
        assert_eq!(post(&fake, path, Some(tampered)).await, 401);
        assert_eq!(fake.messages("notificationqueue").len(), 3);
    }

    #[tokio::test]
    async fn throttling_answers_the_next_requests_then_stops() {
        let fake = FakeServiceBus::start().await;
        let path = "notificationqueue/messages";
        let token = || {
            Some(sas_token(
                &fake.resource_uri(path),
                fake.key_name(),
                fake.key(),
                in_an_hour(),
            ))
        };
        fake.throttle_next(2, 429);
        assert_eq!(post(&fake, path, token()).await, 429);
        assert_eq!(post(&fake, path, token()).await, 429);
        assert_eq!(post(&fake, path, token()).await, 201);
        fake.down();
        assert!(
            reqwest::Client::new()
                .post(format!("{}/{path}", fake.endpoint()))
                .send()
                .await
                .is_err(),
            "connections are refused while down"
        );
        fake.up().await;
        assert_eq!(post(&fake, path, token()).await, 201);
    }

    const EXPECTED_TOKEN: &str = "SharedAccessSignature sr=https%3A%2F%2Ftechconf-test.servicebus.windows.net%2Fnotificationqueue%2Fmessages&sig=wp5Bhl782TNzQIL52kPqhWDgEr%2B3oTinp07w3%2B%2BHA28%3D&se=1900000000&skn=RootManageSharedAccessKey";
}
