//! The lifecycle store's test suite: every function of `techconf::store`, run against
//! SQLite and PostgreSQL alike (as River's `riverdrivertest` runs one suite against every
//! driver). Each scenario gets a fresh database per backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use techconf::domain::{DeliveryStatus, JobStatus, NewConference, NotificationStatus};
use techconf::entity::{delivery, job, notification};
use techconf::store::delivery::{Claimed, Outcome, claim_batch, next_wakeup, record_outcomes};
use techconf::store::job::{ClaimById, JobPayload, Lease};
use techconf::store::notification::{NewNotification, Planned};
use techconf::store::{self, StoreError};
use testkit::db::TestDatabase;
use uuid::Uuid;

mod support;

/// Runs `async fn NAME(db: DatabaseConnection)` once per backend.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let database = testkit::db::TestDatabase::sqlite();
                super::$name(super::migrated(&database).await).await;
            }
            #[tokio::test]
            async fn postgres() {
                let database = testkit::db::TestDatabase::postgres().await;
                super::$name(super::migrated(&database).await).await;
            }
        }
    )+};
}

on_both_backends!(
    creating_writes_the_notification_and_its_plan_job,
    planning_creates_one_delivery_per_attendee_once,
    planning_without_attendees_completes_at_once,
    a_batch_is_claimed_once_and_an_expired_claim_again,
    outcomes_count_only_rows_still_under_their_lease_and_the_last_one_completes,
    a_retry_waits_for_its_time,
    pausing_with_deliveries_in_flight_is_pausing_until_the_last_outcome,
    cancelling_with_deliveries_in_flight_is_cancelling_until_the_last_outcome,
    an_expired_claim_does_not_hold_a_pause_or_cancel_forever,
    retrying_failures_reopens_the_notification,
    transitions_the_state_machine_lacks_are_refused,
    the_rate_limit_spaces_reservations,
    an_unknown_status_is_an_error_not_a_default,
    jobs_are_claimed_by_priority_and_leased,
    jobs_are_claimed_by_id_exactly_once,
    jobs_are_handed_over_and_orphans_requeued,
    the_relay_claims_publishes_and_releases,
    planning_records_suppressed_addresses_and_the_rest_completes_the_count,
    a_bounce_moves_a_sent_delivery_once,
    send_jobs_are_claimed_fairly_by_organization_then_notification,
    the_organization_rate_limit_spaces_reservations_across_notifications,
    retrying_skips_hard_bounces_unless_asked_and_never_the_unsubscribed,
    a_scheduled_notification_waits_for_its_time_and_can_be_moved_or_cancelled,
    a_notification_pauses_itself_when_its_window_fails_and_resume_clears_it,
);

async fn migrated(database: &TestDatabase) -> DatabaseConnection {
    let db = database.connect().await;
    techconf::db::ensure_migrated(&db, true).await.unwrap();
    db
}

const SLICE: usize = 50;

/// Every delivery id, for claims and wake-ups over a whole notification.
const ALL: (i64, i64) = (i64::MIN, i64::MAX);

/// A new conference of `organization`; its id.
async fn conference_in(db: &DatabaseConnection, organization: Uuid) -> Uuid {
    techconf::service::conference::create_in(
        db,
        organization,
        NewConference::parse(
            "RustConf",
            chrono::NaiveDate::from_ymd_opt(2027, 5, 12).unwrap(),
            10.0,
            "Lisbon",
            true,
        )
        .unwrap(),
        techconf::domain::ConferenceDetails::default(),
    )
    .await
    .unwrap()
    .id
}

/// A conference with `n` attendees and a notification to all of them, created by the store.
async fn notification_for(db: &DatabaseConnection, n: usize) -> Uuid {
    let conference = conference_in(db, techconf::tenancy::default_organization()).await;
    support::insert_attendees(db, conference, &support::emails(n)).await;
    notification_to(db, conference).await
}

