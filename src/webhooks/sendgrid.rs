//! `POST /webhooks/sendgrid`: SendGrid's Event Webhook, with Signed Event Webhook
//! verification.
//!
//! SendGrid signs `timestamp || body` with ECDSA P-256 / SHA-256; the signature (base64
//! DER) is in `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in
//! `X-Twilio-Email-Event-Webhook-Timestamp`, and the verification key (base64 DER
//! SubjectPublicKeyInfo, as the SendGrid console shows it) in `WEBHOOK_SENDGRID_PUBLIC_KEY`.
//! The body is checked byte for byte as received, before it is parsed.
//!
//! Events: `bounce` (type `bounce`) is a hard bounce, `bounce` of type `blocked` and
//! `deferred` are soft bounces, `spamreport` is a complaint, `delivered` is recorded.
//! Events are matched by `smtp-id` (our Message-ID) and de-duplicated by `sg_event_id`.
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;

use super::{EventKind, ProviderEvent, apply_all};
use crate::app::AppState;

pub const PROVIDER: &str = "sendgrid";
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// Reads the key as SendGrid shows it: base64 DER, or a PEM `PUBLIC KEY`.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| format!("not a P-256 public key in PEM: {e}"));
    }
    let der = STANDARD
        .decode(text)
        .map_err(|_| "not base64 (paste the verification key SendGrid shows)".to_owned())?;
    VerifyingKey::from_public_key_der(&der).map_err(|e| format!("not a P-256 public key: {e}"))
}

/// Checks SendGrid's signature over `timestamp || body`.
pub fn verify(key: &VerifyingKey, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Ok(der) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&der) else {
        return false;
    };
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.verify(&signed, &signature).is_ok()
}

#[derive(Debug, Deserialize)]
struct SendGridEvent {
    event: String,
    #[serde(default)]
    sg_event_id: Option<String>,
    #[serde(default, rename = "smtp-id")]
    smtp_id: Option<String>,
    #[serde(default, rename = "type")]
    bounce_type: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(key) = &state.webhooks.sendgrid_key else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER))
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !verify(key, timestamp, &body, signature) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let events: Vec<SendGridEvent> = match serde_json::from_slice(&body) {
        Ok(events) => events,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let events: Vec<ProviderEvent> = events.into_iter().filter_map(to_event).collect();
    apply_all(&state.db, PROVIDER, &events)
        .await
        .into_response()
}

fn to_event(event: SendGridEvent) -> Option<ProviderEvent> {
    // Without an event id a replay cannot be recognised: such an event is not acted on.
    let event_id = event.sg_event_id?;
    let kind = match (event.event.as_str(), event.bounce_type.as_deref()) {
        ("bounce", Some("blocked")) | ("deferred", _) => EventKind::SoftBounce,
        ("bounce", _) => EventKind::HardBounce,
        ("spamreport", _) => EventKind::Complaint,
        ("delivered", _) => EventKind::Delivered,
        _ => EventKind::Other,
    };
    let detail = [
        Some(event.event.as_str()),
        event.status.as_deref(),
        event.reason.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(": ");
    Some(ProviderEvent {
        event_id,
        message_id: event.smtp_id,
        kind,
        detail: Some(detail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;

    #[test]
    fn a_signature_over_timestamp_and_body_verifies_and_a_changed_byte_does_not() {
        let signing = SigningKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
        let public = STANDARD.encode(
            signing
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        );
        let key = parse_public_key(&public).unwrap();
        let body = br#"[{"event":"bounce"}]"#;
        let signature: Signature = signing.sign(b"1700000000[{\"event\":\"bounce\"}]");
        let signature = STANDARD.encode(signature.to_der().as_bytes());
        assert!(verify(&key, "1700000000", body, &signature));
        assert!(!verify(&key, "1700000001", body, &signature));
        assert!(!verify(
            &key,
            "1700000000",
            br#"[{"event":"bouncf"}]"#,
            &signature
        ));
        assert!(!verify(&key, "1700000000", body, "bm90IGEgc2lnbmF0dXJl"));
        assert!(parse_public_key("not base64!").is_err());
    }
}
