//! The HTTP application: routes, middleware, and `Application`, which binds a port and runs
//! until told to stop. `main`, the CLI and the tests all build it the same way.
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::GraphQLRequest;
use axum::extract::{ConnectInfo, MatchedPath, State, WebSocketUpgrade};
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header, header::AUTHORIZATION,
};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::{Authentication, Authenticator, bearer_token};
use crate::config::{ApiLimits, Settings};
use crate::error::ApiError;
use crate::graphql::limits::ClientAddress;
use crate::graphql::{TechConfSchema, build_schema_with};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: TechConfSchema,
    pub authenticator: Authenticator,
    /// Signs and checks the `/u/` unsubscribe links.
    pub unsubscribe: crate::unsubscribe::Unsubscribe,
    /// Authenticates the `/webhooks/` provider endpoints.
    pub webhooks: crate::webhooks::WebhookSettings,
    /// What the WebSocket connections share: multiplexed progress, keep-alive pings.
    pub subscriptions: crate::graphql::ws::Subscriptions,
    pub limits: std::sync::Arc<ApiLimits>,
    /// Open WebSocket connections, with their limits.
    pub sockets: crate::ws::SocketRegistry,
}

/// The Content-Security-Policy of every response. The web client and GraphiQL are built
/// by Vite into files under `/assets/`, with no inline script; styles may be inline (React
/// and GraphiQL set `style` attributes). Nothing loads from another origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Headers every response carries.
fn security_headers() -> [(HeaderName, &'static str); 4] {
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ]
}

/// The routes: GraphQL over HTTP and WebSocket, health checks, and the web client at `/`.
pub fn router(
    state: AppState,
    web_dir: &Path,
    max_body_bytes: usize,
    body_read_timeout: std::time::Duration,
) -> Router {
    let web = ServeDir::new(web_dir).fallback(ServeFile::new(web_dir.join("index.html")));
    let graphiql = ServeFile::new(web_dir.join("graphiql.html"));
    let mut router = Router::new()
        .route(
            "/graphql",
            get(move |request: Request<axum::body::Body>| graphiql_page(graphiql, request))
                .post(graphql),
        )
        .route("/graphql/ws", get(graphql_ws))
        .route(
            "/admin/export/attendees.csv",
            get(crate::export::attendees_csv),
        )
        .route(
            "/admin/export/deliveries.csv",
            get(crate::export::deliveries_csv),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/u/{token}",
            get(crate::unsubscribe::page).post(crate::unsubscribe::one_click),
        )
        .route(
            "/webhooks/azure",
            axum::routing::post(crate::webhooks::azure::receive),
        )
        .route(
            "/webhooks/sendgrid",
            axum::routing::post(crate::webhooks::sendgrid::receive),
        )
        .route("/metrics", get(metrics))
        .fallback_service(web)
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        // A body that stalls this long between two reads ends the request.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_read_timeout,
        ));
    for (name, value) in security_headers() {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(axum::middleware::from_fn(crate::metrics::http_latency))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let path = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("static");
                    let request_id = crate::telemetry::request_id_of(request);
                    tracing::info_span!("http", method = %request.method(), path, request_id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // Outermost, so the trace span above sees the id it sets.
        .layer(axum::middleware::from_fn(crate::telemetry::request_id))
        .with_state(state)
}

/// The caller's address: the configured trusted proxy header if it carries one (its last
/// entry, the one the nearest proxy wrote), else the socket peer.
fn client_address(
    limits: &ApiLimits,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<std::net::IpAddr> {
    let from_proxy = limits
        .trusted_client_ip_header
        .as_ref()
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| {
            let last = last.trim();
            last.parse::<std::net::IpAddr>()
                .ok()
                .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
        });
    from_proxy.or(peer.map(|p| p.ip()))
}

async fn graphql(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let client = client_address(&state.limits, &headers, peer.map(|p| p.0.0));
    let execute = execute(&state, &headers, request, client);
    let response = match state.limits.request_timeout {
        None => execute.await,
        Some(limit) => match tokio::time::timeout(limit, execute).await {
            Ok(response) => response,
            Err(_) => Ok(refused(ApiError::Timeout(limit.as_millis()))),
        },
    };
    match response {
        Ok(response) => respond(response, state.limits.max_response_bytes),
        Err(response) => response,
    }
}

/// A response whose only content is `error`.
fn refused(error: ApiError) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![crate::graphql::limits::refusal(error, None)])
}