/// A notification to the conference, created by the store (with its plan job).
async fn notification_to(db: &DatabaseConnection, conference_id: Uuid) -> Uuid {
    let (row, signal) = store::notification::create(
        db,
        NewNotification {
            name: "Hi".into(),
            conference_id,
            subject: "Hi".into(),
            message: "Hello".into(),
            created_by: "test".into(),
            idempotency_key: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    signal.publish();
    row.id
}

async fn planned(db: &DatabaseConnection, n: usize) -> Uuid {
    let id = notification_for(db, n).await;
    run_plan(db, id).await;
    id
}

/// Runs the plan job of notification `id`, publishing its signal.
async fn run_plan(db: &DatabaseConnection, id: Uuid) {
    store::notification::plan(db, id, SLICE)
        .await
        .unwrap()
        .1
        .publish();
}

/// Cancels notification `id`, publishing its signal.
async fn cancel(db: &DatabaseConnection, id: Uuid) {
    store::notification::cancel(db, id).await.unwrap().publish();
}

/// A new organization, with a send rate limit if given; its id.
async fn organization(db: &DatabaseConnection, name: &str, rate_per_second: Option<u32>) -> Uuid {
    techconf::tenancy::create_organization(db, name, rate_per_second)
        .await
        .unwrap()
        .id
}

async fn row(db: &DatabaseConnection, id: Uuid) -> notification::Model {
    notification::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

async fn jobs(db: &DatabaseConnection) -> Vec<job::Model> {
    job::Entity::find().all(db).await.unwrap()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {sql}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

fn lease_in(seconds: i64) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

/// The claimed delivery was sent.
fn sent(claimed: &Claimed) -> (i64, Outcome) {
    let message_id = format!("<{}@test>", claimed.id);
    (claimed.id, Outcome::Sent { message_id })
}

/// The claimed delivery failed for good with `error`.
fn failed(claimed: &Claimed, error: &str) -> (i64, Outcome) {
    let error = error.into();
    (claimed.id, Outcome::Failed { error })
}

/// Records `outcomes` of deliveries of `id` claimed with `lease`, publishing the signal.
async fn record(
    db: &DatabaseConnection,
    id: Uuid,
    lease: chrono::DateTime<Utc>,
    outcomes: Vec<(i64, Outcome)>,
) {
    record_outcomes(db, id, lease, outcomes)
        .await
        .unwrap()
        .signal
        .publish();
}

/// Retries the failed deliveries of `id`, publishing the signal: how many were retried,
/// skipped as bounced and skipped as suppressed.
async fn retry(db: &DatabaseConnection, id: Uuid, include_bounced: bool) -> (u64, u64, u64) {
    let retried = store::notification::retry_failed(db, id, SLICE, include_bounced)
        .await
        .unwrap();
    retried.signal.publish();
    (
        retried.retried,
        retried.skipped_bounced,
        retried.skipped_suppressed,
    )
}

/// The counters add up, and a terminal notification has nothing pending.
#[track_caller]
fn assert_final(n: &notification::Model) {
    assert!(n.status.is_terminal(), "{n:?}");
    assert_eq!(
        n.sent + n.failed + n.cancelled + n.suppressed,
        n.total,
        "{n:?}"
    );
    assert!(n.completed_at.is_some());
}

async fn creating_writes_the_notification_and_its_plan_job(db: DatabaseConnection) {
    let id = notification_for(&db, 3).await;
    let n = row(&db, id).await;
    assert_eq!((n.status, n.total), (NotificationStatus::Queued, 0));
    let jobs = jobs(&db).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        serde_json::from_str::<JobPayload>(&jobs[0].payload).unwrap(),
        JobPayload::Plan {
            notification_id: id
        }
    );
    assert_eq!(jobs[0].status, JobStatus::Pending);
}

async fn planning_creates_one_delivery_per_attendee_once(db: DatabaseConnection) {
    let id = notification_for(&db, 120).await;
    let (planned, _) = store::notification::plan(&db, id, SLICE).await.unwrap();
    assert_eq!(
        planned,
        Planned::Planned {
            total: 120,
            status: NotificationStatus::Sending,
            delay: None,
        }
    );
    let (again, _) = store::notification::plan(&db, id, SLICE).await.unwrap();
    assert_eq!(again, Planned::Skipped, "a repeated plan job adds nothing");
    assert_eq!(count(&db, "delivery").await, 120);
    let n = row(&db, id).await;
    assert_eq!((n.status, n.total), (NotificationStatus::Sending, 120));
    assert!(n.started_at.is_some());
    let sends = jobs(&db)
        .await
        .into_iter()
        .filter(|j| j.kind == "send")
        .count();
    assert_eq!(sends, 3, "120 deliveries in slices of 50");
    let (gone, _) = store::notification::plan(&db, Uuid::now_v7(), SLICE)
        .await
        .unwrap();
    assert_eq!(gone, Planned::Gone);
}

async fn planning_without_attendees_completes_at_once(db: DatabaseConnection) {
    let id = planned(&db, 0).await;
    let n = row(&db, id).await;
    assert_eq!(n.status, NotificationStatus::Completed);
    assert_final(&n);
}

async fn a_batch_is_claimed_once_and_an_expired_claim_again(db: DatabaseConnection) {
    let id = planned(&db, 30).await;
    let first = claim_batch(&db, id, ALL, 20, lease_in(60)).await.unwrap();
    let second = claim_batch(&db, id, ALL, 20, lease_in(60)).await.unwrap();
    assert_eq!((first.len(), second.len()), (20, 10));
    assert!(first.windows(2).all(|w| w[0].id < w[1].id), "in id order");
    assert!(second.iter().all(|c| first.iter().all(|f| f.id != c.id)));
    assert!(
        claim_batch(&db, id, ALL, 20, lease_in(60))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(count(&db, "delivery WHERE status = 'sending'").await, 30);

    // A claim whose lease ran out (its worker died) is claimed again.
    let id2 = planned(&db, 5).await;
    let dead = claim_batch(&db, id2, ALL, 5, lease_in(-1)).await.unwrap();
    assert_eq!(dead.len(), 5);
    let again = claim_batch(&db, id2, ALL, 5, lease_in(60)).await.unwrap();
    assert_eq!(again.len(), 5);
}

async fn outcomes_count_only_rows_still_under_their_lease_and_the_last_one_completes(
    db: DatabaseConnection,
) {
    let id = planned(&db, 4).await;
    let lease = lease_in(60);
    let batch = claim_batch(&db, id, ALL, 10, lease).await.unwrap();
    let outcomes = |lease_ok: bool| {
        batch
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    failed(c, "550 no such user")
                } else {
                    let message_id = format!("<{}.{lease_ok}@test>", c.id);
                    (c.id, Outcome::Sent { message_id })
                }
            })
            .collect::<Vec<_>>()
    };
    // Another claim's lease: nothing is written.
    let stale = record_outcomes(&db, id, lease_in(120), outcomes(false))
        .await
        .unwrap();
    assert_eq!((stale.sent, stale.failed), (0, 0));
    assert_eq!(row(&db, id).await.status, NotificationStatus::Sending);

    let recorded = record_outcomes(&db, id, lease, outcomes(true))
        .await
        .unwrap();
    assert_eq!((recorded.sent, recorded.failed), (3, 1));
    recorded.signal.publish();
    let n = row(&db, id).await;
    assert_eq!(n.status, NotificationStatus::CompletedWithErrors);
    assert_final(&n);
    let again = record_outcomes(&db, id, lease, outcomes(true))
        .await
        .unwrap();
    assert_eq!((again.sent, again.failed), (0, 0), "recorded once");
    let sent = delivery::Entity::find().all(&db).await.unwrap();
    assert!(sent.iter().all(|d| d.locked_until.is_none()));
    assert_eq!(
        sent.iter()
            .filter(|d| d.status == DeliveryStatus::Sent)
            .count(),
        3
    );
}

async fn a_retry_waits_for_its_time(db: DatabaseConnection) {
    let id = planned(&db, 1).await;
    let lease = lease_in(60);
    let batch = claim_batch(&db, id, ALL, 10, lease).await.unwrap();
    let at = lease_in(30);
    let outcome = Outcome::Retry {
        error: "421 busy".into(),
        at,
    };
    record(&db, id, lease, vec![(batch[0].id, outcome)]).await;
    assert!(
        claim_batch(&db, id, ALL, 10, lease_in(60))
            .await
            .unwrap()
            .is_empty()
    );
    let wake = next_wakeup(&db, id, ALL, true).await.unwrap().unwrap();
    assert!((wake - at).num_milliseconds().abs() < 2, "{wake} vs {at}");
    assert_eq!(next_wakeup(&db, id, ALL, false).await.unwrap(), None);
    assert_eq!(row(&db, id).await.status, NotificationStatus::Sending);
}

async fn pausing_with_deliveries_in_flight_is_pausing_until_the_last_outcome(
    db: DatabaseConnection,
) {
    let id = planned(&db, 10).await;
    let lease = lease_in(60);
    let batch = claim_batch(&db, id, ALL, 4, lease).await.unwrap();
    store::notification::pause(&db, id).await.unwrap().publish();
    assert_eq!(row(&db, id).await.status, NotificationStatus::Pausing);
    assert_eq!(
        store::notification::status(&db, id).await.unwrap(),
        Some(NotificationStatus::Pausing)
    );
    record(&db, id, lease, batch.iter().map(sent).collect()).await;
    let n = row(&db, id).await;
    assert_eq!((n.status, n.sent), (NotificationStatus::Paused, 4));

    store::notification::resume(&db, id, SLICE)
        .await
        .unwrap()
        .publish();
    assert_eq!(row(&db, id).await.status, NotificationStatus::Sending);
    let sends: Vec<_> = jobs(&db)
        .await
        .into_iter()
        .filter(|j| j.kind == "send")
        .collect();
    assert_eq!(sends.len(), 2, "the plan's job and the resume's");
}

async fn cancelling_with_deliveries_in_flight_is_cancelling_until_the_last_outcome(
    db: DatabaseConnection,
) {
    let id = planned(&db, 10).await;
    let lease = lease_in(60);
    let batch = claim_batch(&db, id, ALL, 4, lease).await.unwrap();
    cancel(&db, id).await;
    let n = row(&db, id).await;
    assert_eq!((n.status, n.cancelled), (NotificationStatus::Cancelling, 6));
    assert!(n.completed_at.is_none());
    // Of the four in flight: two sent, one failed, one to retry (which is cancelled now).
    let outcomes = batch
        .iter()
        .enumerate()
        .map(|(i, c)| match i {
            0 | 1 => sent(c),
            2 => failed(c, "550"),
            _ => {
                let error = "421".into();
                (
                    c.id,
                    Outcome::Retry {
                        error,
                        at: Utc::now(),
                    },
                )
            }
        })
        .collect();
    record(&db, id, lease, outcomes).await;
    let n = row(&db, id).await;
    assert_eq!(n.status, NotificationStatus::Cancelled);
    assert_eq!((n.sent, n.failed, n.cancelled), (2, 1, 7));
    assert_final(&n);
    assert_eq!(
        count(&db, "delivery WHERE status IN ('pending', 'sending')").await,
        0
    );
}

async fn an_expired_claim_does_not_hold_a_pause_or_cancel_forever(db: DatabaseConnection) {
    let paused = planned(&db, 5).await;
    claim_batch(&db, paused, ALL, 2, lease_in(-1))
        .await
        .unwrap();
    store::notification::pause(&db, paused)
        .await
        .unwrap()
        .publish();
    // A dead worker's batch: its lease has run out, so it is pending again at once.
    assert_eq!(row(&db, paused).await.status, NotificationStatus::Paused);
    assert_eq!(count(&db, "delivery WHERE status = 'pending'").await, 5);

    let cancelled = planned(&db, 5).await;
    let lease = lease_in(60);
    claim_batch(&db, cancelled, ALL, 2, lease).await.unwrap();
    cancel(&db, cancelled).await;
    assert_eq!(
        row(&db, cancelled).await.status,
        NotificationStatus::Cancelling
    );
    // Its worker dies; once the lease runs out, the next look settles it.
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE delivery SET locked_until = $1 WHERE notification_id = $2 AND status = 'sending'",
        vec![lease_in(-1).into(), cancelled.into()],
    ))
    .await
    .unwrap();
    store::notification::settle_or_finish(&db, cancelled)
        .await
        .unwrap()
        .publish();
    let n = row(&db, cancelled).await;
    assert_eq!((n.status, n.cancelled), (NotificationStatus::Cancelled, 5));
    assert_final(&n);
}

