//! Managing attendees: filters on every column, sorted keyset pages and page jumps, edit,
//! remove, CSV import (dry run, rejections, idempotence) and the streamed CSV export.
use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_no_errors, assert_update_needs_an_admin_and_a_known_id, error_code,
    on_both_backends,
};

on_both_backends!(
    search_and_filters_cover_every_column,
    sorted_pages_visit_everyone_once_and_offsets_jump_to_the_same_rows,
    an_edit_is_checked_like_a_registration,
    removing_needs_an_admin_and_answers_not_found_afterwards,
    an_import_reports_each_rejected_row_and_writes_nothing_until_all_are_valid,
    importing_the_same_file_twice_changes_nothing_the_second_time,
    the_csv_export_streams_filtered_rows_and_reimports_unchanged,
    the_csv_export_needs_a_token_and_a_known_conference,
);

const HEADER: &str =
    "first_name,last_name,email,job_position,company,city,state,interests,comments\n";

/// Eight attendees with distinct cities, states, companies and positions.
const PEOPLE: &str = "Ana,Silva,ana@example.org,Engineer,Acme,Lisbon,LX,,\n\
Bruno,Costa,bruno@example.org,Designer,Globex,Seattle,WA,,\n\
Carla,Ramos,carla@example.org,Engineering Manager,Initech,Porto,PT,Rust,\n\
Dmitri,Ivanov,dmitri@example.org,Architect,Acme,Austin,TX,,\n\
Eve,Adams,eve@example.org,Engineer,Umbrella,seattle,WA,,\"quoted, with comma\"\n\
Farah,Khan,farah@example.org,CTO,Hooli,Boston,MA,,\n\
Gus,Silva,gus@example.org,Intern,Acme,Lisbon,LX,,\n\
Hana,Sato,hana@example.org,Researcher,Initech,Tokyo,TK,,\n";

const IMPORT: &str = "mutation($c: ID!, $csv: String!, $dry: Boolean) {
    importAttendees(conferenceId: $c, csv: $csv, dryRun: $dry) {
        dryRun applied rows created updated unchanged
        rejected { line email field message }
    }
}";

const LIST: &str = "query($c: ID!, $first: Int, $after: String, $offset: Int, $search: String,
                          $filter: AttendeeFilter, $order: AttendeeOrder) {
    attendees(conferenceId: $c, first: $first, after: $after, offset: $offset, search: $search,
              filter: $filter, orderBy: $order) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { id firstName lastName email city state company jobPosition interests comments }
    }
}";

async fn import(app: &TestApp, conference: &str, csv: &str, dry: bool) -> Value {
    let answer = app
        .as_admin(IMPORT, json!({"c": conference, "csv": csv, "dry": dry}))
        .await;
    assert_no_errors(&answer);
    answer["data"]["importAttendees"].clone()
}

async fn conference_with_people(app: &TestApp) -> String {
    let conference = app.create_conference("RustConf").await;
    let report = import(app, &conference, &format!("{HEADER}{PEOPLE}"), false).await;
    assert_eq!(report["created"], 8, "{report}");
    conference
}

