//! Logging and request ids.
//!
//! Logs are human-readable by default, JSON lines with `LOG_FORMAT=json`; `RUST_LOG` filters.
//! With the `otlp` cargo feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also
//! exported over OTLP/HTTP.
//! Every HTTP request carries an `x-request-id` (the client's, when it sent a sane one, or a
//! new UUID), returned in the response and recorded on the request's span, so every log line
//! of that request shows it.
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Keeps the trace exporter running; dropping it flushes and stops it.
#[must_use = "dropping the guard stops trace export at once"]
pub struct TelemetryGuard {
    #[cfg(feature = "otlp")]
    otlp: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.otlp.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Without `RUST_LOG`: `info`, less for chatty dependencies. async-graphql's per-resolver
/// spans are off (each page or subscription event would open one per field);
/// `RUST_LOG=info,async_graphql=info` turns them on.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,tower_http=info,async_graphql=warn";

/// The environment variable that turns on OTLP trace export (HTTP, protobuf).
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Installs the global subscriber: logs to stderr, plus OTLP export when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the `otlp` feature is built in.
pub fn init(format: LogFormat) -> TelemetryGuard {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Logs go to stderr, so command output on stdout (a token, the schema) stays clean.
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    #[cfg_attr(not(feature = "otlp"), allow(unused_mut))]
    let mut layers: Vec<Box<dyn tracing_subscriber::Layer<_> + Send + Sync>> = vec![match format {
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
        LogFormat::Text => logs.boxed(),
    }];
    let endpoint = std::env::var(OTLP_ENDPOINT)
        .ok()
        .filter(|e| !e.trim().is_empty());
    #[cfg(feature = "otlp")]
    let otlp = match endpoint.as_deref().map(|_| otlp::provider(None)) {
        Some(Ok(provider)) => {
            layers.push(otlp::layer(&provider).boxed());
            Some(provider)
        }
        Some(Err(err)) => {
            eprintln!("warning: {OTLP_ENDPOINT}: traces will not be exported: {err}");
            None
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init();
    if cfg!(not(feature = "otlp")) && endpoint.is_some() {
        tracing::warn!(
            "{OTLP_ENDPOINT} is set but this build has no OTLP export (cargo feature `otlp`)"
        );
    }
    TelemetryGuard {
        #[cfg(feature = "otlp")]
        otlp,
    }
}

/// OTLP trace export over HTTP (protobuf), batched on its own thread.
#[cfg(feature = "otlp")]
pub mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    /// A provider exporting to `endpoint` (a full URL such as `http://host:4318/v1/traces`),
    /// or, without one, to what the standard `OTEL_EXPORTER_OTLP_*` variables say.
    pub fn provider(endpoint: Option<&str>) -> anyhow::Result<SdkTracerProvider> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
        if let Some(endpoint) = endpoint {
            exporter = exporter.with_endpoint(endpoint);
        }
        let exporter = exporter.build()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("techconf")
            .build();
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build())
    }

    /// The `tracing` layer that hands spans to `provider`.
    pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("techconf"))
    }
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

    /// With the `otlp` feature, a span reaches an OTLP/HTTP collector (a loopback stand-in
    /// that reads one request and answers 200).
    #[cfg(feature = "otlp")]
    #[test]
    fn spans_are_exported_over_otlp_http() {
        use std::io::{BufRead, BufReader, Read, Write};
        use tracing_subscriber::layer::SubscriberExt as _;

        let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", collector.local_addr().unwrap());
        let received = std::thread::spawn(move || {
            let (stream, _) = collector.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            (request_line, body)
        });

        let provider = otlp::provider(Some(&url)).unwrap();
        let subscriber = tracing_subscriber::registry().with(otlp::layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("otlp_probe_span").entered();
        });
        provider.force_flush().unwrap();
        let (request_line, body) = received.join().unwrap();
        assert!(
            request_line.starts_with("POST /v1/traces "),
            "{request_line}"
        );
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("otlp_probe_span"),
            "the span is in the export"
        );
        assert!(
            body.contains("techconf"),
            "the service name is in the export"
        );
        let _ = provider.shutdown();
    }

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(usable_request_id(b"abc-123_x.y:z"));
        assert!(!usable_request_id(b""));
        assert!(!usable_request_id(b"with space"));
        assert!(!usable_request_id(b"quote\"d"));
        assert!(!usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
    }
}