async fn retrying_failures_reopens_the_notification(db: DatabaseConnection) {
    let id = planned(&db, 3).await;
    let lease = lease_in(60);
    let batch = claim_batch(&db, id, ALL, 10, lease).await.unwrap();
    let outcomes = batch.iter().map(|c| failed(c, "550")).collect();
    record(&db, id, lease, outcomes).await;
    assert_eq!(
        row(&db, id).await.status,
        NotificationStatus::CompletedWithErrors
    );
    let before = jobs(&db).await.len();

    let (retried, skipped_bounced, _) = retry(&db, id, false).await;
    assert_eq!((retried, skipped_bounced), (3, 0));
    let n = row(&db, id).await;
    assert_eq!((n.status, n.failed), (NotificationStatus::Sending, 0));
    assert!(n.completed_at.is_none());
    assert_eq!(
        jobs(&db).await.len(),
        before + 1,
        "a send job over the pending"
    );
    assert_eq!(
        count(&db, "delivery WHERE status = 'pending' AND attempts = 0").await,
        3
    );
    assert!(matches!(
        store::notification::retry_failed(&db, id, SLICE, false).await,
        Err(StoreError::NothingToRetry(_))
    ));
}

async fn transitions_the_state_machine_lacks_are_refused(db: DatabaseConnection) {
    let done = planned(&db, 0).await;
    for refused in [
        store::notification::pause(&db, done).await,
        store::notification::resume(&db, done, SLICE).await,
        store::notification::cancel(&db, done).await,
    ] {
        assert!(
            matches!(
                refused,
                Err(StoreError::Refused {
                    status: NotificationStatus::Completed,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    let queued = notification_for(&db, 2).await;
    assert!(matches!(
        store::notification::resume(&db, queued, SLICE).await,
        Err(StoreError::Refused { .. })
    ));
    cancel(&db, queued).await;
    assert_eq!(row(&db, queued).await.status, NotificationStatus::Cancelled);
    assert!(matches!(
        store::notification::retry_failed(&db, queued, SLICE, false).await,
        Err(StoreError::Refused { .. })
    ));
    // Cancelled before planning: the plan job does nothing.
    let (skipped, _) = store::notification::plan(&db, queued, SLICE).await.unwrap();
    assert_eq!(skipped, Planned::Skipped);
    assert!(matches!(
        store::notification::pause(&db, Uuid::now_v7()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn the_rate_limit_spaces_reservations(db: DatabaseConnection) {
    let id = planned(&db, 1).await;
    assert_second_batch_waits(async || {
        store::notification::reserve_rate(&db, id, 10, 100)
            .await
            .unwrap()
    })
    .await;
}

/// Two reservations of 10 sends at 100/s, one after the other: the first at once, the
/// second after the first's.
async fn assert_second_batch_waits(reserve: impl AsyncFn() -> Duration) {
    let started = std::time::Instant::now();
    let first = reserve().await;
    let second = reserve().await;
    let between = started.elapsed();
    assert_eq!(first, Duration::ZERO);
    // The first batch's 10 sends at 100/s take 100 ms from the first reservation, so the
    // second waits 100 ms less whatever time passed between the two (a busy machine can
    // take a while); it never waits longer.
    let tolerance = Duration::from_millis(2);
    assert!(
        second <= Duration::from_millis(100)
            && second + between + tolerance >= Duration::from_millis(100),
        "the second batch waits for the first's 10 sends at 100/s: {second:?}, \
         {between:?} apart"
    );
}

async fn an_unknown_status_is_an_error_not_a_default(db: DatabaseConnection) {
    let id = notification_for(&db, 1).await;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE notification SET status = 'DONE' WHERE id = $1",
        vec![id.into()],
    ))
    .await
    .unwrap();
    assert!(store::notification::status(&db, id).await.is_err());
    assert!(notification::Entity::find_by_id(id).one(&db).await.is_err());
}

fn lease(holder: &str, seconds: i64) -> Lease<'_> {
    Lease {
        holder,
        until: lease_in(seconds),
    }
}

async fn jobs_are_claimed_by_priority_and_leased(db: DatabaseConnection) {
    let send = JobPayload::Send {
        notification_id: Uuid::now_v7(),
        first_delivery: 1,
        last_delivery: 2,
    };
    let plan = JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    };
    store::job::enqueue(&db, &send, None).await.unwrap();
    store::job::enqueue(&db, &plan, None).await.unwrap();
    let later = store::job::enqueue(&db, &plan, Some(lease_in(3600)))
        .await
        .unwrap();
    let first = store::job::claim_next(&db, lease("a", 60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.payload, Ok(plan.clone()), "plan jobs first");
    assert_eq!(first.attempts, 1);
    let second = store::job::claim_next(&db, lease("b", 60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.payload, Ok(send));
    assert!(
        store::job::claim_next(&db, lease("c", 60))
            .await
            .unwrap()
            .is_none(),
        "not due"
    );

    assert!(
        store::job::extend(&db, first.id, lease("a", 120))
            .await
            .unwrap()
    );
    assert!(
        !store::job::extend(&db, first.id, lease("b", 120))
            .await
            .unwrap()
    );
    store::job::release(&db, first.id, "a", Utc::now())
        .await
        .unwrap();
    let again = store::job::claim_next(&db, lease("c", 60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.id, again.attempts),
        (first.id, 1),
        "a release is not an attempt"
    );
    store::job::fail(&db, again.id, "c", "boom", Some(lease_in(3600)))
        .await
        .unwrap();
    store::job::fail(&db, second.id, "b", "gave up", None)
        .await
        .unwrap();
    let rows = jobs(&db).await;
    let by_id = |id| rows.iter().find(|j| j.id == id).unwrap();
    assert_eq!(by_id(again.id).status, JobStatus::Pending);
    assert_eq!(by_id(second.id).status, JobStatus::Failed);
    assert_eq!(by_id(second.id).last_error.as_deref(), Some("gave up"));
    assert_eq!(by_id(later).status, JobStatus::Pending);

    // A dead worker's job is taken over when its lease runs out.
    let orphan = store::job::enqueue(&db, &plan, None).await.unwrap();
    let dead = store::job::claim_next(&db, lease("dead", -1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.id, orphan);
    let taken = store::job::claim_next(&db, lease("alive", 60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.id, taken.attempts), (orphan, 2));
    store::job::complete(&db, orphan, "dead").await.unwrap();
    assert!(
        jobs(&db).await.iter().any(|j| j.id == orphan),
        "only its holder completes it"
    );
    store::job::complete(&db, orphan, "alive").await.unwrap();
    assert!(jobs(&db).await.iter().all(|j| j.id != orphan));
}

async fn jobs_are_claimed_by_id_exactly_once(db: DatabaseConnection) {
    let plan = JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    };
    let id = store::job::enqueue(&db, &plan, None).await.unwrap();
    let ClaimById::Claimed(job) = store::job::claim_by_id(&db, id, lease("a", 60))
        .await
        .unwrap()
    else {
        panic!("the first claim wins");
    };
    assert_eq!(job.id, id);
    assert!(matches!(
        store::job::claim_by_id(&db, id, lease("b", 60))
            .await
            .unwrap(),
        ClaimById::Busy { .. }
    ));
    store::job::fail(&db, id, "a", "poison", None)
        .await
        .unwrap();
    assert!(matches!(
        store::job::claim_by_id(&db, id, lease("b", 60))
            .await
            .unwrap(),
        ClaimById::Failed
    ));
    assert!(matches!(
        store::job::claim_by_id(&db, Uuid::now_v7(), lease("b", 60))
            .await
            .unwrap(),
        ClaimById::Missing
    ));
    let pending = store::job::enqueue(&db, &plan, None).await.unwrap();
    assert!(
        store::job::fail_pending(&db, pending, "bad message")
            .await
            .unwrap()
    );
    assert!(
        !store::job::fail_pending(&db, pending, "again")
            .await
            .unwrap()
    );
}

async fn jobs_are_handed_over_and_orphans_requeued(db: DatabaseConnection) {
    let plan = JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    };
    let id = store::job::enqueue(&db, &plan, None).await.unwrap();
    store::job::claim_by_id(&db, id, lease("a", 60))
        .await
        .unwrap();
    assert_eq!(
        store::job::hand_over(&db, id, "b", Utc::now(), None, false)
            .await
            .unwrap(),
        None,
        "only the holder hands over"
    );
    let successor = store::job::hand_over(&db, id, "a", Utc::now(), Some("later"), true)
        .await
        .unwrap()
        .unwrap();
    let rows = jobs(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, successor);
    assert_eq!((rows[0].attempts, rows[0].status), (1, JobStatus::Pending));
    assert_eq!(rows[0].last_error.as_deref(), Some("later"));

    // Published, claimed, and abandoned long ago: requeued as a new, unpublished row.
    store::job::mark_published(&db, "nobody", &[successor])
        .await
        .unwrap();
    store::job::claim_by_id(&db, successor, lease("dead", -3600))
        .await
        .unwrap();
    let requeued = store::job::requeue_orphans(&db, lease_in(-60), 10)
        .await
        .unwrap();
    assert_eq!(requeued.len(), 1);
    let rows = jobs(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].published_at), (requeued[0], None));
}

async fn the_relay_claims_publishes_and_releases(db: DatabaseConnection) {
    let plan = JobPayload::Plan {
        notification_id: Uuid::now_v7(),
    };
    let a = store::job::enqueue(&db, &plan, None).await.unwrap();
    let b = store::job::enqueue(&db, &plan, None).await.unwrap();
    let claimed = store::job::claim_unpublished(&db, lease("relay", 60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [a, b]);
    assert!(
        store::job::claim_unpublished(&db, lease("other", 60), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased by the first relay"
    );
    store::job::mark_published(&db, "relay", &[a])
        .await
        .unwrap();
    store::job::release_unpublished(&db, "relay", &[b])
        .await
        .unwrap();
    let rows = jobs(&db).await;
    let by_id = |id| rows.iter().find(|j| j.id == id).unwrap();
    assert!(by_id(a).published_at.is_some() && by_id(a).locked_by.is_none());
    assert!(by_id(b).published_at.is_none() && by_id(b).locked_by.is_none());
    let next = store::job::claim_unpublished(&db, lease("other", 60), 10)
        .await
        .unwrap();
    assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), [b]);
}

async fn planning_records_suppressed_addresses_and_the_rest_completes_the_count(
    db: DatabaseConnection,
) {
    use techconf::suppression::{Reason, suppress};
    let id = notification_for(&db, 4).await;
    let conference = row(&db, id).await.conference_id.unwrap();
    // One for this conference (in another letter case), one for all conferences, one for
    // another conference only (which does not apply).
    let org = techconf::tenancy::default_organization();
    suppress(
        &db,
        org,
        "PERSON0@example.org",
        Some(conference),
        Reason::Unsubscribed,
    )
    .await
    .unwrap();
    suppress(&db, org, "person1@example.org", None, Reason::Bounced)
        .await
        .unwrap();
    let other = Uuid::now_v7();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at) \
         VALUES ($1, 'Other', '2027-01-01', 0, 'x', true, $2)",
        vec![other.into(), Utc::now().into()],
    ))
    .await
    .unwrap();
    suppress(
        &db,
        org,
        "person2@example.org",
        Some(other),
        Reason::Complained,
    )
    .await
    .unwrap();
    // Another organization's suppression for all its conferences does not apply here.
    let tenant = organization(&db, "Other tenant", None).await;
    suppress(&db, tenant, "person3@example.org", None, Reason::Bounced)
        .await
        .unwrap();
    run_plan(&db, id).await;
    let n = row(&db, id).await;
    assert_eq!(
        (n.total, n.suppressed, n.status),
        (4, 2, NotificationStatus::Sending)
    );
    assert_eq!(count(&db, "delivery WHERE status = 'suppressed'").await, 2);
    let batch = claim_batch(&db, id, ALL, 10, lease_in(60)).await.unwrap();
    assert_eq!(batch.len(), 2, "suppressed deliveries are never claimed");
    let lease = batch_lease(&db, id).await;
    record(&db, id, lease, batch.iter().map(sent).collect()).await;
    let n = row(&db, id).await;
    assert_eq!(
        n.status,
        NotificationStatus::Completed,
        "the last outcome completes it"
    );
    assert_final(&n);

    // Everybody suppressed: complete at once.
    for (email, reason) in [
        ("person0@example.org", Reason::Unsubscribed),
        ("person2@example.org", Reason::Bounced),
        ("person3@example.org", Reason::Bounced),
    ] {
        suppress(&db, org, email, None, reason).await.unwrap();
    }
    let all_suppressed = notification_for(&db, 0).await;
    let conference2 = row(&db, all_suppressed).await.conference_id.unwrap();
    support::insert_attendees(&db, conference2, &support::emails(3)).await;
    run_plan(&db, all_suppressed).await;
    let n = row(&db, all_suppressed).await;
    assert_eq!((n.total, n.suppressed), (3, 3));
    assert_eq!(n.status, NotificationStatus::Completed);
    assert_final(&n);
}

/// The lease the claimed deliveries of `id` carry.
async fn batch_lease(db: &DatabaseConnection, id: Uuid) -> chrono::DateTime<Utc> {
    delivery::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.notification_id == id && d.status == DeliveryStatus::Sending)
        .and_then(|d| d.locked_until)
        .unwrap()
}

