//! End to end with Service Bus as the queue: the API (in process), the outbox relay and the
//! worker (in process, or as `techconf relay` / `techconf worker` processes that get
//! SIGKILLed), `testkit::servicebus::FakeServiceBus` for the namespace, a real SMTP server
//! (Postfix's `smtp-sink`, or `FakeSmtp` where a test needs its fault injection), and a fresh
//! PostgreSQL or SQLite database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use serde_json::{Value, json};
use techconf::app::ServeOptions;
use techconf::config::Settings;
use techconf::domain::{JobStatus, NotificationStatus};
use techconf::entity::{attendee, job, notification};
use techconf::queue::database::{ClaimById, DatabaseQueue};
use techconf::queue::servicebus::ServiceBusQueue;
use techconf::queue::{JobPayload, enqueue};
use testkit::servicebus::{FakeServiceBus, QueueConfig, sas_token};
use testkit::{FakeSmtp, SmtpSink, TempDir, TestDatabase};
use tokio::process::{Child, Command};
use uuid::Uuid;

mod support;

use support::TestApp;

const QUEUE: &str = "notificationqueue";
const ADMIN_TOKEN: &str = "servicebus-e2e-admin-token";
/// Every wait for a condition gives up after this long.
const PATIENCE: Duration = Duration::from_secs(60);

use techconf::worker::JOB_SLOTS;
/// `WORKER_BATCH_SIZE` in these tests.
const BATCH: usize = 10;

// ---------------------------------------------------------------------------------------
// Harness

/// The environment of every component: one database, one namespace, one SMTP server, and
/// timings short enough that a killed process's leases and locks run out quickly.
fn environment(database: &TestDatabase, fake: &FakeServiceBus, mail_url: &str) -> Vars {
    let mut vars = Vars::default();
    for (name, value) in [
        ("DATABASE_URL", database.url()),
        ("TECHCONF_LISTEN", "127.0.0.1:0"),
        ("TECHCONF_ADMIN_TOKEN", ADMIN_TOKEN),
        ("MAIL_URL", mail_url),
        ("SERVICEBUS_CONNECTION_STRING", &fake.connection_string()),
        ("SERVICEBUS_ENDPOINT", &fake.endpoint()),
        ("SERVICEBUS_RELAY_LEASE_MS", "1000"),
        ("WORKER_RETRY_BASE_MS", "50"),
        ("WORKER_RETRY_CAP_MS", "200"),
        ("WORKER_POLL_MS", "50"),
        ("WORKER_BATCH_SIZE", "10"),
        ("WORKER_SLICE_SIZE", "20"),
        ("WORKER_LEASE_MS", "2000"),
    ] {
        vars.set(name, value);
    }
    vars
}

#[derive(Clone, Debug, Default)]
struct Vars(HashMap<String, String>);

impl Vars {
    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    fn with(&self, name: &str, value: &str) -> Self {
        let mut vars = self.clone();
        vars.set(name, value);
        vars
    }

    fn settings(&self) -> Settings {
        Settings::from_lookup(|name| self.0.get(name).cloned()).expect("valid test settings")
    }
}

/// The API (and, `with_worker`, an in-process worker) on port 0: the shared harness.
async fn spawn_app(vars: &Vars, with_worker: bool) -> TestApp {
    let mut app = support::serve(
        vars.settings(),
        ServeOptions {
            migrate: true,
            with_worker,
        },
    )
    .await;
    app.admin_token = ADMIN_TOKEN.to_owned();
    app
}

impl TestApp {
    /// A GraphQL request as the admin, which must succeed.
    async fn admin(&self, query: &str, variables: Value) -> Value {
        let answer = self.graphql(Some(ADMIN_TOKEN), query, variables).await;
        assert!(answer.get("errors").is_none(), "GraphQL errors: {answer}");
        answer
    }

