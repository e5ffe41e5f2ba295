//! The HTTP transport under `azure_messaging_servicebus`: one pooled reqwest 0.12 client
//! (the crate's default opens a new connection for every call), and an optional rewrite of
//! scheme, host and port to a local endpoint for tests.
//!
//! The rewrite touches the URL the request is *sent* to and nothing else: the crate has
//! already signed the SAS token over the original `https://NS.servicebus.windows.net/...`
//! URL, and the token goes out unchanged, so a local server can check the real signature.
use std::collections::HashMap;
use std::time::Duration;

use azure_core::error::{Error, ErrorKind};
use azure_core::headers::{HeaderName, HeaderValue, Headers};
use azure_core::{Body, HttpClient, Method, Request, Response, StatusCode, Url};

/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to a peek-lock's server-side `timeout`, so the server answers (204) before we give up.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(15);

/// Where requests go instead of `https://NS.servicebus.windows.net` (tests only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointOverride {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl EndpointOverride {
    /// From a base URL such as `http://127.0.0.1:41234`. Only its scheme, host and port are used.
    pub fn parse(base: &str) -> Result<Self, String> {
        let url = Url::parse(base).map_err(|e| format!("`{base}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{base}`: the scheme must be http or https"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{base}` has no host"))?
            .to_owned();
        Ok(Self {
            scheme: url.scheme().to_owned(),
            host,
            port: url.port(),
        })
    }

    fn apply(&self, url: &Url) -> Result<Url, Error> {
        let mut target = url.clone();
        let bad = |what: &str| {
            Error::with_message(ErrorKind::Other, || {
                format!("cannot redirect a Service Bus request: {what}")
            })
        };
        target
            .set_scheme(&self.scheme)
            .map_err(|()| bad("bad scheme"))?;
        target
            .set_host(Some(&self.host))
            .map_err(|_| bad("bad host"))?;
        target.set_port(self.port).map_err(|()| bad("bad port"))?;
        Ok(target)
    }
}

/// The `azure_core::HttpClient` given to the crate.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    endpoint: Option<EndpointOverride>,
    request_timeout: Duration,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Option<EndpointOverride>,
        request_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            endpoint,
            request_timeout,
        })
    }

    /// A peek-lock waits on the server for up to its `timeout` query parameter (seconds).
    fn timeout_for(&self, url: &Url) -> Duration {
        url.query_pairs()
            .find(|(name, _)| name == "timeout")
            .and_then(|(_, value)| value.parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs) + LONG_POLL_MARGIN)
            .unwrap_or(self.request_timeout)
            .max(self.request_timeout)
    }
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<Response> {
        let url = match &self.endpoint {
            Some(endpoint) => endpoint.apply(request.url())?,
            None => request.url().clone(),
        };
        let mut builder = self
            .client
            .request(method(request.method())?, url)
            .timeout(self.timeout_for(request.url()));
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = match request.body() {
            Body::Bytes(bytes) => builder.body(bytes.clone()),
            Body::SeekableStream(_) => {
                return Err(Error::message(
                    ErrorKind::Other,
                    "streaming request bodies are not used with Service Bus",
                ));
            }
        };
        let response = builder.send().await.map_err(network_error)?;
        let status = StatusCode::try_from(response.status().as_u16()).map_err(|_| {
            Error::with_message(ErrorKind::DataConversion, || {
                format!("unknown HTTP status {}", response.status())
            })
        })?;
        let headers = headers(response.headers());
        // Service Bus messages are small (256 KB on Standard): reading the body here keeps
        // a slow body inside the request timeout and lets the connection return to the pool.
        let body = response.bytes().await.map_err(network_error)?;
        Ok(Response::new(
            status,
            headers,
            Box::pin(futures::stream::iter([Ok(body)])),
        ))
    }
}

fn method(method: &Method) -> azure_core::Result<reqwest::Method> {
    reqwest::Method::from_bytes(method.as_ref().as_bytes()).map_err(|_| {
        Error::with_message(ErrorKind::Other, || format!("unsupported method {method}"))
    })
}

fn headers(map: &reqwest::header::HeaderMap) -> Headers {
    map.iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((
                HeaderName::from(name.as_str().to_owned()),
                HeaderValue::from(value.to_owned()),
            ))
        })
        .collect::<HashMap<_, _>>()
        .into()
}

/// A connection, TLS or timeout failure: `ErrorKind::Io`, which the client retries. The text is
/// the whole cause chain (reqwest's top-level message alone says little).
fn network_error(error: reqwest::Error) -> Error {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::message(ErrorKind::Io, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_changes_only_scheme_host_and_port() {
        let endpoint = EndpointOverride::parse("http://127.0.0.1:41234").unwrap();
        let original =
            Url::parse("https://ns.servicebus.windows.net/q/messages/head?timeout=5").unwrap();
        let target = endpoint.apply(&original).unwrap();
        assert_eq!(
            target.as_str(),
            "http://127.0.0.1:41234/q/messages/head?timeout=5"
        );
        assert!(EndpointOverride::parse("ftp://x").is_err());
    }

    #[test]
    fn long_polls_get_their_server_timeout_plus_a_margin() {
        let transport = Transport::new(None, Duration::from_secs(30)).unwrap();
        let head =
            Url::parse("https://ns.servicebus.windows.net/q/messages/head?timeout=60").unwrap();
        assert_eq!(transport.timeout_for(&head), Duration::from_secs(75));
        let send = Url::parse("https://ns.servicebus.windows.net/q/messages").unwrap();
        assert_eq!(transport.timeout_for(&send), Duration::from_secs(30));
    }
}