/// Serializes `response` once, refusing it if it is larger than `max_bytes`; a request
/// refused for its rate gets HTTP 429 and `Retry-After`.
fn respond(response: async_graphql::Response, max_bytes: Option<usize>) -> Response {
    let retry_after = response.errors.iter().find_map(|e| {
        let ext = e.extensions.as_ref()?;
        match ext.get("code")? {
            async_graphql::Value::String(code) if code == "RATE_LIMITED" => {
                match ext.get("retryAfter")? {
                    async_graphql::Value::Number(n) => n.as_u64(),
                    _ => None,
                }
            }
            _ => None,
        }
    });
    let mut headers = response.http_headers.clone();
    let body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            return internal_error_response();
        }
    };
    let body = match max_bytes {
        Some(max) if body.len() > max => {
            let too_large = refused(ApiError::LimitExceeded {
                limit: "responseBytes",
                message: format!(
                    "the response would be larger than {max} bytes; ask for fewer fields or a smaller page"
                ),
            });
            match serde_json::to_vec(&too_large) {
                Ok(body) => body,
                Err(_) => return internal_error_response(),
            }
        }
        _ => body,
    };
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut status = StatusCode::OK;
    if let Some(seconds) = retry_after {
        status = StatusCode::TOO_MANY_REQUESTS;
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    (status, headers, body).into_response()
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: GraphQLRequest,
    client: Option<std::net::IpAddr>,
) -> Result<async_graphql::Response, Response> {
    let auth = authenticate_http(state, headers).await?;
    let mut request = request.into_inner().data(auth);
    if let Some(client) = client {
        request = request.data(ClientAddress(client));
    }
    if request.query.len() > PARSE_APART_BYTES {
        // Parsing a large document is CPU work: do it on a blocking thread, so the async
        // workers keep answering other requests (and `/healthz`) meanwhile.
        let parsed = tokio::task::spawn_blocking(move || {
            let parsed = request.parsed_query().map(|_| ());
            (parsed, request)
        })
        .await;
        match parsed {
            Ok((Ok(()), parsed)) => request = parsed,
            Ok((Err(error), _)) => {
                let mut response = async_graphql::Response::from_errors(vec![error]);
                label_request_errors(&mut response.errors);
                return Ok(response);
            }
            Err(err) => {
                tracing::error!(error = %err, "parsing a GraphQL document failed");
                return Err(internal_error_response());
            }
        }
    }
    let mut response = state.schema.execute(request).await;
    label_request_errors(&mut response.errors);
    Ok(response)
}

/// `GET /metrics`: the Prometheus exposition, for admin tokens only (401 without a valid
/// token, 403 for other roles). `METRICS_LISTEN` serves it without a token elsewhere.
async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    probe: Option<axum::Extension<QueueProbe>>,
) -> Response {
    let auth = match authenticate_http(&state, &headers).await {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    if let Err(err) = auth.require(crate::graphql::ADMINS) {
        let status = match err {
            crate::error::ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        return (
            status,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            format!("{err}\n"),
        )
            .into_response();
    }
    crate::metrics::Exposition::new(state.db.clone(), probe.is_some())
        .response()
        .await
}

/// Who sent an HTTP request, from its `Authorization: Bearer …` header. A malformed header
/// is as wrong as an unknown token; a failed check is an `INTERNAL` response.
pub(crate) async fn authenticate_http(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Authentication, Response> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| bearer_token(v).unwrap_or(""));
    let auth = state
        .authenticator
        .authenticate(&state.db, token.filter(|t| !t.is_empty()))
        .await
        .map_err(|err| {
            tracing::error!(error = ?err, "could not check an API token");
            internal_error_response()
        })?;
    Ok(if token == Some("") {
        Authentication::Invalid
    } else {
        auth
    })
}

/// Errors raised by the GraphQL engine itself (parse errors, unknown fields, bad argument
/// types) are the client's: they get `VALIDATION`, so every error a client sees carries a
/// code. Their messages may quote the input, so each is cut to a short length.
fn label_request_errors(errors: &mut [async_graphql::ServerError]) {
    for error in errors {
        if error.message.len() > MAX_ERROR_MESSAGE_BYTES {
            let mut end = MAX_ERROR_MESSAGE_BYTES;
            while !error.message.is_char_boundary(end) {
                end -= 1;
            }
            error.message.truncate(end);
            error.message.push('…');
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "VALIDATION");
        }
    }
}

