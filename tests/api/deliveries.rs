//! A notification's delivery log: filtered by status, searched by recipient email or name,
//! paged; exported as CSV (all or filtered, authenticated); and "retry failed", which says
//! what it did and skips hard bounces unless asked.
use std::collections::HashSet;

use serde_json::{Value, json};
use testkit::smtp::FakeSmtp;

use crate::helpers::{
    Backend, TestApp, assert_no_errors, emails, error_code, insert_attendees, new_database,
    on_both, spawn_app_on,
};

on_both!(
    the_log_filters_by_status_and_searches_email_and_name,
    the_csv_export_has_every_delivery_or_the_filtered_ones,
    the_csv_export_needs_a_token_a_known_notification_and_a_known_status,
    a_retry_reports_what_it_did_and_skips_hard_bounces_unless_asked,
);

/// 25 recipients; the server refuses person1 and person10–person19 (11 failures). Every
/// tenth recipient (person0, person10, person20) is called Hopper.
async fn sent_with_failures(backend: Backend) -> (TestApp, FakeSmtp, String) {
    let smtp = FakeSmtp::builder()
        .reject_recipients_containing("person1")
        .start()
        .await;
    let url = smtp.url();
    let app = spawn_app_on(new_database(backend).await, &[("MAIL_URL", &url)], false).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(25)).await;
    let id = app
        .notify(&conference, "Hi {{ first_name }}", "Hello")
        .await;
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED_WITH_ERRORS", "{done}");
    assert_eq!(
        (done["sent"].as_i64(), done["failed"].as_i64()),
        (Some(14), Some(11))
    );
    (app, smtp, id)
}

const LOG: &str =
    "query($id: ID!, $status: DeliveryStatus, $search: String, $first: Int, $after: String) {
    notification(id: $id) {
        deliveries(status: $status, search: $search, first: $first, after: $after) {
            totalCount
            nodes { email status attempts lastError attendee { firstName lastName } }
            pageInfo { hasNextPage endCursor }
        }
    }
}";

async fn log(app: &TestApp, id: &str, variables: Value) -> Value {
    let mut variables = variables;
    variables["id"] = json!(id);
    let answer = app.as_admin(LOG, variables).await;
    assert_no_errors(&answer);
    answer["data"]["notification"]["deliveries"].clone()
}

