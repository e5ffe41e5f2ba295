//! Campaigns end to end: scheduled sends planned by the job queue at `sendAt` (with worker
//! processes running, and with none), reschedule and cancel, audience criteria and their
//! preview, test sends, and auto-pause against a fault-injecting SMTP server, on SQLite and
//! PostgreSQL.
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel};
use serde_json::{Value, json};
use testkit::smtp::{FakeSmtp, SmtpSink};
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp, assert_no_errors, emails, error_code, insert_attendees, new_database,
    on_both, on_both_backends, spawn_app_on,
};
use crate::subscriptions::{Protocol, Subscription};
use crate::worker_processes::WorkerProcess;

on_both!(
    a_scheduled_send_is_planned_once_at_send_at_by_two_workers,
    workers_down_across_send_at_plan_it_when_one_is_up_again,
    auto_pause_stops_a_failing_send_within_a_batch_and_resume_continues,
    a_test_send_reaches_only_the_given_addresses_and_counts_nowhere,
);

on_both_backends!(
    reschedule_and_cancel_work_until_planning,
    every_criterion_filters_with_and_between_and_or_within,
    filter_values_are_data_never_sql,
    an_audience_of_nobody_completes_with_total_zero,
);

const WAIT: Duration = Duration::from_secs(60);

const CREATE: &str = "mutation($input: CreateNotificationInput!) {
    createNotification(input: $input) {
        id status sendAt startedAt pausedReason
        audience { company city interestsContain attendeeIds }
        autoPause { failureRatio minimumAttempts }
    }
}";

const READ: &str = "query($id: ID!) { notification(id: $id) {
    status total sent failed pending sendAt startedAt pausedReason
} }";

const PREVIEW: &str = "query($c: ID!, $a: AudienceInput) {
    audiencePreview(conferenceId: $c, audience: $a) {
        count attendees(first: 100) { totalCount edges { node { id email } } }
    }
}";

impl TestApp {
    async fn create_with(&self, input: Value) -> Value {
        let answer = self.as_admin(CREATE, json!({ "input": input })).await;
        assert_no_errors(&answer);
        answer["data"]["createNotification"].clone()
    }

