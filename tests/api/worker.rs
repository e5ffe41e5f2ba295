//! The worker end to end: the real app, a real SMTP server (Postfix's smtp-sink, or a
//! fault-injecting one), on SQLite and PostgreSQL. Most tests run the queued jobs step by
//! step (`run_pending_jobs`); the ones about pausing and cancelling mid-send run the
//! in-process worker for real.
use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use testkit::smtp::{FakeSmtp, SmtpSink};

use crate::helpers::{
    Backend, TestApp, assert_no_errors, emails, error_code, insert_attendees, new_database,
    on_both, spawn_app_on,
};

/// The app without a worker: the test runs its jobs.
async fn app_with_smtp(backend: Backend, smtp_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("MAIL_URL", smtp_url)];
    vars.extend_from_slice(extra);
    spawn_app_on(new_database(backend).await, &vars, false).await
}

/// The app with its in-process worker.
async fn app_with_worker(backend: Backend, smtp_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("MAIL_URL", smtp_url)];
    vars.extend_from_slice(extra);
    spawn_app_on(new_database(backend).await, &vars, true).await
}

on_both!(
    every_attendee_gets_one_personalised_email,
    a_rejected_address_fails_alone_with_the_servers_reply,
    temporary_failures_are_retried_until_sent,
    an_smtp_server_that_is_down_at_first_loses_nothing,
    a_conference_without_attendees_completes_at_once,
    a_redelivered_send_job_does_not_email_anyone_twice,
    registration_sends_a_confirmation_with_a_calendar_event,
    pause_resume_cancel_and_retry_act_on_exactly_the_right_recipients,
);

async fn every_attendee_gets_one_personalised_email(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, &sink.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    let addresses = emails(230);
    insert_attendees(&app.db, &conference, &addresses).await;
    let id = app
        .notify(
            &conference,
            "Hello {{ first_name }}",
            "See you at {{ conference.name }}, {{ first_name }}.",
        )
        .await;
    app.run_pending_jobs().await;
    let done = app.notification_counts(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["total"], 230);
    assert_eq!(done["sent"], 230);
    assert_eq!(done["pending"], 0);

    let received = sink
        .wait_for_count(230, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(received.len(), 230, "exactly one email each");
    let ids: HashSet<_> = received
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids.len(), 230, "no duplicate Message-IDs");
    let recipients: HashSet<_> = received.iter().flat_map(|m| m.recipients.clone()).collect();
    assert_eq!(
        recipients,
        addresses.iter().cloned().collect::<HashSet<_>>()
    );
    for message in &received {
        // person17@example.org was inserted as First17.
        let n: usize = message.recipients[0]
            .trim_start_matches("person")
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            message.subject.as_deref(),
            Some(format!("Hello First{n}").as_str())
        );
        assert!(
            message
                .body_text()
                .contains(&format!("See you at RustConf, First{n}."))
        );
    }
    assert_eq!(
        app.count("delivery WHERE status = 'sent' AND message_id IS NOT NULL")
            .await,
        230
    );
    assert_eq!(app.count("job").await, 0);
}

async fn a_rejected_address_fails_alone_with_the_servers_reply(backend: Backend) {
    let smtp = FakeSmtp::builder()
        .reject_recipients_containing("person3@")
        .start()
        .await;
    let app = app_with_smtp(backend, &smtp.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(40)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    app.run_pending_jobs().await;
    let done = app.notification_counts(&id).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    assert_eq!(done["sent"], 39);
    assert_eq!(done["failed"], 1);
    assert_eq!(smtp.message_count(), 39);

    let failed = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { deliveries(status: FAILED) { nodes { email attempts lastError } } } }",
            json!({"id": id}),
        )
        .await;
    let node = &failed["data"]["notification"]["deliveries"]["nodes"][0];
    assert_eq!(node["email"], "person3@example.org");
    assert_eq!(node["attempts"], 1, "a permanent failure is not retried");
    assert!(
        node["lastError"].as_str().unwrap().contains("550"),
        "{node}"
    );
}

