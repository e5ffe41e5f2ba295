//! Contract tests of the Service Bus backend: the real `ServiceBusQueue` (on
//! `azure_messaging_servicebus`) against `testkit::servicebus::FakeServiceBus`, which implements
//! the documented REST data plane and checks every SAS signature over the original
//! `https://NS.servicebus.windows.net/...` URI; and the outbox relay on SQLite and PostgreSQL.
//!
//! `live_round_trip_against_a_real_namespace` runs only when
//! `SERVICEBUS_LIVE_CONNECTION_STRING` is set (optionally `SERVICEBUS_LIVE_QUEUE`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};
use techconf::config::DatabaseUrl;
use techconf::entity::job;
use techconf::queue::servicebus::{
    ReceivedMessage, RelayOptions, RetryPolicy, ServiceBusError, ServiceBusQueue,
    ServiceBusSettings, publish_batch, publish_pending, run_relay,
};
use techconf::queue::{JobPayload, enqueue};
use testkit::TestDatabase;
use testkit::servicebus::{FakeServiceBus, QueueConfig, sas_token};
use tokio::sync::oneshot;
use uuid::Uuid;

const QUEUE: &str = "notificationqueue";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    }
}

fn client(fake: &FakeServiceBus, queue: &str) -> ServiceBusQueue {
    client_with(fake, queue, &fake.connection_string(), fast_retry())
}

fn client_with(
    fake: &FakeServiceBus,
    queue: &str,
    connection_string: &str,
    retry: RetryPolicy,
) -> ServiceBusQueue {
    ServiceBusQueue::builder(connection_string.parse().unwrap(), queue)
        .endpoint(fake.endpoint())
        .retry(retry)
        .build()
        .unwrap()
}

async fn fake_with(config: QueueConfig) -> FakeServiceBus {
    FakeServiceBus::builder().queue(QUEUE, config).start().await
}

fn short_locks(lock_duration: Duration, max_delivery_count: u32) -> QueueConfig {
    QueueConfig {
        lock_duration,
        max_delivery_count,
        ..QueueConfig::default()
    }
}

fn payload() -> (Uuid, String) {
    let job_id = Uuid::now_v7();
    let body = serde_json::to_string(&JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    })
    .unwrap();
    (job_id, body)
}

/// Sends one job to `queue`; returns its id and body.
async fn send_one(queue: &ServiceBusQueue) -> (Uuid, String) {
    let (job_id, body) = payload();
    queue.send(job_id, &body).await.unwrap();
    (job_id, body)
}

/// The next message of `queue`, which must arrive within 5 s.
async fn next(queue: &ServiceBusQueue) -> ReceivedMessage {
    queue
        .receive(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a message within 5 s")
}

fn statuses(fake: &FakeServiceBus) -> Vec<u16> {
    fake.requests().iter().map(|r| r.status).collect()
}

// ---- the client against the fake ----

#[tokio::test]
async fn a_sent_job_is_received_with_its_id_and_completed() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let (job_id, body) = payload();

    queue.send(job_id, &body).await.unwrap();
    assert_eq!(fake.sends()[0].message_id, job_id.to_string());

    let message = next(&queue).await;
    assert_eq!(message.job_id(), Some(job_id));
    assert_eq!(message.body(), body);
    assert!(matches!(
        message.payload().unwrap(),
        JobPayload::Plan { .. }
    ));
    assert_eq!(message.delivery_count(), 1);
    assert!(!message.lock_token().is_empty());
    assert!(message.locked_until() > Utc::now());
    assert_eq!(fake.in_flight(QUEUE).len(), 1);

    queue.complete(&message).await.unwrap();
    assert!(fake.in_flight(QUEUE).is_empty());
    assert!(fake.messages(QUEUE).is_empty());
    // Settling twice: the lock is gone.
    assert!(matches!(
        queue.complete(&message).await,
        Err(ServiceBusError::LockLost { .. })
    ));
}

#[tokio::test]
async fn an_empty_queue_answers_none_after_the_wait() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);

    let started = Instant::now();
    let received = queue.receive(Duration::from_secs(1)).await.unwrap();
    let waited = started.elapsed();

    assert!(
        received.is_none(),
        "an empty queue must not yield a message"
    );
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(statuses(&fake), [204]);
}