    /// Creates a notification from `input`; its id.
    async fn created_id(&self, input: Value) -> String {
        self.create_with(input).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn read(&self, id: &str) -> Value {
        let answer = self.as_admin(READ, json!({ "id": id })).await;
        assert_no_errors(&answer);
        answer["data"]["notification"].clone()
    }

    async fn preview(&self, conference: &str, audience: Value) -> (i64, HashSet<String>) {
        let answer = self
            .as_admin(PREVIEW, json!({ "c": conference, "a": audience }))
            .await;
        assert_no_errors(&answer);
        let preview = &answer["data"]["audiencePreview"];
        let emails: HashSet<String> = preview["attendees"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["email"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(preview["attendees"]["totalCount"], preview["count"]);
        (preview["count"].as_i64().unwrap(), emails)
    }
}

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not an instant: {value}"))
        .parse()
        .unwrap()
}

/// `ms` from now, in whole milliseconds (as the server keeps send times).
fn in_ms(ms: i64) -> DateTime<Utc> {
    use chrono::SubsecRound;
    (Utc::now() + chrono::Duration::milliseconds(ms)).trunc_subsecs(3)
}

/// The app without a worker inside, sending to `mail_url`.
async fn api(backend: Backend, mail_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("MAIL_URL", mail_url)];
    vars.extend_from_slice(extra);
    spawn_app_on(new_database(backend).await, &vars, false).await
}

/// Waits until `condition` holds, polling; panics after `WAIT`.
async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn plan_logs(worker: &WorkerProcess, id: &str) -> usize {
    worker
        .lines
        .borrow()
        .iter()
        .filter(|l| l["message"] == "planned" && l["notification_id"] == id)
        .count()
}

async fn a_scheduled_send_is_planned_once_at_send_at_by_two_workers(backend: Backend) {
    const N: usize = 40;
    let sink = SmtpSink::start();
    let app = api(backend, &sink.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(N)).await;
    let a = WorkerProcess::start(app.database(), &sink.url(), &[]).await;
    let b = WorkerProcess::start(app.database(), &sink.url(), &[]).await;

    let send_at = in_ms(3000);
    let created = app
        .create_with(
            json!({"conferenceId": conference, "subject": "Hi {{ first_name }}",
                            "message": "Later", "sendAt": send_at.to_rfc3339()}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "SCHEDULED");
    assert_eq!(instant(&created["sendAt"]), send_at);
    assert!(created["startedAt"].is_null());
    assert_eq!(
        created["autoPause"],
        json!({"failureRatio": 0.2, "minimumAttempts": 50}),
        "auto-pause is on by default"
    );

    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let n = app.read(&id).await;
    let started = instant(&n["startedAt"]);
    assert!(started >= send_at, "planned at {started}, before {send_at}");
    assert_eq!(n["total"], N as i64);

    let received = sink.wait_for_count(N, WAIT).await.unwrap();
    assert_eq!(received.len(), N, "exactly one email each");
    let recipients: HashSet<_> = received.iter().flat_map(|m| m.recipients.clone()).collect();
    assert_eq!(recipients.len(), N);
    // Both workers were up at sendAt; one planned it.
    assert_eq!(plan_logs(&a, &id) + plan_logs(&b, &id), 1);
}

async fn workers_down_across_send_at_plan_it_when_one_is_up_again(backend: Backend) {
    const N: usize = 12;
    let sink = SmtpSink::start();
    let app = api(backend, &sink.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(N)).await;
    let before = WorkerProcess::start(app.database(), &sink.url(), &[]).await;
    let send_at = in_ms(1500);
    let id = app
        .created_id(
            json!({"conferenceId": conference, "subject": "Hi", "message": "Later",
                            "sendAt": send_at.to_rfc3339()}),
        )
        .await;
    // The worker goes down before sendAt, and stays down past it.
    drop(before);
    wait_until("sendAt has passed", || async {
        Utc::now() > send_at + chrono::Duration::milliseconds(500)
    })
    .await;
    let waiting = app.read(&id).await;
    assert_eq!(waiting["status"], "SCHEDULED", "{waiting}");
    assert!(sink.messages().is_empty());

    let _after = WorkerProcess::start(app.database(), &sink.url(), &[]).await;
    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let n = app.read(&id).await;
    let delay = instant(&n["startedAt"]) - instant(&n["sendAt"]);
    assert!(
        delay >= chrono::Duration::milliseconds(500),
        "the delay shows: {delay}"
    );
    assert_eq!(sink.wait_for_count(N, WAIT).await.unwrap().len(), N);
}

async fn reschedule_and_cancel_work_until_planning(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(5)).await;
    let later = in_ms(3_600_000);
    let id = app
        .created_id(
            json!({"conferenceId": conference, "subject": "Hi", "message": "M",
                            "sendAt": later.to_rfc3339()}),
        )
        .await;
    assert_eq!(
        app.run_pending_jobs().await,
        0,
        "nothing is due before sendAt"
    );
    assert_eq!(app.read(&id).await["status"], "SCHEDULED");

    let reschedule = "mutation($id: ID!, $at: DateTime!) {
        rescheduleNotification(id: $id, sendAt: $at) { status sendAt }
    }";
    let even_later = in_ms(7_200_000);
    let answer = app
        .as_admin(reschedule, json!({"id": id, "at": even_later.to_rfc3339()}))
        .await;
    assert_no_errors(&answer);
    assert_eq!(
        instant(&answer["data"]["rescheduleNotification"]["sendAt"]),
        even_later
    );
    let jobs = techconf::entity::job::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "the plan job was replaced, not added to");
    assert_eq!(jobs[0].run_at, even_later);

    let past = app
        .as_admin(
            reschedule,
            json!({"id": id, "at": in_ms(-3_600_000).to_rfc3339()}),
        )
        .await;
    assert_eq!(error_code(&past), Some("VALIDATION"), "{past}");
    let pause = app
        .as_admin(
            "mutation($id: ID!) { pauseNotification(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&pause), Some("CONFLICT"), "{pause}");

    // Moved to now: planned and sent at once.
    let answer = app
        .as_admin(reschedule, json!({"id": id, "at": Utc::now().to_rfc3339()}))
        .await;
    assert_no_errors(&answer);
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(
        (done["status"].as_str(), done["sent"].as_i64()),
        (Some("COMPLETED"), Some(5))
    );
    let late = app
        .as_admin(reschedule, json!({"id": id, "at": later.to_rfc3339()}))
        .await;
    assert_eq!(
        error_code(&late),
        Some("CONFLICT"),
        "planning started: {late}"
    );

    // Cancel before planning: never planned, its job gone.
    let id = app
        .created_id(
            json!({"conferenceId": conference, "subject": "Hi", "message": "M",
                            "sendAt": later.to_rfc3339()}),
        )
        .await;
    let cancelled = app
        .as_admin(
            "mutation($id: ID!) { cancelNotification(id: $id) { status total } }",
            json!({"id": id}),
        )
        .await;
    assert_no_errors(&cancelled);
    assert_eq!(
        cancelled["data"]["cancelNotification"]["status"],
        "CANCELLED"
    );
    assert_eq!(app.count("job").await, 0);
    let answer = app
        .as_admin(reschedule, json!({"id": id, "at": later.to_rfc3339()}))
        .await;
    assert_eq!(error_code(&answer), Some("CONFLICT"));
    assert_eq!(
        app.count("delivery").await,
        5,
        "only the first notification's"
    );
}

