//! `ServiceBusQueue`: one Service Bus queue, over the REST data plane of
//! `azure_messaging_servicebus` 0.21, with what that crate leaves out: a pooled HTTP client,
//! retries with exponential backoff and jitter (429, 503, other 5xx, network errors), and the
//! status checks the crate skips (`peek_lock_message2` returns a 204 on an empty queue as if
//! it were a message).
//!
//! Messages carry a job id as their `MessageId`, so the queue's duplicate detection drops a
//! job that is published twice. Receiving is peek-lock: a message is settled with
//! [`ServiceBusQueue::complete`] (delete) or [`ServiceBusQueue::abandon`] (unlock, so it is
//! redelivered), and a long job keeps its lock with [`ServiceBusQueue::keep_locked`].
//!
//! The REST API has no dead-letter operation: the queue moves a message to its dead-letter
//! sub-queue only when its delivery count passes the queue's max delivery count. A message
//! that can never succeed (a body or id that does not parse, a job row that does not exist)
//! is settled with [`ServiceBusQueue::reject`]: completed and logged at error level; the job
//! row, if any, keeps the record.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::headers::{AUTHORIZATION, CONTENT_LENGTH};
use azure_core::{HttpClient, Method, Request, Url};
use azure_messaging_servicebus::service_bus::{
    PeekLockResponse, QueueClient, SendMessageOptions, SettableBrokerProperties,
};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use uuid::Uuid;

use super::ServiceBusSettings;
use super::connection_string::ConnectionString;
use super::transport::{EndpointOverride, Transport};
use crate::queue::JobPayload;

/// Per-request timeout of everything but a peek-lock (which waits on the server).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `ping` may take: it backs a readiness probe.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Lifetime of the SAS token `ping` signs (the crate signs its own with one hour).
const PING_TOKEN_TTL_SECS: i64 = 300;

/// Why a Service Bus operation failed. No variant carries the key or a SAS token.
#[derive(Debug, thiserror::Error)]
pub enum ServiceBusError {
    #[error(
        "Service Bus refused the credentials for {operation} (HTTP {status}): check \
         SharedAccessKeyName `{key_name}` and its SharedAccessKey in SERVICEBUS_CONNECTION_STRING"
    )]
    Unauthorized {
        operation: &'static str,
        status: u16,
        key_name: String,
    },
    #[error(
        "Service Bus refused {operation} (HTTP 403): quota exceeded, message too large, or the \
         policy lacks the Send/Listen right"
    )]
    Forbidden { operation: &'static str },
    #[error("the Service Bus queue `{queue}` was not found (HTTP {status}) during {operation}")]
    QueueNotFound {
        operation: &'static str,
        queue: String,
        status: u16,
    },
    /// The lock expired, or the message was already settled: it will be (or was) delivered
    /// again, so the work must be idempotent.
    #[error("the message lock was lost during {operation} (expired, or already settled)")]
    LockLost { operation: &'static str },
    #[error("Service Bus is unavailable for {operation} after {attempts} attempt(s): {detail}")]
    Unavailable {
        operation: &'static str,
        attempts: u32,
        detail: String,
    },
    #[error("Service Bus answered {operation} with HTTP {status} ({})", code.as_deref().unwrap_or("no error code"))]
    Unexpected {
        operation: &'static str,
        status: u16,
        code: Option<String>,
    },
    #[error("unusable Service Bus response to {operation}: {detail}")]
    InvalidResponse {
        operation: &'static str,
        detail: String,
    },
    #[error("cannot set up the Service Bus client: {0}")]
    Setup(String),
}

impl ServiceBusError {
    /// Whether trying again later may succeed (throttling, an outage, a network failure).
    pub fn is_transient(&self) -> bool {
        matches!(self, ServiceBusError::Unavailable { .. })
    }
}

/// Exponential backoff with jitter for throttling (429), unavailability (503, other 5xx,
/// 408) and network errors. The crate retries nothing itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0-based): `base * 2^retry`, capped, then a random
    /// point in its upper half, so that throttled clients do not come back in step.
    pub fn delay(&self, retry: u32) -> Duration {
        backoff_delay(self.base_delay, self.max_delay, retry)
    }
}

