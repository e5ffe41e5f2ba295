//! Typed settings, read once at start-up from the environment (and an optional `.env` file).
//!
//! Every variable is documented in `.env.sample`. A bad value fails start-up with an error
//! that names the variable; secrets are wrapped so they never reach logs.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::queue::servicebus::ServiceBusSettings;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// All of TechConf's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    pub mail: MailSettings,
    pub admin_token: Option<SecretString>,
    pub log_format: LogFormat,
    pub web_dir: PathBuf,
    pub public_url: Option<String>,
    pub limits: ApiLimits,
    pub worker: WorkerSettings,
    /// Azure Service Bus as the job queue; `None` keeps the database queue.
    pub servicebus: Option<ServiceBusSettings>,
    /// One-click unsubscribe links (`UNSUBSCRIBE_*`).
    pub unsubscribe: crate::unsubscribe::UnsubscribeSettings,
    /// DKIM signing (`DKIM_*`); `None` sends unsigned.
    pub dkim: Option<crate::mail::Dkim>,
    /// Provider delivery-event webhooks (`WEBHOOK_*`).
    pub webhooks: crate::webhooks::WebhookSettings,
    pub connections: ConnectionLimits,
    /// Where `/metrics` is also served without a token (`METRICS_LISTEN`, API processes)
    /// and where worker processes serve it (`WORKER_METRICS_LISTEN`).
    pub metrics: MetricsSettings,
}

/// Private, unauthenticated `/metrics` listeners; `None` serves none.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsSettings {
    pub listen: Option<SocketAddr>,
    pub worker_listen: Option<SocketAddr>,
}

/// Bounds on client connections (`HTTP_*`, `WS_*`).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a request body may stall between two reads.
    pub body_read_timeout: Duration,
    pub sockets: crate::ws::SocketLimits,
}

/// A URL that may embed a secret: user info (`user:password@`) or a query parameter such as
/// `password=` or `sig=`. Its `Display` and `Debug` show it with those replaced by `***`, so
/// no log line or error message built from it can leak them; `expose` gives the real one.
#[derive(Clone)]
pub struct RedactedUrl(SecretString);

/// Query parameters whose value is a secret (compared without letter case).
const SECRET_PARAMETERS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "key",
    "sig",
    "signature",
    "sharedaccesskey",
    "sslpassword",
    "auth",
];

impl RedactedUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with user info and secret query parameters replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }

    /// `text` (say, a driver's error, which may quote the URL) with the URL and each of
    /// its secrets replaced.
    pub fn scrub(&self, text: &str) -> String {
        let raw = self.expose();
        let mut text = text.replace(raw, &self.redacted());
        for secret in url_secrets(raw) {
            if secret.len() >= 3 {
                text = text.replace(&secret, "***");
            }
        }
        text
    }
}

