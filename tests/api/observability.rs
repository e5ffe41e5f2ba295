//! Operating TechConf: Prometheus metrics (`/metrics` on the API with an admin token,
//! `METRICS_LISTEN` and `WORKER_METRICS_LISTEN` without), request ids in responses and log
//! lines, and the statement count of list pages (DataLoader).
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_parse::{Scrape, Value as Metric};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use techconf::app::{Application, ServeOptions};
use techconf::domain::Role;
use testkit::smtp::SmtpSink;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{
    Backend, emails, insert_attendees, new_database, settings_for, spawn_app, spawn_app_on,
};
use crate::worker_processes::WorkerProcess;

const WAIT: Duration = Duration::from_secs(30);

/// Parses a whole exposition, checking every sample line's shape on the way (the parser
/// skips what it does not understand), and returns it.
fn parse_exposition(text: &str) -> Scrape {
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap_or(("", ""));
        let name = series.split('{').next().unwrap_or("");
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line:?}"
        );
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("the exposition parses: {e}\n{text}"));
    for name in scrape.docs.keys() {
        assert!(name.starts_with("techconf_"), "unprefixed metric {name}");
    }
    scrape
}

/// The value of the one sample of `metric` whose labels include `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect();
    assert!(
        matching.len() <= 1,
        "several {metric}{labels:?}: {matching:?}"
    );
    matching.first().map(|s| match &s.value {
        Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
        // A histogram's value here is its count: the `+Inf` bucket.
        Metric::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
        Metric::Summary(_) => panic!("{metric} is a summary"),
    })
}

async fn scrape(client: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the metrics endpoint answers")
}

/// A real `techconf worker` process sends a notification to Postfix's smtp-sink; its
/// `WORKER_METRICS_LISTEN` endpoint counts exactly the messages the sink received.
async fn worker_metrics_count_what_the_sink_received(backend: Backend) {
    const N: usize = 30;
    let sink = SmtpSink::start();
    let app = spawn_app_on(
        new_database(backend).await,
        &[("MAIL_URL", &sink.url())],
        false,
    )
    .await;
    let conference = app.create_conference("MetricsConf").await;
    insert_attendees(&app.db, &conference, &emails(N)).await;
    let worker = WorkerProcess::start(
        app.database(),
        &sink.url(),
        &[("WORKER_METRICS_LISTEN", "127.0.0.1:0")],
    )
    .await;
    worker.wait_for_log("serving metrics").await;
    let address = worker
        .lines
        .borrow()
        .iter()
        .find(|l| l["message"] == "serving metrics")
        .and_then(|l| l["address"].as_str().map(str::to_owned))
        .expect("the worker logs its metrics address");

    let id = app
        .notify(&conference, "Hi {{ first_name }}", "Hello")
        .await;
    let finished = app.wait_until_finished(&id).await;
    assert_eq!(finished["sent"], N);
    app.wait_until_no_jobs().await;
    sink.wait_for_count(N, WAIT)
        .await
        .expect("the sink received every message");
    let received = sink.messages().len();

    let client = reqwest::Client::new();
    let response = scrape(&client, &format!("http://{address}/metrics"), None).await;
    assert_eq!(
        response.status(),
        200,
        "no token needed on the private address"
    );
    let text = response.text().await.unwrap();
    let metrics = parse_exposition(&text);

    let sent = value(
        &metrics,
        "techconf_deliveries_total",
        &[("outcome", "sent"), ("reply_class", "2xx")],
    );
    assert_eq!(sent, Some(received as f64), "{text}");
    assert_eq!(
        value(
            &metrics,
            "techconf_deliveries_total",
            &[("outcome", "failed")]
        ),
        None
    );
    assert_eq!(
        value(
            &metrics,
            "techconf_deliveries_total",
            &[("outcome", "retried")]
        ),
        None
    );
    assert_eq!(
        value(
            &metrics,
            "techconf_smtp_send_duration_seconds",
            &[("outcome", "sent")]
        ),
        Some(received as f64),
        "one latency sample per message"
    );
    // The database gauges: one finished notification, no jobs left.
    assert_eq!(
        value(
            &metrics,
            "techconf_notifications",
            &[("status", "COMPLETED")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "techconf_notifications", &[("status", "SENDING")]),
        Some(0.0)
    );
    for kind in ["plan", "send", "confirmation"] {
        assert_eq!(
            value(
                &metrics,
                "techconf_jobs",
                &[("kind", kind), ("status", "pending")]
            ),
            Some(0.0)
        );
    }
    assert_eq!(
        value(&metrics, "techconf_jobs_oldest_pending_age_seconds", &[]),
        Some(0.0)
    );

    // Every log line of a job names the job and the notification it works on.
    let lines = worker.lines.borrow().clone();
    let in_jobs: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == "job"))
        })
        .collect();
    assert!(
        in_jobs.iter().any(|l| l["message"] == "send job ran"),
        "{lines:?}"
    );
    for line in in_jobs {
        let spans = line["spans"].as_array().unwrap();
        assert!(spans.iter().any(|s| s["job_id"].is_string()), "{line}");
        assert!(
            spans.iter().any(|s| s["notification_id"] == id.as_str()),
            "{line}"
        );
    }
}