/// Documents larger than this are parsed on a blocking thread; the web client's own are
/// far smaller.
const PARSE_APART_BYTES: usize = 8 * 1024;

/// The longest error message a response carries (a backstop for [`crate::error::echo`]).
const MAX_ERROR_MESSAGE_BYTES: usize = 300;

fn internal_error_response() -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// GraphiQL, built with the web client (`web-client/graphiql.html`, pinned npm packages, no
/// CDN). Without a built web client, a page that says how to build it.
async fn graphiql_page(page: ServeFile, request: Request<axum::body::Body>) -> Response {
    use tower::ServiceExt as _;
    match page.oneshot(request).await {
        Ok(response) if response.status().is_success() => response.into_response(),
        _ => Html(GRAPHIQL_MISSING).into_response(),
    }
}

const GRAPHIQL_MISSING: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>TechConf GraphiQL</title></head><body><p>GraphiQL is part of the web client build \
(<code>graphiql.html</code> is missing from <code>TECHCONF_WEB_DIR</code>): run \
<code>make web</code> (or <code>cd web-client &amp;&amp; npm run build</code>). The API answers \
<code>POST /graphql</code>.</p></body></html>";

/// The read buffer of one WebSocket connection.
const WS_READ_BUFFER_BYTES: usize = 4 * 1024;
/// The largest message a WebSocket client may send (a `subscribe` with its query).
const WS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Subscriptions, in both the `graphql-transport-ws` and the legacy `graphql-ws` protocol.
/// The token comes in the `connection_init` payload, as `authorization: "Bearer …"` or
/// `token: "…"`; without a valid one the connection is refused with the reason.
async fn graphql_ws(
    State(state): State<AppState>,
    protocol: crate::graphql::ws::Protocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // Clients send a few small messages (init, subscribe) and then only read: a small read
        // buffer keeps an idle subscriber to a few KiB instead of the default 128 KiB.
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .max_message_size(WS_MAX_MESSAGE_BYTES)
        .on_upgrade(move |stream| {
            let subscriptions = state.subscriptions.clone();
            let sockets = state.sockets.clone();
            crate::ws::serve(
                stream,
                subscriptions,
                protocol.0,
                sockets,
                move |payload| async move { authenticate_ws(&state, &payload).await },
            )
        })
}

async fn authenticate_ws(
    state: &AppState,
    payload: &serde_json::Value,
) -> async_graphql::Result<Authentication> {
    let field = |name: &str| payload.get(name).and_then(|v| v.as_str());
    let token = field("authorization")
        .or_else(|| field("Authorization"))
        .map(|h| bearer_token(h).unwrap_or(""))
        .or_else(|| field("token"));
    let auth = match token {
        None => Authentication::Anonymous,
        Some("") => Authentication::Invalid,
        Some(token) => state
            .authenticator
            .authenticate(&state.db, Some(token))
            .await
            .map_err(|err| {
                tracing::error!(error = ?err, "could not check an API token");
                async_graphql::Error::new("internal error")
            })?,
    };
    auth.require(crate::graphql::READERS)
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    Ok(auth)
}

async fn healthz() -> &'static str {
    "ok"
}

/// The Service Bus queue `/readyz` checks, set by [`Application::run_until`] when Service
/// Bus is configured. Without it the job table is the queue, and the database check covers it.
#[derive(Clone)]
struct QueueProbe(crate::queue::servicebus::ServiceBusQueue);

/// Ready when the database answers and so does the queue: `{"database": .., "queue": ..,
/// "queue_backend": "database" | "servicebus"}`, each `ok` or why not; 503 unless all are `ok`.
async fn readyz(
    State(state): State<AppState>,
    probe: Option<axum::Extension<QueueProbe>>,
) -> Response {
    let database = match state.db.ping().await {
        Ok(()) => "ok",
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            "unreachable"
        }
    };
    let (backend, queue) = match probe {
        None => ("database", database),
        Some(axum::Extension(QueueProbe(servicebus))) => {
            use crate::queue::servicebus::ServiceBusError;
            let queue = match servicebus.ping().await {
                Ok(()) => "ok",
                Err(err) => {
                    tracing::warn!(error = %err, "readiness check: Service Bus not usable");
                    match err {
                        ServiceBusError::Unauthorized { .. }
                        | ServiceBusError::Forbidden { .. } => "unauthorized",
                        ServiceBusError::QueueNotFound { .. } => "queue not found",
                        _ => "unreachable",
                    }
                }
            };
            ("servicebus", queue)
        }
    };
    let status = if database == "ok" && queue == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({"database": database, "queue": queue, "queue_backend": backend});
    (status, Json(body)).into_response()
}