/// The secret parts of `raw`: the user info's password, and secret query values, both as
/// written and percent-decoded.
fn url_secrets(raw: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    if let Some((_, rest)) = base.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            secrets.push(userinfo.to_owned());
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password.to_owned());
            }
        }
    }
    for pair in query.split('&') {
        if let Some((name, value)) = pair.split_once('=')
            && is_secret_parameter(name)
        {
            secrets.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = secrets.iter().filter_map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

/// Redacts without parsing as a URL first (a `sqlite:` path or a malformed URL still has
/// its `user:pass@` and `password=` hidden): whatever sits between `://` and the last `@`
/// of the authority, and the value of every secret query parameter.
pub fn redact_url(raw: &str) -> String {
    let (base, query) = match raw.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (raw, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rfind('@') {
                Some(at) => format!("{scheme}://***@{}{path}", &authority[at + 1..]),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(name) => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.contains(&name.as_str())
}

impl std::fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where the database is: a [`RedactedUrl`] (it may carry a password).
#[derive(Clone)]
pub struct DatabaseUrl(RedactedUrl);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(RedactedUrl::new(url))
    }
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
    pub fn is_sqlite(&self) -> bool {
        self.expose().starts_with("sqlite:")
    }
    /// The URL with user info and secret parameters replaced, for logs.
    pub fn redacted(&self) -> String {
        self.0.redacted()
    }
    /// `text` with this URL's secrets replaced (see [`RedactedUrl::scrub`]).
    pub fn scrub(&self, text: &str) -> String {
        self.0.scrub(text)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How email leaves the process: `MAIL_URL`.
#[derive(Clone, Debug)]
pub enum MailSettings {
    /// `smtp://[user:pass@]host[:port][?tls=starttls|required]`
    Smtp {
        host: String,
        port: u16,
        credentials: Option<(String, SecretString)>,
        tls: SmtpTls,
    },
    /// `file://DIR`: one `.eml` file per message.
    File { dir: PathBuf },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP, no TLS (a local relay or test sink).
    None,
    /// Upgrade with STARTTLS; refuse to send if the server does not offer it.
    StartTls,
    /// Implicit TLS from the first byte (port 465).
    Required,
}

impl FromStr for MailSettings {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if let Some(dir) = value.strip_prefix("file://") {
            if dir.is_empty() {
                return Err("file:// needs a directory, e.g. file://./var/outbox".into());
            }
            return Ok(MailSettings::File { dir: dir.into() });
        }
        let url = url::Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
        if url.scheme() != "smtp" {
            return Err(format!(
                "unsupported scheme `{}`: use smtp:// or file://",
                url.scheme()
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("smtp:// needs a host")?
            .to_owned();
        let tls = match url.query_pairs().find(|(k, _)| k == "tls") {
            None => SmtpTls::None,
            Some((_, v)) if v == "none" => SmtpTls::None,
            Some((_, v)) if v == "starttls" => SmtpTls::StartTls,
            Some((_, v)) if v == "required" => SmtpTls::Required,
            Some((_, v)) => {
                return Err(format!("tls must be none, starttls or required, not `{v}`"));
            }
        };
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Required => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None => 25,
        });
        let credentials = if url.username().is_empty() {
            None
        } else {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| "credentials are not valid UTF-8".to_owned())
            };
            Some((
                decode(url.username())?,
                SecretString::from(decode(url.password().unwrap_or(""))?),
            ))
        };
        Ok(MailSettings::Smtp {
            host,
            port,
            credentials,
            tls,
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" | "pretty" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected text or json, not `{other}`")),
        }
    }
}

/// Protection against expensive or oversized GraphQL requests. `None` is a limit turned off
/// (its setting is 0); docs/SECURITY.md lists each one and what a caller sees.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    /// Nesting of ordinary fields; introspection has its own rule (see `graphql::limits`).
    pub max_depth: Option<usize>,
    /// The cost model's budget per operation (`graphql::limits`).
    pub max_complexity: Option<u64>,
    pub max_aliases: Option<usize>,
    pub max_root_fields: Option<usize>,
    /// Public mutations (`registerAttendee`) per request.
    pub max_public_mutations: Option<usize>,
    /// Nesting of introspection fields (`__schema`, `__type` and below).
    pub max_introspection_depth: Option<usize>,
    pub max_response_bytes: Option<usize>,
    pub request_timeout: Option<Duration>,
    pub registration_rate: RegistrationRate,
    /// The one header a trusted proxy sets to the client's address; unset: the socket peer.
    pub trusted_client_ip_header: Option<axum::http::HeaderName>,
    pub max_body_bytes: usize,
    /// The shortest gap between two subscription events about the same notification.
    pub subscription_interval: Duration,
    /// Progress events per second one API process sends in all, shared by its subscribers.
    pub subscription_budget: u32,
    /// The most rows one `importAttendees` CSV may have.
    pub import_max_rows: usize,
    /// Notification drafts one token may keep per conference.
    pub draft_max_per_conference: usize,
    /// How often the server pings each WebSocket connection.
    pub ws_ping_interval: Duration,
    /// A WebSocket connection that sent nothing (not even a pong) for this long is closed.
    pub ws_ping_timeout: Duration,
}