/// `base * 2^attempt` capped at `cap`, jittered to a random point in `[d/2, d]`.
pub(crate) fn backoff_delay(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponential = base.saturating_mul(2u32.saturating_pow(attempt.min(20)));
    let capped = exponential.min(cap);
    let half = capped / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::random_range(0..=jitter_ms))
}

/// One Service Bus queue. Cheap to clone: clones share the HTTP connection pool.
#[derive(Clone)]
pub struct ServiceBusQueue {
    inner: Arc<Inner>,
}

struct Inner {
    client: QueueClient,
    transport: Arc<Transport>,
    connection: ConnectionString,
    queue: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ServiceBusQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusQueue")
            .field("namespace", &self.inner.connection.namespace())
            .field("queue", &self.inner.queue)
            .field("key_name", &self.inner.connection.key_name())
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ServiceBusQueue`] with non-default retries or a local endpoint.
#[derive(Debug)]
pub struct ServiceBusQueueBuilder {
    connection: ConnectionString,
    queue: String,
    endpoint: Option<String>,
    retry: RetryPolicy,
    request_timeout: Duration,
}

impl ServiceBusQueueBuilder {
    /// Sends every request to `base` (e.g. `http://127.0.0.1:41234`) instead of
    /// `https://NS.servicebus.windows.net`, keeping the SAS tokens signed for the latter.
    /// For tests against a local Service Bus; never needed in production.
    pub fn endpoint(mut self, base: impl Into<String>) -> Self {
        self.endpoint = Some(base.into());
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Timeout of one request other than a peek-lock (which gets its wait plus a margin).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn build(self) -> Result<ServiceBusQueue, ServiceBusError> {
        let endpoint = self
            .endpoint
            .as_deref()
            .map(EndpointOverride::parse)
            .transpose()
            .map_err(ServiceBusError::Setup)?;
        let transport = Arc::new(
            Transport::new(endpoint, self.request_timeout)
                .map_err(|e| ServiceBusError::Setup(e.to_string()))?,
        );
        let http: Arc<dyn HttpClient> = transport.clone();
        let client = QueueClient::new(
            http,
            self.connection.namespace(),
            self.queue.clone(),
            self.connection.key_name(),
            self.connection.key().expose_secret().to_owned(),
        )
        .map_err(|e| ServiceBusError::Setup(e.to_string()))?;
        Ok(ServiceBusQueue {
            inner: Arc::new(Inner {
                client,
                transport,
                connection: self.connection,
                queue: self.queue,
                retry: self.retry,
            }),
        })
    }
}

/// A message received with peek-lock: locked for this receiver until it is completed,
/// abandoned, or its lock expires.
#[derive(Clone)]
pub struct ReceivedMessage {
    message_id: String,
    body: String,
    delivery_count: u32,
    sequence_number: i64,
    lock_token: String,
    locked_until: DateTime<Utc>,
    /// The crate's handle: it holds the lock location (the `Location` header) that delete,
    /// unlock and renew are sent to.
    lock: Arc<PeekLockResponse>,
}

impl std::fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedMessage")
            .field("message_id", &self.message_id)
            .field("delivery_count", &self.delivery_count)
            .field("sequence_number", &self.sequence_number)
            .field("lock_token", &self.lock_token)
            .field("locked_until", &self.locked_until)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl ReceivedMessage {
    /// The job id the relay put in `MessageId`; `None` if the message is not one of ours.
    pub fn job_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.message_id).ok()
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The job payload as JSON (ids only); the job row stays the source of truth.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The body parsed as a [`JobPayload`]; an error makes the message a poison message.
    pub fn payload(&self) -> Result<JobPayload, serde_json::Error> {
        serde_json::from_str(&self.body)
    }

    /// 1 on the first delivery; each abandon or lock expiry adds one.
    pub fn delivery_count(&self) -> u32 {
        self.delivery_count
    }

    pub fn sequence_number(&self) -> i64 {
        self.sequence_number
    }

    pub fn lock_token(&self) -> &str {
        &self.lock_token
    }

    /// When the lock expires, by the broker's clock, unless renewed.
    pub fn locked_until(&self) -> DateTime<Utc> {
        self.locked_until
    }