async fn a_bounce_moves_a_sent_delivery_once(db: DatabaseConnection) {
    let id = planned(&db, 2).await;
    let lease = lease_in(60);
    let batch = claim_batch(&db, id, ALL, 10, lease).await.unwrap();
    // Not sent yet: a bounce moves nothing.
    let early = store::delivery::bounce(&db, batch[0].id, id, "550 gone")
        .await
        .unwrap();
    early.publish();
    assert_eq!(row(&db, id).await.bounced, 0);
    record(&db, id, lease, batch.iter().map(sent).collect()).await;
    for _ in 0..2 {
        store::delivery::bounce(&db, batch[0].id, id, "550 gone")
            .await
            .unwrap()
            .publish();
    }
    let n = row(&db, id).await;
    assert_eq!((n.sent, n.bounced), (2, 1), "counted once, and still sent");
    assert_final(&n);
    let bounced = delivery::Entity::find_by_id(batch[0].id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bounced.status, DeliveryStatus::Bounced);
    assert_eq!(bounced.last_error.as_deref(), Some("550 gone"));
}

/// A notification to a new conference of `organization`.
async fn notification_in(db: &DatabaseConnection, organization: Uuid) -> Uuid {
    let conference = conference_in(db, organization).await;
    notification_to(db, conference).await
}

