//! Multiplexed progress subscriptions, as Hasura multiplexes live queries: subscribers of the
//! same `notificationProgress` operation (the same query text, operation name and variables)
//! share ONE execution. Its events are executed once, serialized to JSON once, and the same
//! bytes go to every subscriber, each framed with its own subscription id by `ws`.
//!
//! A subscriber joins only with a connection whose token may read progress (the resolver's
//! own check, `READERS`); anything else, and every other operation, is executed per
//! subscriber by async-graphql as before. The shared execution runs with the first
//! subscriber's authentication (the only thing the resolver checks) and stops when its last
//! subscriber leaves. It is paced like one progress stream (`Pace`). Each subscriber then
//! takes the newest event at its own pace, from its own start, so that thousands of them are
//! spread over the interval instead of all written at once; they count towards their own
//! budget (`SUBSCRIPTION_EVENT_BUDGET` frames a second), because each one costs a frame: past
//! `budget × interval` subscribers, events come less often, always the newest state. Every
//! subscriber gets the final state, then the end of the stream.
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{Data, Request, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::subscription::Live;
use super::{Pace, READERS, TechConfSchema};
use crate::auth::Authentication;

/// The root field whose subscriptions are multiplexed.
const PROGRESS_FIELD: &str = "notificationProgress";

/// Executes a subscription with the given session data (the schema; a stand-in in tests).
type Execute = Arc<dyn Fn(Request, Arc<Data>) -> BoxStream<'static, Response> + Send + Sync>;

/// Shared executions by operation; cheap to clone.
#[derive(Clone)]
pub struct Multiplexer {
    execute: Execute,
    pace: Pace,
    groups: Arc<Mutex<HashMap<Key, Weak<Group>>>>,
}

/// The query text, the operation name and the variables as JSON.
/// The request, and the scope it runs in: subscribers of different organizations never
/// share an execution (each gets `NOT_FOUND` for ids outside its own).
type Key = (String, Option<String>, String, crate::tenancy::Scope);

/// What the shared execution has produced so far.
#[derive(Clone, Debug, Default)]
struct Latest {
    /// Counts the payloads; 0 before the first.
    seq: u64,
    /// The newest event, a serialized GraphQL response (`{"data": …}`).
    payload: Option<Arc<str>>,
    /// No event follows `payload`.
    done: bool,
}

/// One shared execution; it runs while a subscriber holds it.
struct Group {
    latest: watch::Receiver<Latest>,
    /// Turns true once, when the stream ends. Subscribers sleeping out their interval wait
    /// on this, not on `latest`: 10,000 of them woken by every event only to sleep again
    /// cost more CPU than sending.
    ended: watch::Receiver<bool>,
}

/// One subscriber of a shared execution.
pub struct Subscriber {
    /// Keeps the shared execution running.
    _group: Arc<Group>,
    latest: watch::Receiver<Latest>,
    ended: watch::Receiver<bool>,
    seen: u64,
    pace: Pace,
    /// When this subscriber joined: its sending slots are `joined + k × interval`.
    joined: Instant,
    /// The slot of the last event sent; the next one goes at the following slot.
    last_sent: Option<Instant>,
    _live: Live,
}

impl Multiplexer {
    pub fn new(schema: TechConfSchema, pace: Pace) -> Self {
        Self::with_executor(
            Arc::new(move |request, data| schema.execute_stream_with_session_data(request, data)),
            pace,
        )
    }

    fn with_executor(execute: Execute, pace: Pace) -> Self {
        Self {
            execute,
            pace,
            groups: Arc::default(),
        }
    }

    /// Joins (or starts) the shared execution of `request` for a connection authenticated as
    /// `auth`; `None` when the request is not multiplexed and must be executed on its own.
    pub fn join(&self, request: Request, auth: &Authentication) -> Option<Subscriber> {
        if auth.require(READERS).is_err() || !is_progress_subscription(&request) {
            return None;
        }
        let key: Key = (
            request.query.clone(),
            request.operation_name.clone(),
            serde_json::to_string(&request.variables).ok()?,
            crate::tenancy::Scope::of(auth),
        );
        let mut groups = self.groups.lock().ok()?;
        let group = match groups.get(&key).and_then(Weak::upgrade) {
            Some(group) => group,
            None => {
                let group = self.start(request, auth.clone(), key.clone());
                groups.insert(key, Arc::downgrade(&group));
                group
            }
        };
        Some(Subscriber {
            latest: group.latest.clone(),
            ended: group.ended.clone(),
            _group: group,
            seen: 0,
            pace: self.pace.clone(),
            joined: Instant::now(),
            last_sent: None,
            _live: self.pace.join(),
        })
    }

    /// Spawns the shared execution; it ends with its stream or when every subscriber left.
    fn start(&self, request: Request, auth: Authentication, key: Key) -> Arc<Group> {
        let (sender, latest) = watch::channel(Latest::default());
        let (end, ended) = watch::channel(false);
        let group = Arc::new(Group { latest, ended });
        let me = Arc::downgrade(&group);
        let mut data = Data::default();
        data.insert(auth);
        let mut events = (self.execute)(request, Arc::new(data));
        let groups = self.groups.clone();
        tokio::spawn(async move {
            let mut seq = 0;
            loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(response) => match serde_json::to_string(&response) {
                            Ok(json) => {
                                seq += 1;
                                sender.send_modify(|latest| {
                                    latest.seq = seq;
                                    latest.payload = Some(json.into());
                                });
                            }
                            Err(err) => tracing::error!(error = %err, "cannot serialize a progress event"),
                        },
                        None => {
                            sender.send_modify(|latest| latest.done = true);
                            end.send_replace(true);
                            break;
                        }
                    },
                    () = sender.closed() => break,
                }
            }
            // Later subscribers start afresh (and get the final state at once if it is final).
            if let Ok(mut groups) = groups.lock()
                && groups.get(&key).is_some_and(|group| group.ptr_eq(&me))
            {
                groups.remove(&key);
            }
        });
        group
    }
}