/// One attendee with the given fields, registered at `at`.
#[allow(clippy::too_many_arguments)]
async fn attendee(
    db: &DatabaseConnection,
    conference: &str,
    email: &str,
    company: &str,
    job_position: &str,
    city: &str,
    state: &str,
    interests: Option<&str>,
    at: DateTime<Utc>,
) -> Uuid {
    let mut row = techconf::domain::Registration {
        first_name: "A".into(),
        last_name: "B".into(),
        email: email.into(),
        job_position: job_position.into(),
        company: company.into(),
        city: city.into(),
        state: state.into(),
        interests: interests.map(str::to_owned),
        comments: None,
    }
    .into_active_model();
    let id = Uuid::now_v7();
    row.id = Set(id);
    row.conference_id = Set(conference.parse().unwrap());
    row.submitted_at = Set(at);
    row.legacy_id = Set(None);
    techconf::entity::attendee::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .unwrap();
    id
}

/// Six attendees with varied fields; registered a day apart, oldest first.
async fn varied_attendees(app: &TestApp, conference: &str) -> (Vec<Uuid>, DateTime<Utc>) {
    let t0 = Utc::now() - chrono::Duration::days(10);
    let day = |n: i64| t0 + chrono::Duration::days(n);
    let rows = [
        (
            "ada@x.org",
            "Acme",
            "Engineer",
            "Lisbon",
            "PT",
            Some("Rust, compilers"),
        ),
        ("bob@x.org", "ACME", "Manager", "Porto", "PT", Some("Sales")),
        ("cy@x.org", "Globex", "Engineer", "Boston", "MA", None),
        (
            "di@x.org",
            "O'Brien & Co",
            "Designer",
            "Lisbon",
            "PT",
            Some("50% off_sales"),
        ),
        (
            "ed@x.org",
            "Globex",
            "Engineer",
            "Porto",
            "PT",
            Some("RUST and Go"),
        ),
        (
            "fay@x.org",
            "Initech",
            "CTO",
            "Austin",
            "TX",
            Some("rustaceans"),
        ),
    ];
    let mut ids = Vec::new();
    for (i, (email, company, position, city, state, interests)) in rows.iter().enumerate() {
        ids.push(
            attendee(
                &app.db,
                conference,
                email,
                company,
                position,
                city,
                state,
                *interests,
                day(i as i64),
            )
            .await,
        );
    }
    (ids, t0)
}

