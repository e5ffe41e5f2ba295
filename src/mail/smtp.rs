//! SMTP with a pool of reused connections and bounded concurrency.
//!
//! lettre's own pool neither bounds concurrency (its `max_size` caps idle connections only)
//! nor sets `TCP_NODELAY`; lettre writes the message body and the final `.` separately, so
//! with Nagle's algorithm on every message stalls about 40 ms on the delayed ACK (about 22
//! messages/s per connection). So the connections are opened here, on sockets with
//! `TCP_NODELAY`, handed to lettre's `AsyncSmtpConnection`, and pooled behind a semaphore.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{OutgoingEmail, SendError};
use crate::config::{MailSettings, SmtpTls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Benchmark-only switch: `TECHCONF_SMTP_NODELAY=0` leaves Nagle's algorithm on, as lettre
/// would, so `scripts/bench-fanout.sh` can show what `TCP_NODELAY` buys in the same run.
/// Deliberately not part of the documented settings.
const NODELAY_ENV: &str = "TECHCONF_SMTP_NODELAY";
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SmtpMailer {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<Credentials>,
    hello: ClientId,
    nodelay: bool,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
}

impl SmtpMailer {
    pub fn new(settings: &MailSettings, concurrency: usize) -> anyhow::Result<Self> {
        let MailSettings::Smtp {
            host,
            port,
            credentials,
            tls,
        } = settings
        else {
            anyhow::bail!("MAIL_URL is not an smtp:// URL");
        };
        Ok(Self {
            host: host.clone(),
            port: *port,
            tls: *tls,
            credentials: credentials.as_ref().map(|(user, pass)| {
                Credentials::new(user.clone(), pass.expose_secret().to_owned())
            }),
            hello: ClientId::default(),
            nodelay: std::env::var(NODELAY_ENV).map_or(true, |v| v != "0"),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(concurrency.max(1)),
        })
    }

    /// Sends one message over a pooled connection, opening one if none is idle, and records
    /// the outcome and latency (`techconf_deliveries_total`, `techconf_smtp_send_duration_seconds`).
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::transient("the mailer is shutting down"))?;
        let started = Instant::now();
        let (result, reply_class) = self.send_now(email).await;
        crate::metrics::record_send(&result, reply_class, started.elapsed());
        result
    }

    /// One attempt, with the class of the server's reply (`none` when there was none).
    async fn send_now(&self, email: &OutgoingEmail) -> (Result<(), SendError>, &'static str) {
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut connection = match idle {
            Some(connection) if !connection.has_broken() => connection,
            _ => match self.connect().await {
                Ok(connection) => connection,
                Err((err, class)) => return (Err(err), class),
            },
        };
        let result =
            tokio::time::timeout(SEND_TIMEOUT, connection.send(&email.envelope, &email.bytes))
                .await;
        match result {
            Ok(Ok(_)) => {
                self.release(connection);
                (Ok(()), "2xx")
            }
            Ok(Err(err)) => {
                // lettre drops a connection after an error reply; keep it only if it is sound.
                if !connection.has_broken() {
                    self.release(connection);
                }
                (Err(classify(&err)), reply_class(&err))
            }
            Err(_) => (
                Err(SendError::transient(format!(
                    "SMTP timeout after {}s",
                    SEND_TIMEOUT.as_secs()
                ))),
                "none",
            ),
        }
    }

    fn release(&self, connection: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, (SendError, &'static str)> {
        let unreachable = |e: &dyn std::fmt::Display| {
            let err = SendError::transient(format!(
                "cannot connect to SMTP server {}:{}: {e}",
                self.host, self.port
            ));
            (err, "none")
        };
        let mut connection = if self.tls == SmtpTls::Required {
            // Implicit TLS: lettre opens this socket itself (and leaves Nagle on).
            let tls = TlsParameters::new(self.host.clone()).map_err(|e| unreachable(&e))?;
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(CONNECT_TIMEOUT),
                &self.hello,
                Some(tls),
                None,
            )
            .await
            .map_err(|e| unreachable(&e))?
        } else {
            let stream = tokio::time::timeout(
                CONNECT_TIMEOUT,
                TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await
            .map_err(|_| unreachable(&"timed out"))?
            .map_err(|e| unreachable(&e))?;
            stream
                .set_nodelay(self.nodelay)
                .map_err(|e| unreachable(&e))?;
            let mut connection = tokio::time::timeout(
                CONNECT_TIMEOUT,
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
            )
            .await
            .map_err(|_| unreachable(&"timed out waiting for the greeting"))?
            .map_err(|e| unreachable(&e))?;
            if self.tls == SmtpTls::StartTls {
                let tls = TlsParameters::new(self.host.clone()).map_err(|e| unreachable(&e))?;
                connection
                    .starttls(tls, &self.hello)
                    .await
                    .map_err(|e| unreachable(&e))?;
            }
            connection
        };
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| (classify(&e), reply_class(&e)))?;
        }
        Ok(connection)
    }
}

/// `2xx`, `4xx` or `5xx` from the server's reply code; `none` when there was no reply.
fn reply_class(err: &lettre::transport::smtp::Error) -> &'static str {
    match err.status().map(|code| code.severity as u8) {
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        _ => "none",
    }
}

fn classify(err: &lettre::transport::smtp::Error) -> SendError {
    let text = err.to_string();
    if err.is_permanent() {
        SendError::permanent(text)
    } else {
        // 4xx replies, I/O errors, timeouts and protocol surprises are worth another try.
        SendError::transient(text)
    }
}