    async fn create_conference(&self) -> Uuid {
        let answer = self
            .admin(
                "mutation($input: CreateConferenceInput!) { createConference(input: $input) { id } }",
                json!({"input": {"name": "RustConf", "startsOn": "2027-05-12", "price": 199.5,
                                 "address": "1 Harbour Street, Lisbon"}}),
            )
            .await;
        answer["data"]["createConference"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    async fn notify(&self, conference: Uuid) -> Uuid {
        let answer = self
            .admin(
                "mutation($input: CreateNotificationInput!) { createNotification(input: $input) { id } }",
                json!({"input": {"conferenceId": conference, "subject": "Hello {{ first_name }}",
                                 "message": "See you at {{ conference.name }}."}}),
            )
            .await;
        answer["data"]["createNotification"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    async fn readyz(&self) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/readyz", self.address))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn notification(&self, id: Uuid) -> notification::Model {
        notification::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits for a terminal status, then for the last jobs to be settled: no job rows, no
    /// messages left (waiting or locked), none dead-lettered.
    async fn wait_until_done(&self, id: Uuid, fake: &FakeServiceBus) -> notification::Model {
        eventually("the notification finishes", async || {
            self.notification(id)
                .await
                .status
                .as_str()
                .starts_with("COMPLETED")
        })
        .await;
        eventually("every job is done and every message settled", async || {
            self.count("job").await == 0
                && fake.messages(QUEUE).is_empty()
                && fake.in_flight(QUEUE).is_empty()
        })
        .await;
        assert_eq!(
            fake.dead_lettered(QUEUE),
            vec![],
            "nothing is dead-lettered"
        );
        self.notification(id).await
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Polls `condition` until it holds (every 20 ms, for at most [`PATIENCE`]).
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn insert_attendees(db: &DatabaseConnection, conference: Uuid, n: usize) -> Vec<String> {
    let emails = support::emails(n);
    support::insert_attendees(db, conference, &emails).await;
    emails
}

/// `techconf ARGS` as a child process with exactly `vars` as its configuration (run in an
/// empty directory, so no `.env` file is picked up). Killed if the test ends first.
fn spawn_techconf(args: &[&str], vars: &Vars, dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_techconf"))
        .args(args)
        .envs(&vars.0)
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("techconf starts")
}

/// SIGKILL: no shutdown code runs, nothing is handed back.
async fn kill(child: &mut Child) {
    use std::os::unix::process::ExitStatusExt;
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
}

/// SIGTERM, and the process must stop cleanly.
async fn terminate(child: &mut Child) {
    let pid = child.id().expect("still running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
}

fn short_locks() -> QueueConfig {
    QueueConfig {
        lock_duration: Duration::from_secs(2),
        ..QueueConfig::default()
    }
}

/// How many emails each recipient got, and whether every repeat kept its Message-ID.
fn per_recipient(messages: &[testkit::ReceivedMessage]) -> HashMap<String, Vec<Option<String>>> {
    let mut seen: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for message in messages {
        for recipient in &message.recipients {
            seen.entry(recipient.clone())
                .or_default()
                .push(message.message_id.clone());
        }
    }
    seen
}

/// The notification completed with every address in `emails` emailed exactly once.
async fn assert_emailed_once(
    app: &TestApp,
    id: Uuid,
    smtp: &testkit::FakeSmtpHandle,
    emails: &[String],
) {
    let finished = app.notification(id).await;
    assert_eq!(
        (finished.status.as_str(), finished.sent, finished.failed),
        ("COMPLETED", emails.len() as i32, 0)
    );
    let seen = per_recipient(&smtp.messages());
    let expected: HashSet<&String> = emails.iter().collect();
    assert_eq!(seen.keys().collect::<HashSet<_>>(), expected);
    assert!(seen.values().all(|ids| ids.len() == 1), "nobody twice");
}

// ---------------------------------------------------------------------------------------
// The whole pipeline

/// The relay process is killed right after publishing the plan job, so the send jobs wait in
/// the outbox with no relay running; a second relay process publishes them. The worker
/// process is killed mid-send, holding locked messages, leased job rows and claimed
/// deliveries; a second worker takes over once the locks and leases expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attendee_is_emailed_once_through_service_bus_though_the_relay_and_a_worker_are_killed()
 {
    const ATTENDEES: usize = 240;
    let database = TestDatabase::postgres().await;
    let fake = FakeServiceBus::builder()
        .queue(QUEUE, short_locks())
        .start()
        .await;
    let sink = SmtpSink::start();
    let dir = TempDir::new("techconf-sb-e2e").unwrap();
    // No relay in the API or the first worker: the relay runs as its own process.
    let vars = environment(&database, &fake, &sink.url())
        .with("SERVICEBUS_RELAY", "off")
        .with("SERVICEBUS_RELAY_BATCH", "3")
        // Slow enough (about 2.4 s in all) to kill the worker in the middle.
        .with("WORKER_RATE_LIMIT", "100");
    let app = spawn_app(&vars, false).await;
    let conference = app.create_conference().await;
    let emails = insert_attendees(&app.db, conference, ATTENDEES).await;
    let mut worker = spawn_techconf(&["worker"], &vars, dir.path());

    let id = app.notify(conference).await;
    let mut relay = spawn_techconf(&["relay"], &vars, dir.path());
    eventually("the first relay publishes the plan job", async || {
        !fake.sends().is_empty()
    })
    .await;
    kill(&mut relay).await;

    let slices = ATTENDEES.div_ceil(20) as i64;
    eventually("the worker plans the notification", async || {
        app.count("job WHERE kind = 'send'").await == slices
    })
    .await;
    assert_eq!(
        app.count("job WHERE published_at IS NOT NULL AND kind = 'send'")
            .await,
        0,
        "with no relay running, the send jobs wait in the outbox"
    );
    let mut relay = spawn_techconf(&["relay"], &vars, dir.path());

    // Half-way through a batch: some of its emails are accepted and not yet recorded.
    eventually("a third of the emails are out", async || {
        sink.completed_count() >= ATTENDEES / 3 + BATCH / 2
    })
    .await;
    kill(&mut worker).await;
    let before_kill = sink.completed_count();
    assert!(before_kill < ATTENDEES, "the worker was killed mid-send");

    // The second worker runs a relay of its own too (the default).
    let mut worker = spawn_techconf(
        &["worker"],
        &vars.with("SERVICEBUS_RELAY", "on"),
        dir.path(),
    );
    let finished = app.wait_until_done(id, &fake).await;
    assert_eq!(finished.status, NotificationStatus::Completed);
    assert_eq!(
        (finished.total, finished.sent, finished.failed),
        (ATTENDEES as i32, ATTENDEES as i32, 0)
    );

    let messages = sink
        .wait_for_count(ATTENDEES, PATIENCE)
        .await
        .expect("every email arrives");
    let seen = per_recipient(&messages);
    let expected: HashSet<&str> = emails.iter().map(String::as_str).collect();
    let got: HashSet<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(
        got, expected,
        "every attendee, and nobody else, got the email"
    );
    let repeats: usize = seen.values().map(|ids| ids.len() - 1).sum();
    // The documented bound: a killed worker repeats at most the batches it had claimed, one
    // per running job; Service Bus redelivery and relay restarts add none.
    assert!(
        repeats <= JOB_SLOTS * BATCH,
        "{repeats} repeated emails, more than the in-flight bound {}",
        JOB_SLOTS * BATCH
    );
    for (recipient, ids) in &seen {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{recipient}: a repeat keeps its Message-ID: {ids:?}"
        );
    }
    eprintln!(
        "service bus e2e: {ATTENDEES} attendees, {before_kill} emails before the worker was \
         killed, {repeats} repeated, {} messages published ({} dropped as duplicates)",
        fake.sends().len(),
        fake.sends().iter().filter(|s| s.duplicate).count()
    );

    terminate(&mut worker).await;
    terminate(&mut relay).await;
}

/// SIGTERM mid-send: the worker records the batches in flight and hands its jobs over to
/// successor rows (it does not abandon their messages), and the next worker finishes without
/// repeating anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_send_hands_its_jobs_over_and_repeats_nobody() {
    const ATTENDEES: usize = 120;
    let database = TestDatabase::postgres().await;
    let fake = FakeServiceBus::start().await;
    let sink = SmtpSink::start();
    let dir = TempDir::new("techconf-sb-stop").unwrap();
    let vars = environment(&database, &fake, &sink.url()).with("WORKER_RATE_LIMIT", "100");
    let app = spawn_app(&vars, false).await;
    let conference = app.create_conference().await;
    let emails = insert_attendees(&app.db, conference, ATTENDEES).await;
    let mut worker = spawn_techconf(&["worker"], &vars, dir.path());
    let id = app.notify(conference).await;

    eventually("a third of the emails are out", async || {
        sink.completed_count() >= ATTENDEES / 3 + BATCH / 2
    })
    .await;
    terminate(&mut worker).await;
    let before_stop = sink.completed_count();
    assert!(before_stop < ATTENDEES, "stopped mid-send");
    assert_eq!(
        fake.dead_lettered(QUEUE).len() + fake.in_flight(QUEUE).len(),
        0,
        "every message was settled"
    );

    let mut worker = spawn_techconf(&["worker"], &vars, dir.path());
    let finished = app.wait_until_done(id, &fake).await;
    assert_eq!(finished.sent, ATTENDEES as i32);
    let messages = sink
        .wait_for_count(ATTENDEES, PATIENCE)
        .await
        .expect("every email arrives");
    let seen = per_recipient(&messages);
    assert_eq!(seen.len(), ATTENDEES);
    assert!(emails.iter().all(|e| seen.contains_key(e)));
    assert_eq!(messages.len(), ATTENDEES, "a graceful stop repeats nobody");
    let published: HashSet<String> = fake.sends().into_iter().map(|s| s.message_id).collect();
    assert!(
        published.len() > 1 + ATTENDEES.div_ceil(20),
        "the stopped jobs went on as successor rows: {} messages",
        published.len()
    );
    terminate(&mut worker).await;
}

/// `techconf serve --with-worker` with Service Bus: the relay runs in the server, and a send
/// job whose deliveries wait for a retry is handed over to a successor job row, published
/// again when due, instead of being lost or looping on redelivery.
#[tokio::test]
async fn deliveries_that_wait_for_a_retry_are_handed_over_and_still_emailed_once() {
    const ATTENDEES: usize = 40;
    let database = TestDatabase::postgres().await;
    let fake = FakeServiceBus::start().await;
    let smtp_server = FakeSmtp::builder().tempfail_first(3).start().await;
    let smtp = smtp_server.handle();
    // One batch per slice, and retries a second away: a slice with a tempfailed delivery has
    // nothing else to do right after its batch, so its job waits.
    let vars = environment(&database, &fake, &smtp.url())
        .with("WORKER_SLICE_SIZE", "10")
        .with("WORKER_RETRY_BASE_MS", "1000")
        .with("WORKER_RETRY_CAP_MS", "1000");
    let app = spawn_app(&vars, true).await;
    let conference = app.create_conference().await;
    let emails = insert_attendees(&app.db, conference, ATTENDEES).await;

    let id = app.notify(conference).await;
    app.wait_until_done(id, &fake).await;
    assert_emailed_once(&app, id, &smtp, &emails).await;

    // One plan job and one send job per slice, plus at least one successor.
    let slices = ATTENDEES.div_ceil(10);
    let published: HashSet<String> = fake.sends().into_iter().map(|s| s.message_id).collect();
    assert!(
        published.len() > 1 + slices,
        "a waiting send job was handed over to a new job row: {} messages",
        published.len()
    );
}

/// Service Bus down when the notification is created: the relay keeps the jobs and the
/// worker keeps trying to receive, both with backoff; when the namespace is back, everyone
/// is emailed once.
#[tokio::test]
async fn a_service_bus_outage_delays_sending_and_loses_nothing() {
    const ATTENDEES: usize = 30;
    let database = TestDatabase::sqlite();
    let fake = FakeServiceBus::start().await;
    let smtp_server = FakeSmtp::start().await;
    let smtp = smtp_server.handle();
    let vars = environment(&database, &fake, &smtp.url());
    let app = spawn_app(&vars, true).await;
    let conference = app.create_conference().await;
    let emails = insert_attendees(&app.db, conference, ATTENDEES).await;

    fake.down();
    let id = app.notify(conference).await;
    let (status, body) = app.readyz().await;
    assert_eq!((status, &body["queue"]), (503, &json!("unreachable")));
    assert_eq!(
        app.count("job WHERE published_at IS NULL").await,
        1,
        "the plan job waits in the outbox"
    );
    assert_eq!(smtp.message_count(), 0);
    fake.up().await;

    app.wait_until_done(id, &fake).await;
    assert_emailed_once(&app, id, &smtp, &emails).await;
}

// ---------------------------------------------------------------------------------------
// Poison and duplicate messages

async fn send_raw(fake: &FakeServiceBus, message_id: &str, body: &str) {
    let expiry = chrono::Utc::now().timestamp() + 600;
    let resource = fake.resource_uri(&format!("{QUEUE}/messages"));
    let status = reqwest::Client::new()
        .post(format!("{}/{QUEUE}/messages", fake.endpoint()))
        .header(
            "Authorization",
            sas_token(&resource, fake.key_name(), fake.key(), expiry),
        )
        .header(
            "BrokerProperties",
            json!({"MessageId": message_id}).to_string(),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 201);
}

fn receives_answered(fake: &FakeServiceBus) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/messages/head") && r.status == 201)
        .count()
}

/// A message that is not ours, one whose body is not a job, and one whose job does not
/// exist are each settled on their first delivery (logged, not looping until the max
/// delivery count); a job whose message was malformed is kept as failed for an operator.
#[tokio::test]
async fn poison_messages_are_settled_on_first_delivery_and_never_dead_lettered() {
    let database = TestDatabase::sqlite();
    let fake = FakeServiceBus::start().await;
    let smtp = FakeSmtp::start().await;
    let vars = environment(&database, &fake, &smtp.handle().url()).with("SERVICEBUS_RELAY", "off");
    let app = spawn_app(&vars, true).await;
    let plan = serde_json::to_string(&JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    })
    .unwrap();
    let job_with_bad_message = enqueue(
        &app.db,
        &JobPayload::Confirmation {
            attendee_id: Uuid::now_v7(),
        },
        None,
    )
    .await
    .unwrap();

    send_raw(&fake, "not-a-job-id", &plan).await;
    send_raw(&fake, &Uuid::now_v7().to_string(), &plan).await;
    send_raw(&fake, &job_with_bad_message.to_string(), "{not json").await;

    eventually("all three are settled", async || {
        fake.messages(QUEUE).is_empty() && fake.in_flight(QUEUE).is_empty()
    })
    .await;
    assert_eq!(receives_answered(&fake), 3, "each delivered exactly once");
    assert_eq!(fake.dead_lettered(QUEUE), vec![]);
    let row = job::Entity::find_by_id(job_with_bad_message)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, JobStatus::Failed);
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("Service Bus message rejected"),
        "{:?}",
        row.last_error
    );
}

/// Two copies of one job's message (a repeat that duplicate detection did not drop): the job
/// runs once. A confirmation is the job that would show it, since running it twice emails
/// twice.
#[tokio::test]
async fn two_copies_of_a_job_message_run_the_job_once() {
    let database = TestDatabase::postgres().await;
    let fake = FakeServiceBus::builder()
        .queue(
            QUEUE,
            QueueConfig {
                duplicate_detection_window: None,
                ..QueueConfig::default()
            },
        )
        .start()
        .await;
    let smtp_server = FakeSmtp::start().await;
    let smtp = smtp_server.handle();
    let vars = environment(&database, &fake, &smtp.url()).with("SERVICEBUS_RELAY", "off");
    let app = spawn_app(&vars, true).await;
    let conference = app.create_conference().await;
    let attendee = insert_attendees(&app.db, conference, 1).await;
    let attendee_id = attendee::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let payload = JobPayload::Confirmation { attendee_id };
    let job_id = enqueue(&app.db, &payload, None).await.unwrap();

    let queue = ServiceBusQueue::new(vars.settings().servicebus.as_ref().unwrap()).unwrap();
    let body = serde_json::to_string(&payload).unwrap();
    queue.send(job_id, &body).await.unwrap();
    queue.send(job_id, &body).await.unwrap();

    eventually("both copies are settled", async || {
        fake.messages(QUEUE).is_empty() && fake.in_flight(QUEUE).is_empty()
    })
    .await;
    assert_eq!(receives_answered(&fake), 2);
    assert_eq!(app.count("job").await, 0);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "one confirmation email");
    assert_eq!(messages[0].recipients, attendee);
}