async fn temporary_failures_are_retried_until_sent(backend: Backend) {
    let smtp = FakeSmtp::builder().tempfail_first(15).start().await;
    let app = app_with_smtp(backend, &smtp.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(30)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["sent"], 30);
    assert_eq!(smtp.message_count(), 30);
    assert_eq!(smtp.stats().tempfailed, 15);
    assert!(
        app.count("delivery WHERE attempts > 1").await >= 1,
        "some deliveries needed a second attempt"
    );
}

async fn an_smtp_server_that_is_down_at_first_loses_nothing(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    smtp.down().await;
    let app = app_with_smtp(backend, &smtp.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(25)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    // Every delivery fails once against the dead server and waits for its retry.
    app.run_pending_jobs().await;
    assert_eq!(
        app.count("delivery WHERE attempts >= 1 AND status = 'pending'")
            .await,
        25
    );
    assert_eq!(app.notification_counts(&id).await["status"], "SENDING");
    smtp.up().await.unwrap();
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(smtp.message_count(), 25);
}

async fn a_conference_without_attendees_completes_at_once(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, &sink.url(), &[]).await;
    let conference = app.create_conference("Empty").await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    assert_eq!(app.run_pending_jobs().await, 1, "the plan job alone");
    let done = app.notification_counts(&id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["total"], 0);
    assert_eq!(app.count("job").await, 0);
}

