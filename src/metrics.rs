//! Prometheus metrics: every metric's name in one place, the process-wide recorder, the
//! `/metrics` exposition, and the gauges read from the database when it is scraped.
//!
//! Counters and histograms are recorded where things happen (the mail layer, the HTTP
//! middleware, the GraphQL extension [`GraphqlMetrics`]). Gauges that describe shared state
//! (jobs, notifications, relay lag) are queried from the database at scrape time, so every
//! process reports the same truth and nothing drifts; dashboards take `max` across
//! instances. docs/OPERATIONS.md lists every metric and the alerts to set on them.
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextSubscribe,
};
use async_graphql::futures_util::stream::BoxStream;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::StreamExt;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use tokio::sync::watch;

use crate::domain::{JobStatus, NotificationStatus};
use crate::entity::{job, notification};
use crate::mail::SendError;

pub const JOBS: &str = "techconf_jobs";
pub const JOBS_OLDEST_PENDING_AGE: &str = "techconf_jobs_oldest_pending_age_seconds";
pub const DELIVERIES: &str = "techconf_deliveries_total";
pub const SMTP_SEND_DURATION: &str = "techconf_smtp_send_duration_seconds";
pub const NOTIFICATIONS: &str = "techconf_notifications";
pub const RELAY_LAG: &str = "techconf_servicebus_relay_lag_seconds";
pub const SUBSCRIPTIONS_ACTIVE: &str = "techconf_graphql_subscriptions_active";
pub const SUBSCRIPTION_EVENTS: &str = "techconf_graphql_subscription_events_total";
pub const HTTP_REQUEST_DURATION: &str = "techconf_http_request_duration_seconds";
pub const GRAPHQL_REQUEST_DURATION: &str = "techconf_graphql_request_duration_seconds";
pub const ORGANIZATION_RATE_WAIT: &str = "techconf_organization_rate_wait_seconds";
pub const SEND_YIELDS: &str = "techconf_send_yields_total";
pub const OUTCOME_COMMIT_SIZE: &str = "techconf_outcome_commit_size";
pub const OUTCOME_COMMIT_DURATION: &str = "techconf_outcome_commit_duration_seconds";
pub const DELIVERIES_RETRIED: &str = "techconf_deliveries_retried_total";
pub const CSV_EXPORTS: &str = "techconf_csv_exports_total";
pub const AUTO_PAUSES: &str = "techconf_notifications_auto_paused_total";
pub const SCHEDULE_DELAY: &str = "techconf_scheduled_plan_delay_seconds";
pub const TEST_SENDS: &str = "techconf_test_sends_total";
/// Every metric TechConf exports; docs/OPERATIONS.md describes each one.
pub const ALL: &[&str] = &[
    JOBS,
    JOBS_OLDEST_PENDING_AGE,
    DELIVERIES,
    SMTP_SEND_DURATION,
    NOTIFICATIONS,
    RELAY_LAG,
    SUBSCRIPTIONS_ACTIVE,
    SUBSCRIPTION_EVENTS,
    HTTP_REQUEST_DURATION,
    GRAPHQL_REQUEST_DURATION,
    ORGANIZATION_RATE_WAIT,
    SEND_YIELDS,
    OUTCOME_COMMIT_SIZE,
    OUTCOME_COMMIT_DURATION,
    DELIVERIES_RETRIED,
    CSV_EXPORTS,
    AUTO_PAUSES,
    SCHEDULE_DELAY,
    TEST_SENDS,
];

/// Job kinds and states, so a state with no rows reads 0 instead of its last value.
const JOB_KINDS: &[&str] = &["plan", "send", "confirmation"];
/// Latency buckets, in seconds: from a fast SMTP hand-off to a slow GraphQL page.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Outcomes per group commit: 1 when mail trickles out, up to `WORKER_MAX_UNRECORDED`.
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Distinct GraphQL operation names kept as label values; later names count as `other`.
const MAX_OPERATION_NAMES: usize = 200;
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        // Only an empty bucket list is refused, and neither list is empty.
        let builder = builder
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(OUTCOME_COMMIT_SIZE.into()), SIZE_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics will stay empty");
        }
        describe();
        // Drains histogram samples even when nobody scrapes, so memory stays flat.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