// ---------------------------------------------------------------------------------------
// Claiming by id

async fn claim_by_id_lets_one_worker_run_a_job_at_a_time(database: TestDatabase) {
    let db = database.connect().await;
    techconf::db::ensure_migrated(&db, true).await.unwrap();
    let payload = JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    };
    let id = enqueue(&db, &payload, None).await.unwrap();
    let lease = Duration::from_secs(30);
    let (a, b) = (
        DatabaseQueue::new("a", lease),
        DatabaseQueue::new("b", lease),
    );

    let (first, second) = tokio::join!(a.claim_by_id(&db, id), b.claim_by_id(&db, id));
    let outcomes = [first.unwrap(), second.unwrap()];
    let claimed: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            ClaimById::Claimed(job) => Some(job),
            _ => None,
        })
        .collect();
    assert_eq!(claimed.len(), 1, "exactly one claim wins: {outcomes:?}");
    assert_eq!(claimed[0].payload.as_ref().unwrap(), &payload);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, ClaimById::Busy { until } if *until > chrono::Utc::now())),
        "the other sees the holder's lease: {outcomes:?}"
    );
    let (holder, other) = if matches!(outcomes[0], ClaimById::Claimed(_)) {
        (&a, &b)
    } else {
        (&b, &a)
    };

    // Only the holder can hand the job over; the successor is a new, unpublished, pending
    // row with the attempt given back, and the old row is gone.
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(
        other.hand_over(&db, id, later, None, false).await.unwrap(),
        None
    );
    let successor = holder
        .hand_over(&db, id, later, None, false)
        .await
        .unwrap()
        .expect("the holder hands over");
    assert!(matches!(
        other.claim_by_id(&db, id).await.unwrap(),
        ClaimById::Missing
    ));
    let row = assert_handed_over(&db, id, successor).await;
    assert_eq!(row.attempts, 0);
    assert_eq!(row.run_at.timestamp_millis(), later.timestamp_millis());

    // A failed attempt carries its count and error over.
    let ClaimById::Claimed(_) = other.claim_by_id(&db, successor).await.unwrap() else {
        panic!("the successor can be claimed")
    };
    let third = other
        .hand_over(&db, successor, later, Some("smtp down"), true)
        .await
        .unwrap()
        .unwrap();
    let row = job::Entity::find_by_id(third)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.attempts, row.last_error.as_deref()),
        (1, Some("smtp down"))
    );
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM job").await, 1);
}

