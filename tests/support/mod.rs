//! The one test harness shared by the integration test binaries (`tests/api`,
//! `tests/servicebus_e2e.rs`, `tests/legacy_import.rs`): the real application served on port 0
//! against its own database, a way to run its queued jobs step by step, the real binary, and
//! attendees inserted directly.
#![allow(dead_code)] // each binary uses part of it

use std::process::Command;
use std::time::Duration;

use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Statement,
};
use serde_json::{Value, json};
use techconf::app::{Application, ServeOptions};
use techconf::config::Settings;
use techconf::domain::Registration;
use techconf::entity::attendee;
use testkit::db::TestDatabase;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// A running application; it stops when this is dropped (and its database goes with it when
/// the harness created that too).
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    /// The bearer token of an admin.
    pub admin_token: String,
    pub settings: Settings,
    pub database: Option<TestDatabase>,
    pub stop: oneshot::Sender<()>,
}

/// Builds the application (migrating its database), and serves it in the background.
pub async fn serve(settings: Settings, options: ServeOptions) -> TestApp {
    let app = Application::build(settings.clone(), options)
        .await
        .expect("the application builds");
    let address = format!("http://{}", app.local_addr().unwrap());
    let db = app.db().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        admin_token: String::new(),
        settings,
        database: None,
        stop,
    }
}

impl TestApp {
    /// The database this app was started on.
    pub fn database(&self) -> &TestDatabase {
        self.database
            .as_ref()
            .expect("the harness created this app's database")
    }

    /// Runs the queued jobs that are due, one after another in this task, until none is
    /// (zero-to-production's `dispatch_all_pending_emails`, crates.io's
    /// `run_pending_background_jobs`): the test decides when the queue moves. Returns how
    /// many ran.
    pub async fn run_pending_jobs(&self) -> usize {
        let (_stop, shutdown) = watch::channel(false);
        let worker = techconf::worker::Worker::new(self.db.clone(), &self.settings, shutdown)
            .expect("a worker for these settings");
        worker.run_pending().await.expect("the queue answers")
    }

    /// Runs jobs until the notification is final: whenever nothing is due, waits for the
    /// earliest job to become due (a delivery's retry backoff) and runs again. Bounded.
    pub async fn run_jobs_until_finished(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            self.run_pending_jobs().await;
            let n = self.notification_counts(id).await;
            if is_terminal(&n) {
                return n;
            }
            let next = self.next_job_due().await.unwrap_or_else(|| {
                panic!("notification {id} is not final and no job is queued: {n}")
            });
            assert!(next < deadline, "notification {id} did not finish: {n}");
            tokio::time::sleep_until(next).await;
        }
    }

    /// When the earliest queued job is due, if there is one.
    async fn next_job_due(&self) -> Option<tokio::time::Instant> {
        let job = techconf::entity::job::Entity::find()
            .all(&self.db)
            .await
            .unwrap()
            .into_iter()
            .map(|job| job.run_at)
            .min()?;
        let wait = (job - chrono::Utc::now()).to_std().unwrap_or_default();
        Some(tokio::time::Instant::now() + wait)
    }

    /// Status and counters of a notification, as the API reports them.
    pub async fn notification_counts(&self, id: &str) -> Value {
        let query = "query($id: ID!) { notification(id: $id) { status total sent failed cancelled pending } }";
        let answer = self
            .graphql(Some(&self.admin_token), query, json!({"id": id}))
            .await;
        answer["data"]["notification"].clone()
    }

    /// Posts a GraphQL request and returns the JSON answer.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("a JSON answer")
    }

    pub async fn count(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// Whether a notification read by [`TestApp::notification_counts`] is final.
pub fn is_terminal(n: &Value) -> bool {
    matches!(
        n["status"].as_str(),
        Some("COMPLETED" | "COMPLETED_WITH_ERRORS" | "CANCELLED")
    )
}

/// Inserts attendees directly (no confirmation jobs), one per address; returns their ids.
/// Every tenth is called Hopper and the eighth works at "100%_Pure Ltd", for search tests.
pub async fn insert_attendees(
    db: &DatabaseConnection,
    conference: Uuid,
    emails: &[String],
) -> Vec<Uuid> {
    let rows: Vec<attendee::ActiveModel> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            let mut row = Registration {
                first_name: format!("First{i}"),
                last_name: if i % 10 == 0 {
                    "Hopper".into()
                } else {
                    format!("Last{i}")
                },
                email: email.clone(),
                job_position: "Engineer".into(),
                company: if i == 7 {
                    "100%_Pure Ltd".into()
                } else {
                    "Acme".into()
                },
                city: "Porto".into(),
                state: "PT".into(),
                interests: None,
                comments: None,
            }
            .into_active_model();
            row.id = Set(Uuid::now_v7());
            row.conference_id = Set(conference);
            row.submitted_at = Set(chrono::Utc::now());
            row.legacy_id = Set(None);
            row
        })
        .collect();
    let ids = rows
        .iter()
        .filter_map(|r| r.id.try_as_ref().copied())
        .collect();
    for chunk in rows.chunks(200) {
        attendee::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    ids
}

/// `n` distinct addresses: person0@example.org, person1@example.org, …
pub fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("person{i}@example.org")).collect()
}

/// The `techconf` binary with a clean environment, pointed at `database_url`.
pub fn techconf(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_techconf"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}