    fn from_response(response: PeekLockResponse) -> Result<Self, ServiceBusError> {
        let invalid = |detail: &str| ServiceBusError::InvalidResponse {
            operation: "receive",
            detail: detail.to_owned(),
        };
        let properties = response
            .broker_properties()
            .ok_or_else(|| invalid("no BrokerProperties header"))?;
        let locked_until =
            DateTime::from_timestamp(properties.locked_until_utc.unix_timestamp(), 0)
                .ok_or_else(|| invalid("LockedUntilUtc out of range"))?;
        Ok(Self {
            message_id: properties.message_id,
            body: response.body(),
            delivery_count: u32::try_from(properties.delivery_count).unwrap_or(0),
            sequence_number: properties.sequence_number,
            lock_token: properties.lock_token,
            locked_until,
            lock: Arc::new(response),
        })
    }
}

/// What one attempt of an operation came to.
enum Failure {
    /// Worth another attempt after a pause.
    Transient(String),
    Final(ServiceBusError),
}

impl ServiceBusQueue {
    /// The production client for `settings` (`SERVICEBUS_CONNECTION_STRING`, `SERVICEBUS_QUEUE`).
    pub fn new(settings: &ServiceBusSettings) -> Result<Self, ServiceBusError> {
        let builder = Self::builder(settings.connection.clone(), settings.queue.clone());
        match &settings.endpoint {
            Some(endpoint) => builder.endpoint(endpoint.clone()).build(),
            None => builder.build(),
        }
    }