fn set(emails: &[&str]) -> HashSet<String> {
    emails.iter().map(|e| format!("{e}@x.org")).collect()
}

async fn every_criterion_filters_with_and_between_and_or_within(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let other = app.create_conference("Elsewhere").await;
    let (ids, t0) = varied_attendees(&app, &conference).await;
    attendee(
        &app.db,
        &other,
        "zed@x.org",
        "Acme",
        "Engineer",
        "Lisbon",
        "PT",
        None,
        t0,
    )
    .await;
    let day = |n: i64| (t0 + chrono::Duration::days(n)).to_rfc3339();
    let cases = [
        (json!(null), set(&["ada", "bob", "cy", "di", "ed", "fay"])),
        (json!({"company": ["acme"]}), set(&["ada", "bob"])),
        (
            json!({"company": ["Acme", "Globex"]}),
            set(&["ada", "bob", "cy", "ed"]),
        ),
        (
            json!({"jobPosition": ["engineer"]}),
            set(&["ada", "cy", "ed"]),
        ),
        (
            json!({"city": ["Lisbon", "Austin"]}),
            set(&["ada", "di", "fay"]),
        ),
        (json!({"state": ["TX", "MA"]}), set(&["cy", "fay"])),
        (
            json!({"interestsContain": "rust"}),
            set(&["ada", "ed", "fay"]),
        ),
        (
            json!({"registeredAfter": day(2)}),
            set(&["cy", "di", "ed", "fay"]),
        ),
        (json!({"registeredBefore": day(2)}), set(&["ada", "bob"])),
        (
            json!({"registeredAfter": day(1), "registeredBefore": day(4)}),
            set(&["bob", "cy", "di"]),
        ),
        (
            json!({"attendeeIds": [ids[0].to_string(), ids[5].to_string()]}),
            set(&["ada", "fay"]),
        ),
        // AND across criteria, OR within one.
        (
            json!({"company": ["Acme", "Globex"], "city": ["Porto"], "jobPosition": ["Engineer", "Manager"]}),
            set(&["bob", "ed"]),
        ),
        (
            json!({"jobPosition": ["Engineer"], "interestsContain": "RUST", "state": ["PT"]}),
            set(&["ada", "ed"]),
        ),
        (json!({"company": ["Nobody Inc"]}), set(&[])),
    ];
    for (audience, expected) in &cases {
        let (count, emails) = app.preview(&conference, audience.clone()).await;
        assert_eq!(&emails, expected, "preview of {audience}");
        assert_eq!(count, expected.len() as i64, "count of {audience}");
    }
    // Planning applies the same criteria: the preview count is the planned total, and
    // exactly those attendees get a delivery.
    for (audience, expected) in cases.iter().skip(11) {
        let (count, _) = app.preview(&conference, audience.clone()).await;
        let created = app
            .create_with(
                json!({"conferenceId": conference, "subject": "S", "message": "M",
                                "audience": audience}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        if let Some(company) = audience.get("company") {
            assert_eq!(&created["audience"]["company"], company, "recorded");
        }
        app.run_jobs_until_finished(&id).await;
        let n = app.read(&id).await;
        assert_eq!(n["total"].as_i64(), Some(count), "{audience}: {n}");
        let planned = delivery_emails(&app, &id).await;
        assert_eq!(&planned, expected, "{audience}");
    }
    let invalid = app
        .as_admin(PREVIEW, json!({"c": conference, "a": {"company": []}}))
        .await;
    assert_eq!(error_code(&invalid), Some("VALIDATION"), "{invalid}");
    let too_many = app
        .as_admin(
            PREVIEW,
            json!({"c": conference, "a": {"city": vec!["x"; 101]}}),
        )
        .await;
    assert_eq!(error_code(&too_many), Some("VALIDATION"), "{too_many}");
}

async fn delivery_emails(app: &TestApp, id: &str) -> HashSet<String> {
    use sea_orm::{ColumnTrait, QueryFilter};
    techconf::entity::delivery::Entity::find()
        .filter(techconf::entity::delivery::Column::NotificationId.eq(id.parse::<Uuid>().unwrap()))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.email)
        .collect()
}

async fn filter_values_are_data_never_sql(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    varied_attendees(&app, &conference).await;
    let attacks = [
        json!({"company": ["x' OR '1'='1"]}),
        json!({"company": ["Acme') OR 1=1 --"]}),
        json!({"city": ["Lisbon'; DROP TABLE attendee; --"]}),
        json!({"interestsContain": "' OR 1=1 --"}),
        json!({"state": ["\\"]}),
    ];
    for audience in &attacks {
        let (count, _) = app.preview(&conference, audience.clone()).await;
        assert_eq!(count, 0, "{audience} matched");
    }
    // Quotes, `%` and `_` match themselves (as LIKE wildcards they would match everyone).
    for wildcard in ["%", "_", "50% off_"] {
        let (_, emails) = app
            .preview(&conference, json!({"interestsContain": wildcard}))
            .await;
        assert_eq!(emails, set(&["di"]), "{wildcard}");
    }
    let (_, emails) = app
        .preview(&conference, json!({"company": ["o'brien & co"]}))
        .await;
    assert_eq!(emails, set(&["di"]));
    // A planned notification with an attack as its audience selects nobody.
    let id = app
        .created_id(
            json!({"conferenceId": conference, "subject": "S", "message": "M",
                            "audience": attacks[0]}),
        )
        .await;
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(
        (done["status"].as_str(), done["total"].as_i64()),
        (Some("COMPLETED"), Some(0))
    );
    assert_eq!(app.count("attendee").await, 6, "the table is intact");
}

async fn an_audience_of_nobody_completes_with_total_zero(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(10)).await;
    let (count, _) = app
        .preview(&conference, json!({"city": ["Atlantis"]}))
        .await;
    assert_eq!(count, 0);
    let id = app
        .created_id(
            json!({"conferenceId": conference, "subject": "S", "message": "M",
                            "audience": {"city": ["Atlantis"]}}),
        )
        .await;
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["total"], 0);
    assert_eq!(app.count("delivery").await, 0);
}

