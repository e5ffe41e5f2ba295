//! Test support: the real application on port 0 against a fresh database per test.
use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use techconf::app::ServeOptions;
use techconf::config::Settings;
use techconf::domain::Role;
use testkit::db::TestDatabase;

use crate::support::serve;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub use crate::support::TestApp;

pub const BOOTSTRAP_TOKEN: &str = "test-bootstrap-admin-token";

pub async fn new_database(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres().await,
    }
}

pub fn settings_for(database: &TestDatabase, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database.url().to_owned()),
        ("TECHCONF_LISTEN".into(), "127.0.0.1:0".into()),
        ("TECHCONF_ADMIN_TOKEN".into(), BOOTSTRAP_TOKEN.into()),
        ("MAIL_URL".into(), "file://./var/test-outbox".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_on(new_database(backend).await, extra, false).await
}

/// Settings that make a worker quick to retry and to notice new jobs, for tests.
pub const FAST_WORKER: &[(&str, &str)] = &[
    ("WORKER_RETRY_BASE_MS", "50"),
    ("WORKER_RETRY_CAP_MS", "200"),
    ("WORKER_POLL_MS", "50"),
    ("WORKER_BATCH_SIZE", "20"),
    ("WORKER_SLICE_SIZE", "50"),
];

pub async fn spawn_app_on(
    database: TestDatabase,
    extra: &[(&str, &str)],
    with_worker: bool,
) -> TestApp {
    let mut vars: Vec<(&str, &str)> = FAST_WORKER.to_vec();
    vars.extend_from_slice(extra);
    let settings = settings_for(&database, &vars);
    let mut app = serve(
        settings,
        ServeOptions {
            migrate: true,
            with_worker,
        },
    )
    .await;
    app.admin_token = BOOTSTRAP_TOKEN.to_owned();
    app.database = Some(database);
    app
}

impl TestApp {
    pub async fn as_admin(&self, query: &str, variables: Value) -> Value {
        self.graphql(Some(&self.admin_token), query, variables)
            .await
    }

    /// A new stored token with `role`, in the default organization (the bootstrap admin's).
    pub async fn token(&self, role: Role) -> String {
        let organization = (role != Role::Operator).then(techconf::tenancy::default_organization);
        self.token_in(organization, role).await
    }

    /// A new stored token with `role` in `organization` (`None` for an operator).
    pub async fn token_in(&self, organization: Option<uuid::Uuid>, role: Role) -> String {
        techconf::auth::create_token(&self.db, &format!("test {role}"), role, organization)
            .await
            .unwrap()
            .1
    }

    /// A new organization; returns its id.
    pub async fn organization(&self, name: &str) -> uuid::Uuid {
        techconf::tenancy::create_organization(&self.db, name, None)
            .await
            .unwrap()
            .id
    }