#[tokio::test]
async fn worker_metrics_count_what_the_sink_received_on_postgres() {
    worker_metrics_count_what_the_sink_received(Backend::Postgres).await;
}

#[tokio::test]
async fn worker_metrics_count_what_the_sink_received_on_sqlite() {
    worker_metrics_count_what_the_sink_received(Backend::Sqlite).await;
}

/// `/metrics` on the API needs an admin token; the exposition then includes the database
/// gauges and the GraphQL latency of the request just made, by operation name.
#[tokio::test]
async fn api_metrics_need_an_admin_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = format!("{}/metrics", app.address);
    let integrator = app.token(Role::Integrator).await;

    let anonymous = scrape(&app.client, &url, None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        scrape(&app.client, &url, Some("not-a-token"))
            .await
            .status(),
        401
    );
    assert_eq!(
        scrape(&app.client, &url, Some(&integrator)).await.status(),
        403
    );

    let answer = app
        .as_admin(
            "query MetricsProbe { conferences { totalCount } }",
            json!({}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let response = scrape(&app.client, &url, Some(&app.admin_token)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let metrics = parse_exposition(&response.text().await.unwrap());
    let probes = value(
        &metrics,
        "techconf_graphql_request_duration_seconds",
        &[("operation", "MetricsProbe")],
    );
    assert!(probes.is_some_and(|n| n >= 1.0), "{probes:?}");
    let graphql_posts = value(
        &metrics,
        "techconf_http_request_duration_seconds",
        &[("method", "POST"), ("path", "/graphql"), ("status", "200")],
    );
    assert!(graphql_posts.is_some_and(|n| n >= 1.0));
    assert!(value(&metrics, "techconf_notifications", &[("status", "QUEUED")]).is_some());
}

/// An open subscription is counted, and so are the events sent to it, by operation name.
#[tokio::test]
async fn subscriptions_and_their_events_are_counted() {
    use crate::subscriptions::{Protocol, Subscription};
    let app = spawn_app(Backend::Sqlite).await;
    let conference = app.create_conference("SubConf").await;
    let mut subscription = Subscription::start(
        &app.address,
        &app.admin_token,
        Protocol::Modern,
        "subscription MetricsProbeSubscription($c: ID!) { attendeeRegistered(conferenceId: $c) { id } }",
        json!({"c": conference}),
    )
    .await;
    subscription
        .wait_for_a_registration(&app, &conference, "sub-probe")
        .await;
    let url = format!("{}/metrics", app.address);
    let response = scrape(&app.client, &url, Some(&app.admin_token)).await;
    let metrics = parse_exposition(&response.text().await.unwrap());
    let events = value(
        &metrics,
        "techconf_graphql_subscription_events_total",
        &[("operation", "MetricsProbeSubscription")],
    );
    assert!(events.is_some_and(|n| n >= 1.0), "{events:?}");
    let open = value(&metrics, "techconf_graphql_subscriptions_active", &[]);
    assert!(open.is_some_and(|n| n >= 1.0), "{open:?}");
    // Subscription events are not timed as queries.
    assert_eq!(
        value(
            &metrics,
            "techconf_graphql_request_duration_seconds",
            &[("operation", "MetricsProbeSubscription")]
        ),
        None
    );
}

/// The database gauges: a due job waiting two minutes shows as the oldest pending job and,
/// with Service Bus configured, as the relay's lag.
async fn queue_gauges_show_a_waiting_job(backend: Backend) {
    let app = spawn_app_on(new_database(backend).await, &[], false).await;
    let conference = app.create_conference("GaugeConf").await;
    app.notify(&conference, "S", "M").await;
    let two_minutes_ago = chrono::Utc::now() - chrono::Duration::seconds(120);
    techconf::entity::job::Entity::update_many()
        .col_expr(
            techconf::entity::job::Column::RunAt,
            sea_orm::sea_query::Expr::value(two_minutes_ago),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let text = techconf::metrics::Exposition::new(app.db.clone(), true)
        .render()
        .await
        .unwrap();
    let metrics = parse_exposition(&text);
    assert_eq!(
        value(
            &metrics,
            "techconf_jobs",
            &[("kind", "plan"), ("status", "pending")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "techconf_notifications", &[("status", "QUEUED")]),
        Some(1.0)
    );
    for gauge in [
        "techconf_jobs_oldest_pending_age_seconds",
        "techconf_servicebus_relay_lag_seconds",
    ] {
        let age = value(&metrics, gauge, &[]).unwrap();
        assert!((120.0..180.0).contains(&age), "{gauge} = {age}");
    }
}

#[tokio::test]
async fn queue_gauges_show_a_waiting_job_on_postgres() {
    queue_gauges_show_a_waiting_job(Backend::Postgres).await;
}

#[tokio::test]
async fn queue_gauges_show_a_waiting_job_on_sqlite() {
    queue_gauges_show_a_waiting_job(Backend::Sqlite).await;
}

/// `METRICS_LISTEN` serves the same exposition without a token, on its own address.
#[tokio::test]
async fn metrics_listen_serves_without_a_token() {
    let database = new_database(Backend::Sqlite).await;
    let settings = settings_for(&database, &[("METRICS_LISTEN", "127.0.0.1:0")]);
    let app = Application::build(
        settings,
        ServeOptions {
            migrate: true,
            with_worker: false,
        },
    )
    .await
    .unwrap();
    let metrics_addr = app.metrics_addr().expect("METRICS_LISTEN is bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = scrape(&client, &format!("http://{metrics_addr}/metrics"), None).await;
    assert_eq!(response.status(), 200);
    let metrics = parse_exposition(&response.text().await.unwrap());
    assert_eq!(
        value(&metrics, "techconf_notifications", &[("status", "QUEUED")]),
        Some(0.0)
    );
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

/// A client's `x-request-id` comes back; without one a new id is made; a bad one is replaced.
#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(Backend::Sqlite).await;
    let get = |id: Option<&str>| {
        let mut request = app.client.get(format!("{}/healthz", app.address));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    let echoed = get(Some("client-id-42")).await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-id-42");
    let fresh = get(None).await.unwrap();
    let generated = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let other = get(None).await.unwrap();
    assert_ne!(other.headers()["x-request-id"], generated.as_str());
    let replaced = get(Some(&"x".repeat(500))).await.unwrap();
    assert!(uuid::Uuid::parse_str(replaced.headers()["x-request-id"].to_str().unwrap()).is_ok());
}

/// The request id is on the log lines of its request: a real `techconf serve` process,
/// JSON logs read from its stderr.
#[tokio::test]
async fn the_request_id_is_in_the_request_log_lines() {
    let database = new_database(Backend::Sqlite).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_techconf"))
        .args(["serve", "--migrate"])
        .env("DATABASE_URL", database.url())
        .env("TECHCONF_LISTEN", "127.0.0.1:0")
        .env("TECHCONF_ADMIN_TOKEN", crate::helpers::BOOTSTRAP_TOKEN)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the techconf binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(WAIT, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("TechConf is listening on ") {
                return rest.trim_end_matches('/').to_owned();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server starts listening");

    let request_id = "log-line-probe-7";
    let response = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .header("x-request-id", request_id)
        .bearer_auth(crate::helpers::BOOTSTRAP_TOKEN)
        .json(&json!({"query": "{ conferences { totalCount } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], request_id);

    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let line: Value = tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            let line: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if line["span"]["request_id"] == request_id {
                return line;
            }
        }
        panic!("the server exited without logging the request");
    })
    .await
    .expect("a log line of the request carries its id");
    assert_eq!(line["span"]["path"], "/graphql");
    assert_eq!(line["message"], "finished processing request");
    child.kill().await.unwrap();
}

/// The schema served in process, queried as an admin.
struct InProcess {
    schema: techconf::graphql::TechConfSchema,
    admin: techconf::auth::Authentication,
}

impl InProcess {
    fn new(db: &sea_orm::DatabaseConnection, settings: &techconf::config::Settings) -> Self {
        let (schema, _subscriptions) = techconf::graphql::build_schema(
            db.clone(),
            settings.limits.clone(),
            settings.worker.clone(),
            techconf::progress::ProgressHub::start(db.clone()),
        );
        let admin = techconf::auth::Authentication::Authenticated(techconf::auth::Principal {
            token_id: None,
            name: "test".into(),
            role: Role::Admin,
            organization_id: Some(techconf::tenancy::default_organization()),
        });
        Self { schema, admin }
    }

    /// Runs `query`; it must succeed.
    async fn run(&self, query: String) -> Value {
        let response = self
            .schema
            .execute(async_graphql::Request::new(query).data(self.admin.clone()))
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        response.data.into_json().unwrap()
    }
}

/// async-graphql's tracing extension is installed: a query opens request, validation,
/// execute and per-field spans (shown when a subscriber enables `async_graphql`).
#[tokio::test]
async fn queries_open_resolver_spans() {
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Records the name of every span opened.
    struct SpanNames(Arc<std::sync::Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanNames {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0
                .lock()
                .unwrap()
                .push(attrs.metadata().name().to_owned());
        }
    }

    let database = new_database(Backend::Sqlite).await;
    let settings = settings_for(&database, &[]);
    let db = techconf::db::connect(&settings.database_url).await.unwrap();
    techconf::db::ensure_migrated(&db, true).await.unwrap();
    let schema = InProcess::new(&db, &settings);
    let names = Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(SpanNames(names.clone()));
    let _default = tracing::subscriber::set_default(subscriber);
    schema.run("{ conferences { totalCount } }".into()).await;
    let names = names.lock().unwrap().clone();
    for span in ["request", "validation", "execute", "field"] {
        assert!(
            names.iter().any(|n| n == span),
            "no {span} span in {names:?}"
        );
    }
}

/// A page of 100 deliveries, each with its attendee and the notification's conference, runs
/// a small, constant number of statements (DataLoader), not one per row.
async fn a_page_of_deliveries_runs_few_statements(backend: Backend) {
    const N: usize = 100;
    let database = new_database(backend).await;
    let settings = settings_for(&database, &[]);
    let mut db = techconf::db::connect(&settings.database_url).await.unwrap();
    techconf::db::ensure_migrated(&db, true).await.unwrap();
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let schema = InProcess::new(&db, &settings);
    let conference = schema
        .run(
            r#"mutation { createConference(input: {name: "N1", startsOn: "2027-05-12",
        price: 1, address: "Here"}) { id } }"#
                .into(),
        )
        .await["createConference"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let conference_id: uuid::Uuid = conference.parse().unwrap();
    crate::support::insert_attendees(&db, conference_id, &emails(N)).await;
    let notification = schema
        .run(format!(
            r#"mutation {{ createNotification(input: {{conferenceId: "{conference}",
            subject: "S", message: "M"}}) {{ id }} }}"#
        ))
        .await["createNotification"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Plan the deliveries as the worker would, without sending anything.
    let mut worker_settings = settings.clone();
    worker_settings.mail = techconf::config::MailSettings::File {
        dir: std::env::temp_dir().join("techconf-statements-test"),
    };
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let worker = techconf::worker::Worker::new(db.clone(), &worker_settings, stopped).unwrap();
    assert!(worker.run_next().await.unwrap(), "the plan job ran");

    let page = format!(
        r#"{{ notifications(conferenceId: "{conference}", first: 100) {{ nodes {{ id
             conference {{ id name }} }} }}
           notification(id: "{notification}") {{ conference {{ name }}
             deliveries(first: 100) {{ nodes {{ email attendee {{ id firstName }} }} }} }} }}"#
    );
    // The fewest of three runs: a statement of a background task (SQLite's progress poll)
    // can land inside one run's window on a busy machine; an N+1 lands in all three.
    let mut ran = usize::MAX;
    let mut data = Value::Null;
    for _ in 0..3 {
        let before = statements.load(Ordering::SeqCst);
        data = schema.run(page.clone()).await;
        ran = ran.min(statements.load(Ordering::SeqCst) - before);
    }
    let nodes = data["notification"]["deliveries"]["nodes"]
        .as_array()
        .unwrap();
    assert_eq!(nodes.len(), N);
    let named: HashMap<&str, &str> = nodes
        .iter()
        .map(|n| {
            (
                n["email"].as_str().unwrap(),
                n["attendee"]["firstName"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(named.len(), N, "every delivery has its attendee");
    assert!(ran <= 10, "{ran} statements for a page of {N} rows");
}

#[tokio::test]
async fn a_page_of_deliveries_runs_few_statements_on_postgres() {
    a_page_of_deliveries_runs_few_statements(Backend::Postgres).await;
}

#[tokio::test]
async fn a_page_of_deliveries_runs_few_statements_on_sqlite() {
    a_page_of_deliveries_runs_few_statements(Backend::Sqlite).await;
}
