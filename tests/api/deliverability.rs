//! Deliverability end to end: the MIME structure of notifications (parsed with
//! `mail-parser`), one-click unsubscribe over HTTP, suppression at plan time, DKIM signatures
//! checked by an independent verifier (`mail-auth`), and the provider webhooks.
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use mail_parser::{MessageParser, MimeHeaders};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use testkit::smtp::SmtpSink;

use crate::helpers::{
    Backend, TestApp, assert_no_errors, emails, error_code, insert_attendees, new_database,
    on_both, spawn_app_on,
};

const SECRET: &str = "a-test-unsubscribe-secret-of-48-characters-long!!";
const PUBLIC_URL: &str = "https://techconf.test";

on_both!(
    one_click_unsubscribe_end_to_end,
    bounces_and_complaints_through_the_webhooks,
);

async fn app_with_sink(backend: Backend, sink: &SmtpSink, extra: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut vars = vec![
        ("MAIL_URL", url.as_str()),
        ("TECHCONF_PUBLIC_URL", PUBLIC_URL),
        ("UNSUBSCRIBE_SECRET", SECRET),
    ];
    vars.extend_from_slice(extra);
    spawn_app_on(new_database(backend).await, &vars, true).await
}

async fn exec(app: &TestApp, sql: &str) {
    app.db
        .execute_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
}

/// The notification's counters, read through the API.
async fn counters(app: &TestApp, id: &str) -> Value {
    let answer = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { status total sent failed cancelled suppressed bounced pending } }",
            json!({"id": id}),
        )
        .await;
    assert_no_errors(&answer);
    answer["data"]["notification"].clone()
}

#[track_caller]
fn assert_counts_add_up(n: &Value) {
    let get = |k: &str| n[k].as_i64().unwrap();
    assert_eq!(
        get("sent") + get("failed") + get("cancelled") + get("suppressed") + get("pending"),
        get("total"),
        "{n}"
    );
}