fn send_job(notification_id: Uuid, first: i64) -> JobPayload {
    JobPayload::Send {
        notification_id,
        first_delivery: first,
        last_delivery: first + 9,
    }
}

async fn claimed(db: &DatabaseConnection, holder: &str) -> JobPayload {
    store::job::claim_next(db, lease(holder, 60))
        .await
        .unwrap()
        .expect("a job is due")
        .payload
        .unwrap()
}

async fn send_jobs_are_claimed_fairly_by_organization_then_notification(db: DatabaseConnection) {
    let a = organization(&db, "A", None).await;
    let b = organization(&db, "B", None).await;
    let big = notification_in(&db, a).await;
    let other = notification_in(&db, a).await;
    let small = notification_in(&db, b).await;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "DELETE FROM job",
    ))
    .await
    .unwrap();
    let at = |seconds_ago: i64| Some(Utc::now() - chrono::Duration::seconds(seconds_ago));
    // The big send's slices are the oldest; the small send and A's second come later.
    for (i, first) in [1, 11, 21].into_iter().enumerate() {
        store::job::enqueue(&db, &send_job(big, first), at(100 - i as i64))
            .await
            .unwrap();
    }
    store::job::enqueue(&db, &send_job(other, 1), at(50))
        .await
        .unwrap();
    store::job::enqueue(&db, &send_job(small, 1), at(10))
        .await
        .unwrap();
    let confirmation = JobPayload::Confirmation {
        attendee_id: Uuid::now_v7(),
    };
    store::job::enqueue(&db, &confirmation, at(1))
        .await
        .unwrap();

    assert_eq!(
        claimed(&db, "w1").await,
        confirmation,
        "confirmations before bulk"
    );
    assert_eq!(claimed(&db, "w2").await, send_job(big, 1), "the oldest");
    // Nothing runs of B, one job of A: B's send goes next, whatever is older.
    assert!(store::job::should_yield(&db, big).await.unwrap());
    assert_eq!(claimed(&db, "w3").await, send_job(small, 1), "B's turn");
    // One each now; within A, the notification with nothing running.
    assert!(store::job::should_yield(&db, big).await.unwrap());
    assert_eq!(
        claimed(&db, "w4").await,
        send_job(other, 1),
        "A's other send"
    );
    assert!(
        !store::job::should_yield(&db, big).await.unwrap(),
        "everyone waiting has a slot"
    );
    assert_eq!(claimed(&db, "w5").await, send_job(big, 11));
}