/// Public registrations allowed per minute, per client address and per conference, each with
/// a burst; `None` turns that limit off (its setting is 0). Counted in memory by each API
/// process (`crate::rate_limit`).
#[derive(Clone, Copy, Debug)]
pub struct RegistrationRate {
    pub per_client: Option<u32>,
    pub client_burst: u32,
    pub per_conference: Option<u32>,
    pub conference_burst: u32,
}

/// How the fan-out worker behaves.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Emails in flight at once per worker process.
    pub concurrency: usize,
    /// Deliveries covered by one send job.
    pub slice_size: usize,
    /// Deliveries claimed (and rendered) at a time by one send job.
    pub batch_size: usize,
    /// Emails a worker process may have handed to the mail server without their outcome
    /// recorded yet: what a killed worker can send twice, at most.
    pub max_unrecorded: usize,
    /// A group commit records this many outcomes at most...
    pub commit_every: usize,
    /// ...or what came back within this long, whichever comes first.
    pub commit_interval: Duration,
    /// Global cap on messages per second for one notification, shared by all workers.
    pub rate_limit: Option<u32>,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub max_attempts: u32,
    pub poll_interval: Duration,
    pub lease: Duration,
    pub shutdown_grace: Duration,
    pub sender: String,
    /// The budget of every template render (previews, creation and sending).
    pub templates: crate::domain::TemplateLimits,
    /// Bounds and defaults of scheduling, audiences, auto-pause and test sends.
    pub campaigns: crate::domain::CampaignLimits,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let parse = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            Ok(get(name).unwrap_or_else(|| default.to_owned()))
        };

        let database_url = DatabaseUrl::new(parse("DATABASE_URL", DEFAULT_DATABASE_URL)?);
        if !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|p| database_url.expose().starts_with(p))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with sqlite:, postgres: or postgresql:",
            ));
        }
        let listen = typed(&get, "TECHCONF_LISTEN", "127.0.0.1:8080")?;
        // Its value may hold a password: errors show it redacted.
        let mail = get("MAIL_URL")
            .unwrap_or_else(|| "file://./var/outbox".to_owned())
            .trim()
            .parse::<MailSettings>()
            .map_err(|e| ConfigError::new("MAIL_URL", e))?;
        let admin_token = match get("TECHCONF_ADMIN_TOKEN") {
            Some(token) if token.len() < 16 => {
                return Err(ConfigError::new(
                    "TECHCONF_ADMIN_TOKEN",
                    "must be at least 16 characters long",
                ));
            }
            other => other.map(SecretString::from),
        };
        let rate_limit: u32 = typed(&get, "WORKER_RATE_LIMIT", "0")?;
        let public_url = get("TECHCONF_PUBLIC_URL");
        let unsubscribe = crate::unsubscribe::UnsubscribeSettings::from_lookup(
            &get,
            public_url.as_deref(),
            listen,
        )?;
        let settings = Settings {
            database_url,
            listen,
            mail,
            admin_token,
            log_format: typed(&get, "LOG_FORMAT", "text")?,
            web_dir: parse("TECHCONF_WEB_DIR", "web-client/dist")?.into(),
            public_url,
            limits: ApiLimits {
                max_depth: limit(&get, "GRAPHQL_MAX_DEPTH", "12")?,
                max_complexity: limit(&get, "GRAPHQL_MAX_COMPLEXITY", "5000")?,
                max_aliases: limit(&get, "GRAPHQL_MAX_ALIASES", "30")?,
                max_root_fields: limit(&get, "GRAPHQL_MAX_ROOT_FIELDS", "20")?,
                max_public_mutations: limit(&get, "GRAPHQL_MAX_PUBLIC_MUTATIONS", "1")?,
                max_introspection_depth: limit(&get, "GRAPHQL_MAX_INTROSPECTION_DEPTH", "16")?,
                max_response_bytes: limit(&get, "GRAPHQL_MAX_RESPONSE_BYTES", "4194304")?,
                request_timeout: limit::<u64>(&get, "GRAPHQL_TIMEOUT_MS", "10000")?
                    .map(Duration::from_millis),
                registration_rate: RegistrationRate {
                    per_client: limit(&get, "REGISTRATION_RATE_PER_CLIENT", "10")?,
                    client_burst: positive(&get, "REGISTRATION_BURST_PER_CLIENT", "10")?,
                    per_conference: limit(&get, "REGISTRATION_RATE_PER_CONFERENCE", "600")?,
                    conference_burst: positive(&get, "REGISTRATION_BURST_PER_CONFERENCE", "100")?,
                },
                trusted_client_ip_header: get("TRUSTED_CLIENT_IP_HEADER")
                    .map(|name| {
                        axum::http::HeaderName::try_from(name.trim()).map_err(|e| {
                            ConfigError::new("TRUSTED_CLIENT_IP_HEADER", format!("`{name}`: {e}"))
                        })
                    })
                    .transpose()?,
                max_body_bytes: positive(&get, "GRAPHQL_MAX_BODY_BYTES", "262144")?,
                subscription_interval: millis(&get, "SUBSCRIPTION_MIN_INTERVAL_MS", "200")?,
                subscription_budget: positive(&get, "SUBSCRIPTION_EVENT_BUDGET", "5000")?,
                import_max_rows: positive(&get, "ATTENDEE_IMPORT_MAX_ROWS", "5000")?,
                draft_max_per_conference: positive(&get, "DRAFT_MAX_PER_CONFERENCE", "50")?,
                ws_ping_interval: millis(&get, "WS_PING_INTERVAL_MS", "15000")?,
                ws_ping_timeout: millis(&get, "WS_PING_TIMEOUT_MS", "45000")?,
            },
            worker: WorkerSettings {
                concurrency: positive(&get, "WORKER_CONCURRENCY", "32")?,
                slice_size: positive(&get, "WORKER_SLICE_SIZE", "500")?,
                batch_size: positive(&get, "WORKER_BATCH_SIZE", "100")?,
                max_unrecorded: positive(&get, "WORKER_MAX_UNRECORDED", "256")?,
                commit_every: positive(&get, "WORKER_COMMIT_EVERY", "64")?,
                commit_interval: millis(&get, "WORKER_COMMIT_INTERVAL_MS", "10")?,
                rate_limit: (rate_limit > 0).then_some(rate_limit),
                retry_base: millis(&get, "WORKER_RETRY_BASE_MS", "1000")?,
                retry_cap: millis(&get, "WORKER_RETRY_CAP_MS", "300000")?,
                max_attempts: positive(&get, "WORKER_MAX_ATTEMPTS", "8")?,
                poll_interval: millis(&get, "WORKER_POLL_MS", "1000")?,
                lease: millis(&get, "WORKER_LEASE_MS", "60000")?,
                shutdown_grace: millis(&get, "WORKER_SHUTDOWN_GRACE_MS", "30000")?,
                sender: parse("MAIL_FROM", "TechConf <no-reply@techconf.local>")?,
                templates: crate::domain::TemplateLimits {
                    fuel: positive(&get, "TEMPLATE_FUEL", "100000")?,
                    max_subject_bytes: positive(&get, "TEMPLATE_MAX_SUBJECT_BYTES", "1000")?,
                    max_body_bytes: positive(&get, "TEMPLATE_MAX_BODY_BYTES", "131072")?,
                    timeout: millis(&get, "TEMPLATE_TIMEOUT_MS", "2000")?,
                },
                campaigns: campaign_limits(&get)?,
            },
            connections: ConnectionLimits {
                header_read_timeout: millis(&get, "HTTP_HEADER_READ_TIMEOUT_MS", "10000")?,
                body_read_timeout: millis(&get, "HTTP_BODY_READ_TIMEOUT_MS", "10000")?,
                sockets: crate::ws::SocketLimits {
                    init_timeout: millis(&get, "WS_INIT_TIMEOUT_MS", "3000")?,
                    max_connections_per_token: positive(
                        &get,
                        "WS_MAX_CONNECTIONS_PER_TOKEN",
                        "50",
                    )?,
                    max_subscriptions_per_connection: positive(
                        &get,
                        "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION",
                        "100",
                    )?,
                    revocation_check: millis(&get, "WS_REVOCATION_CHECK_MS", "2000")?,
                },
            },
            servicebus: ServiceBusSettings::from_lookup(get)
                .map_err(|e| ConfigError::new(e.variable(), e.to_string()))?,
            unsubscribe,
            dkim: crate::mail::Dkim::from_lookup(&get)?,
            webhooks: crate::webhooks::WebhookSettings::from_lookup(&get)?,
            metrics: MetricsSettings {
                listen: optional(&get, "METRICS_LISTEN")?,
                worker_listen: optional(&get, "WORKER_METRICS_LISTEN")?,
            },
        };
        if settings
            .worker
            .sender
            .parse::<lettre::message::Mailbox>()
            .is_err()
        {
            return Err(ConfigError::new(
                "MAIL_FROM",
                "not a valid mailbox, e.g. `TechConf <no-reply@example.org>`",
            ));
        }
        Ok(settings)
    }
}