/// How `serve` starts.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Apply pending migrations instead of refusing to start.
    pub migrate: bool,
    /// Run the fan-out worker inside this process.
    pub with_worker: bool,
}

/// A built server: connected, migrated, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    options: ServeOptions,
    settings: Settings,
    /// `METRICS_LISTEN`: `/metrics` without a token, on a private address.
    metrics_listener: Option<TcpListener>,
}

impl Application {
    pub async fn build(settings: Settings, options: ServeOptions) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database_url).await?;
        crate::db::ensure_migrated(&db, options.migrate).await?;
        let hub = crate::progress::ProgressHub::start(db.clone());
        let (schema, subscriptions) = build_schema_with(
            db.clone(),
            settings.limits.clone(),
            settings.worker.clone(),
            hub,
            Some(crate::mail::Outbound::from_settings(&settings)?),
        );
        let state = AppState {
            schema,
            subscriptions,
            authenticator: Authenticator::new(settings.admin_token.as_ref()),
            limits: std::sync::Arc::new(settings.limits.clone()),
            unsubscribe: crate::unsubscribe::Unsubscribe::from_settings(&settings.unsubscribe)?,
            webhooks: settings.webhooks.clone(),
            sockets: crate::ws::SocketRegistry::new(settings.connections.sockets),
            db,
        };
        let router = router(
            state.clone(),
            &settings.web_dir,
            settings.limits.max_body_bytes,
            settings.connections.body_read_timeout,
        );
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("TECHCONF_LISTEN: cannot listen on {}", settings.listen))?;
        let metrics_listener = match settings.metrics.listen {
            Some(address) => Some(crate::metrics::bind_private(address, "METRICS_LISTEN").await?),
            None => None,
        };
        Ok(Self {
            listener,
            router,
            state,
            options,
            settings,
            metrics_listener,
        })
    }

    /// Where `METRICS_LISTEN` serves `/metrics`, if it is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    /// With `--with-worker`, the worker runs alongside and stops with the server, after
    /// finishing its in-flight batches. With Service Bus configured, an outbox relay runs
    /// alongside too (unless `SERVICEBUS_RELAY=off`), and `/readyz` checks the queue.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut router = self.router;
        let mut relay = None;
        if let Some(servicebus) = &self.settings.servicebus {
            let probe = crate::queue::servicebus::ServiceBusQueue::new(servicebus)
                .context("SERVICEBUS_CONNECTION_STRING: cannot set up the client")?;
            router = router.layer(axum::Extension(QueueProbe(probe)));
            if servicebus.relay.enabled {
                relay = Some(
                    crate::queue::servicebus::spawn_relay(
                        self.state.db.clone(),
                        servicebus,
                        stopped.clone(),
                    )
                    .context("SERVICEBUS_CONNECTION_STRING: cannot start the outbox relay")?,
                );
            }
        }
        if let Some(listener) = self.metrics_listener {
            let exposition = crate::metrics::Exposition::new(
                self.state.db.clone(),
                self.settings.servicebus.is_some(),
            );
            crate::metrics::serve_private(listener, exposition, stopped.clone());
        }
        let worker = if self.options.with_worker {
            let worker =
                crate::worker::Worker::new(self.state.db.clone(), &self.settings, stopped)?;
            Some(tokio::spawn(worker.run()))
        } else {
            None
        };
        let revocations = self
            .state
            .sockets
            .spawn_revocation_watch(self.state.db.clone());
        let served = crate::http_server::serve(
            self.listener,
            router,
            self.settings.connections.header_read_timeout,
            async move {
                shutdown.await;
                let _ = stop.send(true);
            },
        )
        .await
        .context("serving HTTP");
        revocations.abort();
        if let Some(worker) = worker {
            worker.await.context("the worker task failed")??;
        }
        if let Some(relay) = relay {
            relay.await.context("the outbox relay task failed")?;
        }
        served
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
