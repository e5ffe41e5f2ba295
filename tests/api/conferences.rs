//! Managing conferences: currency and region, edits, closing and reopening registration.
use serde_json::json;

use crate::helpers::{
    TestApp, assert_no_errors, assert_update_needs_an_admin_and_a_known_id, error_code,
    on_both_backends,
};

on_both_backends!(
    a_conference_has_a_currency_and_an_optional_region,
    an_edit_keeps_registration_open_or_closed_as_it_was,
    closing_stops_registration_and_reopening_resumes_it,
);

const CREATE: &str = "mutation($input: CreateConferenceInput!) {
    createConference(input: $input) { id currency region price }
}";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateConferenceInput!) {
    updateConference(id: $id, input: $input) { id name startsOn price currency region active }
}";
const SET_ACTIVE: &str = "mutation($id: ID!, $active: Boolean!) {
    setConferenceActive(id: $id, active: $active) { id active }
}";

async fn a_conference_has_a_currency_and_an_optional_region(app: TestApp) {
    // Without a currency, the price is in euros, and there is no region.
    let c = app.create_conference("RustConf").await;
    let answer = app
        .graphql(
            None,
            "query($id: ID!) { conference(id: $id) { currency region } }",
            json!({"id": c}),
        )
        .await;
    assert_eq!(
        answer["data"]["conference"],
        json!({"currency": "EUR", "region": null})
    );

    let input = json!({"name": "SeaConf", "startsOn": "2027-06-01", "price": 99.0,
                       "address": "1 Pike St, Seattle", "currency": "usd", "region": "WA"});
    let answer = app.as_admin(CREATE, json!({"input": input})).await;
    assert_no_errors(&answer);
    assert_eq!(answer["data"]["createConference"]["currency"], "USD");
    assert_eq!(answer["data"]["createConference"]["region"], "WA");

    let mut bad = input.clone();
    bad["currency"] = json!("dollars");
    let answer = app.as_admin(CREATE, json!({"input": bad})).await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "currency");
}

async fn an_edit_keeps_registration_open_or_closed_as_it_was(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    app.as_admin(SET_ACTIVE, json!({"id": c, "active": false}))
        .await;
    let input = json!({"name": "RustConf 2027", "startsOn": "2027-09-01", "price": 250.0,
                       "address": "Praça do Comércio, Lisboa", "currency": "EUR", "region": " "});
    let answer = app.as_admin(UPDATE, json!({"id": c, "input": input})).await;
    assert_no_errors(&answer);
    assert_eq!(
        answer["data"]["updateConference"],
        json!({"id": c, "name": "RustConf 2027", "startsOn": "2027-09-01", "price": 250.0,
               "currency": "EUR", "region": null, "active": false})
    );
    assert_update_needs_an_admin_and_a_known_id(&app, UPDATE, &c, &input).await;
}

async fn closing_stops_registration_and_reopening_resumes_it(app: TestApp) {
    let c = app.create_conference("RustConf").await;
    let answer = app
        .as_admin(SET_ACTIVE, json!({"id": c, "active": false}))
        .await;
    assert_eq!(answer["data"]["setConferenceActive"]["active"], false);
    let answer = app.register(&c, "ada@example.org").await;
    assert_eq!(error_code(&answer), Some("VALIDATION"), "{answer}");
    let answer = app
        .as_admin(SET_ACTIVE, json!({"id": c, "active": true}))
        .await;
    assert_eq!(answer["data"]["setConferenceActive"]["active"], true);
    let answer = app.register(&c, "ada@example.org").await;
    assert_no_errors(&answer);
}