async fn the_organization_rate_limit_spaces_reservations_across_notifications(
    db: DatabaseConnection,
) {
    let org = organization(&db, "Limited", Some(100)).await;
    assert_second_batch_waits(async || {
        store::notification::reserve_organization_rate(&db, org, 10, 100)
            .await
            .unwrap()
    })
    .await;
}

/// Claims every due delivery of `id` and records `outcome(email)` for each.
async fn send_all(db: &DatabaseConnection, id: Uuid, outcome: impl Fn(&str) -> Outcome) {
    let lease = lease_in(60);
    let batch = claim_batch(db, id, ALL, 100, lease).await.unwrap();
    let outcomes = batch.iter().map(|c| (c.id, outcome(&c.email))).collect();
    record(db, id, lease, outcomes).await;
}

async fn retrying_skips_hard_bounces_unless_asked_and_never_the_unsubscribed(
    db: DatabaseConnection,
) {
    use techconf::suppression::{Reason, suppress};
    let id = planned(&db, 5).await;
    let refused = || Outcome::Failed {
        error: "550 no such user".into(),
    };
    send_all(&db, id, |email| {
        if email == "person0@example.org" {
            Outcome::Sent {
                message_id: "<0@test>".into(),
            }
        } else {
            refused()
        }
    })
    .await;
    // person0 bounced after sending; person1 failed and was suppressed for a bounce;
    // person2 failed and unsubscribed since; person3 and person4 simply failed.
    let sent = delivery::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.email == "person0@example.org")
        .unwrap();
    store::delivery::bounce(&db, sent.id, id, "550 gone")
        .await
        .unwrap()
        .publish();
    let org = techconf::tenancy::default_organization();
    suppress(&db, org, "person1@example.org", None, Reason::Bounced)
        .await
        .unwrap();
    suppress(&db, org, "person2@example.org", None, Reason::Unsubscribed)
        .await
        .unwrap();
    // Another organization's list does not apply: person3 is retried.
    let elsewhere = organization(&db, "Elsewhere", None).await;
    suppress(
        &db,
        elsewhere,
        "person3@example.org",
        None,
        Reason::Unsubscribed,
    )
    .await
    .unwrap();
    let n = row(&db, id).await;
    assert_eq!(
        (n.status, n.sent, n.failed, n.bounced),
        (NotificationStatus::CompletedWithErrors, 1, 4, 1)
    );

    assert_eq!(retry(&db, id, false).await, (2, 2, 1));
    let n = row(&db, id).await;
    assert_eq!((n.status, n.failed), (NotificationStatus::Sending, 2));
    assert_eq!(
        count(&db, "delivery WHERE status = 'pending'").await,
        2,
        "person3 and person4"
    );
    send_all(&db, id, |_| refused()).await;
    assert_eq!(
        row(&db, id).await.status,
        NotificationStatus::CompletedWithErrors
    );

    // Asked: the hard bounces too, the bounced delivery off `sent` and `bounced`; the
    // unsubscribed address still not.
    assert_eq!(retry(&db, id, true).await, (4, 0, 1));
    let n = row(&db, id).await;
    assert_eq!(
        (n.status, n.sent, n.failed, n.bounced),
        (NotificationStatus::Sending, 0, 1, 0)
    );
    assert_eq!(count(&db, "delivery WHERE status = 'pending'").await, 4);
    send_all(&db, id, |_| refused()).await;
    let n = row(&db, id).await;
    assert_eq!(n.failed, 5);
}