impl Subscriber {
    /// The next event to send: the newest one not sent yet; `None` once the stream has ended
    /// (after its last event).
    pub async fn next(&mut self) -> Option<Arc<str>> {
        // Sleep out this subscriber's interval first; only the end cuts it short.
        if let Some(last) = self.last_sent {
            let deadline = last + self.pace.interval();
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                _ = self.ended.wait_for(|ended| *ended) => {}
            }
        }
        loop {
            {
                let latest = self.latest.borrow_and_update();
                if latest.seq > self.seen
                    && let Some(payload) = &latest.payload
                {
                    self.seen = latest.seq;
                    let payload = payload.clone();
                    drop(latest);
                    self.last_sent = Some(self.slot_of(Instant::now()));
                    return Some(payload);
                }
                if latest.done {
                    return None;
                }
            }
            if self.latest.changed().await.is_err() {
                // The execution stopped without an end (it runs while a subscriber holds it).
                return None;
            }
        }
    }

    /// The start of this subscriber's slot that holds `now`. Counting the interval from the
    /// slot rather than from the send keeps subscribers spread over the interval by when they
    /// joined: after a quiet spell every one of them sends the next event at once, and from
    /// slots they return to their own phase instead of all sending together from then on.
    fn slot_of(&self, now: Instant) -> Instant {
        let interval = self.pace.interval().as_nanos().max(1);
        let since = now.saturating_duration_since(self.joined).as_nanos();
        let start = u64::try_from(since - since % interval).unwrap_or(u64::MAX);
        self.joined + Duration::from_nanos(start)
    }
}

/// A subscription operation whose only root field is `notificationProgress`.
fn is_progress_subscription(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let operation = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => {
            match operations.get(name.as_str()) {
                Some(operation) => operation,
                None => return false,
            }
        }
        // One named operation, run without naming it.
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            match operations.values().next() {
                Some(operation) => operation,
                None => return false,
            }
        }
        (DocumentOperations::Multiple(_), None) => return false,
    };
    let operation = &operation.node;
    operation.ty == OperationType::Subscription
        && operation.directives.is_empty()
        && matches!(
            operation.selection_set.node.items.as_slice(),
            [item] if matches!(&item.node, Selection::Field(field)
                if field.node.name.node == PROGRESS_FIELD)
        )
}

