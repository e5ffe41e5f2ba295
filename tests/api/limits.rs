use serde_json::json;

use crate::helpers::{Backend, TestApp, error_code, on_both_backends, spawn_app_with};

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
    assert_eq!(error_code(&deep), Some("VALIDATION"), "{deep}");

    let complex = app
        .as_admin(
            "{ conferences(first: 100) { nodes { id name } } }",
            json!({}),
        )
        .await;
    let message = complex["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too complex"), "{complex}");
    assert_eq!(error_code(&complex), Some("VALIDATION"), "{complex}");

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