async fn a_redelivered_send_job_does_not_email_anyone_twice(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let app = app_with_smtp(backend, &smtp.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(60)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    app.run_pending_jobs().await;
    assert_eq!(smtp.message_count(), 60);

    // The same send and plan jobs again, as a redelivering queue would hand them out.
    let notification_id = id.parse().unwrap();
    let mut jobs =
        techconf::store::job::send_slices(notification_id, 0, i64::MAX / 2, usize::MAX / 4);
    jobs.push(techconf::queue::JobPayload::Plan { notification_id });
    techconf::queue::enqueue_many(&app.db, &jobs, None)
        .await
        .unwrap();
    assert_eq!(app.run_pending_jobs().await, jobs.len());
    assert_eq!(app.count("job").await, 0);
    assert_eq!(smtp.message_count(), 60, "nobody was emailed twice");
    let n = app.notification_counts(&id).await;
    assert_eq!(n["sent"], 60);
}

async fn registration_sends_a_confirmation_with_a_calendar_event(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_smtp(backend, &sink.url(), &[]).await;
    let conference = app.create_conference("RustConf").await;
    assert_no_errors(&app.register(&conference, "ada@example.org").await);
    assert_eq!(app.run_pending_jobs().await, 1, "the confirmation job");
    assert_eq!(app.count("job").await, 0);
    let received = sink
        .wait_for_count(1, Duration::from_secs(30))
        .await
        .unwrap();
    let message = &received[0];
    assert_eq!(message.recipients, vec!["ada@example.org".to_owned()]);
    assert_eq!(
        message.subject.as_deref(),
        Some("You are registered for RustConf")
    );
    let text = message.data_text();
    assert!(text.contains("text/calendar"), "{text}");
    assert!(
        text.contains("BEGIN:VEVENT") && text.contains("SUMMARY:RustConf"),
        "{text}"
    );
    assert!(text.contains("DTSTART;VALUE=DATE:20270512"), "{text}");
}

async fn pause_resume_cancel_and_retry_act_on_exactly_the_right_recipients(backend: Backend) {
    // A rate limit keeps the send slow enough to pause in the middle.
    let smtp = FakeSmtp::builder()
        .reject_recipients_containing("person1@")
        .start()
        .await;
    let app = app_with_worker(backend, &smtp.url(), &[("WORKER_RATE_LIMIT", "200")]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(300)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    let control = |name: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.as_admin(
                &format!("mutation($id: ID!) {{ {name}(id: $id) {{ status sent failed cancelled pending }} }}"),
                json!({"id": id}),
            )
            .await
        }
    };
    smtp.wait_for_count(20, Duration::from_secs(30))
        .await
        .unwrap();
    let paused = control("pauseNotification").await;
    let status = &paused["data"]["pauseNotification"]["status"];
    assert!(status == "PAUSING" || status == "PAUSED", "{paused}");
    // PAUSED once the batches in flight are recorded; then nothing more is sent.
    let paused = app.wait_for_status(&id, &["PAUSED"]).await;
    assert_eq!(app.count("delivery WHERE status = 'sending'").await, 0);
    let settled = smtp.message_count();
    assert_eq!(
        paused["sent"], settled,
        "the final counts of the pause: {paused}"
    );
    assert!(
        settled > 0 && settled < 299,
        "paused mid-send after {settled} emails"
    );
    assert_eq!(smtp.message_count(), settled);
    let again = control("pauseNotification").await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");

    let resumed = control("resumeNotification").await;
    assert_eq!(
        resumed["data"]["resumeNotification"]["status"], "SENDING",
        "{resumed}"
    );
    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    assert_eq!(done["sent"], 299);
    assert_eq!(done["failed"], 1);
    assert_eq!(smtp.message_count(), 299, "nobody skipped, nobody repeated");
    let recipients: HashSet<_> = smtp
        .messages()
        .iter()
        .flat_map(|m| m.recipients.clone())
        .collect();
    assert_eq!(recipients.len(), 299);

    // The failed address is accepted now; retrying sends to it and to nobody else.
    smtp.clear_recipient_rejections();
    let retried = app
        .as_admin(
            "mutation($id: ID!) { retryFailedDeliveries(id: $id) { retried skippedBounced \
             notification { status failed } } }",
            json!({"id": id}),
        )
        .await;
    assert_no_errors(&retried);
    let report = &retried["data"]["retryFailedDeliveries"];
    assert_eq!(report["retried"], 1, "{retried}");
    assert_eq!(report["skippedBounced"], 0, "{retried}");
    assert_eq!(report["notification"]["failed"], 0, "{retried}");
    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["sent"], 300);
    assert_eq!(smtp.message_count(), 300);
    let cancel_finished = control("cancelNotification").await;
    assert_eq!(
        error_code(&cancel_finished),
        Some("CONFLICT"),
        "{cancel_finished}"
    );

    // Cancelling a second notification mid-send cancels exactly the pending recipients.
    let second = app.notify(&conference, "Again", "Hello").await;
    smtp.wait_for_count(320, Duration::from_secs(30))
        .await
        .unwrap();
    let cancelled = app
        .as_admin(
            "mutation($id: ID!) { cancelNotification(id: $id) { status } }",
            json!({"id": second}),
        )
        .await;
    let status = &cancelled["data"]["cancelNotification"]["status"];
    assert!(
        status == "CANCELLING" || status == "CANCELLED",
        "{cancelled}"
    );
    // CANCELLED only once nothing is in flight: the counters are final then.
    let done = app.wait_until_finished(&second).await;
    assert_eq!(app.count("delivery WHERE status = 'sending'").await, 0);
    let n = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { total sent failed cancelled pending } }",
            json!({"id": second}),
        )
        .await;
    let n = &n["data"]["notification"];
    assert_eq!(done["status"], "CANCELLED");
    assert!(n["cancelled"].as_i64().unwrap() > 0, "{n}");
    assert_eq!(
        n["sent"].as_i64().unwrap()
            + n["failed"].as_i64().unwrap()
            + n["cancelled"].as_i64().unwrap(),
        300,
        "every recipient is sent, failed or cancelled: {n}"
    );
    assert_eq!(
        smtp.message_count() as i64,
        300 + n["sent"].as_i64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_transport_writes_one_eml_per_recipient_named_by_message_id() {
    let outbox = testkit::TempDir::new("outbox").unwrap();
    let url = format!("file://{}", outbox.path().display());
    let app = app_with_smtp(Backend::Sqlite, &url, &[]).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(5)).await;
    let id = app
        .notify(&conference, "Hello {{ first_name }}", "Hi")
        .await;
    app.run_pending_jobs().await;
    assert_eq!(app.notification_counts(&id).await["sent"], 5);
    let mut files: Vec<_> = std::fs::read_dir(outbox.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    let simple = id.replace('-', "");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&simple) && name.ends_with(".eml"),
            "{name}"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("Subject: Hello First"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: <{}", name.trim_end_matches(".eml"))),
            "{text}"
        );
    }
}