async fn a_test_send_reaches_only_the_given_addresses_and_counts_nowhere(backend: Backend) {
    let sink = SmtpSink::start();
    let app = api(backend, &sink.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(3)).await;
    let send = "mutation($input: SendTestNotificationInput!) {
        sendTestNotification(input: $input) { subject recipients { address sent error } }
    }";
    let to = ["me@example.com", "colleague@example.com"];
    let answer = app
        .as_admin(
            send,
            json!({"input": {"conferenceId": conference, "subject": "Hi {{ first_name }}",
                             "message": "Dear {{ first_name }}", "to": to}}),
        )
        .await;
    assert_no_errors(&answer);
    let result = &answer["data"]["sendTestNotification"];
    assert_eq!(
        result["subject"], "[TEST] Hi First0",
        "the first attendee's values"
    );
    assert!(
        result["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["sent"] == true),
        "{result}"
    );
    let received = sink.wait_for_count(2, WAIT).await.unwrap();
    let recipients: HashSet<_> = received.iter().flat_map(|m| m.recipients.clone()).collect();
    assert_eq!(recipients, to.iter().map(|s| s.to_string()).collect());
    assert!(
        received
            .iter()
            .all(|m| m.subject.as_deref() == Some("[TEST] Hi First0"))
    );
    for table in ["notification", "delivery", "job"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }

    let six: Vec<String> = (0..6).map(|i| format!("me{i}@example.com")).collect();
    for to in [json!(six), json!([]), json!(["not an address"])] {
        let refused = app
            .as_admin(
                send,
                json!({"input": {"conferenceId": conference, "subject": "S", "message": "M",
                                 "to": to}}),
            )
            .await;
        assert_eq!(error_code(&refused), Some("VALIDATION"), "{refused}");
    }
    assert_eq!(sink.completed_count(), 2, "refused test sends send nothing");
}