/// `old` is gone and `successor` waits in the outbox: pending, unpublished, unleased.
async fn assert_handed_over(db: &DatabaseConnection, old: Uuid, successor: Uuid) -> job::Model {
    let find = |id| job::Entity::find_by_id(id).one(db);
    assert!(find(old).await.unwrap().is_none(), "{old} is gone");
    let row = find(successor).await.unwrap().expect("the successor row");
    assert_eq!(
        (
            row.status.as_str(),
            row.published_at,
            row.locked_by.as_deref()
        ),
        ("pending", None, None)
    );
    row
}

/// A published job whose worker died and whose message is gone for good (dead-lettered) is
/// requeued as a new row by the relay's sweep; live, pending and unpublished jobs are not.
async fn orphaned_jobs_are_requeued_and_nothing_else(database: TestDatabase) {
    let db = database.connect().await;
    techconf::db::ensure_migrated(&db, true).await.unwrap();
    let payload = JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    };
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(enqueue(&db, &payload, None).await.unwrap());
    }
    let [orphan, live, waiting, unpublished] = <[Uuid; 4]>::try_from(ids).unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "UPDATE job SET published_at = $1 WHERE id <> $2",
            _ => "UPDATE job SET published_at = ?1 WHERE id <> ?2",
        },
        [chrono::Utc::now().into(), unpublished.into()],
    ))
    .await
    .unwrap();
    let dead = DatabaseQueue::new("dead", Duration::from_secs(1));
    let alive = DatabaseQueue::new("alive", Duration::from_secs(600));
    for (queue, id) in [(&dead, orphan), (&alive, live), (&dead, unpublished)] {
        assert!(matches!(
            queue.claim_by_id(&db, id).await.unwrap(),
            ClaimById::Claimed(_)
        ));
    }

    // As if a minute had passed: the dead worker's one-second leases have run out.
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(60);
    let successors = techconf::queue::database::requeue_orphans(&db, cutoff, 100)
        .await
        .unwrap();
    assert_eq!(successors.len(), 1, "only the orphan: {successors:?}");
    let row = assert_handed_over(&db, orphan, successors[0]).await;
    assert_eq!(row.attempts, 1);
    for id in [live, waiting, unpublished] {
        assert!(
            job::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .is_some(),
            "{id} is left alone"
        );
    }
}

