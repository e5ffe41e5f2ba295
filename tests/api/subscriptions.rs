//! Subscriptions over a real WebSocket: live progress, list changes and registrations, in
//! both protocols, across two API instances, and through a dropped listener connection.
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use techconf::app::ServeOptions;
use testkit::smtp::{FakeSmtp, SmtpSink};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    Backend, TestApp, WebSocket, assert_no_errors, emails, insert_attendees, new_database, on_both,
    open_websocket, settings_for, spawn_app_on,
};
use crate::support::serve;

const PROGRESS: &str = "subscription($id: ID!) { notificationProgress(id: $id) {
    notificationId status total sent failed cancelled pending ratePerSecond etaSeconds updatedAt } }";

/// The two WebSocket protocols the server speaks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Protocol {
    /// `graphql-transport-ws`, spoken by the `graphql-ws` npm library.
    Modern,
    /// The legacy Apollo `graphql-ws` protocol.
    Legacy,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Modern => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

/// One subscription on its own connection.
pub(crate) struct Subscription {
    socket: WebSocket,
    protocol: Protocol,
}

/// What the server sent for a subscription.
#[derive(Debug)]
enum Event {
    Data(Value),
    Errors(Value),
    Complete,
}

impl Subscription {
    pub(crate) async fn start(
        address: &str,
        token: &str,
        protocol: Protocol,
        query: &str,
        variables: Value,
    ) -> Self {
        let mut subscription = Self::connect(address, token, protocol).await;
        subscription.subscribe("1", query, variables).await;
        subscription
    }