    /// A client of `queue` (a queue name, or `name/$DeadLetterQueue` to read its dead letters).
    pub fn builder(
        connection: ConnectionString,
        queue: impl Into<String>,
    ) -> ServiceBusQueueBuilder {
        ServiceBusQueueBuilder {
            connection,
            queue: queue.into(),
            endpoint: None,
            retry: RetryPolicy::default(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    pub fn queue_name(&self) -> &str {
        &self.inner.queue
    }

    pub fn namespace(&self) -> &str {
        self.inner.connection.namespace()
    }

    /// Sends `body` (a job payload) with `MessageId = job_id`. Sending the same job twice is
    /// harmless: the queue's duplicate detection drops the second within its window.
    pub async fn send(&self, job_id: Uuid, body: &str) -> Result<(), ServiceBusError> {
        self.send_with_label(job_id, body, None).await
    }

    /// [`send`](Self::send) with a `Label` (shown as Subject in the Azure portal), e.g. the kind.
    pub async fn send_with_label(
        &self,
        job_id: Uuid,
        body: &str,
        label: Option<&str>,
    ) -> Result<(), ServiceBusError> {
        self.call("send", move || {
            let options = SendMessageOptions {
                content_type: Some("application/json".to_owned()),
                broker_properties: Some(SettableBrokerProperties {
                    message_id: Some(job_id.to_string()),
                    label: label.map(str::to_owned),
                    ..Default::default()
                }),
                custom_properties: None,
            };
            self.inner.client.send_message(body, Some(options))
        })
        .await
    }

    /// Waits up to `wait` (whole seconds, on the server) for a message and locks it.
    /// `Ok(None)` when the queue stayed empty. Keep `wait` under a minute: proxies and load
    /// balancers on the way may cut longer requests.
    pub async fn receive(
        &self,
        wait: Duration,
    ) -> Result<Option<ReceivedMessage>, ServiceBusError> {
        self.retrying("receive", || async move {
            let response = self
                .inner
                .client
                .peek_lock_message2(Some(wait))
                .await
                .map_err(|e| self.classify("receive", &e))?;
            // The crate does not check the status: a 204 (nothing arrived in time) would
            // otherwise look like a message with an empty body and no lock.
            match u16::from(*response.status()) {
                200 | 201 => ReceivedMessage::from_response(response)
                    .map(Some)
                    .map_err(Failure::Final),
                204 => Ok(None),
                status => Err(self.classify_status("receive", status, None)),
            }
        })
        .await
    }

    /// Deletes the message: the job is done. `LockLost` means it will be delivered again.
    pub async fn complete(&self, message: &ReceivedMessage) -> Result<(), ServiceBusError> {
        self.call("complete", move || message.lock.delete_message())
            .await
            .map(drop)
    }

    /// Unlocks the message so that it is delivered again at once, with `DeliveryCount + 1`;
    /// past the queue's max delivery count it goes to the dead-letter queue instead.
    pub async fn abandon(&self, message: &ReceivedMessage) -> Result<(), ServiceBusError> {
        self.call("abandon", move || message.lock.unlock_message())
            .await
    }

    /// Extends the lock by the queue's lock duration, counted from now.
    pub async fn renew_lock(&self, message: &ReceivedMessage) -> Result<(), ServiceBusError> {
        self.call("renew lock", move || message.lock.renew_message_lock())
            .await
    }

    /// Settles a poison message (malformed body or id, unknown job): completes it, so it does
    /// not loop until the max delivery count, and logs why at error level. The REST API has no
    /// dead-letter operation; the job row, when there is one, keeps the record.
    pub async fn reject(
        &self,
        message: &ReceivedMessage,
        reason: &str,
    ) -> Result<(), ServiceBusError> {
        tracing::error!(
            queue = %self.inner.queue,
            message_id = %message.message_id,
            delivery_count = message.delivery_count,
            reason,
            "rejecting a Service Bus message that cannot be processed: completing it unprocessed"
        );
        self.complete(message).await
    }

    /// Renews the lock every `every` in a background task until the guard is dropped. Pick
    /// about half the queue's lock duration. If the lock is lost anyway, [`LockGuard::lost`]
    /// resolves: stop, and do not complete (the message will be delivered again).
    pub fn keep_locked(&self, message: &ReceivedMessage, every: Duration) -> LockGuard {
        let (lost_tx, lost_rx) = watch::channel(false);
        let queue = self.clone();
        let message = message.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match queue.renew_lock(&message).await {
                    Ok(()) => {}
                    Err(err @ ServiceBusError::Unavailable { .. }) => {
                        // The lock may still hold: keep trying until it is known lost.
                        tracing::warn!(
                            message_id = %message.message_id,
                            error = %err,
                            "renewing a message lock failed; trying again"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(
                            message_id = %message.message_id,
                            error = %err,
                            "lost the lock of a message being processed"
                        );
                        let _ = lost_tx.send(true);
                        return;
                    }
                }
            }
        });
        LockGuard {
            task,
            lost: lost_rx,
        }
    }

    /// Whether the namespace answers an authenticated request for this queue (for `/readyz`).
    ///
    /// There is no side-effect-free read in the REST data plane (a peek-lock would lock a real
    /// message), so this unlocks a lock that cannot exist: the answer (404, or 410) shows that
    /// the namespace is reachable and accepted the SAS token; a 401 shows a bad key. It does
    /// not retry: a probe should answer quickly.
    pub async fn ping(&self) -> Result<(), ServiceBusError> {
        let operation = "ping";
        let url = format!(
            "https://{}/{}/messages/readiness-probe/{}",
            self.inner.connection.host(),
            self.inner.queue,
            Uuid::new_v4()
        );
        let mut request = Request::new(
            Url::parse(&url).map_err(|e| ServiceBusError::Setup(e.to_string()))?,
            Method::Put,
        );
        request.insert_header(AUTHORIZATION, self.sas_token(&url)?);
        request.insert_header(CONTENT_LENGTH, "0");
        let answer =
            tokio::time::timeout(PING_TIMEOUT, self.inner.transport.execute_request(&request))
                .await;
        let response = match answer {
            Err(_elapsed) => {
                return Err(ServiceBusError::Unavailable {
                    operation,
                    attempts: 1,
                    detail: format!("no answer within {PING_TIMEOUT:?}"),
                });
            }
            Ok(Err(err)) => {
                return Err(ServiceBusError::Unavailable {
                    operation,
                    attempts: 1,
                    detail: err.to_string(),
                });
            }
            Ok(Ok(response)) => response,
        };
        match u16::from(response.status()) {
            200..=299 | 404 | 410 => Ok(()),
            401 => Err(self.unauthorized(operation, 401)),
            status => match self.classify_status(operation, status, None) {
                Failure::Final(err) => Err(err),
                Failure::Transient(detail) => Err(ServiceBusError::Unavailable {
                    operation,
                    attempts: 1,
                    detail,
                }),
            },
        }
    }

    /// A SAS token for `url`, made the way the crate makes its own.
    fn sas_token(&self, url: &str) -> Result<String, ServiceBusError> {
        let connection = &self.inner.connection;
        let resource: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
        let expiry = Utc::now().timestamp() + PING_TOKEN_TTL_SECS;
        // azure_core's hmac takes the key base64-encoded and decodes it: the HMAC key is the
        // key string's bytes, as Service Bus expects.
        let key = azure_core::auth::Secret::new(azure_core::base64::encode(
            connection.key().expose_secret(),
        ));
        let signature = azure_core::hmac::hmac_sha256(&format!("{resource}\n{expiry}"), &key)
            .map_err(|e| ServiceBusError::Setup(e.to_string()))?;
        let signature: String =
            url::form_urlencoded::byte_serialize(signature.as_bytes()).collect();
        Ok(format!(
            "SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn={}",
            connection.key_name()
        ))
    }

    /// [`retrying`](Self::retrying) a crate call, whose errors carry the HTTP status.
    async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        mut call: F,
    ) -> Result<T, ServiceBusError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        self.retrying(operation, || {
            let pending = call();
            async move { pending.await.map_err(|e| self.classify(operation, &e)) }
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of attempts.
    async fn retrying<T, F, Fut>(
        &self,
        operation: &'static str,
        mut attempt: F,
    ) -> Result<T, ServiceBusError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let policy = self.inner.retry;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Final(err)) => return Err(err),
                Err(Failure::Transient(detail)) if attempts >= policy.max_attempts.max(1) => {
                    return Err(ServiceBusError::Unavailable {
                        operation,
                        attempts,
                        detail,
                    });
                }
                Err(Failure::Transient(detail)) => {
                    let pause = policy.delay(attempts - 1);
                    tracing::warn!(
                        queue = %self.inner.queue,
                        operation,
                        attempt = attempts,
                        retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                        detail,
                        "Service Bus request failed; retrying"
                    );
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    fn classify(&self, operation: &'static str, error: &azure_core::Error) -> Failure {
        match error.kind() {
            ErrorKind::HttpResponse { status, error_code } => {
                self.classify_status(operation, u16::from(*status), error_code.clone())
            }
            ErrorKind::Io => Failure::Transient(error.to_string()),
            _ => Failure::Final(ServiceBusError::InvalidResponse {
                operation,
                detail: error.to_string(),
            }),
        }
    }

    fn classify_status(
        &self,
        operation: &'static str,
        status: u16,
        code: Option<String>,
    ) -> Failure {
        let settles_a_lock = matches!(operation, "complete" | "abandon" | "renew lock");
        Failure::Final(match status {
            408 | 429 | 500..=599 => return Failure::Transient(format!("HTTP {status}")),
            401 => self.unauthorized(operation, status),
            403 => ServiceBusError::Forbidden { operation },
            404 | 410 if settles_a_lock => ServiceBusError::LockLost { operation },
            404 | 410 => ServiceBusError::QueueNotFound {
                operation,
                queue: self.inner.queue.clone(),
                status,
            },
            _ => ServiceBusError::Unexpected {
                operation,
                status,
                code,
            },
        })
    }

    fn unauthorized(&self, operation: &'static str, status: u16) -> ServiceBusError {
        ServiceBusError::Unauthorized {
            operation,
            status,
            key_name: self.inner.connection.key_name().to_owned(),
        }
    }
}

/// Keeps a message's lock renewed while it is held; dropping it stops the renewals.
#[derive(Debug)]
pub struct LockGuard {
    task: tokio::task::JoinHandle<()>,
    lost: watch::Receiver<bool>,
}

impl LockGuard {
    /// Whether a renewal found the lock gone.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves when the lock is known lost (use it in a `select!` with the job's work).
    pub async fn lost(&mut self) {
        // An error means the renewal task ended without losing the lock: wait forever.
        if self.lost.wait_for(|lost| *lost).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.delay(0);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let third = policy.delay(2);
            assert!((200..=400).contains(&third.as_millis()), "{third:?}");
            let late = policy.delay(30);
            assert!((500..=1000).contains(&late.as_millis()), "{late:?}");
        }
    }

    #[test]
    fn debug_output_does_not_show_the_key() {
        let connection: ConnectionString = "Endpoint=sb://ns.servicebus.windows.net/;\
             SharedAccessKeyName=send;SharedAccessKey=dont-show-me"
            .parse()
            .unwrap();
        let queue = ServiceBusQueue::builder(connection, "q").build().unwrap();
        let shown = format!("{queue:?}");
        assert!(!shown.contains("dont-show-me"), "{shown}");
        assert!(shown.contains("send"), "{shown}");
    }
}
