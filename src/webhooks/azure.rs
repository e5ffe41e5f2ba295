//! `POST /webhooks/azure`: Azure Communication Services Email delivery reports, delivered by
//! an Event Grid subscription (Event Grid event schema).
//!
//! Authentication: Event Grid cannot sign requests, so the operator puts a shared secret
//! (`WEBHOOK_AZURE_SECRET`) in the subscription's endpoint URL (`?secret=…`) or in a delivery
//! header (`X-TechConf-Webhook-Secret`); it is compared in constant time. The subscription
//! validation handshake is answered with the validation code, after the same check.
//!
//! ACS report statuses: `Delivered` and `Expanded` are recorded; `Bounced`, `Failed` (final
//! after ACS's own retries) and `Suppressed` (ACS's suppression list) are hard bounces;
//! `Quarantined` and `FilteredSpam` are recorded as soft bounces. ACS sends no complaint
//! events.
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{EventKind, ProviderEvent, apply_all};
use crate::app::AppState;

pub const PROVIDER: &str = "azure";
pub const SECRET_HEADER: &str = "x-techconf-webhook-secret";

const VALIDATION_EVENT: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";
const DELIVERY_REPORT: &str = "Microsoft.Communication.EmailDeliveryReportReceived";

#[derive(Deserialize)]
pub struct SecretQuery {
    secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventGridEvent {
    id: String,
    event_type: String,
    #[serde(default)]
    data: serde_json::Value,
}

pub async fn receive(
    State(state): State<AppState>,
    Query(query): Query<SecretQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(expected) = &state.webhooks.azure_secret else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.secret);
    let authentic = given.is_some_and(|given| {
        bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes()))
    });
    if !authentic {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let events: Vec<EventGridEvent> = match serde_json::from_slice(&body) {
        Ok(events) => events,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    if let Some(validation) = events.iter().find(|e| e.event_type == VALIDATION_EVENT) {
        return match validation
            .data
            .get("validationCode")
            .and_then(|c| c.as_str())
        {
            Some(code) => Json(serde_json::json!({ "validationResponse": code })).into_response(),
            None => StatusCode::BAD_REQUEST.into_response(),
        };
    }
    let events: Vec<ProviderEvent> = events.iter().filter_map(to_event).collect();
    apply_all(&state.db, PROVIDER, &events)
        .await
        .into_response()
}

fn to_event(event: &EventGridEvent) -> Option<ProviderEvent> {
    if event.event_type != DELIVERY_REPORT {
        return None;
    }
    let field = |name: &str| event.data.get(name).and_then(|v| v.as_str());
    let status = field("status").unwrap_or_default();
    let kind = match status {
        "Delivered" | "Expanded" => EventKind::Delivered,
        "Bounced" | "Failed" | "Suppressed" => EventKind::HardBounce,
        "Quarantined" | "FilteredSpam" => EventKind::SoftBounce,
        _ => EventKind::Other,
    };
    let detail = event
        .data
        .get("deliveryStatusDetails")
        .and_then(|d| d.get("statusMessage"))
        .and_then(|m| m.as_str());
    Some(ProviderEvent {
        event_id: event.id.clone(),
        message_id: field("internetMessageId").map(str::to_owned),
        kind,
        detail: Some(match detail {
            Some(detail) => format!("{status}: {detail}"),
            None => status.to_owned(),
        }),
    })
}
