//! Fair sending between organizations, with real worker processes on PostgreSQL:
//!
//! - a small send of one organization completes within seconds while another organization's
//!   large send is running (Postfix's `smtp-sink` as the mail server);
//! - an organization's own rate limit holds over one-second windows with two workers, across
//!   its notifications.
use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;
use testkit::smtp::FakeSmtp;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp, assert_rate_holds, emails, insert_attendees, spawn_multi_tenant_app,
};
use crate::worker_processes::WorkerProcess;

/// Attendees of the large send, inserted set-based. The whole large send never has to run:
/// the test ends while it is sending, and its database goes with the test.
const BIG: i64 = 200_000;
const SMALL: usize = 100;
const SUBJECT: &str = "Hi {{ first_name }}";
const MESSAGE: &str = "See you at {{ conference.name }}.";

/// Postfix's `smtp-sink`, discarding every message (no dump files), on a free port.
struct Sink {
    _child: Child,
    port: u16,
}

impl Sink {
    async fn start() -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = std::env::var("TESTKIT_SMTP_SINK")
            .unwrap_or_else(|_| testkit::smtp::SMTP_SINK_DEFAULT_PATH.to_owned());
        let mut command = Command::new(bin);
        // smtp-sink refuses to run as root without a user to switch to.
        if running_as_root() {
            command.args(["-u", "nobody"]);
        }
        let child = command
            .arg(format!("127.0.0.1:{port}"))
            .arg("1024")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("smtp-sink starts (install postfix)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "smtp-sink did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Sink {
            _child: child,
            port,
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Status and `sent` of a notification, read from its row.
async fn progress(app: &TestApp, id: &str) -> (String, i64) {
    let row = app
        .db
        .query_one_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "SELECT status, CAST(sent AS BIGINT) AS sent FROM notification WHERE id = $1",
            vec![id.parse::<Uuid>().unwrap().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "status").unwrap(),
        row.try_get("", "sent").unwrap(),
    )
}

/// Organization A sends to 200,000 attendees; once it is sending, and at least 2 s after
/// it was created, organization B sends to 100. B's send completes within 5 s of its
/// creation, while A's is still running (and keeps sending meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_send_completes_while_another_organizations_big_send_runs() {
    let sink = Sink::start().await;
    let app = spawn_multi_tenant_app(Backend::Postgres, false).await;
    let (_, admin_a, conference_a) = app.organization_with_conference("Big").await;
    let (_, admin_b, conference_b) = app.organization_with_conference("Small").await;
    app.db
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO attendee (id, conference_id, first_name, last_name, email, job_position, \
                 company, city, state, submitted_at) \
             SELECT gen_random_uuid(), $1, 'First' || i, 'Last' || i, \
                 'person' || i || '@example.org', 'Engineer', 'Acme', 'Porto', 'PT', now() \
             FROM generate_series(1, $2::bigint) AS i",
            vec![conference_a.parse::<Uuid>().unwrap().into(), BIG.into()],
        ))
        .await
        .unwrap();
    insert_attendees(&app.db, &conference_b, &emails(SMALL)).await;
    let settings = [("WORKER_CONCURRENCY", "16")];
    let _w1 = WorkerProcess::start(app.database(), &sink.url(), &settings).await;
    let _w2 = WorkerProcess::start(app.database(), &sink.url(), &settings).await;

    let created_a = Instant::now();
    let big = app
        .notify_as(&admin_a, &conference_a, SUBJECT, MESSAGE)
        .await;
    // Wait until A is really sending, and 2 s have passed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, sent) = progress(&app, &big).await;
        if sent > 0 && created_a.elapsed() >= Duration::from_secs(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A never started sending: {status} {sent}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A's own rate over one second, before B.
    let (_, a_sent_earlier) = progress(&app, &big).await;
    let measured_from = Instant::now();
    tokio::time::sleep_until((measured_from + Duration::from_secs(1)).into()).await;
    let (_, a_sent_before) = progress(&app, &big).await;
    let a_rate_before =
        (a_sent_before - a_sent_earlier) as f64 / measured_from.elapsed().as_secs_f64();

    let created_b = Instant::now();
    let small = app
        .notify_as(&admin_b, &conference_b, SUBJECT, MESSAGE)
        .await;
    let took = loop {
        let (status, sent) = progress(&app, &small).await;
        if status == "COMPLETED" {
            assert_eq!(sent, SMALL as i64);
            break created_b.elapsed();
        }
        assert!(
            created_b.elapsed() < Duration::from_secs(30),
            "B's send did not complete: {status} {sent}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (a_status, a_sent_after) = progress(&app, &big).await;
    let a_rate_during = (a_sent_after - a_sent_before) as f64 / took.as_secs_f64();
    eprintln!(
        "B's {SMALL} took {took:?}; A sent {a_rate_before:.0}/s before and {a_rate_during:.0}/s \
         meanwhile, {a_sent_after} of {BIG} in all ({a_status})"
    );
    assert!(
        took <= Duration::from_secs(5),
        "B's send took {took:?} behind A's"
    );
    assert_eq!(a_status, "SENDING", "A was still sending when B completed");
    // A keeps sending meanwhile, and the workers' capacity is shared, not lost: A's rate
    // plus B's share stays in the range of A's rate alone. (Loose: on a busy machine the
    // rate over a second or two varies by tens of percent.)
    let shared = a_rate_during + SMALL as f64 / took.as_secs_f64();
    assert!(
        a_sent_after > a_sent_before && shared >= a_rate_before * 0.5,
        "A sent {a_rate_before:.0}/s alone; with B, A {a_rate_during:.0}/s and both {shared:.0}/s"
    );
    // The rest of A's send is not needed: its workers stop and its database goes with the
    // test.
}

/// An organization limited to 40 messages a second sends two notifications with two
/// workers: together they keep to the limit in every one-second window, because the limit
/// lives on the organization's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizations_rate_limit_holds_across_its_notifications_and_workers() {
    const PER_NOTIFICATION: usize = 80;
    const RATE: f64 = 40.0;
    let smtp = FakeSmtp::start().await;
    let app = spawn_multi_tenant_app(Backend::Postgres, false).await;
    let (_, admin, conference) = app.organization_with_conference("Limited").await;
    techconf::tenancy::set_rate_limit(&app.db, "Limited", Some(40))
        .await
        .unwrap();
    insert_attendees(&app.db, &conference, &emails(PER_NOTIFICATION)).await;
    let settings = [
        ("WORKER_SLICE_SIZE", "16"),
        ("WORKER_BATCH_SIZE", "8"),
        ("WORKER_CONCURRENCY", "8"),
    ];
    let _w1 = WorkerProcess::start(app.database(), &smtp.url(), &settings).await;
    let _w2 = WorkerProcess::start(app.database(), &smtp.url(), &settings).await;
    let first = app.notify_as(&admin, &conference, SUBJECT, MESSAGE).await;
    let second = app.notify_as(&admin, &conference, SUBJECT, MESSAGE).await;
    for id in [&first, &second] {
        let done: Value = app.wait_until_finished(id).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
    }
    let times: Vec<Instant> = smtp
        .messages()
        .iter()
        .filter_map(|m| m.received_at)
        .collect();
    assert_eq!(times.len(), 2 * PER_NOTIFICATION);
    assert_rate_holds(times, RATE);
}