async fn emails_of(app: &TestApp, conference: &str, variables: Value) -> Vec<String> {
    let mut vars = json!({"c": conference, "first": 100});
    for (k, v) in variables.as_object().unwrap() {
        vars[k] = v.clone();
    }
    let answer = app.as_admin(LIST, vars).await;
    assert_no_errors(&answer);
    answer["data"]["attendees"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n["email"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn search_and_filters_cover_every_column(app: TestApp) {
    let c = conference_with_people(&app).await;
    let search = |term: &str| json!({"search": term});
    assert_eq!(
        emails_of(&app, &c, search("SEATTLE")).await,
        ["bruno", "eve"]
    );
    assert_eq!(
        emails_of(&app, &c, search("engineer")).await,
        ["ana", "carla", "eve"]
    );
    assert_eq!(emails_of(&app, &c, search("WA")).await, ["bruno", "eve"]);
    assert_eq!(emails_of(&app, &c, search("globex")).await, ["bruno"]);
    assert_eq!(emails_of(&app, &c, search("ana silva")).await, ["ana"]);
    let filter = |f: Value| json!({"filter": f});
    assert_eq!(
        emails_of(
            &app,
            &c,
            filter(json!({"lastName": "silva", "city": "lisbon"}))
        )
        .await,
        ["ana", "gus"]
    );
    assert_eq!(
        emails_of(
            &app,
            &c,
            filter(json!({"jobPosition": "engineer", "company": "acme"}))
        )
        .await,
        ["ana"]
    );
    assert_eq!(
        emails_of(&app, &c, filter(json!({"state": "tx"}))).await,
        ["dmitri"]
    );
    assert_eq!(
        emails_of(&app, &c, filter(json!({"email": "HANA@"}))).await,
        ["hana"]
    );
    assert_eq!(
        emails_of(&app, &c, filter(json!({"firstName": "far"}))).await,
        ["farah"]
    );
    // Search and filters combine with AND.
    assert_eq!(
        emails_of(
            &app,
            &c,
            json!({"search": "acme", "filter": {"city": "austin"}})
        )
        .await,
        ["dmitri"]
    );
    let long = "x".repeat(101);
    let answer = app
        .as_admin(LIST, json!({"c": c, "filter": {"city": long}}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "filter.city");
}

async fn sorted_pages_visit_everyone_once_and_offsets_jump_to_the_same_rows(app: TestApp) {
    let c = conference_with_people(&app).await;
    // Same last names, so the id breaks ties; mixed case, so the sort ignores case.
    let order = json!({"field": "CITY", "direction": "DESC"});
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let answer = app
            .as_admin(
                LIST,
                json!({"c": c, "first": 3, "after": after, "order": order}),
            )
            .await;
        assert_no_errors(&answer);
        let page = &answer["data"]["attendees"];
        assert_eq!(page["totalCount"], 8);
        let cities: Vec<String> = page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["city"].as_str().unwrap().to_owned())
            .collect();
        pages.push(page["nodes"].clone());
        walked.extend(cities);
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(pages.len() < 5, "paging does not end");
    }
    let lower: Vec<String> = walked.iter().map(|c| c.to_lowercase()).collect();
    let mut expected = lower.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(lower, expected, "{walked:?}");
    assert_eq!(walked.len(), 8);

    // Jumping to the third page by offset gives the rows walking got there.
    let answer = app
        .as_admin(
            LIST,
            json!({"c": c, "first": 3, "offset": 6, "order": order}),
        )
        .await;
    assert_eq!(answer["data"]["attendees"]["nodes"], pages[2]);

    // A cursor stays good after its row is edited or others are added.
    let answer = app
        .as_admin(
            LIST,
            json!({"c": c, "first": 4, "order": {"field": "LAST_NAME"}}),
        )
        .await;
    let cursor = answer["data"]["attendees"]["pageInfo"]["endCursor"].clone();
    let seen_first: HashSet<String> = answer["data"]["attendees"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    import(
        &app,
        &c,
        &format!("{HEADER}Zed,Aaron,zed@example.org,Engineer,Acme,Oslo,OS,,\n"),
        false,
    )
    .await;
    let answer = app
        .as_admin(
            LIST,
            json!({"c": c, "first": 100, "after": cursor, "order": {"field": "LAST_NAME"}}),
        )
        .await;
    let rest: HashSet<String> = answer["data"]["attendees"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rest.len(), 4, "{answer}");
    assert!(seen_first.is_disjoint(&rest));

    let answer = app
        .as_admin(LIST, json!({"c": c, "offset": 3, "after": cursor}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
}

const UPDATE: &str = "mutation($id: ID!, $input: UpdateAttendeeInput!) {
    updateAttendee(id: $id, input: $input) { id firstName email city interests }
}";

fn fields(email: &str) -> Value {
    json!({"firstName": "Ana Maria", "lastName": "Silva", "email": email,
           "jobPosition": "Engineer", "company": "Acme", "city": "Évora", "state": "",
           "interests": " "})
}

async fn first_id(app: &TestApp, conference: &str, email: &str) -> String {
    let answer = app
        .as_admin(LIST, json!({"c": conference, "filter": {"email": email}}))
        .await;
    answer["data"]["attendees"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn an_edit_is_checked_like_a_registration(app: TestApp) {
    let c = conference_with_people(&app).await;
    let ana = first_id(&app, &c, "ana@").await;
    // `state` is required, as in the registration form.
    let answer = app
        .as_admin(
            UPDATE,
            json!({"id": ana, "input": fields("ana@example.org")}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "state");

    let mut input = fields("ANA.M@example.org");
    input["state"] = json!("Alentejo");
    let answer = app
        .as_admin(UPDATE, json!({"id": ana, "input": input}))
        .await;
    assert_no_errors(&answer);
    assert_eq!(answer["data"]["updateAttendee"]["city"], "Évora");
    assert_eq!(answer["data"]["updateAttendee"]["interests"], Value::Null);
    // Letters beyond ASCII match in the case typed on SQLite, in any case on PostgreSQL.
    assert_eq!(
        emails_of(&app, &c, json!({"search": "Évora"})).await,
        ["ANA.M"]
    );

    // Another attendee's email, in any case, is a conflict.
    input["email"] = json!("Bruno@Example.org");
    let answer = app
        .as_admin(UPDATE, json!({"id": ana, "input": input}))
        .await;
    assert_eq!(error_code(&answer), Some("CONFLICT"), "{answer}");

    input["email"] = json!("ana@example.org");
    assert_update_needs_an_admin_and_a_known_id(&app, UPDATE, &ana, &input).await;
}

const REMOVE: &str = "mutation($id: ID!) { removeAttendee(id: $id) }";

async fn removing_needs_an_admin_and_answers_not_found_afterwards(app: TestApp) {
    let c = conference_with_people(&app).await;
    let gus = first_id(&app, &c, "gus@").await;
    let integrator = app.token(techconf::domain::Role::Integrator).await;
    let answer = app
        .graphql(Some(&integrator), REMOVE, json!({"id": gus}))
        .await;
    assert_eq!(error_code(&answer), Some("FORBIDDEN"), "{answer}");
    let answer = app.as_admin(REMOVE, json!({"id": gus})).await;
    assert_no_errors(&answer);
    assert_eq!(answer["data"]["removeAttendee"], json!(gus));
    assert_eq!(app.count("attendee").await, 7);
    let answer = app.as_admin(REMOVE, json!({"id": gus})).await;
    assert_eq!(error_code(&answer), Some("NOT_FOUND"), "{answer}");

    // Someone a notification was planned for keeps their delivery history.
    let ana = first_id(&app, &c, "ana@").await;
    let notification = app.notify(&c, "Hello", "Hi {{ first_name }}").await;
    {
        use sea_orm::{ActiveValue::Set, EntityTrait};
        use techconf::entity::delivery;
        delivery::Entity::insert(delivery::ActiveModel {
            notification_id: Set(notification.parse().unwrap()),
            attendee_id: Set(ana.parse().unwrap()),
            email: Set("ana@example.org".into()),
            status: Set(techconf::domain::DeliveryStatus::Pending),
            attempts: Set(0),
            ..Default::default()
        })
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    let answer = app.as_admin(REMOVE, json!({"id": ana})).await;
    assert_eq!(error_code(&answer), Some("CONFLICT"), "{answer}");
    assert_eq!(app.count("attendee").await, 7);
}

async fn an_import_reports_each_rejected_row_and_writes_nothing_until_all_are_valid(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    let csv = format!(
        "{HEADER}Ana,Silva,ana@example.org,Engineer,Acme,Lisbon,LX,,\n\
         Bruno,Costa,not-an-email,Designer,Globex,Seattle,WA,,\n\
         ,Ramos,carla@example.org,Engineer,Initech,Porto,PT,,\n\
         Ana,Again,ANA@example.org,Engineer,Acme,Lisbon,LX,,\n"
    );
    for dry in [true, false] {
        let report = import(&app, &c, &csv, dry).await;
        assert_eq!(report["applied"], false, "{report}");
        assert_eq!(report["rows"], 4);
        assert_eq!(report["created"], 1);
        let rejected: Vec<(i64, &str)> = report["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["line"].as_i64().unwrap(), r["field"].as_str().unwrap()))
            .collect();
        assert_eq!(rejected, [(3, "email"), (4, "firstName"), (5, "email")]);
        assert_eq!(app.count("attendee").await, 0);
    }
    let fixed = format!("{HEADER}Ana,Silva,ana@example.org,Engineer,Acme,Lisbon,LX,,\n");
    let report = import(&app, &c, &fixed, true).await;
    assert_eq!(
        (report["applied"].clone(), report["created"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(app.count("attendee").await, 0);
    let report = import(&app, &c, &fixed, false).await;
    assert_eq!(report["applied"], true);
    assert_eq!(app.count("attendee").await, 1);
    // Imports send no confirmation emails.
    assert_eq!(app.count("job").await, 0);

    let answer = app
        .as_admin(
            IMPORT,
            json!({"c": c, "csv": "first_name,email\nAna,a@b.org\n", "dry": false}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "csv");
}

async fn importing_the_same_file_twice_changes_nothing_the_second_time(app: TestApp) {
    let c = conference_with_people(&app).await;
    let report = import(&app, &c, &format!("{HEADER}{PEOPLE}"), false).await;
    assert_eq!(
        (&report["created"], &report["updated"], &report["unchanged"]),
        (&json!(0), &json!(0), &json!(8)),
        "{report}"
    );
    // Matched by email in any case: the row is updated, not duplicated.
    let edited = format!("{HEADER}Ana,Silva-Lopes,ANA@EXAMPLE.ORG,Engineer,Acme,Lisbon,LX,,\n");
    let report = import(&app, &c, &edited, false).await;
    assert_eq!(
        (&report["created"], &report["updated"]),
        (&json!(0), &json!(1))
    );
    assert_eq!(app.count("attendee").await, 8);
    assert_eq!(
        emails_of(&app, &c, json!({"filter": {"lastName": "lopes"}})).await,
        ["ANA"]
    );
}

async fn export(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!(
        "{}/admin/export/attendees.csv?{query}",
        app.address
    ));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn the_csv_export_streams_filtered_rows_and_reimports_unchanged(app: TestApp) {
    let c = conference_with_people(&app).await;
    let response = export(&app, &format!("conferenceId={c}"), Some(&app.admin_token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let all = response.text().await.unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(
        lines[0],
        "first_name,last_name,email,job_position,company,city,state,interests,comments,registered_at"
    );
    assert_eq!(lines.len(), 9);
    assert!(all.contains("\"quoted, with comma\""), "{all}");

    let filtered = export(
        &app,
        &format!("conferenceId={c}&search=seattle&company=umbrella"),
        Some(&app.admin_token),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    assert!(
        filtered
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("Eve,Adams,eve@")
    );

    // The export imports back as it is: nothing to change.
    let report = import(&app, &c, &all, true).await;
    assert_eq!(report["unchanged"], 8, "{report}");
    assert_eq!(report["rejected"], json!([]));
}

async fn the_csv_export_needs_a_token_and_a_known_conference(app: TestApp) {
    let c = conference_with_people(&app).await;
    let query = format!("conferenceId={c}");
    assert_eq!(export(&app, &query, None).await.status(), 401);
    assert_eq!(
        export(&app, &query, Some("wrong-token")).await.status(),
        401
    );
    let integrator = app.token(techconf::domain::Role::Integrator).await;
    assert_eq!(export(&app, &query, Some(&integrator)).await.status(), 200);
    let unknown = format!("conferenceId={}", uuid::Uuid::now_v7());
    let response = export(&app, &unknown, Some(&app.admin_token)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
    let response = export(&app, "conferenceId=nope", Some(&app.admin_token)).await;
    assert_eq!(response.status(), 400);
}