#[tokio::test]
async fn a_waiting_receive_wakes_up_as_soon_as_a_message_arrives() {
    let fake = FakeServiceBus::start().await;
    let receiver = client(&fake, QUEUE);
    let sender = client(&fake, QUEUE);
    let (job_id, body) = payload();

    let started = Instant::now();
    let waiting = tokio::spawn(async move { receiver.receive(Duration::from_secs(30)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sender.send(job_id, &body).await.unwrap();
    let message = waiting.await.unwrap().unwrap().unwrap();

    assert_eq!(message.job_id(), Some(job_id));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_abandoned_message_is_redelivered_with_a_higher_delivery_count() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let (job_id, _) = send_one(&queue).await;

    let first = next(&queue).await;
    queue.abandon(&first).await.unwrap();
    let second = next(&queue).await;

    assert_eq!(second.job_id(), Some(job_id));
    assert_eq!(second.delivery_count(), first.delivery_count() + 1);
    assert_ne!(second.lock_token(), first.lock_token());
    queue.complete(&second).await.unwrap();
}

#[tokio::test]
async fn an_expired_lock_makes_the_message_available_again() {
    let fake = fake_with(short_locks(Duration::from_secs(1), 10)).await;
    let queue = client(&fake, QUEUE);
    let (job_id, _) = send_one(&queue).await;

    let first = next(&queue).await;
    assert!(
        queue.receive(Duration::ZERO).await.unwrap().is_none(),
        "locked"
    );
    // Nobody settles it: after the lock duration it comes back.
    let second = next(&queue).await;

    assert_eq!(second.job_id(), Some(job_id));
    assert_eq!(second.delivery_count(), 2);
    assert!(matches!(
        queue.complete(&first).await,
        Err(ServiceBusError::LockLost { .. })
    ));
    queue.complete(&second).await.unwrap();
}

#[tokio::test]
async fn renewing_keeps_the_lock_past_its_duration() {
    let fake = fake_with(short_locks(Duration::from_secs(1), 10)).await;
    let queue = client(&fake, QUEUE);
    send_one(&queue).await;
    let message = next(&queue).await;

    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        queue.renew_lock(&message).await.unwrap();
    }
    // Two seconds after receiving, the 1 s lock still holds thanks to the renewals.
    assert_eq!(fake.in_flight(QUEUE).len(), 1);
    assert!(queue.receive(Duration::ZERO).await.unwrap().is_none());
    queue.complete(&message).await.unwrap();
}

#[tokio::test]
async fn keep_locked_renews_in_the_background_until_dropped() {
    let fake = fake_with(short_locks(Duration::from_secs(1), 10)).await;
    let queue = client(&fake, QUEUE);
    send_one(&queue).await;
    let message = next(&queue).await;

    let guard = queue.keep_locked(&message, Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(!guard.is_lost());
    assert_eq!(
        fake.in_flight(QUEUE).len(),
        1,
        "the lock outlived its duration"
    );
    queue.complete(&message).await.unwrap();
    drop(guard);
    assert!(fake.messages(QUEUE).is_empty() && fake.in_flight(QUEUE).is_empty());
}

#[tokio::test]
async fn keep_locked_reports_a_lost_lock() {
    let fake = fake_with(short_locks(Duration::from_millis(1000), 10)).await;
    let queue = client(&fake, QUEUE);
    send_one(&queue).await;
    let message = next(&queue).await;

    // Renewing too late: the lock has expired by the first renewal.
    let mut guard = queue.keep_locked(&message, Duration::from_millis(1500));
    tokio::time::timeout(Duration::from_secs(5), guard.lost())
        .await
        .expect("the loss is reported");
    assert!(guard.is_lost());
}

#[tokio::test]
async fn past_the_max_delivery_count_a_message_is_dead_lettered() {
    let fake = fake_with(short_locks(Duration::from_secs(30), 3)).await;
    let queue = client(&fake, QUEUE);
    let (job_id, _) = send_one(&queue).await;

    for delivery in 1..=3 {
        let message = next(&queue).await;
        assert_eq!(message.delivery_count(), delivery);
        queue.abandon(&message).await.unwrap();
    }

    assert!(queue.receive(Duration::ZERO).await.unwrap().is_none());
    let dead = fake.dead_lettered(QUEUE);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, job_id.to_string());
    assert_eq!(
        dead[0].dead_letter_reason.as_deref(),
        Some("MaxDeliveryCountExceeded")
    );
    // The dead-letter sub-queue is readable (and settled) with the same client.
    let dead_letters = client(&fake, &format!("{QUEUE}/$DeadLetterQueue"));
    let message = next(&dead_letters).await;
    assert_eq!(message.job_id(), Some(job_id));
    dead_letters.complete(&message).await.unwrap();
    assert!(fake.dead_lettered(QUEUE).is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_refused_with_a_clear_error_that_does_not_contain_it() {
    let fake = FakeServiceBus::start().await;
    let wrong_key = "d3Jvbmcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw==";
    let queue = client_with(
        &fake,
        QUEUE,
        &fake.connection_string_with_key(wrong_key),
        fast_retry(),
    );
    let (job_id, body) = payload();

    let err = queue.send(job_id, &body).await.unwrap_err();

    assert!(
        matches!(err, ServiceBusError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("RootManageSharedAccessKey"), "{shown}");
    assert!(shown.contains("SERVICEBUS_CONNECTION_STRING"), "{shown}");
    assert!(!shown.contains(wrong_key), "{shown}");
    assert!(!shown.contains("d3Jvbmc"), "{shown}");
    assert_eq!(statuses(&fake), [401], "a 401 is not retried");
    assert!(fake.sends().is_empty());
    assert!(matches!(
        queue.receive(Duration::ZERO).await,
        Err(ServiceBusError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_until_they_pass() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let (job_id, body) = payload();

    fake.throttle_next(2, 429);
    queue.send(job_id, &body).await.unwrap();
    fake.throttle_next(2, 503);
    let message = next(&queue).await;
    fake.throttle_next(1, 500);
    queue.complete(&message).await.unwrap();

    assert_eq!(
        statuses(&fake),
        [429, 429, 201, 503, 503, 201, 500, 200],
        "each throttled request was retried"
    );
    assert_eq!(fake.sends().len(), 1);
    assert!(fake.messages(QUEUE).is_empty() && fake.in_flight(QUEUE).is_empty());
}

#[tokio::test]
async fn retries_end_with_unavailable_after_the_last_attempt() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let (job_id, body) = payload();

    fake.throttle_next(100, 503);
    let err = queue.send(job_id, &body).await.unwrap_err();

    assert!(
        matches!(err, ServiceBusError::Unavailable { attempts: 5, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.requests().len(), 5);
}

#[tokio::test]
async fn a_network_outage_is_retried_until_service_bus_is_back() {
    let fake = FakeServiceBus::start().await;
    let retry = RetryPolicy {
        max_attempts: 20,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    };
    let queue = client_with(&fake, QUEUE, &fake.connection_string(), retry);
    let (job_id, body) = payload();
    queue.send(job_id, &body).await.unwrap(); // a pooled connection now exists

    fake.down();
    let (second_id, second_body) = payload();
    let sending = tokio::spawn({
        let queue = queue.clone();
        async move { queue.send(second_id, &second_body).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.sends().len(), 1, "nothing gets through while down");
    fake.up().await;
    sending.await.unwrap().unwrap();

    let ids: Vec<_> = fake.sends().into_iter().map(|s| s.message_id).collect();
    assert_eq!(ids, [job_id.to_string(), second_id.to_string()]);
}

#[tokio::test]
async fn a_duplicate_message_id_is_dropped_by_the_queue() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let (job_id, body) = payload();

    queue.send(job_id, &body).await.unwrap();
    queue.send(job_id, &body).await.unwrap();

    let sends = fake.sends();
    assert_eq!(sends.len(), 2);
    assert!(!sends[0].duplicate && sends[1].duplicate);
    assert_eq!(fake.messages(QUEUE).len(), 1);
}

#[tokio::test]
async fn requests_share_pooled_connections() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    for _ in 0..20 {
        let (job_id, body) = payload();
        queue.send(job_id, &body).await.unwrap();
    }
    assert_eq!(fake.sends().len(), 20);
    assert_eq!(fake.connections_accepted(), 1, "one keep-alive connection");
}

#[tokio::test]
async fn ping_reports_reachability_and_bad_credentials() {
    let fake = FakeServiceBus::start().await;
    client(&fake, QUEUE).ping().await.unwrap();

    let wrong = client_with(
        &fake,
        QUEUE,
        &fake.connection_string_with_key("bm9wZQ=="),
        fast_retry(),
    );
    assert!(matches!(
        wrong.ping().await,
        Err(ServiceBusError::Unauthorized { .. })
    ));

    fake.down();
    let err = client(&fake, QUEUE).ping().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(fake.messages(QUEUE).is_empty(), "a ping has no side effect");
}

#[tokio::test]
async fn a_poison_message_is_rejected_by_completing_it() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    // A message that is not one of ours: no job id, no JSON.
    let token = sas_token(
        &fake.resource_uri(&format!("{QUEUE}/messages")),
        fake.key_name(),
        fake.key(),
        Utc::now().timestamp() + 60,
    );
    let status = reqwest::Client::new()
        .post(format!("{}/{QUEUE}/messages", fake.endpoint()))
        .header("Authorization", token)
        .header("BrokerProperties", r#"{"MessageId":"not-a-job"}"#)
        .body("garbage")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);

    let message = next(&queue).await;
    assert_eq!(message.job_id(), None);
    assert!(message.payload().is_err());
    queue.reject(&message, "not a job id").await.unwrap();

    assert!(fake.messages(QUEUE).is_empty() && fake.in_flight(QUEUE).is_empty());
}

#[tokio::test]
async fn a_queue_that_does_not_exist_is_reported() {
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, "nosuchqueue");
    let (job_id, body) = payload();
    assert!(matches!(
        queue.send(job_id, &body).await,
        Err(ServiceBusError::QueueNotFound { status: 410, .. })
    ));
}

/// Everything logged on this thread, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    // The test runtime is single-threaded: every task logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = fake_with(short_locks(Duration::from_millis(500), 10)).await;
    let queue = client(&fake, QUEUE);
    let wrong_key = "bG9nZ2VkLWtleS1tdXN0LW5vdC1hcHBlYXI=";
    let wrong = client_with(
        &fake,
        QUEUE,
        &fake.connection_string_with_key(wrong_key),
        fast_retry(),
    );

    fake.throttle_next(2, 503);
    let (job_id, body) = send_one(&queue).await;
    let _ = wrong.send(job_id, &body).await;
    let _ = wrong.ping().await;
    let message = next(&queue).await;
    let mut guard = queue.keep_locked(&message, Duration::from_millis(800));
    guard.lost().await;
    let message = next(&queue).await;
    queue.reject(&message, "testing the logs").await.unwrap();

    let text = logs.text();
    assert!(text.contains("retrying"), "{text}");
    assert!(text.contains("lost the lock"), "{text}");
    assert!(text.contains("rejecting"), "{text}");
    assert!(!text.contains(fake.key()), "{text}");
    assert!(!text.contains(wrong_key), "{text}");
}

// ---- the outbox relay ----

async fn migrated(database: &TestDatabase) -> DatabaseConnection {
    let db = techconf::db::connect(&DatabaseUrl::new(database.url()))
        .await
        .unwrap();
    techconf::db::migrate(&db).await.unwrap();
    db
}

async fn enqueue_jobs(db: &DatabaseConnection, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let payload = JobPayload::Confirmation {
            attendee_id: Uuid::now_v7(),
        };
        ids.push(enqueue(db, &payload, None).await.unwrap());
    }
    ids
}

async fn unpublished(db: &DatabaseConnection) -> usize {
    job::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|j| j.published_at.is_none())
        .count()
}

async fn wait_until_all_published(db: &DatabaseConnection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while unpublished(db).await > 0 {
        assert!(Instant::now() < deadline, "jobs left unpublished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn quick_relay(batch_size: usize) -> RelayOptions {
    RelayOptions {
        batch_size,
        concurrency: 4,
        lease: Duration::from_secs(30),
        idle_interval: Duration::from_millis(50),
        retry_base: Duration::from_millis(50),
        retry_cap: Duration::from_millis(200),
        ..RelayOptions::default()
    }
}

/// Runs a relay until the returned sender is dropped or fired.
fn spawn_relay(
    db: &DatabaseConnection,
    queue: &ServiceBusQueue,
    options: RelayOptions,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let (db, queue) = (db.clone(), queue.clone());
    let task = tokio::spawn(async move {
        run_relay(&db, &queue, &options, async {
            let _ = stopped.await;
        })
        .await;
    });
    (stop, task)
}

async fn relay_publishes_each_pending_job_once(database: TestDatabase) {
    let db = migrated(&database).await;
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let ids = enqueue_jobs(&db, 25).await;

    assert_eq!(publish_pending(&db, &queue, 10).await.unwrap(), 10);
    assert_eq!(publish_pending(&db, &queue, 100).await.unwrap(), 15);
    assert_eq!(publish_pending(&db, &queue, 100).await.unwrap(), 0);

    let sent: Vec<String> = fake.sends().into_iter().map(|s| s.message_id).collect();
    let expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    assert_eq!(sent.len(), 25, "each job sent exactly once");
    assert_eq!(
        sent.iter().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    assert_eq!(
        sent[..10].iter().collect::<HashSet<_>>(),
        expected[..10].iter().collect::<HashSet<_>>(),
        "oldest first"
    );
    let rows = job::Entity::find().all(&db).await.unwrap();
    assert!(rows.iter().all(|j| j.published_at.is_some()
        && j.locked_until.is_none()
        && j.locked_by.is_none()
        && j.status == "pending"));
    // What the worker receives: MessageId = job id, body = the row's payload.
    let message = next(&queue).await;
    let row = job::Entity::find_by_id(message.job_id().unwrap())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.body(), row.payload);
    assert_eq!(fake.messages(QUEUE).len(), 24);
}

#[tokio::test]
async fn the_relay_publishes_each_pending_job_once_with_its_id_as_message_id_on_sqlite() {
    relay_publishes_each_pending_job_once(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn the_relay_publishes_each_pending_job_once_with_its_id_as_message_id_on_postgres() {
    relay_publishes_each_pending_job_once(TestDatabase::postgres().await).await;
}

async fn relay_waits_out_an_outage(database: TestDatabase) {
    let db = migrated(&database).await;
    let fake = FakeServiceBus::start().await;
    let retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    let queue = client_with(&fake, QUEUE, &fake.connection_string(), retry);
    let ids = enqueue_jobs(&db, 12).await;

    // Throttled, then unreachable: nothing is published, nothing is lost.
    fake.throttle_next(1000, 503);
    assert!(publish_pending(&db, &queue, 5).await.is_err());
    let (stop, relay) = spawn_relay(&db, &queue, quick_relay(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.down();
    fake.throttle_next(0, 503);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(unpublished(&db).await, 12);
    assert!(fake.sends().is_empty());

    fake.up().await;
    wait_until_all_published(&db).await;
    let _ = stop.send(());
    relay.await.unwrap();

    let sent: HashSet<String> = fake.sends().into_iter().map(|s| s.message_id).collect();
    assert_eq!(sent.len(), 12);
    assert_eq!(fake.sends().len(), 12, "published once each");
    assert!(ids.iter().all(|id| sent.contains(&id.to_string())));
}

#[tokio::test]
async fn the_relay_keeps_jobs_while_service_bus_is_down_and_publishes_them_later_on_sqlite() {
    relay_waits_out_an_outage(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn the_relay_keeps_jobs_while_service_bus_is_down_and_publishes_them_later_on_postgres() {
    relay_waits_out_an_outage(TestDatabase::postgres().await).await;
}

async fn two_relays_do_not_double_publish(database: TestDatabase) {
    let db = migrated(&database).await;
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let ids = enqueue_jobs(&db, 200).await;

    // Passes of two relays, started together over and over, claim disjoint rows.
    let options = quick_relay(15);
    loop {
        let (a, b) = tokio::join!(
            publish_batch(&db, &queue, &options),
            publish_batch(&db, &queue, &options),
        );
        if a.unwrap() + b.unwrap() == 0 {
            break;
        }
    }
    // And two relay loops running side by side.
    let more = enqueue_jobs(&db, 100).await;
    let (stop_a, relay_a) = spawn_relay(&db, &queue, quick_relay(10));
    let (stop_b, relay_b) = spawn_relay(&db, &queue, quick_relay(10));
    wait_until_all_published(&db).await;
    let _ = (stop_a.send(()), stop_b.send(()));
    relay_a.await.unwrap();
    relay_b.await.unwrap();

    let sends = fake.sends();
    assert_eq!(sends.len(), 300, "no job was sent twice");
    assert!(sends.iter().all(|s| !s.duplicate));
    let sent: HashSet<String> = sends.into_iter().map(|s| s.message_id).collect();
    assert!(
        ids.iter()
            .chain(&more)
            .all(|id| sent.contains(&id.to_string()))
    );
}

#[tokio::test]
async fn two_relays_at_once_never_publish_a_job_twice_on_sqlite() {
    two_relays_do_not_double_publish(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn two_relays_at_once_never_publish_a_job_twice_on_postgres() {
    two_relays_do_not_double_publish(TestDatabase::postgres().await).await;
}

#[tokio::test]
async fn a_job_published_again_after_a_crash_is_dropped_as_a_duplicate() {
    let database = TestDatabase::sqlite();
    let db = migrated(&database).await;
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let ids = enqueue_jobs(&db, 1).await;
    let row = job::Entity::find_by_id(ids[0])
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    // A relay sent the row and died before marking it published.
    queue.send(row.id, &row.payload).await.unwrap();

    assert_eq!(publish_pending(&db, &queue, 10).await.unwrap(), 1);

    assert_eq!(fake.sends().len(), 2);
    assert!(fake.sends()[1].duplicate);
    assert_eq!(fake.messages(QUEUE).len(), 1, "the worker sees it once");
    assert_eq!(unpublished(&db).await, 0);
}

#[tokio::test]
async fn the_relay_leaves_jobs_that_are_not_due_or_not_pending() {
    let database = TestDatabase::sqlite();
    let db = migrated(&database).await;
    let fake = FakeServiceBus::start().await;
    let queue = client(&fake, QUEUE);
    let later = enqueue(
        &db,
        &JobPayload::Confirmation {
            attendee_id: Uuid::now_v7(),
        },
        Some(Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    let failed = enqueue_jobs(&db, 1).await[0];
    let mut row: job::ActiveModel = job::Entity::find_by_id(failed)
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.status = Set(techconf::domain::JobStatus::Failed);
    row.update(&db).await.unwrap();
    let due = enqueue_jobs(&db, 1).await[0];

    assert_eq!(publish_pending(&db, &queue, 10).await.unwrap(), 1);

    let sent: Vec<String> = fake.sends().into_iter().map(|s| s.message_id).collect();
    assert_eq!(sent, [due.to_string()]);
    let later_row = job::Entity::find_by_id(later)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(later_row.published_at.is_none() && later_row.locked_by.is_none());
}

// ---- opt-in: a real namespace ----

#[tokio::test]
async fn live_round_trip_against_a_real_namespace() {
    let Some(raw) = std::env::var("SERVICEBUS_LIVE_CONNECTION_STRING")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        println!(
            "skipped: SERVICEBUS_LIVE_CONNECTION_STRING is not set. This opt-in test sends to \
             and receives from a real Azure Service Bus queue (SERVICEBUS_LIVE_QUEUE, default \
             notificationqueue; use a queue of its own); the contract tests above cover the \
             protocol against the local fake."
        );
        return;
    };
    let queue_name = std::env::var("SERVICEBUS_LIVE_QUEUE").ok();
    let settings = ServiceBusSettings::from_vars(Some(&raw), queue_name.as_deref())
        .unwrap()
        .unwrap();
    let queue = ServiceBusQueue::new(&settings).unwrap();
    queue.ping().await.unwrap();

    let (job_id, body) = send_one(&queue).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "our message never arrived");
        let Some(message) = queue.receive(Duration::from_secs(10)).await.unwrap() else {
            continue;
        };
        if message.job_id() != Some(job_id) {
            queue.abandon(&message).await.unwrap();
            continue;
        }
        assert_eq!(message.body(), body);
        queue.renew_lock(&message).await.unwrap();
        queue.complete(&message).await.unwrap();
        break;
    }
}