    /// An acknowledged connection without subscriptions.
    async fn connect(address: &str, token: &str, protocol: Protocol) -> Self {
        let socket = open_websocket(address, protocol.name()).await;
        let mut subscription = Self { socket, protocol };
        subscription
            .send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}))
            .await;
        let ack = subscription.receive().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        subscription
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let start = match self.protocol {
            Protocol::Modern => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(
            json!({"id": id, "type": start, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// `notificationProgress` of notification `id`.
    pub(crate) async fn progress(address: &str, token: &str, protocol: Protocol, id: &str) -> Self {
        Self::start(address, token, protocol, PROGRESS, json!({"id": id})).await
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// The next protocol message, skipping keep-alives and pings.
    async fn receive(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("the server answers within 30 s")
                .expect("the connection stays open")
                .unwrap();
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    match value["type"].as_str() {
                        Some("ka" | "ping" | "pong") => continue,
                        _ => return value,
                    }
                }
                Message::Close(frame) => panic!("connection closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Registers probe attendees (`<prefix>N@example.org`) for `conference` until this
    /// `attendeeRegistered` subscription sees one: then the stream is live.
    pub(crate) async fn wait_for_a_registration(
        &mut self,
        app: &TestApp,
        conference: &str,
        prefix: &str,
    ) {
        let mut probes = 0;
        loop {
            assert_no_errors(
                &app.register(conference, &format!("{prefix}{probes}@example.org"))
                    .await,
            );
            probes += 1;
            if self
                .next_event_within(Duration::from_secs(2))
                .await
                .is_some()
            {
                return;
            }
            assert!(probes < 10, "the subscription never saw a registration");
        }
    }

    /// The next event, or `None` if nothing comes within `wait`.
    async fn next_event_within(&mut self, wait: Duration) -> Option<Event> {
        tokio::time::timeout(wait, self.next_event()).await.ok()
    }

    async fn next_event(&mut self) -> Event {
        let message = self.receive().await;
        match (self.protocol, message["type"].as_str()) {
            (Protocol::Modern, Some("next")) | (Protocol::Legacy, Some("data")) => {
                match message["payload"].get("errors") {
                    Some(errors) => Event::Errors(errors.clone()),
                    None => Event::Data(message["payload"]["data"].clone()),
                }
            }
            (_, Some("error")) => Event::Errors(message["payload"].clone()),
            (_, Some("complete")) => Event::Complete,
            _ => panic!("unexpected message {message}"),
        }
    }

    /// Progress events until one has `status` (bounded); returns that one.
    pub(crate) async fn progress_until(&mut self, status: &str) -> Value {
        loop {
            match self.next_event_within(Duration::from_secs(60)).await {
                Some(Event::Data(data)) if data["notificationProgress"]["status"] == status => {
                    return data["notificationProgress"].clone();
                }
                Some(Event::Data(_)) => {}
                other => panic!("no {status} event: {other:?}"),
            }
        }
    }

    /// Every event until the stream completes, with the time each one arrived.
    pub(crate) async fn collect_until_complete(&mut self) -> Vec<(Instant, Value)> {
        let mut events = Vec::new();
        loop {
            match self.next_event().await {
                Event::Data(data) => events.push((Instant::now(), data)),
                Event::Errors(errors) => panic!("errors on the stream: {errors}"),
                Event::Complete => return events,
            }
        }
    }
}

/// The app with its in-process worker sending to a real SMTP server, slowed by the global
/// rate limit so that a send of a few hundred emails takes a few seconds.
async fn sending_app(backend: Backend, sink: &SmtpSink, rate: &str) -> TestApp {
    sending_app_with(backend, sink, rate, &[]).await
}

async fn sending_app_with(
    backend: Backend,
    sink: &SmtpSink,
    rate: &str,
    extra: &[(&str, &str)],
) -> TestApp {
    let url = sink.url();
    let mut vars = vec![("MAIL_URL", url.as_str()), ("WORKER_RATE_LIMIT", rate)];
    vars.extend_from_slice(extra);
    spawn_app_on(new_database(backend).await, &vars, true).await
}

async fn conference_with_attendees(app: &TestApp, n: usize) -> String {
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(n)).await;
    conference
}

/// Checks what every progress event must satisfy, and returns the counters in order.
#[track_caller]
pub(crate) fn assert_consistent(events: &[(Instant, Value)], id: &str, total: i64) {
    let mut previous: Option<&Value> = None;
    for (_, data) in events {
        let p = &data["notificationProgress"];
        assert_eq!(p["notificationId"], id, "{p}");
        let n = |field: &str| p[field].as_i64().unwrap();
        if n("total") > 0 {
            assert_eq!(n("total"), total, "{p}");
        }
        assert_eq!(
            n("sent") + n("failed") + n("cancelled") + n("pending"),
            n("total"),
            "the counters add up: {p}"
        );
        assert!(n("sent") + n("failed") <= n("total"), "{p}");
        if let Some(before) = previous {
            for field in ["sent", "failed", "total"] {
                assert!(
                    n(field) >= before[field].as_i64().unwrap(),
                    "{field} never goes backwards: {before} then {p}"
                );
            }
        }
        previous = Some(p);
    }
}

async fn progress_streams_from_a_snapshot_to_the_final_state(backend: Backend) {
    for protocol in [Protocol::Modern, Protocol::Legacy] {
        let sink = SmtpSink::start();
        // 150 emails a second against at most one event every 400 ms: unthrottled, events
        // would come with every recorded batch of 20, about 130 ms apart.
        let app = sending_app_with(
            backend,
            &sink,
            "150",
            &[("SUBSCRIPTION_MIN_INTERVAL_MS", "400")],
        )
        .await;
        let conference = conference_with_attendees(&app, 300).await;
        let id = app
            .notify(&conference, "Hi {{ first_name }}", "See you.")
            .await;
        let mut subscription =
            Subscription::progress(&app.address, &app.admin_token, protocol, &id).await;
        let events = subscription.collect_until_complete().await;

        assert!(
            events.len() >= 3,
            "{protocol:?}: a live stream, not one answer: {events:?}"
        );
        assert_consistent(&events, &id, 300);
        let last = &events.last().unwrap().1["notificationProgress"];
        assert_eq!(last["status"], "COMPLETED", "{last}");
        assert_eq!(
            (last["sent"].as_i64(), last["pending"].as_i64()),
            (Some(300), Some(0))
        );
        assert_eq!(last["etaSeconds"], 0);
        assert!(
            events
                .iter()
                .any(|(_, e)| e["notificationProgress"]["ratePerSecond"].is_f64()
                    && e["notificationProgress"]["etaSeconds"]
                        .as_i64()
                        .unwrap_or(0)
                        > 0),
            "{protocol:?}: rate and ETA become known while sending: {events:?}"
        );
        // Every gap but the last: the final state is sent as soon as it is committed.
        for pair in events[..events.len() - 1].windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(
                gap >= Duration::from_millis(300),
                "{protocol:?}: throttled to one event per 400 ms, got {gap:?} apart"
            );
        }
        let received = sink
            .wait_for_count(300, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(
            received.len(),
            300,
            "the final event matches what the server received"
        );
    }
}

async fn a_late_subscriber_gets_the_final_state_at_once(backend: Backend) {
    let sink = SmtpSink::start();
    let app = sending_app(backend, &sink, "0").await;
    let conference = conference_with_attendees(&app, 20).await;
    let id = app.notify(&conference, "Hi", "Hello.").await;
    app.wait_until_finished(&id).await;
    let mut subscription =
        Subscription::progress(&app.address, &app.admin_token, Protocol::Modern, &id).await;
    let events = subscription.collect_until_complete().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let only = &events[0].1["notificationProgress"];
    assert_eq!(
        (only["status"].as_str(), only["sent"].as_i64()),
        (Some("COMPLETED"), Some(20))
    );
}

async fn an_unknown_notification_is_not_found_on_the_stream(backend: Backend) {
    let app = spawn_app_on(new_database(backend).await, &[], false).await;
    for protocol in [Protocol::Modern, Protocol::Legacy] {
        let mut subscription = Subscription::start(
            &app.address,
            &app.admin_token,
            protocol,
            PROGRESS,
            json!({"id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
        match subscription.next_event().await {
            Event::Errors(errors) => {
                assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{errors}")
            }
            other => panic!("{protocol:?}: expected NOT_FOUND, got {other:?}"),
        }
        let mut bad = Subscription::start(
            &app.address,
            &app.admin_token,
            protocol,
            PROGRESS,
            json!({"id": "not-an-id"}),
        )
        .await;
        match bad.next_event().await {
            Event::Errors(errors) => {
                assert_eq!(errors[0]["extensions"]["code"], "VALIDATION", "{errors}")
            }
            other => panic!("{protocol:?}: expected VALIDATION, got {other:?}"),
        }
    }
}

async fn list_views_see_their_conferences_notifications_change(backend: Backend) {
    let sink = SmtpSink::start();
    let app = sending_app(backend, &sink, "0").await;
    let watched = app.create_conference("RustConf").await;
    let other = app.create_conference("Elsewhere").await;
    let mut subscription = Subscription::start(
        &app.address,
        &app.admin_token,
        Protocol::Modern,
        "subscription($c: ID) { notificationsChanged(conferenceId: $c) { id status sent total } }",
        json!({"c": watched}),
    )
    .await;
    // The stream is live once a probe (a notification with no recipients yet) shows up on it.
    let mut probes = Vec::new();
    loop {
        probes.push(app.notify(&watched, "Probe", "Hello.").await);
        if subscription
            .next_event_within(Duration::from_secs(2))
            .await
            .is_some()
        {
            break;
        }
        assert!(probes.len() < 10, "the subscription never saw a change");
    }
    insert_attendees(&app.db, &watched, &emails(40)).await;
    let ignored = app.notify(&other, "Not watched", "Hello.").await;
    let id = app.notify(&watched, "Watched", "Hello.").await;
    let mut statuses = Vec::new();
    loop {
        let Event::Data(data) = subscription.next_event().await else {
            panic!("the list stream does not end");
        };
        let n = &data["notificationsChanged"];
        assert_ne!(n["id"], ignored, "another conference's notification: {n}");
        if probes.iter().any(|p| n["id"] == p.as_str()) {
            continue;
        }
        assert_eq!(n["id"], id.as_str());
        statuses.push(n["status"].as_str().unwrap().to_owned());
        if n["status"] == "COMPLETED" {
            assert_eq!(
                (n["sent"].as_i64(), n["total"].as_i64()),
                (Some(40), Some(40))
            );
            break;
        }
    }
    assert!(!statuses.is_empty());
}

async fn admins_see_each_new_registration(backend: Backend) {
    let app = spawn_app_on(new_database(backend).await, &[], false).await;
    let conference = app.create_conference("RustConf").await;
    let other = app.create_conference("Elsewhere").await;
    let mut subscription = Subscription::start(
        &app.address,
        &app.admin_token,
        Protocol::Legacy,
        "subscription($c: ID!) { attendeeRegistered(conferenceId: $c) { id email conferenceId } }",
        json!({"c": conference}),
    )
    .await;
    subscription
        .wait_for_a_registration(&app, &conference, "probe")
        .await;
    let mut expected = Vec::new();
    for (i, conf) in [&conference, &other, &conference].iter().enumerate() {
        let answer = app.register(conf, &format!("signup{i}@example.org")).await;
        assert_no_errors(&answer);
        if *conf == &conference {
            expected.push(format!("signup{i}@example.org"));
        }
    }
    let mut received = Vec::new();
    while received.len() < expected.len() {
        let Event::Data(data) = subscription.next_event().await else {
            panic!("expected a registration");
        };
        let attendee = &data["attendeeRegistered"];
        assert_eq!(attendee["conferenceId"], conference.as_str(), "{data}");
        let email = attendee["email"].as_str().unwrap().to_owned();
        if !email.starts_with("probe") {
            received.push(email);
        }
    }
    assert_eq!(received, expected);

    let mut unknown = Subscription::start(
        &app.address,
        &app.admin_token,
        Protocol::Modern,
        "subscription($c: ID!) { attendeeRegistered(conferenceId: $c) { id } }",
        json!({"c": uuid::Uuid::now_v7().to_string()}),
    )
    .await;
    match unknown.next_event().await {
        Event::Errors(errors) => assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND"),
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
}

on_both!(
    progress_streams_from_a_snapshot_to_the_final_state,
    a_late_subscriber_gets_the_final_state_at_once,
    an_unknown_notification_is_not_found_on_the_stream,
    list_views_see_their_conferences_notifications_change,
    admins_see_each_new_registration,
    cancelling_mid_send_ends_the_stream_with_what_the_smtp_server_received,
    pausing_mid_send_settles_on_what_the_smtp_server_received,
);

/// A second API process on the same database, without a worker.
async fn spawn_replica(app: &TestApp) -> TestApp {
    serve(
        settings_for(app.database(), &[]),
        ServeOptions {
            migrate: false,
            with_worker: false,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_every_api_replica_see_the_progress() {
    let sink = SmtpSink::start();
    let app = sending_app(Backend::Postgres, &sink, "200").await;
    let replica = spawn_replica(&app).await;
    let conference = conference_with_attendees(&app, 300).await;
    let id = app.notify(&conference, "Hi", "Hello.").await;
    let mut on_worker =
        Subscription::progress(&app.address, &app.admin_token, Protocol::Modern, &id).await;
    let mut on_replica =
        Subscription::progress(&replica.address, &app.admin_token, Protocol::Legacy, &id).await;
    let (a, b) = tokio::join!(
        on_worker.collect_until_complete(),
        on_replica.collect_until_complete()
    );
    for events in [&a, &b] {
        assert!(events.len() >= 3, "{events:?}");
        assert_consistent(events, &id, 300);
        assert_eq!(
            events.last().unwrap().1["notificationProgress"]["sent"],
            300
        );
    }
}

async fn listener_backends(app: &TestApp) -> Vec<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = app
        .db
        .query_all_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pid::bigint AS pid FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
            vec![techconf::progress::LISTENER_APPLICATION_NAME.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<i64>("", "pid").unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_reach_the_final_state_after_the_listener_connection_drops() {
    use sea_orm::{ConnectionTrait, Statement};
    let sink = SmtpSink::start();
    let app = sending_app(Backend::Postgres, &sink, "100").await;
    let conference = conference_with_attendees(&app, 300).await;
    let id = app.notify(&conference, "Hi", "Hello.").await;
    let mut subscription =
        Subscription::progress(&app.address, &app.admin_token, Protocol::Modern, &id).await;
    // Wait until sending is under way, then cut the hub's listener connection.
    let mut events = Vec::new();
    while events.len() < 2 {
        match subscription.next_event().await {
            Event::Data(data) => events.push((Instant::now(), data)),
            other => panic!("{other:?}"),
        }
    }
    let before = listener_backends(&app).await;
    assert_eq!(before.len(), 1, "one listener connection per API process");
    app.db
        .execute_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_terminate_backend({})", before[0]),
        ))
        .await
        .unwrap();
    events.extend(subscription.collect_until_complete().await);
    assert_consistent(&events, &id, 300);
    let last = &events.last().unwrap().1["notificationProgress"];
    assert_eq!(
        (last["status"].as_str(), last["sent"].as_i64()),
        (Some("COMPLETED"), Some(300))
    );

    // The hub listens again, on a new connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let after = listener_backends(&app).await;
        if after.len() == 1 && after[0] != before[0] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the listener did not reconnect: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_listener_connection_serves_many_subscribers_and_the_worker() {
    let sink = SmtpSink::start();
    let app = sending_app(Backend::Postgres, &sink, "200").await;
    let conference = conference_with_attendees(&app, 100).await;
    let id = app.notify(&conference, "Hi", "Hello.").await;
    let mut subscriptions = Vec::new();
    for i in 0..20 {
        let protocol = if i % 2 == 0 {
            Protocol::Modern
        } else {
            Protocol::Legacy
        };
        subscriptions
            .push(Subscription::progress(&app.address, &app.admin_token, protocol, &id).await);
    }
    let all =
        futures::future::join_all(subscriptions.iter_mut().map(|s| s.collect_until_complete()))
            .await;
    for events in &all {
        assert_consistent(events, &id, 100);
        assert_eq!(
            events.last().unwrap().1["notificationProgress"]["sent"],
            100
        );
    }
    assert_eq!(listener_backends(&app).await.len(), 1);
    // The in-process worker waits for jobs on that same connection: no other one listens.
    use sea_orm::{ConnectionTrait, Statement};
    let listening = app
        .db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        ))
        .await
        .unwrap();
    assert_eq!(
        listening.len(),
        1,
        "one LISTEN connection for hub and worker"
    );
}

/// The app with its in-process worker sending to an SMTP server that holds each reply back,
/// so that batches are in flight most of the time; 300 attendees; and a progress
/// subscription on their notification, once the first emails went out.
async fn slow_send(backend: Backend) -> (TestApp, FakeSmtp, String, Subscription) {
    let smtp = FakeSmtp::builder()
        .data_reply_delay(Duration::from_millis(150))
        .start()
        .await;
    let url = smtp.url();
    let vars = [
        ("MAIL_URL", url.as_str()),
        ("WORKER_CONCURRENCY", "10"),
        ("SUBSCRIPTION_MIN_INTERVAL_MS", "50"),
    ];
    let app = spawn_app_on(new_database(backend).await, &vars, true).await;
    let conference = conference_with_attendees(&app, 300).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    let subscription =
        Subscription::progress(&app.address, &app.admin_token, Protocol::Modern, &id).await;
    smtp.wait_for_count(30, Duration::from_secs(30))
        .await
        .unwrap();
    (app, smtp, id, subscription)
}

async fn control(app: &TestApp, name: &str, id: &str) -> Value {
    let answer = app
        .as_admin(
            &format!("mutation($id: ID!) {{ {name}(id: $id) {{ status }} }}"),
            json!({"id": id}),
        )
        .await;
    assert_no_errors(&answer);
    answer["data"][name]["status"].clone()
}

/// The counters of an event, as (sent, failed, cancelled, pending, total).
fn counts(p: &Value) -> (i64, i64, i64, i64, i64) {
    let n = |field: &str| p[field].as_i64().unwrap();
    (
        n("sent"),
        n("failed"),
        n("cancelled"),
        n("pending"),
        n("total"),
    )
}

async fn cancelling_mid_send_ends_the_stream_with_what_the_smtp_server_received(backend: Backend) {
    let (app, smtp, id, mut subscription) = slow_send(backend).await;
    assert_eq!(
        control(&app, "cancelNotification", &id).await,
        "CANCELLING",
        "a batch was in flight"
    );
    let events = subscription.collect_until_complete().await;
    assert_consistent(&events, &id, 300);
    let last = &events.last().unwrap().1["notificationProgress"];
    assert_eq!(last["status"], "CANCELLED", "{last}");
    let (sent, failed, cancelled, pending, total) = counts(last);
    assert_eq!((pending, failed, sent + cancelled), (0, 0, total), "{last}");
    assert_eq!(
        sent as usize,
        smtp.message_count(),
        "the final event counts every email the server accepted: {last}"
    );
    assert!(sent < 300 && cancelled > 0, "{last}");
    for (_, event) in &events {
        let p = &event["notificationProgress"];
        if p["status"] == "CANCELLED" {
            assert_eq!(p["pending"], 0, "no CANCELLED event before the end: {p}");
        }
    }
}

async fn pausing_mid_send_settles_on_what_the_smtp_server_received(backend: Backend) {
    let (app, smtp, id, mut subscription) = slow_send(backend).await;
    assert_eq!(
        control(&app, "pauseNotification", &id).await,
        "PAUSING",
        "a batch was in flight"
    );
    let paused = subscription.progress_until("PAUSED").await;
    let (sent, failed, cancelled, pending, total) = counts(&paused);
    assert_eq!(sent as usize, smtp.message_count(), "{paused}");
    assert_eq!(
        (failed, cancelled, sent + pending),
        (0, 0, total),
        "{paused}"
    );
    assert!(sent < 300, "{paused}");

    assert_eq!(control(&app, "resumeNotification", &id).await, "SENDING");
    let events = subscription.collect_until_complete().await;
    let last = &events.last().unwrap().1["notificationProgress"];
    assert_eq!(last["status"], "COMPLETED", "{last}");
    assert_eq!(counts(last), (300, 0, 0, 0, 300), "{last}");
    assert_eq!(smtp.message_count(), 300, "nobody skipped, nobody repeated");
}

/// Reads until the connection closes, answering `ping` with `pong` when `answer` (and counting
/// pings of both kinds); returns the pings seen and the close code, or `None` after `pings`
/// pings without a close.
async fn pings_until_closed(
    subscription: &mut Subscription,
    answer: bool,
    pings: usize,
) -> (usize, Option<u16>) {
    let mut seen = 0;
    while seen < pings {
        let message = tokio::time::timeout(Duration::from_secs(10), subscription.socket.next())
            .await
            .expect("the server pings or closes within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(value["type"], "ping", "{value}");
                seen += 1;
                if answer {
                    subscription.send(json!({"type": "pong"})).await;
                }
            }
            // tungstenite answers ping frames by itself while it reads.
            Some(Ok(Message::Ping(_))) => seen += 1,
            Some(Ok(Message::Close(frame))) => {
                return (seen, Some(frame.map_or(0, |f| u16::from(f.code))));
            }
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(_)) | None => return (seen, Some(0)),
        }
    }
    (seen, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_and_closes_connections_that_do_not_answer() {
    let app = spawn_app_on(
        new_database(Backend::Sqlite).await,
        &[
            ("WS_PING_INTERVAL_MS", "100"),
            ("WS_PING_TIMEOUT_MS", "450"),
        ],
        false,
    )
    .await;
    let connect = |protocol| Subscription::connect(&app.address, &app.admin_token, protocol);
    let (mut answering, mut silent, mut legacy) = (
        connect(Protocol::Modern).await,
        connect(Protocol::Modern).await,
        connect(Protocol::Legacy).await,
    );
    let (answered, silenced, legacy_pinged) = tokio::join!(
        // 12 pings at 100 ms: well past the 450 ms timeout, kept open by the pongs.
        pings_until_closed(&mut answering, true, 12),
        pings_until_closed(&mut silent, false, 100),
        pings_until_closed(&mut legacy, false, 12),
    );
    assert_eq!(
        answered,
        (12, None),
        "a client that answers stays connected"
    );
    assert_eq!(
        legacy_pinged,
        (12, None),
        "ping frames, answered by the socket"
    );
    let (pinged, closed) = silenced;
    assert!(pinged >= 3, "pinged before giving up: {pinged}");
    assert_eq!(closed, Some(4408), "closed for not answering");
}

async fn stopping_one_multiplexed_subscription_leaves_the_others(backend: Backend) {
    for protocol in [Protocol::Modern, Protocol::Legacy] {
        let sink = SmtpSink::start();
        let app = sending_app(backend, &sink, "150").await;
        let conference = conference_with_attendees(&app, 300).await;
        let id = app.notify(&conference, "Hi", "Hello.").await;
        // Two subscriptions of the same operation on one connection, one on another.
        let mut both = Subscription::connect(&app.address, &app.admin_token, protocol).await;
        both.subscribe("a", PROGRESS, json!({"id": id})).await;
        both.subscribe("b", PROGRESS, json!({"id": id})).await;
        let mut other = Subscription::progress(&app.address, &app.admin_token, protocol, &id).await;
        let kind = match protocol {
            Protocol::Modern => "complete",
            Protocol::Legacy => "stop",
        };
        // Once "a" has its first event, stop it.
        let mut stopped = false;
        let mut after_stop = Vec::new();
        let mut b_events = Vec::new();
        let mut a_completed = false;
        loop {
            let message = both.receive().await;
            let sub = message["id"].as_str().unwrap().to_owned();
            match (sub.as_str(), message["type"].as_str()) {
                ("a", Some("complete")) => a_completed = true,
                // Events sent before the server read the stop may still arrive; none after
                // its `complete`.
                ("a", _) if a_completed => after_stop.push(message),
                ("a", _) if !stopped => {
                    both.send(json!({"id": "a", "type": kind})).await;
                    stopped = true;
                }
                ("a", _) => {}
                ("b", Some("complete")) => break,
                ("b", _) => b_events.push((Instant::now(), message["payload"]["data"].clone())),
                _ => panic!("unexpected {message}"),
            }
        }
        assert!(a_completed, "{protocol:?}: the stop is acknowledged");
        assert!(
            after_stop.is_empty(),
            "{protocol:?}: nothing after the stop: {after_stop:?}"
        );
        assert_consistent(&b_events, &id, 300);
        let other_events = other.collect_until_complete().await;
        assert_consistent(&other_events, &id, 300);
        for events in [&b_events, &other_events] {
            let last = &events.last().unwrap().1["notificationProgress"];
            assert_eq!(
                (last["status"].as_str(), last["sent"].as_i64()),
                (Some("COMPLETED"), Some(300))
            );
        }
    }
}

on_both!(stopping_one_multiplexed_subscription_leaves_the_others);
