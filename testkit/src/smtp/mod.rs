//! SMTP test servers.
//!
//! * [`FakeSmtp`]: in-process tokio ESMTP server with programmable faults.
//! * [`SmtpSink`]: Postfix's `smtp-sink` running as a child process.
//!
//! Both record accepted messages as [`ReceivedMessage`](crate::ReceivedMessage)
//! and expose `url()` (`smtp://127.0.0.1:PORT`), `messages()`,
//! `wait_for_count(n, timeout)` and a ready-made lettre `transport()`.

use std::time::Duration;

mod fake;
mod sink;

pub use fake::{FakeSmtp, FakeSmtpBuilder, FakeSmtpHandle, FakeSmtpStats, RecipientPredicate};
pub use sink::{SMTP_SINK_DEFAULT_PATH, SMTP_SINK_ENV, SmtpSink};

/// lettre transport type returned by the `transport()` helpers.
pub type Transport = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

/// Returned by `wait_for_count` when fewer than `expected` messages arrived
/// within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {timeout:?} waiting for {expected} message(s); only {received} received")]
pub struct WaitTimeout {
    /// Number of messages waited for.
    pub expected: usize,
    /// Number of messages recorded when the timeout expired.
    pub received: usize,
    /// The timeout that expired.
    pub timeout: Duration,
}

/// Plain (no TLS, no auth) lettre transport to `127.0.0.1:port`, with lettre's
/// default connection pool, so consecutive sends reuse one connection.
pub(crate) fn plain_transport(port: u16) -> Transport {
    Transport::builder_dangerous("127.0.0.1").port(port).build()
}