/// A conference with `n` attendees and a notification created with `campaign`'s scheduling,
/// audience and auto-pause.
async fn campaign_for(db: &DatabaseConnection, n: usize, campaign: NewNotification) -> Uuid {
    let id = notification_for(db, n).await;
    let conference = row(db, id).await.conference_id.unwrap();
    store::notification::create(
        db,
        NewNotification {
            conference_id: conference,
            subject: "Hi".into(),
            message: "Hello".into(),
            created_by: "test".into(),
            ..campaign
        },
    )
    .await
    .unwrap()
    .0
    .id
}

async fn a_scheduled_notification_waits_for_its_time_and_can_be_moved_or_cancelled(
    db: DatabaseConnection,
) {
    let later = (Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(3);
    let scheduled_later = async |attendees: usize| {
        let send_at = Some(later);
        campaign_for(
            &db,
            attendees,
            NewNotification {
                send_at,
                ..Default::default()
            },
        )
        .await
    };
    let id = scheduled_later(3).await;
    assert_eq!(row(&db, id).await.status, NotificationStatus::Scheduled);
    let plan_job = |jobs: Vec<job::Model>| {
        jobs.into_iter()
            .filter(|j| j.payload.contains(&id.to_string()))
            .collect::<Vec<_>>()
    };
    let scheduled = plan_job(jobs(&db).await);
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].run_at, later, "due at sendAt");
    // A plan job run early (claimed before a reschedule, say) leaves it scheduled.
    let (early, _) = store::notification::plan(&db, id, SLICE).await.unwrap();
    assert_eq!(early, Planned::NotYet { send_at: later });

    let sooner = Utc::now() - chrono::Duration::milliseconds(1);
    store::notification::reschedule(&db, id, sooner)
        .await
        .unwrap()
        .publish();
    let moved = plan_job(jobs(&db).await);
    assert_eq!(moved.len(), 1, "replaced, not added");
    assert!(moved[0].run_at <= Utc::now());
    let (planned, _) = store::notification::plan(&db, id, SLICE).await.unwrap();
    let Planned::Planned {
        total,
        status,
        delay,
    } = planned
    else {
        panic!("{planned:?}")
    };
    assert_eq!((total, status), (3, NotificationStatus::Sending));
    assert!(delay.is_some_and(|d| d >= chrono::Duration::zero()));
    assert!(matches!(
        store::notification::reschedule(&db, id, later).await,
        Err(StoreError::Refused { .. })
    ));

    let other = scheduled_later(0).await;
    assert!(matches!(
        store::notification::pause(&db, other).await,
        Err(StoreError::Refused { .. })
    ));
    cancel(&db, other).await;
    assert_eq!(row(&db, other).await.status, NotificationStatus::Cancelled);
    assert!(
        plan_job(jobs(&db).await)
            .iter()
            .all(|j| !j.payload.contains(&other.to_string()))
    );
    let (skipped, _) = store::notification::plan(&db, other, SLICE).await.unwrap();
    assert_eq!(skipped, Planned::Skipped);
}