fn campaign_limits(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<crate::domain::CampaignLimits, ConfigError> {
    let limits = crate::domain::CampaignLimits {
        audience_max_values: positive(get, "AUDIENCE_MAX_VALUES", "100")?,
        audience_max_attendee_ids: positive(get, "AUDIENCE_MAX_ATTENDEE_IDS", "1000")?,
        audience_max_value_chars: positive(get, "AUDIENCE_MAX_VALUE_CHARS", "200")?,
        auto_pause_default: crate::domain::AutoPause {
            failure_ratio: typed(get, "AUTO_PAUSE_FAILURE_RATIO", "0.2")?,
            minimum_attempts: positive(get, "AUTO_PAUSE_MINIMUM_ATTEMPTS", "50")?,
        },
        auto_pause_max_window: positive(get, "AUTO_PAUSE_MAX_WINDOW", "10000")?,
        schedule_max_ahead: chrono::Duration::days(positive::<i64>(
            get,
            "SCHEDULE_MAX_DAYS_AHEAD",
            "366",
        )?),
        test_send_max_recipients: positive(get, "TEST_SEND_MAX_RECIPIENTS", "5")?,
    };
    limits
        .auto_pause_default
        .check(&limits)
        .map_err(|e| ConfigError::new("AUTO_PAUSE_FAILURE_RATIO", e.to_string()))?;
    if limits.test_send_max_recipients > 50 {
        return Err(ConfigError::new(
            "TEST_SEND_MAX_RECIPIENTS",
            "at most 50: a test send is not a campaign",
        ));
    }
    Ok(limits)
}

/// Reads `.env` from the working directory, if there is one; real environment variables win.
pub fn load_env_file() {
    let _ = dotenvy::dotenv();
}

/// The embedded default: a SQLite file under `./var/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./var/techconf.db?mode=rwc";

fn typed<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let raw = get(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|e| ConfigError::new(name, format!("`{raw}`: {e}")))
}