/// The authentication a connection's `connection_init` produced.
pub fn authentication_of(data: &Data) -> Option<&Authentication> {
    data.get(&TypeId::of::<Authentication>())
        .and_then(|auth| auth.downcast_ref::<Authentication>())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_graphql::{Name, Value, Variables};
    use futures::channel::mpsc;

    use super::*;
    use crate::auth::Principal;
    use crate::domain::Role;

    const PROGRESS: &str = "subscription($id: ID!) { notificationProgress(id: $id) { sent } }";

    fn request(query: &str) -> Request {
        Request::new(query)
    }

    fn progress(id: &str) -> Request {
        let mut variables = Variables::default();
        variables.insert(Name::new("id"), Value::from(id));
        Request::new(PROGRESS).variables(variables)
    }

    fn reader() -> Authentication {
        Authentication::Authenticated(Principal {
            token_id: None,
            name: "ops".into(),
            role: Role::Integrator,
            organization_id: Some(crate::tenancy::default_organization()),
        })
    }

    fn event(sent: i32) -> Response {
        let mut data = async_graphql::indexmap::IndexMap::new();
        data.insert(Name::new("sent"), Value::from(sent));
        Response::new(Value::Object(data))
    }

    /// A stand-in executor: counts executions; each one's events come from a channel the
    /// test holds (`feeds`), and it notes when an execution's stream is dropped.
    struct Fake {
        executions: Arc<AtomicUsize>,
        feeds: Arc<Mutex<Vec<mpsc::UnboundedSender<Response>>>>,
        multiplexer: Multiplexer,
    }

    fn fake() -> Fake {
        let executions = Arc::new(AtomicUsize::new(0));
        let feeds: Arc<Mutex<Vec<mpsc::UnboundedSender<Response>>>> = Arc::default();
        let (count, senders) = (executions.clone(), feeds.clone());
        let execute: Execute = Arc::new(move |_request, _data| {
            count.fetch_add(1, Ordering::SeqCst);
            let (sender, receiver) = mpsc::unbounded();
            senders.lock().unwrap().push(sender);
            receiver.boxed()
        });
        let pace = Pace::new(Duration::from_millis(200), 5000);
        Fake {
            executions,
            feeds,
            multiplexer: Multiplexer::with_executor(execute, pace),
        }
    }

    impl Fake {
        fn feed(&self, execution: usize) -> mpsc::UnboundedSender<Response> {
            self.feeds.lock().unwrap()[execution].clone()
        }
    }

    /// After a quiet spell a subscriber sends the next event at once, then goes back to its
    /// own slots (counted from when it joined), so subscribers that joined at different
    /// moments do not stay in step after sending together.
    #[tokio::test(start_paused = true)]
    async fn a_subscriber_keeps_the_phase_it_joined_with() {
        let fake = fake();
        let interval = Duration::from_millis(200);
        let mut early = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        tokio::time::advance(Duration::from_millis(50)).await;
        let mut late = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        let joined = Instant::now() - Duration::from_millis(50);
        let feed = fake.feed(0);
        // A quiet spell of several intervals, then an event: both send it at once.
        tokio::time::advance(Duration::from_millis(1_010)).await;
        feed.unbounded_send(event(1)).unwrap();
        early.next().await.unwrap();
        late.next().await.unwrap();
        assert_eq!(Instant::now(), joined + Duration::from_millis(1_060));
        // The next event is there at once; each subscriber sends it at its next slot.
        feed.unbounded_send(event(2)).unwrap();
        early.next().await.unwrap();
        assert_eq!(
            Instant::now(),
            joined + 6 * interval,
            "early's slot: 1,200 ms"
        );
        late.next().await.unwrap();
        assert_eq!(
            Instant::now(),
            joined + Duration::from_millis(50) + 6 * interval,
            "late's slot: 1,250 ms, not with early"
        );
    }

    #[tokio::test]
    async fn subscribers_of_one_operation_share_one_execution_and_its_bytes() {
        let fake = fake();
        let mut a = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        let mut b = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        let mut other = fake.multiplexer.join(progress("n2"), &reader()).unwrap();
        assert_eq!(
            fake.executions.load(Ordering::SeqCst),
            2,
            "one execution per distinct variables"
        );
        let feed = fake.feed(0);
        feed.unbounded_send(event(1)).unwrap();
        let (first_a, first_b) = (a.next().await.unwrap(), b.next().await.unwrap());
        assert!(Arc::ptr_eq(&first_a, &first_b), "serialized once, shared");
        assert_eq!(&*first_a, r#"{"data":{"sent":1}}"#);
        // A subscriber joining late starts from the newest event.
        let mut late = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        assert_eq!(fake.executions.load(Ordering::SeqCst), 2);
        assert!(Arc::ptr_eq(&late.next().await.unwrap(), &first_a));
        // The end: every subscriber gets the final event, then the end of the stream.
        feed.unbounded_send(event(2)).unwrap();
        feed.unbounded_send(event(3)).unwrap();
        drop(feed);
        fake.feeds.lock().unwrap().remove(0);
        for subscriber in [&mut a, &mut b, &mut late] {
            let mut events = Vec::new();
            while let Some(payload) = subscriber.next().await {
                events.push(payload);
            }
            assert_eq!(
                events.last().map(|e| &**e),
                Some(r#"{"data":{"sent":3}}"#),
                "ends with the final state"
            );
        }
        // The other execution is untouched and still running.
        fake.feed(0).unbounded_send(event(7)).unwrap();
        assert_eq!(&*other.next().await.unwrap(), r#"{"data":{"sent":7}}"#);
    }

    #[tokio::test]
    async fn the_execution_stops_with_its_last_subscriber() {
        let fake = fake();
        let a = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        let b = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        let feed = fake.feed(0);
        drop(a);
        feed.unbounded_send(event(1)).unwrap();
        drop(b);
        // The execution's task drops its stream: the feed closes.
        tokio::time::timeout(Duration::from_secs(5), async {
            while !feed.is_closed() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the execution stops");
        let _again = fake.multiplexer.join(progress("n1"), &reader()).unwrap();
        assert_eq!(
            fake.executions.load(Ordering::SeqCst),
            2,
            "a new subscriber starts afresh"
        );
    }

    #[tokio::test]
    async fn only_readers_and_progress_subscriptions_are_multiplexed() {
        let fake = fake();
        for auth in [Authentication::Anonymous, Authentication::Invalid] {
            assert!(fake.multiplexer.join(progress("n1"), &auth).is_none());
        }
        let list = request("subscription { notificationsChanged { id } }");
        assert!(fake.multiplexer.join(list, &reader()).is_none());
        assert_eq!(fake.executions.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn only_progress_subscriptions_are_multiplexed() {
        let progress = "subscription { notificationProgress(id: \"x\") { sent } }";
        assert!(is_progress_subscription(&request(progress)));
        assert!(is_progress_subscription(&request(
            "subscription P($id: ID!) { p: notificationProgress(id: $id) { sent status } }"
        )));
        assert!(!is_progress_subscription(&request(
            "subscription { notificationsChanged { id } }"
        )));
        assert!(!is_progress_subscription(&request(
            "query { notificationProgress(id: \"x\") { sent } }"
        )));
        assert!(!is_progress_subscription(&request("subscription {")));
        let two = format!("{progress} subscription Other {{ notificationsChanged {{ id }} }}");
        assert!(!is_progress_subscription(&request(&two)));
        let named = "subscription A { notificationProgress(id: \"x\") { sent } } \
                     subscription B { notificationsChanged { id } }";
        assert!(is_progress_subscription(
            &request(named).operation_name("A")
        ));
        assert!(!is_progress_subscription(
            &request(named).operation_name("B")
        ));
    }
}
