//! The HTTP application: routes, middleware, and `Application`, which binds a port and runs
//! until told to stop. `main`, the CLI and the tests all build it the same way.
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{MatchedPath, State, WebSocketUpgrade};
use axum::http::{HeaderMap, Request, StatusCode, header::AUTHORIZATION};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::{Authentication, Authenticator, bearer_token};
use crate::config::Settings;
use crate::graphql::{TechConfSchema, build_schema};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: TechConfSchema,
    pub authenticator: Authenticator,
    /// What the WebSocket connections share: multiplexed progress, keep-alive pings.
    pub subscriptions: crate::graphql::ws::Subscriptions,
    /// Open WebSocket connections, with their limits.
    pub sockets: crate::ws::SocketRegistry,
}

/// The routes: GraphQL over HTTP and WebSocket, health checks, and the web client at `/`.
pub fn router(
    state: AppState,
    web_dir: &Path,
    max_body_bytes: usize,
    body_read_timeout: std::time::Duration,
) -> Router {
    let web = ServeDir::new(web_dir).fallback(ServeFile::new(web_dir.join("index.html")));
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route(
            "/admin/export/attendees.csv",
            get(crate::export::attendees_csv),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback_service(web)
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        // A body that stalls this long between two reads ends the request.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_read_timeout,
        ))
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

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let auth = match authenticate_http(&state, &headers).await {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    let mut response = state.schema.execute(request.into_inner().data(auth)).await;
    label_request_errors(&mut response.errors);
    GraphQLResponse::from(response).into_response()
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
/// types, depth and complexity limits) are the client's: they get `VALIDATION`, so every
/// error a client sees carries a code.
fn label_request_errors(errors: &mut [async_graphql::ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "VALIDATION");
        }
    }
}

fn internal_error_response() -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("TechConf GraphiQL")
            .finish(),
    )
}

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
        let (schema, subscriptions) =
            build_schema(db.clone(), settings.limits, settings.worker.clone(), hub);
        let state = AppState {
            schema,
            subscriptions,
            authenticator: Authenticator::new(settings.admin_token.as_ref()),
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