#[tokio::test]
async fn orphaned_jobs_are_requeued_and_nothing_else_on_postgres() {
    orphaned_jobs_are_requeued_and_nothing_else(TestDatabase::postgres().await).await;
}

#[tokio::test]
async fn orphaned_jobs_are_requeued_and_nothing_else_on_sqlite() {
    orphaned_jobs_are_requeued_and_nothing_else(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn claim_by_id_lets_one_worker_run_a_job_at_a_time_on_postgres() {
    claim_by_id_lets_one_worker_run_a_job_at_a_time(TestDatabase::postgres().await).await;
}

#[tokio::test]
async fn claim_by_id_lets_one_worker_run_a_job_at_a_time_on_sqlite() {
    claim_by_id_lets_one_worker_run_a_job_at_a_time(TestDatabase::sqlite()).await;
}

// ---------------------------------------------------------------------------------------
// Readiness

#[tokio::test]
async fn readyz_reports_whether_service_bus_is_reachable() {
    let database = TestDatabase::sqlite();
    let fake = FakeServiceBus::start().await;
    let vars = environment(&database, &fake, "file://./var/test-outbox");
    let app = spawn_app(&vars, false).await;

    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"database": "ok", "queue": "ok", "queue_backend": "servicebus"})
    );

    fake.down();
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["queue"], "unreachable");
    assert_eq!(body["database"], "ok");

    fake.up().await;
    let (status, _) = app.readyz().await;
    assert_eq!(status, 200, "ready again once the namespace answers");

    // A wrong key: reachable, but refused. The key shows up nowhere in the answer.
    let wrong_key = "d3Jvbmcta2V5LW5vdC10aGUtb25l";
    let refused = spawn_app(
        &vars.with(
            "SERVICEBUS_CONNECTION_STRING",
            &fake.connection_string_with_key(wrong_key),
        ),
        false,
    )
    .await;
    let (status, body) = refused.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["queue"], "unauthorized");
    assert!(!body.to_string().contains(wrong_key));
}

#[tokio::test]
async fn readyz_reports_the_database_queue_without_service_bus() {
    let database = TestDatabase::sqlite();
    let fake = FakeServiceBus::start().await;
    let mut vars = environment(&database, &fake, "file://./var/test-outbox");
    vars.0.retain(|name, _| !name.starts_with("SERVICEBUS_"));
    let app = spawn_app(&vars, false).await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"database": "ok", "queue": "ok", "queue_backend": "database"})
    );
}