fn optional<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    get(name).map(|_| typed(get, name, "")).transpose()
}

fn positive<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    let value: T = typed(get, name, default)?;
    if value == T::default() {
        return Err(ConfigError::new(name, "must be greater than zero"));
    }
    Ok(value)
}

/// A limit that 0 turns off.
fn limit<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Option<T>, ConfigError>
where
    T: FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    let value: T = typed(get, name, default)?;
    Ok((value != T::default()).then_some(value))
}

fn millis(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    positive::<u64>(get, name, default).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = settings(&[]).unwrap();
        assert!(s.database_url.is_sqlite());
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(matches!(s.mail, MailSettings::File { .. }));
    }

    #[test]
    fn campaign_settings_default_to_the_documented_values_and_are_checked() {
        let c = settings(&[]).unwrap().worker.campaigns;
        assert_eq!(c, crate::domain::CampaignLimits::default());
        assert_eq!(c.auto_pause_default.minimum_attempts, 50);
        assert_eq!(c.test_send_max_recipients, 5);
        for (name, bad) in [
            ("AUTO_PAUSE_FAILURE_RATIO", "1.5"),
            ("AUTO_PAUSE_FAILURE_RATIO", "0"),
            ("TEST_SEND_MAX_RECIPIENTS", "500"),
            ("AUDIENCE_MAX_VALUES", "0"),
        ] {
            let err = settings(&[(name, bad)]).unwrap_err();
            assert_eq!(err.variable, name, "{bad}");
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("TECHCONF_LISTEN", "nowhere")]).unwrap_err();
        assert_eq!(err.variable, "TECHCONF_LISTEN");
        let err = settings(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        let err = settings(&[("MAIL_URL", "http://x")]).unwrap_err();
        assert_eq!(err.variable, "MAIL_URL");
        let err = settings(&[("WORKER_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(err.variable, "WORKER_CONCURRENCY");
    }

    #[test]
    fn smtp_urls_carry_credentials_and_tls() {
        let mail: MailSettings = "smtp://me:p%40ss@mail.example.org?tls=starttls"
            .parse()
            .unwrap();
        let MailSettings::Smtp {
            host,
            port,
            credentials,
            tls,
        } = mail
        else {
            panic!("expected smtp");
        };
        assert_eq!(host, "mail.example.org");
        assert_eq!(port, 587);
        assert_eq!(tls, SmtpTls::StartTls);
        let (user, pass) = credentials.unwrap();
        assert_eq!(user, "me");
        assert_eq!(pass.expose_secret(), "p@ss");
        assert!("smtp://h?tls=maybe".parse::<MailSettings>().is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/techconf"),
            ("MAIL_URL", "smtp://u:smtp-secret@h:25"),
            ("TECHCONF_ADMIN_TOKEN", "admin-secret-token-123"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("smtp-secret"), "{shown}");
        assert!(!shown.contains("admin-secret-token-123"), "{shown}");
    }

    #[test]
    fn urls_are_shown_without_user_info_or_secret_parameters() {
        for (raw, shown) in [
            (
                "postgres://app:hunter2@db:5432/techconf?sslmode=require&password=pw2",
                "postgres://***@db:5432/techconf?sslmode=require&password=***",
            ),
            ("postgres://app@db/techconf", "postgres://***@db/techconf"),
            ("postgres://app:p@ss@[::1/x", "postgres://***@[::1/x"),
            (
                "sqlite://./var/t.db?mode=rwc&Token=abc&sig=s",
                "sqlite://./var/t.db?mode=rwc&Token=***&sig=***",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
        ] {
            let url = RedactedUrl::new(raw);
            assert_eq!(url.to_string(), shown);
            assert_eq!(format!("{url:?}"), shown);
        }
        let url = RedactedUrl::new("postgres://app:h%40nter2@db/x?password=pw2");
        let scrubbed =
            url.scrub("cannot parse 'postgres://app:h%40nter2@db/x?password=pw2' (h@nter2, pw2)");
        assert!(
            !scrubbed.contains("nter2") && !scrubbed.contains("pw2"),
            "{scrubbed}"
        );
    }

    #[test]
    fn a_bad_mail_url_is_reported_without_its_password() {
        let err = settings(&[("MAIL_URL", "smtp://u:smtp-secret@h:notaport")]).unwrap_err();
        assert_eq!(err.variable, "MAIL_URL");
        assert!(!err.to_string().contains("smtp-secret"), "{err}");
    }
}
