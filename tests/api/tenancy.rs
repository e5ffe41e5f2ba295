//! Organizations are isolated tenants: the isolation matrix.
//!
//! Two organizations, A and B, each with a conference, attendees, a sent notification and
//! suppressions. Every query, mutation and subscription field of the committed
//! `schema.graphql` is tried with A's tokens (admin, integrator) on B's ids, over HTTP and
//! over WebSocket: an id from the other organization is `NOT_FOUND` (a role that may not
//! use the field at all is `FORBIDDEN` with A's own ids too, so the answer says nothing
//! about B), and a list never shows B's rows. The fields are read from the schema file, so
//! a new field fails this test until it has a case here.
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use techconf::domain::Role;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::{
    Backend, TestApp, WebSocket, assert_no_errors, error_code, insert_attendees, on_both,
    open_websocket, spawn_multi_tenant_app,
};

on_both!(
    every_field_stays_inside_its_organization,
    list_subscriptions_see_only_their_organization,
    support_lookup_finds_the_deliveries_of_an_address_in_the_organization,
    a_draft_on_another_organizations_conference_is_not_found,
);

/// The address both organizations have an attendee with: the same person, two tenants.
const SHARED: &str = "shared@example.org";

/// One organization's rows, by id.
#[derive(Clone, Debug)]
struct Org {
    admin: String,
    integrator: String,
    conference: String,
    attendee: String,
    notification: String,
    /// A draft of its admin, on its conference.
    draft: String,
    /// An address only this organization has (attendee, delivery and suppression).
    only_email: String,
}

impl Org {
    /// Strings that must never appear in another organization's answers.
    fn markers(&self) -> Vec<String> {
        vec![
            self.conference.clone(),
            self.attendee.clone(),
            self.notification.clone(),
            self.draft.clone(),
            self.only_email.clone(),
        ]
    }

    /// A new notification by its admin to its conference: its id.
    async fn notify_again(&self, app: &TestApp) -> String {
        app.notify_as(&self.admin, &self.conference, "Again", "Hello")
            .await
    }
}

/// An organization with a conference of three attendees (one at the shared address), a
/// notification sent to them, and suppressions for its own address.
async fn organization(app: &TestApp, name: &str) -> Org {
    let (id, admin, conference) = app.organization_with_conference(name).await;
    let integrator = app.token_in(Some(id), Role::Integrator).await;
    let only_email = format!("{}-only@example.org", name.to_lowercase());
    let attendees = insert_attendees(
        &app.db,
        &conference,
        &[
            SHARED.to_owned(),
            only_email.clone(),
            format!("{}-other@example.org", name.to_lowercase()),
        ],
    )
    .await;
    let notification = app.notify_as(&admin, &conference, "Hi", "Hello").await;
    let conference_id: Uuid = conference.parse().unwrap();
    for scope in [Some(conference_id), None] {
        techconf::suppression::suppress(
            &app.db,
            id,
            &only_email,
            scope,
            techconf::suppression::Reason::Unsubscribed,
        )
        .await
        .unwrap();
    }
    let draft = save_draft(app, &admin, &conference).await;
    Org {
        admin,
        integrator,
        conference,
        attendee: attendees[0].to_string(),
        notification,
        draft,
        only_email,
    }
}