async fn a_notification_pauses_itself_when_its_window_fails_and_resume_clears_it(
    db: DatabaseConnection,
) {
    let id = campaign_for(
        &db,
        30,
        NewNotification {
            auto_pause: Some(techconf::domain::AutoPause {
                failure_ratio: 0.2,
                minimum_attempts: 10,
            }),
            ..Default::default()
        },
    )
    .await;
    run_plan(&db, id).await;
    let send_ten = async |failures: usize| {
        let lease = lease_in(60);
        let batch = claim_batch(&db, id, ALL, 10, lease).await.unwrap();
        let outcomes = batch
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < failures {
                    failed(c, "550 no")
                } else {
                    sent(c)
                }
            })
            .collect();
        record(&db, id, lease, outcomes).await;
        row(&db, id).await
    };
    let n = send_ten(2).await;
    assert_eq!(
        n.status,
        NotificationStatus::Sending,
        "2 of 10 is not more than 20%"
    );
    let n = send_ten(3).await;
    assert_eq!(n.status, NotificationStatus::Paused, "3 of the last 10");
    assert!(n.paused_reason.unwrap().contains("3 of the last 10"));
    store::notification::resume(&db, id, SLICE)
        .await
        .unwrap()
        .publish();
    let n = row(&db, id).await;
    assert_eq!(n.status, NotificationStatus::Sending);
    assert_eq!((n.paused_reason, n.auto_pause_window), (None, None));
    let n = send_ten(0).await;
    assert_eq!(n.status, NotificationStatus::CompletedWithErrors);
    assert_final(&n);
}
