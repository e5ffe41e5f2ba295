//! Request budgets: every attack from the hardening issue, refused with a typed error while
//! the server keeps answering `/healthz`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_no_errors, error_code, healthz_stays_responsive, on_both_backends,
    registration, spawn_app_with,
};

on_both_backends!(health_and_readiness_answer);

async fn health_and_readiness_answer(app: TestApp) {
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    let graphiql = app
        .client
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        graphiql.contains("graphiql"),
        "GraphiQL is served on GET /graphql"
    );
}

#[tokio::test]
async fn deep_complex_and_oversized_requests_are_refused() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GRAPHQL_MAX_DEPTH", "3"),
            ("GRAPHQL_MAX_COMPLEXITY", "150"),
            ("GRAPHQL_MAX_BODY_BYTES", "2048"),
        ],
    )
    .await;
    let deep = app
        .as_admin(
            "{ notifications(first: 1) { edges { node { conference { name } } } } }",
            json!({}),
        )
        .await;
    let message = deep["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nested too deep"), "{deep}");
    assert_eq!(error_code(&deep), Some("LIMIT_EXCEEDED"), "{deep}");
    assert_eq!(deep["errors"][0]["extensions"]["limit"], "depth", "{deep}");

    let complex = app
        .as_admin(
            "{ conferences(first: 100) { nodes { id name } } }",
            json!({}),
        )
        .await;
    let message = complex["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too complex"), "{complex}");
    assert_eq!(error_code(&complex), Some("LIMIT_EXCEEDED"), "{complex}");
    assert_eq!(complex["errors"][0]["extensions"]["limit"], "complexity");

    let unknown_field = app.as_admin("{ conferences { bogus } }", json!({})).await;
    assert_eq!(
        error_code(&unknown_field),
        Some("VALIDATION"),
        "{unknown_field}"
    );

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(
            &json!({"query": format!("{{ conferences {{ totalCount }} }} # {}", "x".repeat(4096))}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // A request within the limits still works.
    let ok = app
        .graphql(None, "{ conferences { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&ok), None, "{ok}");
}

/// Posts `body` to /graphql, returning the status, the body's size and its JSON.
async fn post(app: &TestApp, body: &Value) -> (u16, usize, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, bytes.len(), json)
}

fn aliased(count: usize, field: &str) -> String {
    let mut query = String::from("query($x: ID!) {");
    for i in 0..count {
        query.push_str(&format!(" a{i}: {field}"));
    }
    query.push('}');
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_aliases_of_a_huge_invalid_id_are_refused_and_errors_never_repeat_it() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let huge = "x".repeat(150_000);
    let body =
        json!({"query": aliased(1_500, "conference(id: $x) { id }"), "variables": {"x": huge}});
    let answers = healthz_stays_responsive(&app, async {
        futures::future::join_all((0..8).map(|_| post(&app, &body))).await
    })
    .await;
    for (status, size, answer) in answers {
        assert_eq!(status, 200);
        assert!(size < 2_000, "a refusal is small: {size} bytes");
        assert_eq!(error_code(&answer), Some("LIMIT_EXCEEDED"), "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["limit"], "rootFields");
    }

    // With the alias and cost caps off, each error still quotes only a prefix of the id.
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GRAPHQL_MAX_ALIASES", "0"),
            ("GRAPHQL_MAX_ROOT_FIELDS", "0"),
            ("GRAPHQL_MAX_COMPLEXITY", "0"),
        ],
    )
    .await;
    let (_, size, answer) = healthz_stays_responsive(&app, post(&app, &body)).await;
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1_500, "{}", errors[0]);
    for error in errors {
        assert_eq!(error["extensions"]["code"], "VALIDATION", "{error}");
        assert!(error["message"].as_str().unwrap().len() < 100, "{error}");
    }
    assert!(
        size < 1_000_000,
        "the whole answer is bounded: {size} bytes"
    );

    // And a response larger than the cap is refused as a whole.
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GRAPHQL_MAX_ALIASES", "0"),
            ("GRAPHQL_MAX_ROOT_FIELDS", "0"),
            ("GRAPHQL_MAX_COMPLEXITY", "0"),
            ("GRAPHQL_MAX_RESPONSE_BYTES", "50000"),
        ],
    )
    .await;
    let (_, size, answer) = post(&app, &body).await;
    assert_eq!(error_code(&answer), Some("LIMIT_EXCEEDED"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "responseBytes");
    assert!(size < 1_000, "{size}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_aliases_with_first_zero_are_not_free() {
    let app = spawn_app_with(Backend::Postgres, &[]).await;
    app.create_conference("RustConf").await;
    let mut query = String::from("{");
    for i in 0..6_000 {
        query.push_str(&format!("a{i}:conferences(first:0){{totalCount}}"));
    }
    query.push('}');
    let body = json!({ "query": query });
    let answers = healthz_stays_responsive(&app, async {
        futures::future::join_all((0..3).map(|_| post(&app, &body))).await
    })
    .await;
    for (status, _, answer) in answers {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(error_code(&answer), Some("LIMIT_EXCEEDED"), "{answer}");
        assert!(answer["data"].is_null(), "nothing ran: {answer}");
    }

    // Within the alias cap, the cost model refuses them: each costs a count query.
    let query = aliased(25, "conferences(first: 0) { totalCount }").replace("query($x: ID!)", "");
    let app = spawn_app_with(
        Backend::Postgres,
        &[
            ("GRAPHQL_MAX_COMPLEXITY", "500"),
            ("GRAPHQL_MAX_ROOT_FIELDS", "0"),
        ],
    )
    .await;
    let answer = app.graphql(None, &query, json!({})).await;
    assert_eq!(error_code(&answer), Some("LIMIT_EXCEEDED"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "complexity");
    let answer = app
        .graphql(None, "{ conferences(first: 0) { totalCount } }", json!({}))
        .await;
    assert_no_errors(&answer);
}

#[tokio::test]
async fn too_many_root_fields_are_refused() {
    let app = spawn_app_with(Backend::Sqlite, &[("GRAPHQL_MAX_ROOT_FIELDS", "3")]).await;
    let answer = app
        .graphql(
            None,
            "{ a: conferences { totalCount } b: conferences { totalCount } c: conferences { totalCount } d: conferences { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("LIMIT_EXCEEDED"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "rootFields");
}

on_both_backends!(two_registrations_in_one_request_are_refused);

async fn two_registrations_in_one_request_are_refused(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let answer = app
        .graphql(
            None,
            "mutation($a: RegisterAttendeeInput!, $b: RegisterAttendeeInput!) {
                a: registerAttendee(input: $a) { id }
                b: registerAttendee(input: $b) { id }
            }",
            json!({"a": registration(&conference, "a@example.org"),
                   "b": registration(&conference, "b@example.org")}),
        )
        .await;
    assert_eq!(error_code(&answer), Some("LIMIT_EXCEEDED"), "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["limit"],
        "publicMutations"
    );
    assert_eq!(app.count("attendee").await, 0);
    assert_eq!(app.count("job").await, 0, "no confirmation is queued");
    assert_no_errors(&app.register(&conference, "a@example.org").await);
}

#[tokio::test]
async fn nested_introspection_is_refused_but_ordinary_introspection_is_not() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let ok = app
        .graphql(
            None,
            "{ __schema { queryType { name } types { name fields { name type { name ofType { name ofType { name ofType { name ofType { name } } } } } } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&ok);
    let nested = app
        .graphql(
            None,
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&nested), Some("LIMIT_EXCEEDED"), "{nested}");
    assert_eq!(
        nested["errors"][0]["extensions"]["limit"],
        "introspectionDepth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_runs_too_long_is_stopped_with_a_typed_error() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app_with(Backend::Postgres, &[("GRAPHQL_TIMEOUT_MS", "300")]).await;
    // Another session holds the conference table, so the query waits until the timeout.
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE conference IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let (status, _, answer) = healthz_stays_responsive(
        &app,
        post(&app, &json!({"query": "{ conferences { totalCount } }"})),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 200);
    assert_eq!(error_code(&answer), Some("TIMEOUT"), "{answer}");
    lock.rollback().await.unwrap();
    let answer = app
        .graphql(None, "{ conferences { totalCount } }", json!({}))
        .await;
    assert_no_errors(&answer);
}

on_both_backends!(nul_bytes_and_undeliverable_addresses_are_validation_errors);

async fn nul_bytes_and_undeliverable_addresses_are_validation_errors(app: TestApp) {
    let conference = app.create_conference("RustConf").await;
    let search =
        "query($c: ID!, $s: String) { attendees(conferenceId: $c, search: $s) { totalCount } }";
    let answer = app
        .as_admin(search, json!({"c": conference, "s": "a\u{0}b"}))
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    let inline = format!(
        "{{ attendees(conferenceId: \"{conference}\", search: \"a\\u0000b\") {{ totalCount }} }}"
    );
    let answer = app.as_admin(&inline, json!({})).await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    let mut input = registration(&conference, "ada@example.org");
    input["company"] = json!("Analytical\u{0}Engines");
    let answer = app
        .graphql(
            None,
            "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");

    for email in ["\"a b\"@example.org", "a@[127.0.0.1]"] {
        let answer = app.register(&conference, email).await;
        assert_eq!(error_code(&answer), Some("VALIDATION"), "{email}: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["field"], "email");
    }
    assert_eq!(app.count("attendee").await, 0);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let get = |path: &'static str| app.client.get(format!("{}{path}", app.address)).send();
    let responses = [
        get("/graphql").await.unwrap(),
        get("/healthz").await.unwrap(),
        get("/register/x").await.unwrap(),
        app.client
            .post(format!("{}/graphql", app.address))
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap(),
    ];
    for response in responses {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
}