/// A draft saved by `admin` on `conference`: its id.
async fn save_draft(app: &TestApp, admin: &str, conference: &str) -> String {
    let answer = app
        .graphql(
            Some(admin),
            "mutation($c: ID!) { saveNotificationDraft(input: {conferenceId: $c, name: \"Draft\", subject: \"Draft subject\", message: \"Draft text\"}) { id } }",
            json!({"c": conference}),
        )
        .await;
    assert_no_errors(&answer);
    answer["data"]["saveNotificationDraft"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Two organizations whose notifications have been planned and sent.
async fn two_organizations(app: &TestApp) -> (Org, Org) {
    let a = organization(app, "Alpha").await;
    let b = organization(app, "Beta").await;
    app.run_jobs_until_finished(&a.notification).await;
    app.run_jobs_until_finished(&b.notification).await;
    (a, b)
}

/// The fields of `type NAME { ... }` in the committed schema.
fn schema_fields(type_name: &str) -> Vec<String> {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    let mut lines = sdl
        .lines()
        .skip_while(|l| *l != format!("type {type_name} {{"));
    assert!(
        lines.next().is_some(),
        "schema.graphql has type {type_name}"
    );
    let mut fields = Vec::new();
    let mut in_description = false;
    for line in lines.take_while(|l| *l != "}") {
        let text = line.trim();
        if text.starts_with("\"\"\"") {
            if !(text.len() > 3 && text.ends_with("\"\"\"")) {
                in_description = !in_description;
            }
            continue;
        }
        if in_description || !line.starts_with('\t') || line.starts_with("\t\t") {
            continue;
        }
        let name: String = text
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && text[name.len()..].starts_with(['(', ':']) {
            fields.push(name);
        }
    }
    assert!(!fields.is_empty(), "no fields read for {type_name}");
    fields
}

/// What the other organization's ids must come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// `NOT_FOUND` (or `FORBIDDEN` when the role may not use the field with its own ids).
    NotFound,
    /// An answer without errors that shows none of the other organization's rows.
    Nothing,
    /// Registration is public: it works for any conference, with any token or none.
    Public,
}

struct Probe {
    query: &'static str,
    variables: Value,
    expect: Expect,
}

fn probe(query: &'static str, variables: Value, expect: Expect) -> Probe {
    Probe {
        query,
        variables,
        expect,
    }
}

/// The probes of one field, aimed at `target`'s ids (`own` supplies ids of the caller's
/// organization where a request needs both). `None`: the field has no case yet.
fn probes(field: &str, target: &Org, own: &Org, unique: &str) -> Option<Vec<Probe>> {
    use Expect::*;
    let (c, a, n) = (&target.conference, &target.attendee, &target.notification);
    let d = &target.draft;
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let registration = json!({"firstName": "Ada", "lastName": "Lovelace",
        "email": format!("{unique}@example.org"), "jobPosition": "Engineer",
        "company": "Engines", "city": "London", "state": "LDN"});
    let conference_input = json!({"name": "Renamed", "startsOn": "2027-05-12", "price": 1.0, "currency": "EUR",
        "address": "2 Main Street"});
    Some(match field {
        // Query
        "conferences" => vec![probe(
            "{ conferences(first: 100) { nodes { id name } } }",
            json!({}),
            Nothing,
        )],
        "conference" => vec![probe(
            "query($id: ID!) { conference(id: $id) { id name } }",
            json!({"id": c}),
            NotFound,
        )],
        "attendees" => vec![probe(
            "query($c: ID!) { attendees(conferenceId: $c) { nodes { id email } } }",
            json!({"c": c}),
            NotFound,
        )],
        "notifications" => vec![
            probe(
                "query($c: ID) { notifications(conferenceId: $c) { nodes { id subject } } }",
                json!({"c": c}),
                NotFound,
            ),
            probe(
                "{ notifications(first: 100) { nodes { id conference { id } } } }",
                json!({}),
                Nothing,
            ),
        ],
        "previewNotification" => vec![
            probe(
                "query($c: ID!, $a: ID) { previewNotification(conferenceId: $c, attendeeId: $a, subject: \"s\", message: \"m\") { subject } }",
                json!({"c": c, "a": null}),
                NotFound,
            ),
            probe(
                "query($c: ID!, $a: ID) { previewNotification(conferenceId: $c, attendeeId: $a, subject: \"s\", message: \"{{ email }}\") { body } }",
                json!({"c": own.conference, "a": a}),
                NotFound,
            ),
        ],
        "notification" => vec![
            probe(
                "query($id: ID!) { notification(id: $id) { id deliveries { nodes { email } } } }",
                json!({"id": n}),
                NotFound,
            ),
            probe(
                "query($id: ID!, $s: String) { notification(id: $id) { id deliveries(search: $s) { totalCount nodes { email } } } }",
                json!({"id": n, "s": SHARED}),
                NotFound,
            ),
        ],
        "audiencePreview" => vec![
            probe(
                "query($c: ID!) { audiencePreview(conferenceId: $c) { count attendees { nodes { id email } } } }",
                json!({"c": c}),
                NotFound,
            ),
            probe(
                "query($c: ID!, $e: String!) { audiencePreview(conferenceId: $c, audience: {company: [$e]}) { count } }",
                json!({"c": c, "e": "Engines"}),
                NotFound,
            ),
        ],
        "notificationDrafts" => vec![probe(
            "query($c: ID!) { notificationDrafts(conferenceId: $c) { id subject } }",
            json!({"c": c}),
            NotFound,
        )],
        "notificationDraft" => vec![probe(
            "query($id: ID!) { notificationDraft(id: $id) { id subject } }",
            json!({"id": d}),
            NotFound,
        )],
        "suppressions" => vec![
            probe(
                "query($c: ID) { suppressions(conferenceId: $c) { nodes { email } } }",
                json!({"c": c}),
                NotFound,
            ),
            probe(
                "{ suppressions(first: 100) { nodes { email conferenceId } } }",
                json!({}),
                Nothing,
            ),
        ],
        "deliveriesByEmail" => vec![
            probe(
                "query($e: String!) { deliveriesByEmail(email: $e) { nodes { email notificationId notification { id } } } }",
                json!({"e": SHARED}),
                Nothing,
            ),
            probe(
                "query($e: String!) { deliveriesByEmail(email: $e) { totalCount nodes { email notificationId } } }",
                json!({"e": target.only_email.to_uppercase()}),
                Nothing,
            ),
        ],
        "viewer" => vec![probe("{ viewer { name role } }", json!({}), Nothing)],
        // Mutation
        "createConference" => vec![probe(
            "mutation($input: CreateConferenceInput!) { createConference(input: $input) { id name } }",
            json!({"input": conference_input}),
            Nothing,
        )],
        "updateConference" => vec![probe(
            "mutation($id: ID!, $input: UpdateConferenceInput!) { updateConference(id: $id, input: $input) { id } }",
            json!({"id": c, "input": conference_input}),
            NotFound,
        )],
        "setConferenceActive" => vec![probe(
            "mutation($id: ID!) { setConferenceActive(id: $id, active: false) { id } }",
            json!({"id": c}),
            NotFound,
        )],
        "registerAttendee" => vec![probe(
            "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }",
            json!({"input": {"conferenceId": c, "firstName": "Ada", "lastName": "Lovelace",
                "email": format!("{unique}@example.org"), "jobPosition": "Engineer",
                "company": "Engines", "city": "London", "state": "LDN"}}),
            Public,
        )],
        "updateAttendee" => vec![probe(
            "mutation($id: ID!, $input: UpdateAttendeeInput!) { updateAttendee(id: $id, input: $input) { id } }",
            json!({"id": a, "input": registration}),
            NotFound,
        )],
        "removeAttendee" => vec![probe(
            "mutation($id: ID!) { removeAttendee(id: $id) }",
            json!({"id": a}),
            NotFound,
        )],
        "importAttendees" => vec![probe(
            "mutation($c: ID!, $csv: String!) { importAttendees(conferenceId: $c, csv: $csv, dryRun: true) { rows } }",
            json!({"c": c, "csv": "first_name,last_name,email,job_position,company,city,state\nA,B,x@example.org,E,C,L,S\n"}),
            NotFound,
        )],
        "createNotification" => vec![probe(
            "mutation($c: ID!) { createNotification(input: {conferenceId: $c, subject: \"s\", message: \"m\"}) { id } }",
            json!({"c": c}),
            NotFound,
        )],
        "pauseNotification" => vec![probe(
            "mutation($id: ID!) { pauseNotification(id: $id) { id } }",
            json!({"id": n}),
            NotFound,
        )],
        "resumeNotification" => vec![probe(
            "mutation($id: ID!) { resumeNotification(id: $id) { id } }",
            json!({"id": n}),
            NotFound,
        )],
        "cancelNotification" => vec![probe(
            "mutation($id: ID!) { cancelNotification(id: $id) { id } }",
            json!({"id": n}),
            NotFound,
        )],
        "retryFailedDeliveries" => vec![probe(
            "mutation($id: ID!) { retryFailedDeliveries(id: $id, includeBounced: true) { retried notification { id } } }",
            json!({"id": n}),
            NotFound,
        )],
        "rescheduleNotification" => vec![probe(
            "mutation($id: ID!, $at: DateTime!) { rescheduleNotification(id: $id, sendAt: $at) { id } }",
            json!({"id": n, "at": later}),
            NotFound,
        )],
        "sendTestNotification" => vec![
            probe(
                "mutation($c: ID!) { sendTestNotification(input: {conferenceId: $c, subject: \"s\", message: \"m\", to: [\"qa@example.org\"]}) { subject } }",
                json!({"c": c}),
                NotFound,
            ),
            probe(
                "mutation($c: ID!, $a: ID) { sendTestNotification(input: {conferenceId: $c, attendeeId: $a, subject: \"s\", message: \"{{ email }}\", to: [\"qa@example.org\"]}) { subject } }",
                json!({"c": own.conference, "a": a}),
                NotFound,
            ),
        ],
        "saveNotificationDraft" => vec![
            probe(
                "mutation($c: ID!) { saveNotificationDraft(input: {conferenceId: $c, subject: \"s\", message: \"m\"}) { id } }",
                json!({"c": c}),
                NotFound,
            ),
            probe(
                "mutation($id: ID, $c: ID!) { saveNotificationDraft(input: {id: $id, conferenceId: $c, subject: \"s\", message: \"m\"}) { id } }",
                json!({"id": d, "c": c}),
                NotFound,
            ),
        ],
        "deleteNotificationDraft" => vec![probe(
            "mutation($id: ID!) { deleteNotificationDraft(id: $id) }",
            json!({"id": d}),
            NotFound,
        )],
        "removeSuppression" => vec![
            probe(
                "mutation($e: String!, $c: ID) { removeSuppression(email: $e, conferenceId: $c) }",
                json!({"e": target.only_email, "c": c}),
                NotFound,
            ),
            probe(
                "mutation($e: String!, $c: ID) { removeSuppression(email: $e, conferenceId: $c) }",
                json!({"e": target.only_email, "c": null}),
                NotFound,
            ),
        ],
        // Subscription
        "notificationProgress" => vec![probe(
            "subscription($id: ID!) { notificationProgress(id: $id) { status } }",
            json!({"id": n}),
            NotFound,
        )],
        "notificationsChanged" => vec![probe(
            "subscription($c: ID) { notificationsChanged(conferenceId: $c) { id } }",
            json!({"c": c}),
            NotFound,
        )],
        "attendeeRegistered" => vec![probe(
            "subscription($c: ID!) { attendeeRegistered(conferenceId: $c) { id } }",
            json!({"c": c}),
            NotFound,
        )],
        _ => return None,
    })
}

/// How a request reaches the API.
#[derive(Clone, Copy, Debug)]
enum Transport {
    Http,
    WebSocket,
}

/// Runs a request and answers `{"data": …}` or `{"errors": […]}`.
async fn run(app: &TestApp, transport: Transport, token: &str, probe: &Probe) -> Value {
    match transport {
        Transport::Http => {
            app.graphql(Some(token), probe.query, probe.variables.clone())
                .await
        }
        Transport::WebSocket => over_websocket(app, token, probe).await,
    }
}

/// A `graphql-transport-ws` connection with `token`, with the operation `payload` started
/// on it as "1".
async fn subscribed(app: &TestApp, token: &str, payload: Value) -> WebSocket {
    let mut socket = open_websocket(&app.address, "graphql-transport-ws").await;
    let send = |v: Value| Message::text(v.to_string());
    socket
        .send(send(json!({"type": "connection_init",
                          "payload": {"authorization": format!("Bearer {token}")}})))
        .await
        .unwrap();
    socket
        .send(send(
            json!({"id": "1", "type": "subscribe", "payload": payload}),
        ))
        .await
        .unwrap();
    socket
}

/// One operation on its own `graphql-transport-ws` connection: its first result.
async fn over_websocket(app: &TestApp, token: &str, probe: &Probe) -> Value {
    let payload = json!({"query": probe.query, "variables": probe.variables});
    let mut socket = subscribed(app, token, payload).await;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no answer over WebSocket to {}", probe.query))
            .expect("the connection stays open")
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        match value["type"].as_str() {
            Some("next") => return value["payload"].clone(),
            Some("error") => return json!({"errors": value["payload"]}),
            Some("connection_ack" | "ka" | "ping" | "pong") => continue,
            other => panic!("unexpected {other:?}: {value}"),
        }
    }
}