    pub async fn create_conference(&self, name: &str) -> String {
        let answer = self
            .as_admin(
                "mutation($input: CreateConferenceInput!) { createConference(input: $input) { id } }",
                json!({"input": {"name": name, "startsOn": "2027-05-12", "price": 199.5,
                                 "address": "1 Harbour Street, Lisbon"}}),
            )
            .await;
        assert_no_errors(&answer);
        answer["data"]["createConference"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn register(&self, conference_id: &str, email: &str) -> Value {
        self.graphql(
            None,
            "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id firstName conferenceId } }",
            json!({"input": registration(conference_id, email)}),
        )
        .await
    }

    /// Waits until the notification reaches a terminal status, for tests that run the worker
    /// (or worker processes) for real. Polls its row; bounded.
    pub async fn wait_until_finished(&self, id: &str) -> Value {
        self.wait_for_status(id, &["COMPLETED", "COMPLETED_WITH_ERRORS", "CANCELLED"])
            .await
    }

    /// Waits until the notification has one of `statuses` (polling its row; bounded), for
    /// tests that run the worker for real.
    pub async fn wait_for_status(&self, id: &str, statuses: &[&str]) -> Value {
        for _ in 0..1200 {
            let n = self.notification_counts(id).await;
            if n["status"].as_str().is_some_and(|s| statuses.contains(&s)) {
                return n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("notification {id} did not reach {statuses:?} within 60 s");
    }

    /// Waits until the job table is empty: the job that completes a notification deletes its
    /// row just after the notification's final commit.
    pub async fn wait_until_no_jobs(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.count("job").await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "jobs are left behind: {}",
                self.count("job").await
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

pub fn registration(conference_id: &str, email: &str) -> Value {
    json!({
        "conferenceId": conference_id,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": email,
        "jobPosition": "Engineer",
        "company": "Analytical Engines",
        "city": "London",
        "state": "LDN",
        "interests": "Compilers",
    })
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(answer: &Value) -> Option<&str> {
    answer["errors"][0]["extensions"]["code"].as_str()
}

#[track_caller]
pub fn assert_no_errors(answer: &Value) {
    assert!(
        answer.get("errors").is_none(),
        "unexpected errors: {answer}"
    );
}

/// An update by id (`mutation` with variables `id` and `input`) that only an admin may make:
/// an integrator's is `FORBIDDEN`, and an admin's on an id that does not exist `NOT_FOUND`.
pub async fn assert_update_needs_an_admin_and_a_known_id(
    app: &TestApp,
    mutation: &str,
    id: &str,
    input: &Value,
) {
    let integrator = app.token(Role::Integrator).await;
    let answer = app
        .graphql(
            Some(&integrator),
            mutation,
            json!({"id": id, "input": input}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("FORBIDDEN"), "{answer}");
    let answer = app
        .as_admin(
            mutation,
            json!({"id": uuid::Uuid::now_v7().to_string(), "input": input}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");
}

/// A client WebSocket to the API.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws` of the API at `address` (`http://…`) with the sub-protocol `protocol`.
pub async fn open_websocket(address: &str, protocol: &str) -> WebSocket {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};
    let url = format!("{}/graphql/ws", address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

/// Runs a scenario `async fn NAME(app: TestApp)` on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await).await;
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await).await;
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;

/// Runs a scenario `async fn NAME(backend: Backend)` on SQLite and on PostgreSQL, on a
/// two-thread runtime (for scenarios that start their own app, worker or processes).
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name(crate::helpers::Backend::Sqlite).await; }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name(crate::helpers::Backend::Postgres).await; }
        }
    )+};
}
pub(crate) use on_both;

/// Inserts attendees directly (no confirmation jobs), one per address; returns their ids.
pub async fn insert_attendees(
    db: &DatabaseConnection,
    conference: &str,
    emails: &[String],
) -> Vec<uuid::Uuid> {
    crate::support::insert_attendees(db, conference.parse().unwrap(), emails).await
}

pub use crate::support::emails;

pub const CREATE_NOTIFICATION: &str = "mutation($input: CreateNotificationInput!) {
    createNotification(input: $input) { id status }
}";

impl TestApp {
    /// Creates a notification and returns its id.
    pub async fn notify(&self, conference: &str, subject: &str, message: &str) -> String {
        self.notify_as(&self.admin_token.clone(), conference, subject, message)
            .await
    }

    /// Creates a notification with `token` and returns its id.
    pub async fn notify_as(
        &self,
        token: &str,
        conference: &str,
        subject: &str,
        message: &str,
    ) -> String {
        let answer = self
            .graphql(
                Some(token),
                CREATE_NOTIFICATION,
                json!({"input": {"conferenceId": conference, "subject": subject, "message": message}}),
            )
            .await;
        assert_no_errors(&answer);
        answer["data"]["createNotification"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A new organization with an admin token and a conference created with it: returns the
    /// organization's id, the token and the conference's id.
    pub async fn organization_with_conference(&self, name: &str) -> (uuid::Uuid, String, String) {
        let id = self.organization(name).await;
        let admin = self.token_in(Some(id), Role::Admin).await;
        let answer = self
            .graphql(
                Some(&admin),
                "mutation($input: CreateConferenceInput!) { createConference(input: $input) { id } }",
                json!({"input": {"name": format!("{name} Conf"), "startsOn": "2027-05-12",
                                 "price": 10.0, "address": "1 Main Street"}}),
            )
            .await;
        assert_no_errors(&answer);
        let conference = answer["data"]["createConference"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, admin, conference)
    }
}

/// An app for tests of several organizations: registration rate limits off (one client
/// registers many times), and `admin_token` an operator's, so that the harness's helpers
/// (`run_jobs_until_finished`, `wait_until_finished`) see every organization's notifications.
pub async fn spawn_multi_tenant_app(backend: Backend, with_worker: bool) -> TestApp {
    let mut app = spawn_app_on(
        new_database(backend).await,
        &[
            ("REGISTRATION_RATE_PER_CLIENT", "0"),
            ("REGISTRATION_RATE_PER_CONFERENCE", "0"),
        ],
        with_worker,
    )
    .await;
    app.admin_token = app.token_in(None, Role::Operator).await;
    app
}

/// Asserts that `times` (when each message arrived) keep to `rate` per second: over the
/// whole run, and in every one-second window. A stall of the test process or a worker can
/// bunch a few together, hence the margins; two workers that each kept the limit only for
/// themselves would put about twice the rate in a second.
#[track_caller]
pub fn assert_rate_holds(mut times: Vec<std::time::Instant>, rate: f64) {
    let n = times.len();
    times.sort();
    let span = (times[n - 1] - times[0]).as_secs_f64();
    let overall = (n - 1) as f64 / span;
    assert!(
        overall <= rate * 1.15,
        "{overall:.1} emails/s over {span:.2} s, limit {rate}"
    );
    let busiest = times
        .iter()
        .enumerate()
        .map(|(i, t)| times[i..].partition_point(|u| *u < *t + std::time::Duration::from_secs(1)))
        .max()
        .unwrap();
    assert!(
        busiest as f64 <= rate * 1.3,
        "{busiest} emails in one second, limit {rate}/s"
    );
}

/// How long `/healthz` may take while an attack runs. The failure this guards against is a
/// wedged process (a runtime thread stuck in a template or a huge response, or an abort),
/// which never answers; a 2-core machine running the whole suite in parallel answers well
/// inside this, so the bound catches the wedge without timing the machine.
pub const RESPONSIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// One `/healthz` round trip, asserting it succeeded within [`RESPONSIVE`].
pub async fn assert_healthz_answers(app: &TestApp) {
    let started = std::time::Instant::now();
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .timeout(RESPONSIVE * 2)
        .send()
        .await
        .expect("/healthz answers");
    assert!(response.status().is_success(), "{}", response.status());
    let took = started.elapsed();
    assert!(took < RESPONSIVE, "/healthz took {took:?}");
}

/// Runs `attack` while probing `/healthz` over and over; every probe must answer (see
/// [`RESPONSIVE`]), and at least one must have been sent while the attack was running.
pub async fn healthz_stays_responsive<T>(
    app: &TestApp,
    attack: impl std::future::Future<Output = T>,
) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    let probe = async {
        let mut probes = 0;
        while !done.load(Ordering::Acquire) {
            assert_healthz_answers(app).await;
            probes += 1;
        }
        probes
    };
    let attack = async {
        let out = attack.await;
        done.store(true, Ordering::Release);
        out
    };
    let (probes, out) = tokio::join!(probe, attack);
    assert!(probes > 0, "/healthz was probed during the attack");
    out
}
