//! Logging and request ids.
//!
//! Logs are human-readable by default, JSON lines with `LOG_FORMAT=json`; `RUST_LOG` filters.
//! Every HTTP request carries an `x-request-id` (the client's, when it sent a sane one, or a
//! new UUID), returned in the response and recorded on the request's span, so every log line
//! of that request shows it.
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,tower_http=info"));
    // Logs go to stderr, so command output on stdout (a token, the schema) stays clean.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest client-sent request id kept; a longer or odd one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Middleware: makes sure the request has a usable `x-request-id` and echoes it.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let sent = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| usable_request_id(v.as_bytes()))
        .cloned();
    let id = match sent {
        Some(id) => id,
        None => {
            let generated = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string());
            match generated {
                Ok(id) => id,
                Err(_) => return next.run(request).await,
            }
        }
    };
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The request id of a request that passed through [`request_id`].
pub fn request_id_of<B>(request: &axum::http::Request<B>) -> &str {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn usable_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(usable_request_id(b"abc-123_x.y:z"));
        assert!(!usable_request_id(b""));
        assert!(!usable_request_id(b"with space"));
        assert!(!usable_request_id(b"quote\"d"));
        assert!(!usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
    }
}