async fn auto_pause_stops_a_failing_send_within_a_batch_and_resume_continues(backend: Backend) {
    const N: usize = 200;
    const BATCH: i64 = 10;
    let smtp = FakeSmtp::builder()
        .data_reply_delay(Duration::from_millis(5))
        .start()
        .await;
    let handle = smtp.handle();
    let settings = [
        ("MAIL_URL", smtp.url()),
        ("WORKER_BATCH_SIZE", BATCH.to_string()),
        ("WORKER_SLICE_SIZE", "1000".to_owned()),
        ("WORKER_CONCURRENCY", "2".to_owned()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_on(new_database(backend).await, &settings, true).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(N)).await;
    let id = app
        .created_id(
            json!({"conferenceId": conference, "subject": "S", "message": "M",
                            "autoPause": {"failureRatio": 0.2, "minimumAttempts": 20}}),
        )
        .await;
    let mut live = Subscription::start(
        &app.address,
        &app.admin_token,
        Protocol::Modern,
        "subscription($id: ID!) { notificationProgress(id: $id) { status pausedReason } }",
        json!({"id": id}),
    )
    .await;

    // Mid-send, the server starts refusing nine recipients in ten.
    wait_until("40 emails accepted", || async {
        smtp.message_count() >= 40
    })
    .await;
    handle.reject_recipients_matching(|r| !r.contains("0@"));
    let paused = app.wait_for_status(&id, &["PAUSED"]).await;
    let n = app.read(&id).await;
    let reason = n["pausedReason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.starts_with("auto-paused"), "{n}");
    let (sent, failed) = (n["sent"].as_i64().unwrap(), n["failed"].as_i64().unwrap());
    assert!(failed > 4, "{n}");
    // The batch in flight when the failures began, and the one that tripped the rule.
    assert!(failed <= 2 * BATCH, "paused within a batch: {n}");
    assert_eq!(
        n["pending"].as_i64().unwrap(),
        N as i64 - sent - failed,
        "{paused}"
    );
    assert!(n["pending"].as_i64().unwrap() > 0);
    let stopped_at = smtp.message_count();
    assert_eq!(stopped_at as i64, sent);
    // Live progress says why.
    let event = live.progress_until("PAUSED").await;
    assert_eq!(event["pausedReason"].as_str(), Some(reason.as_str()));

    handle.clear_recipient_rejections();
    let resumed = app
        .as_admin(
            "mutation($id: ID!) { resumeNotification(id: $id) { status pausedReason } }",
            json!({"id": id}),
        )
        .await;
    assert_no_errors(&resumed);
    assert!(resumed["data"]["resumeNotification"]["pausedReason"].is_null());
    let event = live.progress_until("COMPLETED_WITH_ERRORS").await;
    assert!(event["pausedReason"].is_null(), "{event}");
    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    assert_eq!(
        done["failed"].as_i64(),
        Some(failed),
        "failures stay failed"
    );
    assert_eq!(
        done["sent"].as_i64(),
        Some(N as i64 - failed),
        "everyone else was sent"
    );
    let received = smtp.messages();
    let mut by_recipient: HashMap<String, usize> = HashMap::new();
    for m in &received {
        for r in &m.recipients {
            *by_recipient.entry(r.clone()).or_default() += 1;
        }
    }
    assert!(by_recipient.values().all(|n| *n == 1), "nobody twice");
    assert_eq!(received.len() as i64, N as i64 - failed);
    assert!(app.read(&id).await["pausedReason"].is_null());
}