fn emails_in(page: &Value) -> Vec<String> {
    page["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_log_filters_by_status_and_searches_email_and_name(backend: Backend) {
    let (app, _smtp, id) = sent_with_failures(backend).await;
    assert_eq!(
        log(&app, &id, json!({"first": 100})).await["totalCount"],
        25
    );
    let failed = log(&app, &id, json!({"status": "FAILED", "first": 100})).await;
    assert_eq!(failed["totalCount"], 11);
    assert!(
        failed["nodes"][0]["lastError"]
            .as_str()
            .unwrap()
            .contains("550")
    );
    assert_eq!(
        log(&app, &id, json!({"status": "SENT"})).await["totalCount"],
        14
    );

    // Email, in any case; a search for one address finds that address.
    let ana = log(&app, &id, json!({"search": "  PERSON2@example.org "})).await;
    assert_eq!(emails_in(&ana), ["person2@example.org"]);
    assert_eq!(
        log(&app, &id, json!({"search": "person2"})).await["totalCount"],
        6
    );
    // Name as registered: one part, or "first last".
    let hoppers = log(&app, &id, json!({"search": "hopper"})).await;
    assert_eq!(
        emails_in(&hoppers),
        [
            "person0@example.org",
            "person10@example.org",
            "person20@example.org"
        ]
    );
    assert_eq!(hoppers["nodes"][1]["attendee"]["lastName"], "Hopper");
    let one = log(&app, &id, json!({"search": "first10 hopper"})).await;
    assert_eq!(emails_in(&one), ["person10@example.org"]);
    // Search and status together.
    let failed_hoppers = log(&app, &id, json!({"search": "Hopper", "status": "FAILED"})).await;
    assert_eq!(emails_in(&failed_hoppers), ["person10@example.org"]);
    // Wildcards are matched literally.
    for literal in ["%", "_", "person%"] {
        let none = log(&app, &id, json!({"search": literal})).await;
        assert_eq!(none["totalCount"], 0, "{literal}: {none}");
    }

    // Pages of a search visit each match once.
    let mut seen = HashSet::new();
    let mut after = Value::Null;
    loop {
        let page = log(
            &app,
            &id,
            json!({"search": "person2", "first": 2, "after": after}),
        )
        .await;
        for email in emails_in(&page) {
            assert!(seen.insert(email), "no repeats");
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 6);

    // Bounded.
    let long = app
        .as_admin(LOG, json!({"id": id, "search": "x".repeat(101)}))
        .await;
    assert_eq!(error_code(&long), Some("VALIDATION"), "{long}");
    assert_eq!(long["errors"][0]["extensions"]["field"], "search");
}

async fn export(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!(
        "{}/admin/export/deliveries.csv?{query}",
        app.address
    ));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn the_csv_export_has_every_delivery_or_the_filtered_ones(backend: Backend) {
    let (app, _smtp, id) = sent_with_failures(backend).await;
    let response = export(
        &app,
        &format!("notificationId={id}"),
        Some(&app.admin_token),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"deliveries-{id}.csv\"").as_str()
    );
    let all = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(all.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "email",
            "first_name",
            "last_name",
            "status",
            "attempts",
            "sent_at",
            "last_error",
            "message_id"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 25);
    // The file says what the API says, field by field.
    let api = log(&app, &id, json!({"first": 100})).await;
    for (row, node) in rows.iter().zip(api["nodes"].as_array().unwrap()) {
        assert_eq!(&row[0], node["email"].as_str().unwrap());
        assert_eq!(&row[1], node["attendee"]["firstName"].as_str().unwrap());
        assert_eq!(&row[2], node["attendee"]["lastName"].as_str().unwrap());
        assert_eq!(
            row[3].to_uppercase(),
            node["status"].as_str().unwrap(),
            "{row:?}"
        );
        assert_eq!(row[4], node["attempts"].to_string());
        assert_eq!(&row[6], node["lastError"].as_str().unwrap_or(""));
    }
    let sent = rows
        .iter()
        .find(|r| &r[0] == "person2@example.org")
        .unwrap();
    assert_eq!(&sent[3], "sent");
    assert!(!sent[5].is_empty() && sent[7].starts_with('<'), "{sent:?}");
    let failed = rows
        .iter()
        .find(|r| &r[0] == "person1@example.org")
        .unwrap();
    assert!(failed[6].contains("550"), "{failed:?}");

    // Filtered as the log is; the status in either case.
    for status in ["failed", "FAILED"] {
        let filtered = export(
            &app,
            &format!("notificationId={id}&status={status}&search=hopper"),
            Some(&app.admin_token),
        )
        .await
        .text()
        .await
        .unwrap();
        let lines: Vec<&str> = filtered.lines().collect();
        assert_eq!(lines.len(), 2, "{filtered}");
        assert!(
            lines[1].starts_with("person10@example.org,First10,Hopper,failed,1,,"),
            "{filtered}"
        );
    }
    let nobody = export(
        &app,
        &format!("notificationId={id}&search=nobody"),
        Some(&app.admin_token),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(nobody.lines().count(), 1, "the header alone: {nobody}");
}

async fn the_csv_export_needs_a_token_a_known_notification_and_a_known_status(backend: Backend) {
    let app = spawn_app_on(new_database(backend).await, &[], false).await;
    let conference = app.create_conference("RustConf").await;
    insert_attendees(&app.db, &conference, &emails(3)).await;
    let id = app.notify(&conference, "Hi", "Hello").await;
    app.run_jobs_until_finished(&id).await;
    let query = format!("notificationId={id}");
    assert_eq!(export(&app, &query, None).await.status(), 401);
    assert_eq!(
        export(&app, &query, Some("wrong-token")).await.status(),
        401
    );
    let integrator = app.token(techconf::domain::Role::Integrator).await;
    let response = export(&app, &query, Some(&integrator)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap().lines().count(), 4);

    let unknown = format!("notificationId={}", uuid::Uuid::now_v7());
    let response = export(&app, &unknown, Some(&app.admin_token)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
    for bad in [
        "notificationId=nope".to_owned(),
        format!("{query}&status=lost"),
        format!("{query}&search={}", "x".repeat(101)),
    ] {
        let response = export(&app, &bad, Some(&app.admin_token)).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "VALIDATION", "{bad}: {body}");
    }
}

const RETRY: &str = "mutation($id: ID!, $all: Boolean) {
    retryFailedDeliveries(id: $id, includeBounced: $all) {
        retried skippedBounced skippedSuppressed
        notification { status failed sent }
    }
}";

async fn a_retry_reports_what_it_did_and_skips_hard_bounces_unless_asked(backend: Backend) {
    use techconf::suppression::{Reason, suppress};
    let (app, smtp, id) = sent_with_failures(backend).await;
    // person1's provider reported a hard bounce: the address is suppressed.
    suppress(
        &app.db,
        techconf::tenancy::default_organization(),
        "person1@example.org",
        None,
        Reason::Bounced,
    )
    .await
    .unwrap();
    let integrator = app.token(techconf::domain::Role::Integrator).await;
    let refused = app
        .graphql(Some(&integrator), RETRY, json!({"id": id}))
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");

    let answer = app.as_admin(RETRY, json!({"id": id})).await;
    assert_no_errors(&answer);
    let report = &answer["data"]["retryFailedDeliveries"];
    assert_eq!(
        (
            &report["retried"],
            &report["skippedBounced"],
            &report["skippedSuppressed"]
        ),
        (&json!(10), &json!(1), &json!(0)),
        "{answer}"
    );
    assert_eq!(report["notification"]["status"], "SENDING");
    assert_eq!(report["notification"]["failed"], 1);
    // The server still refuses them: all ten fail again, and nobody else was emailed.
    let before = smtp.message_count();
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(done["failed"], 11, "{done}");
    assert_eq!(smtp.message_count(), before);

    // Accepted now, and asked to include the hard bounce.
    smtp.clear_recipient_rejections();
    let answer = app.as_admin(RETRY, json!({"id": id, "all": true})).await;
    assert_no_errors(&answer);
    let report = &answer["data"]["retryFailedDeliveries"];
    assert_eq!(report["retried"], 11, "{answer}");
    assert_eq!(report["skippedBounced"], 0);
    let done = app.run_jobs_until_finished(&id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["sent"], 25);
    assert_eq!(smtp.message_count(), before + 11);

    let again = app.as_admin(RETRY, json!({"id": id})).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
}