/// The markers found in an answer's data (error messages may echo the id that was sent).
fn leaks(answer: &Value, markers: &[String]) -> Vec<String> {
    let text = answer["data"].to_string().to_lowercase();
    markers
        .iter()
        .filter(|m| text.contains(&m.to_lowercase()))
        .cloned()
        .collect()
}

async fn every_field_stays_inside_its_organization(backend: Backend) {
    let app = spawn_multi_tenant_app(backend, false).await;
    let (a, b) = two_organizations(&app).await;

    let mut fields: Vec<(String, bool)> = Vec::new();
    for (type_name, is_subscription) in [
        ("Query", false),
        ("Mutation", false),
        ("SubscriptionRoot", true),
    ] {
        fields.extend(
            schema_fields(type_name)
                .into_iter()
                .map(|f| (f, is_subscription)),
        );
    }
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(f, _)| probes(f, &b, &a, "x").is_none())
        .map(|(f, _)| f.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "fields without a cross-organization case in tests/api/tenancy.rs: {missing:?}"
    );

    let mut tried = BTreeSet::new();
    let mut unique = 0;
    for (field, is_subscription) in &fields {
        for transport in [Transport::Http, Transport::WebSocket] {
            // Subscriptions are served over WebSocket only.
            if *is_subscription && matches!(transport, Transport::Http) {
                continue;
            }
            for (role, token) in [("admin", &a.admin), ("integrator", &a.integrator)] {
                unique += 1;
                let tag = format!("cross{unique}");
                let foreign = probes(field, &b, &a, &tag).unwrap();
                for (i, p) in foreign.iter().enumerate() {
                    let case = format!("{field}#{i} as A's {role} over {transport:?}");
                    let answer = run(&app, transport, token, p).await;
                    assert!(
                        leaks(&answer, &b.markers()).is_empty(),
                        "{case} shows B's rows {:?}: {answer}",
                        leaks(&answer, &b.markers())
                    );
                    match p.expect {
                        Expect::NotFound => match error_code(&answer) {
                            Some("NOT_FOUND") => {}
                            Some("FORBIDDEN") => {
                                // Only if A's own ids get the same answer: the role, not the
                                // id, is refused.
                                let own = &probes(field, &a, &a, &tag).unwrap()[i];
                                let answer = run(&app, transport, token, own).await;
                                assert_eq!(
                                    error_code(&answer),
                                    Some("FORBIDDEN"),
                                    "{case}: FORBIDDEN for B's ids but not for A's: {answer}"
                                );
                            }
                            _ => panic!("{case}: expected NOT_FOUND, got {answer}"),
                        },
                        Expect::Nothing | Expect::Public => {
                            if error_code(&answer) != Some("FORBIDDEN") {
                                assert_no_errors(&answer);
                            }
                        }
                    }
                    tried.insert(field.clone());
                }
            }
        }
    }
    assert_eq!(tried.len(), fields.len(), "every field was tried");

    // B's rows are all still there, as B's admin sees them.
    let answer = app
        .graphql(
            Some(&b.admin),
            "query($id: ID!, $c: ID!) { notification(id: $id) { status } conference(id: $c) { active name } }",
            json!({"id": b.notification, "c": b.conference}),
        )
        .await;
    assert_no_errors(&answer);
    assert_eq!(answer["data"]["notification"]["status"], "COMPLETED");
    assert_eq!(answer["data"]["conference"]["active"], true);
    assert_eq!(answer["data"]["conference"]["name"], "Beta Conf");

    // Conferences created by A's admin belong to A: B never sees them.
    let answer = app
        .graphql(
            Some(&b.admin),
            "{ conferences(first: 100) { nodes { id } } }",
            json!({}),
        )
        .await;
    let ids: Vec<&str> = answer["data"]["conferences"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.conference.as_str()]);

    // The CSV exports (plain HTTP, outside the schema) keep to the same boundary.
    let attendees = |c: &str| format!("attendees.csv?conferenceId={c}");
    let deliveries = |n: &str| format!("deliveries.csv?notificationId={n}&search={SHARED}");
    for (token, export, status) in [
        (&a.admin, attendees(&b.conference), 404),
        (&a.integrator, attendees(&b.conference), 404),
        (&a.admin, attendees(&a.conference), 200),
        (&a.admin, deliveries(&b.notification), 404),
        (&a.integrator, deliveries(&b.notification), 404),
        (&a.admin, deliveries(&a.notification), 200),
    ] {
        let response = app
            .client
            .get(format!("{}/admin/export/{export}", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{export}");
        let body = response.text().await.unwrap();
        if status == 200 {
            assert!(body.contains(SHARED), "{export}: {body}");
            assert!(
                leaks(&json!({"data": body}), &b.markers()).is_empty(),
                "{export}: {body}"
            );
        }
    }

    // An operator token reaches both organizations.
    let operator = app.token_in(None, Role::Operator).await;
    for org in [&a, &b] {
        let answer = app
            .graphql(
                Some(&operator),
                "query($id: ID!) { notification(id: $id) { id } }",
                json!({"id": org.notification}),
            )
            .await;
        assert_no_errors(&answer);
    }
    let answer = app
        .graphql(
            Some(&operator),
            "query($e: String!) { deliveriesByEmail(email: $e) { totalCount } }",
            json!({"e": SHARED}),
        )
        .await;
    assert_eq!(
        answer["data"]["deliveriesByEmail"]["totalCount"], 2,
        "{answer}"
    );
    // Without a token, conferences are public (to register for), whoever owns them.
    let answer = app
        .graphql(
            None,
            "query($id: ID!) { conference(id: $id) { id } }",
            json!({"id": b.conference}),
        )
        .await;
    assert_no_errors(&answer);
}

/// `notificationsChanged` without a conference streams the caller's organization's
/// notifications only: a change in B is never an event for A.
async fn list_subscriptions_see_only_their_organization(backend: Backend) {
    let app = spawn_multi_tenant_app(backend, false).await;
    let (a, b) = two_organizations(&app).await;
    let changes =
        json!({"query": "subscription { notificationsChanged { id conference { id } } }"});
    let mut socket = subscribed(&app, &a.integrator, changes).await;
    let mut seen = HashMap::new();
    // Until the stream is live: A's notifications until one is seen.
    let mut probes = 0;
    loop {
        let probe = a.notify_again(&app).await;
        probes += 1;
        if next_changes_until(&mut socket, &mut seen, &probe, Duration::from_secs(2)).await {
            break;
        }
        assert!(probes < 10, "the subscription never saw a change");
    }
    // Then B changes first, then A: A's change arrives, B's never did.
    let b_new = b.notify_again(&app).await;
    let a_new = a.notify_again(&app).await;
    assert!(
        next_changes_until(&mut socket, &mut seen, &a_new, Duration::from_secs(20)).await,
        "A's own change arrives"
    );
    assert!(
        !seen.contains_key(&b_new),
        "A saw B's notification: {seen:?}"
    );
    assert!(
        seen.values()
            .all(|n| n["conference"]["id"] == a.conference.as_str()),
        "{seen:?}"
    );
}

/// Reads `notificationsChanged` events into `seen` until one is of `wanted`; false when
/// none comes within `wait`.
async fn next_changes_until(
    socket: &mut WebSocket,
    seen: &mut HashMap<String, Value>,
    wanted: &str,
    wait: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    while !seen.contains_key(wanted) {
        let Ok(message) = tokio::time::timeout_at(deadline, socket.next()).await else {
            return false;
        };
        let Message::Text(text) = message.unwrap().unwrap() else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["type"] == "next" {
            let n = &value["payload"]["data"]["notificationsChanged"];
            seen.insert(n["id"].as_str().unwrap().to_owned(), n.clone());
        }
    }
    true
}

/// "Did this person get it?": every delivery to the address, across notifications, in the
/// caller's organization only, with what support needs to answer.
async fn support_lookup_finds_the_deliveries_of_an_address_in_the_organization(backend: Backend) {
    let app = spawn_multi_tenant_app(backend, false).await;
    let (a, b) = two_organizations(&app).await;
    // A second notification in A: the shared address now has two deliveries in A.
    let second = a.notify_again(&app).await;
    app.run_jobs_until_finished(&second).await;
    let lookup = "query($e: String!) { deliveriesByEmail(email: $e) { totalCount nodes {
        email status attempts lastError messageId sentAt notificationId
        notification { id subject submittedAt } attendee { id } } } }";
    let answer = app
        .graphql(
            Some(&a.integrator),
            lookup,
            json!({"e": "  Shared@Example.ORG "}),
        )
        .await;
    assert_no_errors(&answer);
    let found = &answer["data"]["deliveriesByEmail"];
    assert_eq!(found["totalCount"], 2, "{answer}");
    let notifications: BTreeSet<&str> = found["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["notificationId"].as_str().unwrap())
        .collect();
    assert_eq!(
        notifications,
        BTreeSet::from([a.notification.as_str(), second.as_str()])
    );
    for d in found["nodes"].as_array().unwrap() {
        assert_eq!(d["email"], SHARED);
        assert_eq!(d["status"], "SENT");
        assert_eq!(d["attempts"], 1);
        assert!(
            d["messageId"].as_str().is_some_and(|m| m.starts_with('<')),
            "{d}"
        );
        assert!(d["sentAt"].is_string(), "{d}");
        assert_eq!(d["attendee"]["id"], a.attendee.as_str());
        assert_eq!(d["notification"]["id"], d["notificationId"]);
    }
    // B sees its own one delivery to the same address, and nothing of A's.
    let answer = app
        .graphql(Some(&b.admin), lookup, json!({"e": SHARED}))
        .await;
    assert_eq!(
        answer["data"]["deliveriesByEmail"]["totalCount"], 1,
        "{answer}"
    );
    assert_eq!(
        answer["data"]["deliveriesByEmail"]["nodes"][0]["notificationId"],
        b.notification.as_str()
    );
    // A suppressed address shows as such; an unknown one has no deliveries.
    let answer = app
        .graphql(Some(&a.admin), lookup, json!({"e": a.only_email}))
        .await;
    assert_eq!(
        answer["data"]["deliveriesByEmail"]["nodes"][0]["status"], "SUPPRESSED",
        "{answer}"
    );
    let answer = app
        .graphql(Some(&a.admin), lookup, json!({"e": "nobody@example.org"}))
        .await;
    assert_eq!(answer["data"]["deliveriesByEmail"]["totalCount"], 0);
    // Input is bounded, and the lookup needs a token.
    let answer = app
        .graphql(Some(&a.admin), lookup, json!({"e": "x".repeat(300)}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    let answer = app.graphql(None, lookup, json!({"e": SHARED})).await;
    assert_eq!(error_code(&answer), Some("UNAUTHENTICATED"), "{answer}");
}

/// Drafts are kept per token, and also inside the organization: a draft of A's admin whose
/// conference is B's is out of A's reach, as if it did not exist.
async fn a_draft_on_another_organizations_conference_is_not_found(backend: Backend) {
    let app = spawn_multi_tenant_app(backend, false).await;
    let (_, a_admin, a_conference) = app.organization_with_conference("Alpha").await;
    let (_, _, b_conference) = app.organization_with_conference("Beta").await;
    let draft = save_draft(&app, &a_admin, &a_conference).await;
    let draft_id: Uuid = draft.parse().unwrap();
    move_draft(&app, draft_id, &b_conference).await;
    for (query, variables) in [
        (
            "query($id: ID!) { notificationDraft(id: $id) { id subject } }",
            json!({"id": draft}),
        ),
        (
            "query($c: ID!) { notificationDrafts(conferenceId: $c) { id } }",
            json!({"c": b_conference}),
        ),
        (
            "mutation($id: ID, $c: ID!) { saveNotificationDraft(input: {id: $id, conferenceId: $c, subject: \"s\", message: \"m\"}) { id } }",
            json!({"id": draft, "c": b_conference}),
        ),
        (
            "mutation($id: ID!) { deleteNotificationDraft(id: $id) }",
            json!({"id": draft}),
        ),
    ] {
        let answer = app.graphql(Some(&a_admin), query, variables).await;
        assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{query}: {answer}");
    }
    // Still there: the refused delete deleted nothing.
    let row = techconf::entity::notification_draft::Entity::find_by_id(draft_id)
        .one(&app.db)
        .await
        .unwrap();
    assert!(row.is_some());
    // Back on A's conference it is A's admin's again.
    move_draft(&app, draft_id, &a_conference).await;
    let answer = app
        .graphql(
            Some(&a_admin),
            "query($id: ID!) { notificationDraft(id: $id) { subject } }",
            json!({"id": draft}),
        )
        .await;
    assert_no_errors(&answer);
    assert_eq!(
        answer["data"]["notificationDraft"]["subject"],
        "Draft subject"
    );
}

/// Moves the draft `id` onto `conference` in the database, behind the API's back.
async fn move_draft(app: &TestApp, id: Uuid, conference: &str) {
    techconf::entity::notification_draft::Entity::update(
        techconf::entity::notification_draft::ActiveModel {
            id: Set(id),
            conference_id: Set(conference.parse().unwrap()),
            ..Default::default()
        },
    )
    .exec(&app.db)
    .await
    .unwrap();
}