fn describe() {
    describe_counter!(
        AUTO_PAUSES,
        "Notifications that paused themselves (their failure ratio passed their auto-pause rule)."
    );
    describe_histogram!(
        SCHEDULE_DELAY,
        metrics::Unit::Seconds,
        "How late a scheduled notification was planned after its sendAt."
    );
    describe_counter!(
        TEST_SENDS,
        "Test emails (sendTestNotification) by outcome (sent, failed)."
    );
    describe_gauge!(JOBS, "Job rows by kind and status.");
    describe_gauge!(
        JOBS_OLDEST_PENDING_AGE,
        metrics::Unit::Seconds,
        "How long the oldest due pending job has waited to be claimed (0 when none)."
    );
    describe_counter!(
        DELIVERIES,
        "SMTP hand-offs by outcome (sent, failed, retried) and reply class (2xx, 4xx, 5xx, none)."
    );
    describe_histogram!(
        SMTP_SEND_DURATION,
        metrics::Unit::Seconds,
        "Time to hand one message to the mail server, connection set-up included."
    );
    describe_gauge!(NOTIFICATIONS, "Notifications by status.");
    describe_gauge!(
        RELAY_LAG,
        metrics::Unit::Seconds,
        "Age of the oldest due job not yet published to Service Bus (0 when none)."
    );
    describe_gauge!(
        SUBSCRIPTIONS_ACTIVE,
        "Open GraphQL subscriptions on this process."
    );
    describe_counter!(
        SUBSCRIPTION_EVENTS,
        "Events sent to GraphQL subscribers, by operation name."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method, route and status."
    );
    describe_counter!(
        DELIVERIES_RETRIED,
        "Failed (or bounced) deliveries made pending again by retryFailedDeliveries."
    );
    describe_counter!(
        CSV_EXPORTS,
        "CSV exports started, by export (attendees, deliveries)."
    );
    describe_histogram!(
        OUTCOME_COMMIT_SIZE,
        "Delivery outcomes recorded per group commit of the send step."
    );
    describe_histogram!(
        OUTCOME_COMMIT_DURATION,
        metrics::Unit::Seconds,
        "Time to record one group commit of delivery outcomes, retries included."
    );
    describe_histogram!(
        GRAPHQL_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "GraphQL query and mutation execution time by operation name."
    );
    describe_histogram!(
        ORGANIZATION_RATE_WAIT,
        metrics::Unit::Seconds,
        "How long a batch waited for its organization's send rate limit (batches of \
         organizations with a limit)."
    );
    describe_counter!(
        SEND_YIELDS,
        "Send jobs that gave their worker slot up between batches to a waiting job (another \
         notification's send, a plan job or a confirmation)."
    );
}

/// Counts a send job that gave its worker slot up to a waiting job (fair sending).
pub fn record_send_yield() {
    handle();
    counter!(SEND_YIELDS).increment(1);
}

/// Records how long a batch waits for its organization's rate limit.
pub fn record_organization_rate_wait(wait: Duration) {
    handle();
    histogram!(ORGANIZATION_RATE_WAIT).record(wait.as_secs_f64());
}

/// Records one hand-off to the mail transport. `reply_class` is the SMTP reply's first
/// digit followed by `xx`, or `none` when no reply came (connection error, timeout, file).
pub fn record_send(result: &Result<(), SendError>, reply_class: &'static str, took: Duration) {
    handle();
    let outcome = match result {
        Ok(()) => DeliveryOutcome::Sent,
        Err(err) if err.transient => DeliveryOutcome::Retried,
        Err(_) => DeliveryOutcome::Failed,
    };
    counter!(DELIVERIES, "outcome" => outcome.as_str(), "reply_class" => reply_class).increment(1);
    histogram!(SMTP_SEND_DURATION, "outcome" => outcome.as_str()).record(took.as_secs_f64());
}

/// Records one group commit of the send step: how many outcomes, and how long it took.
pub fn record_commit(size: usize, took: Duration) {
    handle();
    histogram!(OUTCOME_COMMIT_SIZE).record(size as f64);
    histogram!(OUTCOME_COMMIT_DURATION).record(took.as_secs_f64());
}