async fn one_click_unsubscribe_end_to_end(backend: Backend) {
    let sink = SmtpSink::start();
    let app = app_with_sink(backend, &sink, &[]).await;
    let conference = app.create_conference("RustConf <2027>").await;
    let addresses = emails(3);
    insert_attendees(&app.db, &conference, &addresses).await;
    exec(
        &app,
        "UPDATE attendee SET first_name = '<script>alert(1)</script>' WHERE email = 'person0@example.org'",
    )
    .await;
    let first = app
        .notify(
            &conference,
            "Hello {{ first_name }}",
            "**Welcome**, {{ first_name }}!\n\nSee you at {{ conference.name }}.",
        )
        .await;
    assert_eq!(app.wait_until_finished(&first).await["sent"], 3);
    let received = sink
        .wait_for_count(3, Duration::from_secs(30))
        .await
        .unwrap();

    // The MIME structure, as a real parser sees it.
    let mut links = std::collections::HashMap::new();
    for raw in &received {
        let message = MessageParser::default().parse(&raw.data).unwrap();
        let top = message.content_type().unwrap();
        assert_eq!(
            (top.ctype(), top.subtype()),
            ("multipart", Some("alternative"))
        );
        assert_eq!(message.text_body_count(), 1);
        assert_eq!(message.html_body_count(), 1);
        let text_part = message.text_bodies().next().unwrap();
        let html_part = message.html_bodies().next().unwrap();
        assert_eq!(text_part.content_type().unwrap().subtype(), Some("plain"));
        assert_eq!(html_part.content_type().unwrap().subtype(), Some("html"));
        let text = message.body_text(0).unwrap();
        let html = message.body_html(0).unwrap();
        assert!(html.contains("<strong>Welcome</strong>"), "{html}");
        assert!(
            html.contains("RustConf &lt;2027&gt;"),
            "the layout carries the conference name: {html}"
        );
        if raw.recipients[0] == "person0@example.org" {
            assert!(
                text.contains("**Welcome**, <script>alert(1)</script>!"),
                "{text}"
            );
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{html}"
            );
            assert!(!html.contains("<script"), "{html}");
        }
        // RFC 8058: an HTTPS URI in List-Unsubscribe, and the one-click POST marker.
        assert_eq!(
            message.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click")
        );
        let list = message.header_raw("List-Unsubscribe").unwrap().trim();
        let url = list
            .strip_prefix('<')
            .and_then(|l| l.split('>').next())
            .unwrap();
        assert!(url.starts_with(&format!("{PUBLIC_URL}/u/")), "{list}");
        assert!(html.contains(url), "a visible unsubscribe link: {html}");
        links.insert(raw.recipients[0].clone(), url.to_owned());
    }

    // The link, served by this app.
    let local = |url: &str| url.replacen(PUBLIC_URL, &app.address, 1);
    let link = local(&links["person1@example.org"]);
    let token = link.rsplit('/').next().unwrap().to_owned();
    let post = |url: String, body: &'static str| {
        app.client
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let one_click = "List-Unsubscribe=One-Click";

    // GET shows a page with one button and changes nothing.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert_eq!(page.matches("<button").count(), 1, "{page}");
    assert!(page.contains("person1@example.org"), "{page}");
    assert!(page.contains(r#"value="all""#), "{page}");
    assert_eq!(app.count("suppression").await, 0);

    // Refused: no one-click body, a tampered token, a forged one, an expired one.
    assert_eq!(post(link.clone(), "").await.unwrap().status(), 400);
    let (payload, mac) = token.split_once('.').unwrap();
    let mut flipped = mac.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}/u/{payload}.{}",
        app.address,
        String::from_utf8(flipped).unwrap()
    );
    assert_eq!(post(tampered, one_click).await.unwrap().status(), 400);
    let conference_id: uuid::Uuid = conference.parse().unwrap();
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    let forged = techconf::unsubscribe::TokenKey::new("another-secret".to_owned().into()).sign(
        "person1@example.org",
        conference_id,
        tomorrow,
    );
    assert_eq!(
        post(format!("{}/u/{forged}", app.address), one_click)
            .await
            .unwrap()
            .status(),
        400
    );
    let expired = techconf::unsubscribe::TokenKey::new(SECRET.to_owned().into()).sign(
        "person1@example.org",
        conference_id,
        Utc::now() - chrono::Duration::seconds(1),
    );
    assert_eq!(
        post(format!("{}/u/{expired}", app.address), one_click)
            .await
            .unwrap()
            .status(),
        410
    );
    assert_eq!(
        app.count("suppression").await,
        0,
        "nothing refused changed anything"
    );

    // The one-click POST, twice: one suppression.
    for _ in 0..2 {
        let answer = post(link.clone(), one_click).await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(app.count("suppression").await, 1);

    // The next notification skips the suppressed attendee and counts it.
    let second = app.notify(&conference, "Again", "Hello again").await;
    let done = app.wait_until_finished(&second).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let n = counters(&app, &second).await;
    assert_eq!(
        (
            n["total"].as_i64(),
            n["sent"].as_i64(),
            n["suppressed"].as_i64()
        ),
        (Some(3), Some(2), Some(1)),
        "{n}"
    );
    assert_counts_add_up(&n);
    let received = sink
        .wait_for_count(5, Duration::from_secs(30))
        .await
        .unwrap();
    let again: Vec<_> = received
        .iter()
        .filter(|m| m.subject.as_deref() == Some("Again"))
        .flat_map(|m| m.recipients.clone())
        .collect();
    assert_eq!(again.len(), 2);
    assert!(!again.contains(&"person1@example.org".to_owned()));
    let suppressed = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { deliveries(status: SUPPRESSED) { nodes { email status } } } }",
            json!({"id": second}),
        )
        .await;
    assert_eq!(
        suppressed["data"]["notification"]["deliveries"]["nodes"],
        json!([{"email": "person1@example.org", "status": "SUPPRESSED"}])
    );

    // Admins list and remove suppressions; confirmations are not affected.
    let list = "query($c: ID) { suppressions(conferenceId: $c) { totalCount nodes { email conferenceId reason } } }";
    let answer = app.as_admin(list, json!({"c": conference})).await;
    assert_eq!(
        answer["data"]["suppressions"]["nodes"],
        json!([{"email": "person1@example.org", "conferenceId": conference, "reason": "unsubscribed"}])
    );
    let integrator = app.token(techconf::domain::Role::Integrator).await;
    let denied = app
        .graphql(Some(&integrator), list, json!({"c": conference}))
        .await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"));
    let remove = "mutation($e: String!, $c: ID) { removeSuppression(email: $e, conferenceId: $c) }";
    let answer = app
        .as_admin(remove, json!({"e": "PERSON1@example.org", "c": conference}))
        .await;
    assert_eq!(answer["data"]["removeSuppression"], true, "{answer}");
    let answer = app
        .as_admin(remove, json!({"e": "person1@example.org", "c": conference}))
        .await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"));
    assert_eq!(app.count("suppression").await, 0);

    // "All conferences" from the page's choice covers another conference too.
    let answer = app
        .client
        .post(&link)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click&scope=all")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let other = app.create_conference("GoConf").await;
    let answer = app.as_admin(list, json!({"c": other})).await;
    assert_eq!(
        answer["data"]["suppressions"]["nodes"],
        json!([{"email": "person1@example.org", "conferenceId": null, "reason": "unsubscribed"}])
    );
    // Confirmations are transactional: a suppressed address still gets one.
    assert_no_errors(&app.register(&other, "person1@example.org").await);
    let received = sink
        .wait_for_count(6, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        received
            .iter()
            .any(|m| m.recipients == ["person1@example.org"]
                && m.subject.as_deref() == Some("You are registered for GoConf"))
    );
    app.wait_until_no_jobs().await;
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn message_ids(app: &TestApp) -> std::collections::HashMap<String, String> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT email, message_id FROM delivery",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "email").unwrap(),
                r.try_get::<String>("", "message_id").unwrap(),
            )
        })
        .collect()
}

async fn delivery_status(app: &TestApp, email: &str) -> String {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT status FROM delivery WHERE email = '{email}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "status").unwrap()
}

async fn suppression_reasons(app: &TestApp) -> Vec<(String, String)> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT email, reason FROM suppression WHERE conference_id IS NULL ORDER BY email",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "email").unwrap(),
                r.try_get("", "reason").unwrap(),
            )
        })
        .collect()
}

async fn bounces_and_complaints_through_the_webhooks(backend: Backend) {
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey as _;

    const AZURE_SECRET: &str = "azure-webhook-shared-secret";
    let signing = SigningKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
    let public = STANDARD.encode(
        signing
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    let sink = SmtpSink::start();
    let app = app_with_sink(
        backend,
        &sink,
        &[
            ("WEBHOOK_AZURE_SECRET", AZURE_SECRET),
            ("WEBHOOK_SENDGRID_PUBLIC_KEY", &public),
        ],
    )
    .await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(5)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    assert_eq!(app.wait_until_finished(&id).await["sent"], 5);
    let ids = message_ids(&app).await;
    let azure = format!("{}/webhooks/azure", app.address);

    // Event Grid's subscription validation handshake, behind the shared secret.
    let validation = fixture("azure-validation.json");
    let answer = app
        .client
        .post(&azure)
        .body(validation.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401, "no secret");
    let answer = app
        .client
        .post(format!("{azure}?secret=not-the-secret"))
        .body(validation.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401, "a wrong secret");
    let answer = app
        .client
        .post(format!("{azure}?secret={AZURE_SECRET}"))
        .header("aeg-event-type", "SubscriptionValidation")
        .body(validation)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    );

    // An ACS hard bounce, sent twice (Event Grid retries), then a late "Delivered" for the
    // same message: one bounce, one suppression.
    let report = |event_id: &str, email: &str, status: &str| {
        fixture("azure-delivery-report.json")
            .replace("EVENT_ID", event_id)
            .replace("RECIPIENT", email)
            .replace("MESSAGE_ID", &ids[email])
            .replace("STATUS", status)
    };
    for body in [
        report("ev-1", "person0@example.org", "Bounced"),
        report("ev-1", "person0@example.org", "Bounced"),
        report("ev-2", "person0@example.org", "Delivered"),
        report("ev-3", "person4@example.org", "Quarantined"),
    ] {
        let answer = app
            .client
            .post(&azure)
            .header("aeg-event-type", "Notification")
            .header("X-TechConf-Webhook-Secret", AZURE_SECRET)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(
        delivery_status(&app, "person0@example.org").await,
        "bounced"
    );
    assert_eq!(
        delivery_status(&app, "person4@example.org").await,
        "sent",
        "a soft bounce is only recorded"
    );
    let n = counters(&app, &id).await;
    assert_eq!(
        (n["sent"].as_i64(), n["bounced"].as_i64()),
        (Some(5), Some(1)),
        "{n}"
    );
    assert_counts_add_up(&n);
    assert_eq!(
        suppression_reasons(&app).await,
        vec![("person0@example.org".to_owned(), "bounced".to_owned())]
    );
    assert_eq!(app.count("delivery_event").await, 3);

    // A bounce for mail that is not ours is recorded and changes nothing.
    let foreign = fixture("azure-delivery-report.json")
        .replace("EVENT_ID", "ev-foreign")
        .replace("RECIPIENT", "person4@example.org")
        .replace("MESSAGE_ID", "<not-ours@elsewhere.example>")
        .replace("STATUS", "Bounced");
    let post_azure = |body: String| {
        app.client
            .post(&azure)
            .header("X-TechConf-Webhook-Secret", AZURE_SECRET)
            .body(body)
            .send()
    };
    assert_eq!(post_azure(foreign).await.unwrap().status(), 200);
    assert_eq!(app.count("delivery_event").await, 4);
    assert_eq!(delivery_status(&app, "person4@example.org").await, "sent");

    // A bounce that arrives before the worker recorded the send is refused for a retry,
    // then applied when retried after the send is recorded.
    exec(
        &app,
        "UPDATE delivery SET status = 'sending' WHERE email = 'person4@example.org'",
    )
    .await;
    let early = report("ev-4", "person4@example.org", "Failed");
    assert_eq!(post_azure(early.clone()).await.unwrap().status(), 503);
    assert_eq!(
        app.count("delivery_event").await,
        4,
        "not stored: it will come again"
    );
    exec(
        &app,
        "UPDATE delivery SET status = 'sent' WHERE email = 'person4@example.org'",
    )
    .await;
    assert_eq!(post_azure(early).await.unwrap().status(), 200);
    assert_eq!(
        delivery_status(&app, "person4@example.org").await,
        "bounced"
    );
    assert_eq!(app.count("delivery_event").await, 5);

    // SendGrid: signed over timestamp + body; unsigned, forged and tampered requests refused.
    let sendgrid = format!("{}/webhooks/sendgrid", app.address);
    let events = fixture("sendgrid-events.json")
        .replace("BOUNCE_RECIPIENT", "person1@example.org")
        .replace("BOUNCE_MESSAGE_ID", &ids["person1@example.org"])
        .replace("BLOCKED_RECIPIENT", "person2@example.org")
        .replace("BLOCKED_MESSAGE_ID", &ids["person2@example.org"])
        .replace("SPAM_RECIPIENT", "person3@example.org")
        .replace("SPAM_MESSAGE_ID", &ids["person3@example.org"]);
    let timestamp = Utc::now().timestamp().to_string();
    let sign = |key: &SigningKey, body: &str| {
        let signature: Signature = key.sign(format!("{timestamp}{body}").as_bytes());
        STANDARD.encode(signature.to_der().as_bytes())
    };
    let send = |body: String, signature: Option<String>| {
        let mut request = app.client.post(&sendgrid).body(body);
        if let Some(signature) = signature {
            request = request
                .header("X-Twilio-Email-Event-Webhook-Signature", signature)
                .header("X-Twilio-Email-Event-Webhook-Timestamp", &timestamp);
        }
        request.send()
    };
    assert_eq!(send(events.clone(), None).await.unwrap().status(), 401);
    let other = SigningKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
    let forged = sign(&other, &events);
    assert_eq!(
        send(events.clone(), Some(forged)).await.unwrap().status(),
        403
    );
    let genuine = sign(&signing, &events);
    let tampered = events.replace("person1@", "person9@");
    assert_eq!(
        send(tampered, Some(genuine.clone()))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        app.count("delivery_event").await,
        5,
        "nothing refused was recorded"
    );
    for _ in 0..2 {
        let answer = send(events.clone(), Some(genuine.clone())).await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(
        delivery_status(&app, "person1@example.org").await,
        "bounced"
    );
    assert_eq!(
        delivery_status(&app, "person2@example.org").await,
        "sent",
        "blocked is a soft bounce"
    );
    assert_eq!(delivery_status(&app, "person3@example.org").await, "sent");
    assert_eq!(
        suppression_reasons(&app).await,
        vec![
            ("person0@example.org".to_owned(), "bounced".to_owned()),
            ("person1@example.org".to_owned(), "bounced".to_owned()),
            ("person3@example.org".to_owned(), "complained".to_owned()),
            ("person4@example.org".to_owned(), "bounced".to_owned()),
        ]
    );
    assert_eq!(app.count("delivery_event").await, 8);

    // Progress and the deliveries view show the bounces.
    let n = counters(&app, &id).await;
    assert_eq!(
        (n["sent"].as_i64(), n["bounced"].as_i64()),
        (Some(5), Some(3)),
        "{n}"
    );
    assert_counts_add_up(&n);
    let bounced = app
        .as_admin(
            "query($id: ID!) { notification(id: $id) { deliveries(status: BOUNCED) { nodes { email lastError } } } }",
            json!({"id": id}),
        )
        .await;
    let nodes = bounced["data"]["notification"]["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(nodes.len(), 3, "{bounced}");
    assert!(
        nodes[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("550 5.1.1"),
        "{bounced}"
    );
    assert!(
        nodes[1]["lastError"]
            .as_str()
            .unwrap()
            .contains("unknown recipient"),
        "{bounced}"
    );
    // The next notification skips the four suppressed addresses.
    let next = app.notify(&conference, "Next", "Hello").await;
    app.wait_until_finished(&next).await;
    let n = counters(&app, &next).await;
    assert_eq!(
        (n["sent"].as_i64(), n["suppressed"].as_i64()),
        (Some(1), Some(4)),
        "{n}"
    );
    assert_counts_add_up(&n);
    // One where everybody is suppressed completes at once.
    exec(&app, "INSERT INTO suppression (id, email, conference_id, scope, reason, created_at) \
                SELECT id, 'person2@example.org', NULL, 'all', 'bounced', created_at FROM conference").await;
    let none = app.notify(&conference, "Nobody", "Hello").await;
    let done = app.wait_until_finished(&none).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let n = counters(&app, &none).await;
    assert_eq!(
        (
            n["total"].as_i64(),
            n["sent"].as_i64(),
            n["suppressed"].as_i64()
        ),
        (Some(5), Some(0), Some(5)),
        "{n}"
    );
    app.wait_until_no_jobs().await;
}

#[tokio::test]
async fn webhook_endpoints_are_off_until_configured() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    for provider in ["azure", "sendgrid"] {
        let answer = app
            .client
            .post(format!("{}/webhooks/{provider}", app.address))
            .body("[]")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{provider}");
    }
}

/// The verifier's DNS, offline: the one TXT record under test.
struct OfflineDns(std::sync::Mutex<std::collections::HashMap<String, mail_auth::Txt>>);

impl mail_auth::ResolverCache<String, mail_auth::Txt> for OfflineDns {
    fn get<Q>(&self, name: &Q) -> Option<mail_auth::Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<mail_auth::Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: String, value: mail_auth::Txt, _: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// Signs a notification with the key in `key_file` and checks it with mail-auth against
/// the DNS record `record`.
async fn verify_dkim(key_file: &std::path::Path, record: &str) -> Vec<mail_auth::DkimResult> {
    use mail_auth::common::parse::TxtRecordParser as _;
    use techconf::mail::{Dkim, NotificationEmail, Sender, notification_email};
    let vars = std::collections::HashMap::from([
        ("DKIM_SELECTOR", "tc2026".to_owned()),
        ("DKIM_DOMAIN", "techconf.test".to_owned()),
        ("DKIM_PRIVATE_KEY_FILE", key_file.display().to_string()),
    ]);
    let dkim = Dkim::from_lookup(&|name| vars.get(name).cloned()).unwrap();
    let sender = Sender::parse("TechConf <no-reply@techconf.test>")
        .unwrap()
        .with_dkim(dkim);
    let rendered = techconf::domain::RenderedEmail {
        subject: "See you soon".into(),
        body: "Hello Ada,\n\nSee you at RustConf.\n".into(),
        html: "<p>Hello Ada,</p><p>See you at RustConf.</p>".into(),
    };
    let link = techconf::unsubscribe::UnsubscribeLink {
        url: "https://techconf.test/u/abc.def".into(),
        mailto: None,
    };
    let email = notification_email(
        &sender,
        NotificationEmail {
            notification: uuid::Uuid::now_v7(),
            attendee: uuid::Uuid::now_v7(),
            to: "ada@example.org",
            name: "Ada Lovelace",
            conference_name: "RustConf",
            rendered: &rendered,
            unsubscribe: Some(&link),
        },
    )
    .unwrap();
    let dns = OfflineDns(Default::default());
    mail_auth::ResolverCache::insert(
        &dns,
        "tc2026._domainkey.techconf.test.".to_owned(),
        mail_auth::common::verify::DomainKey::parse(record.as_bytes())
            .unwrap()
            .into(),
        std::time::Instant::now() + Duration::from_secs(60),
    );
    let message = mail_auth::AuthenticatedMessage::parse(&email.bytes).unwrap();
    let text = String::from_utf8_lossy(&email.bytes);
    let headers = text.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        headers.contains("list-unsubscribe:list-unsubscribe-post;"),
        "the one-click headers are signed: {headers}"
    );
    // Never queried: the record is in the cache.
    let verifier = mail_auth::MessageAuthenticator::new_cloudflare().unwrap();
    let params = mail_auth::Parameters::new(&message).with_txt_cache(&dns);
    verifier
        .verify_dkim(params)
        .await
        .iter()
        .map(|output| output.result().clone())
        .collect()
}

#[tokio::test]
async fn dkim_signatures_verify_against_the_published_key() {
    let dir = testkit::tempdir::TempDir::new("dkim").unwrap();

    // Ed25519: the seed in base64, the public key in the record.
    let seed: [u8; 32] = rand::random();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let ed_file = dir.path().join("ed25519.key");
    std::fs::write(&ed_file, STANDARD.encode(seed)).unwrap();
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        STANDARD.encode(public.as_bytes())
    );
    assert_eq!(
        verify_dkim(&ed_file, &record).await,
        vec![mail_auth::DkimResult::Pass]
    );

    // RSA 2048, generated by OpenSSL in PKCS#1 form, as the docs tell operators to.
    let rsa_file = dir.path().join("rsa.pem");
    let status = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&rsa_file)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::process::Command::new("openssl")
        .args(["rsa", "-pubout", "-outform", "DER", "-in"])
        .arg(&rsa_file)
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(public.status.success());
    let record = format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(&public.stdout));
    assert_eq!(
        verify_dkim(&rsa_file, &record).await,
        vec![mail_auth::DkimResult::Pass]
    );

    // The wrong public key fails: the check can fail.
    let other = ed25519_dalek::SigningKey::from_bytes(&rand::random()).verifying_key();
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        STANDARD.encode(other.as_bytes())
    );
    let results = verify_dkim(&ed_file, &record).await;
    assert!(
        !matches!(results.as_slice(), [mail_auth::DkimResult::Pass]),
        "{results:?}"
    );
}