/// Counts deliveries an admin's retry made pending again.
pub fn deliveries_retried(count: u64) {
    handle();
    counter!(DELIVERIES_RETRIED).increment(count);
}

/// Counts one CSV export that started streaming.
pub fn csv_export(export: &'static str) {
    handle();
    counter!(CSV_EXPORTS, "export" => export).increment(1);
}

/// A notification paused itself.
pub fn record_auto_pause() {
    handle();
    counter!(AUTO_PAUSES).increment(1);
}

/// A scheduled notification was planned `delay` after its `sendAt`.
pub fn record_schedule_delay(delay: chrono::Duration) {
    handle();
    histogram!(SCHEDULE_DELAY).record(delay.as_seconds_f64().max(0.0));
}

/// One test email was handed to the transport (`sent`) or refused.
pub fn record_test_send(sent: bool) {
    handle();
    let outcome = if sent { "sent" } else { "failed" };
    counter!(TEST_SENDS, "outcome" => outcome).increment(1);
}

/// What became of one hand-off to the mail transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Accepted by the server.
    Sent,
    /// Refused for good (5xx): the delivery fails.
    Failed,
    /// A transient failure (4xx, connection error, timeout): the delivery is retried.
    Retried,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Retried => "retried",
        }
    }
}

/// What `/metrics` reads: the recorder, plus the database for the shared gauges.
#[derive(Clone)]
pub struct Exposition {
    db: DatabaseConnection,
    /// Whether to report the Service Bus relay lag.
    servicebus: bool,
}

impl Exposition {
    pub fn new(db: DatabaseConnection, servicebus: bool) -> Self {
        handle();
        Self { db, servicebus }
    }

    /// Refreshes the database gauges, then renders the Prometheus text format.
    pub async fn render(&self) -> Result<String, DbErr> {
        self.refresh().await?;
        Ok(handle().render())
    }

    async fn refresh(&self) -> Result<(), DbErr> {
        let now = Utc::now();
        let jobs: Vec<(String, String, i64)> = job::Entity::find()
            .select_only()
            .column(job::Column::Kind)
            .column(job::Column::Status)
            .column_as(Expr::col(job::Column::Id).count(), "n")
            .group_by(job::Column::Kind)
            .group_by(job::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        for kind in JOB_KINDS {
            for state in JobStatus::ALL.iter().map(|s| s.as_str()) {
                let n = jobs
                    .iter()
                    .find(|(k, s, _)| k == kind && s == state)
                    .map_or(0, |(_, _, n)| *n);
                gauge!(JOBS, "kind" => *kind, "status" => state).set(n as f64);
            }
        }

        let oldest_due = |unpublished_only: bool| {
            let mut query = job::Entity::find()
                .filter(job::Column::Status.eq(JobStatus::Pending))
                .filter(job::Column::RunAt.lte(now));
            if unpublished_only {
                query = query.filter(job::Column::PublishedAt.is_null());
            }
            query.order_by_asc(job::Column::RunAt).one(&self.db)
        };
        let age = |row: Option<job::Model>| {
            row.map_or(0.0, |j| {
                Ord::max((now - j.run_at).num_milliseconds(), 0) as f64 / 1000.0
            })
        };
        gauge!(JOBS_OLDEST_PENDING_AGE).set(age(oldest_due(false).await?));
        if self.servicebus {
            gauge!(RELAY_LAG).set(age(oldest_due(true).await?));
        }

        let notifications: Vec<(String, i64)> = notification::Entity::find()
            .select_only()
            .column(notification::Column::Status)
            .column_as(Expr::col(notification::Column::Id).count(), "n")
            .group_by(notification::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        for status in NotificationStatus::ALL {
            let n = notifications
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            gauge!(NOTIFICATIONS, "status" => status.as_str()).set(n as f64);
        }
        Ok(())
    }

    /// The Prometheus response: the text format, or 500 when the database cannot be read.
    pub async fn response(&self) -> Response {
        match self.render().await {
            Ok(text) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                )],
                text,
            )
                .into_response(),
            Err(err) => {
                tracing::error!(error = %err, "metrics: could not read the database gauges");
                (StatusCode::INTERNAL_SERVER_ERROR, "database unavailable\n").into_response()
            }
        }
    }
}

/// Binds the private metrics address named by `variable`.
pub async fn bind_private(
    address: SocketAddr,
    variable: &'static str,
) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("{variable}: cannot listen on {address}"))
}

/// Serves `GET /metrics` without a token on `listener` (a private interface) until `stop`
/// turns true.
pub fn serve_private(
    listener: tokio::net::TcpListener,
    exposition: Exposition,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let router = Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(exposition): State<Exposition>| async move {
                exposition.response().await
            }),
        )
        .with_state(exposition);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving metrics");
    }
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the metrics listener failed");
        }
    })
}

/// Middleware: HTTP latency by method, matched route (or `static`) and status.
pub async fn http_latency(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "static".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    histogram!(
        HTTP_REQUEST_DURATION,
        "method" => method,
        "path" => path,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The async-graphql extension that times queries and mutations by operation name and
/// counts subscriptions and their events.
pub struct GraphqlMetrics;

impl ExtensionFactory for GraphqlMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        handle();
        Arc::new(GraphqlMetricsExtension::default())
    }
}

#[derive(Default)]
struct GraphqlMetricsExtension {
    /// Set when the request is a subscription: its events are counted, not timed.
    subscription: AtomicBool,
    /// The operation's label, worked out once (a subscription executes once per event).
    operation: OnceLock<String>,
}

#[async_trait::async_trait]
impl Extension for GraphqlMetricsExtension {
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, async_graphql::Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, async_graphql::Response> {
        self.subscription.store(true, Ordering::Relaxed);
        let active = ActiveSubscription::open();
        Box::pin(next.run(ctx, stream).map(move |response| {
            let _open = &active;
            response
        }))
    }

    /// Runs once per query or mutation, and once per event of a subscription.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let operation = self
            .operation
            .get_or_init(|| operation_label(operation_name))
            .clone();
        if self.subscription.load(Ordering::Relaxed) {
            counter!(SUBSCRIPTION_EVENTS, "operation" => operation).increment(1);
            return next.run(ctx, operation_name).await;
        }
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        histogram!(GRAPHQL_REQUEST_DURATION, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        response
    }
}

/// Counts one open subscription while it lives.
struct ActiveSubscription;

impl ActiveSubscription {
    fn open() -> Self {
        gauge!(SUBSCRIPTIONS_ACTIVE).increment(1.0);
        Self
    }
}

impl Drop for ActiveSubscription {
    fn drop(&mut self) {
        gauge!(SUBSCRIPTIONS_ACTIVE).decrement(1.0);
    }
}

/// A bounded label for a client-chosen operation name: `anonymous` without one, `other` once
/// [`MAX_OPERATION_NAMES`] distinct names have been seen.
fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "anonymous".into();
    };
    let valid = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return "other".into();
    }
    let seen = SEEN.get_or_init(Default::default);
    match seen.lock() {
        Ok(mut seen) if seen.contains(name) || seen.len() < MAX_OPERATION_NAMES => {
            seen.insert(name.to_owned());
            name.to_owned()
        }
        _ => "other".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `techconf_…` names in `text`.
    fn metric_names(text: &str) -> HashSet<String> {
        let mut names = HashSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("techconf_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
        names
    }

    #[test]
    fn the_operations_guide_describes_every_metric() {
        let guide = include_str!("../docs/OPERATIONS.md");
        for name in ALL {
            assert!(
                guide.contains(&format!("| `{name}` |")),
                "{name} is not in the table"
            );
        }
    }

    #[test]
    fn the_dashboard_reads_only_metrics_that_exist() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).unwrap();
        let queried = metric_names(&dashboard.to_string());
        for name in &queried {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            assert!(ALL.contains(&base), "the dashboard queries unknown {name}");
        }
        for name in ALL {
            assert!(
                queried.iter().any(|q| q.starts_with(name)),
                "the dashboard does not show {name}"
            );
        }
    }

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("Attendees")), "Attendees");
        assert_eq!(operation_label(Some("bad name\n")), "other");
        for i in 0..MAX_OPERATION_NAMES + 10 {
            operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(operation_label(Some("OneTooMany")), "other");
        assert_eq!(operation_label(Some("Attendees")), "Attendees");
    }
}
