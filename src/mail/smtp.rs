//! SMTP with a pool of reused connections and bounded concurrency.
//!
//! lettre's own pool neither bounds concurrency (its `max_size` caps idle connections only)
//! nor sets `TCP_NODELAY`; lettre writes the message body and the final `.` separately, so
//! with Nagle's algorithm on every message stalls about 40 ms on the delayed ACK (about 22
//! messages/s per connection). So the connections are opened here, on sockets with
//! `TCP_NODELAY`, handed to lettre's `AsyncSmtpConnection`, and pooled behind a semaphore.
//!
//! Each message is one transaction driven by `pipeline`: `MAIL`, `RCPT` and `DATA` in one
//! write when the server advertises `PIPELINING` (RFC 2920), two round trips per message
//! instead of lettre's four. A refused message leaves its connection in the pool.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::pipeline::{self, Failure, classify};
use super::{OutgoingEmail, SendError, mask_address};
use crate::config::{MailSettings, SmtpTls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Benchmark-only switch: `TECHCONF_SMTP_NODELAY=0` leaves Nagle's algorithm on, as lettre
/// would, so `scripts/bench-fanout.sh` can show what `TCP_NODELAY` buys in the same run.
/// Deliberately not part of the documented settings.
const NODELAY_ENV: &str = "TECHCONF_SMTP_NODELAY";
/// Benchmark-only switch: `TECHCONF_SMTP_PIPELINING=0` sends one command at a time even to a
/// server that advertises `PIPELINING`, so `scripts/bench-fanout.sh` can measure what
/// pipelining buys in the same run. Deliberately not part of the documented settings.
const PIPELINING_ENV: &str = "TECHCONF_SMTP_PIPELINING";
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SmtpMailer {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<Credentials>,
    hello: ClientId,
    nodelay: bool,
    pipelining: bool,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

/// An open session and whether its server takes pipelined commands.
struct Connection {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
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
            pipelining: std::env::var(PIPELINING_ENV).map_or(true, |v| v != "0"),
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
            Some(connection) if !connection.smtp.has_broken() => connection,
            _ => match self.connect().await {
                Ok(connection) => connection,
                Err((err, class)) => return (Err(err), class),
            },
        };
        let result = tokio::time::timeout(
            SEND_TIMEOUT,
            pipeline::send(
                &mut connection.smtp,
                &email.envelope,
                &email.bytes,
                connection.pipelining,
            ),
        )
        .await;
        match result {
            Ok(Ok(accepted)) => {
                self.release(connection);
                for (to, error) in &accepted.rejected {
                    tracing::warn!(
                        to = %mask_address(to.as_ref()),
                        message_id = %email.message_id,
                        %error,
                        "recipient refused; the message went to the others"
                    );
                }
                (Ok(()), "2xx")
            }
            // A refusal is a reply: 4xx when worth another try, 5xx when final.
            Ok(Err(Failure::Refused(err))) => {
                self.release(connection);
                let class = if err.transient { "4xx" } else { "5xx" };
                (Err(err), class)
            }
            // The session is dropped: the server discards a transaction it did not finish.
            Ok(Err(Failure::Broken(err))) => (Err(err), "none"),
            Err(_) => (
                Err(SendError::transient(format!(
                    "SMTP timeout after {}s",
                    SEND_TIMEOUT.as_secs()
                ))),
                "none",
            ),
        }
    }

    fn release(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
    }

    async fn connect(&self) -> Result<Connection, (SendError, &'static str)> {
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
        let pipelining = self.pipelining
            && pipeline::advertises_pipelining(&mut connection, &self.hello)
                .await
                .map_err(|e| unreachable(&e))?;
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| (classify(&e), auth_reply_class(&e)))?;
        }
        Ok(Connection {
            smtp: connection,
            pipelining,
        })
    }
}

/// The class of the server's reply to `AUTH`, for the delivery metrics.
fn auth_reply_class(err: &lettre::transport::smtp::Error) -> &'static str {
    match err.status().map(|code| code.severity as u8) {
        Some(4) => "4xx",
        Some(5) => "5xx",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use lettre::Message;
    use lettre::transport::smtp::client::AsyncSmtpConnection;
    use testkit::{FakeSmtp, SmtpSink};

    use super::*;

    const WAIT: Duration = Duration::from_secs(20);

    fn mailer(port: u16, concurrency: usize) -> SmtpMailer {
        let settings = MailSettings::Smtp {
            host: "127.0.0.1".into(),
            port,
            credentials: None,
            tls: SmtpTls::None,
        };
        SmtpMailer::new(&settings, concurrency).unwrap()
    }

    fn email(to: &[&str]) -> OutgoingEmail {
        let mut builder = Message::builder()
            .from("TechConf <no-reply@techconf.example>".parse().unwrap())
            .subject("Pipelined");
        for address in to {
            builder = builder.to(address.parse().unwrap());
        }
        let message_id = format!("<{}@techconf.example>", uuid::Uuid::now_v7().simple());
        let message = builder
            .message_id(Some(message_id.clone()))
            .body(format!("Hello {}\n.leading dot\n", to.join(", ")))
            .unwrap();
        OutgoingEmail {
            envelope: message.envelope().clone(),
            message_id,
            bytes: message.formatted(),
        }
    }

    async fn lettre_connection(port: u16) -> AsyncSmtpConnection {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &ClientId::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn smtp_sink_takes_concurrent_pipelined_messages() {
        let sink = SmtpSink::start();
        let mut probe = lettre_connection(sink.port()).await;
        assert!(
            pipeline::advertises_pipelining(&mut probe, &ClientId::default())
                .await
                .unwrap(),
            "smtp-sink advertises PIPELINING"
        );
        let mailer = mailer(sink.port(), 4);
        let emails: Vec<OutgoingEmail> = (0..40)
            .map(|i| email(&[&format!("person{i}@example.org")]))
            .collect();
        let results = futures::future::join_all(emails.iter().map(|e| mailer.send(e))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let received = sink.wait_for_count(40, WAIT).await.unwrap();
        let got: BTreeSet<(String, Vec<String>)> = received
            .iter()
            .map(|m| (m.message_id.clone().unwrap(), m.recipients.clone()))
            .collect();
        let sent: BTreeSet<(String, Vec<String>)> = emails
            .iter()
            .map(|e| {
                let to = e.envelope.to().iter().map(ToString::to_string).collect();
                (e.message_id.clone(), to)
            })
            .collect();
        assert_eq!(got, sent);
        assert!(
            received
                .iter()
                .all(|m| m.body_text().contains("\n.leading dot\n")),
            "dot-stuffing survives pipelining"
        );
    }

    #[tokio::test]
    async fn mail_rcpt_and_data_go_out_in_one_write() {
        let smtp = FakeSmtp::start().await;
        let mailer = mailer(smtp.port(), 1);
        for i in 0..3 {
            mailer
                .send(&email(&[&format!("p{i}@example.org")]))
                .await
                .unwrap();
        }
        let stats = smtp.stats();
        assert_eq!(stats.accepted, 3);
        assert_eq!(stats.connections, 1);
        // MAIL arrives with RCPT and DATA behind it, RCPT with DATA: two per message.
        assert_eq!(stats.pipelined_commands, 6, "{stats:?}");
    }

    #[tokio::test]
    async fn one_command_at_a_time_when_pipelining_is_not_advertised() {
        // This server closes the session on any command sent before its predecessor's reply.
        let smtp = FakeSmtp::builder().pipelining(false).start().await;
        let mailer = mailer(smtp.port(), 1);
        for i in 0..3 {
            mailer
                .send(&email(&[&format!("p{i}@example.org"), "other@example.org"]))
                .await
                .unwrap();
        }
        let stats = smtp.stats();
        assert_eq!(stats.accepted, 3);
        assert_eq!(stats.connections, 1);
        assert_eq!(stats.synchronization_errors, 0);
        assert_eq!(stats.pipelined_commands, 0);
    }

    #[tokio::test]
    async fn a_refused_recipient_mid_group_fails_only_that_recipient() {
        for pipelining in [true, false] {
            let smtp = FakeSmtp::builder()
                .pipelining(pipelining)
                .reject_recipients_containing("refused")
                .start()
                .await;
            let mailer = mailer(smtp.port(), 1);
            mailer.send(&email(&["a@example.org"])).await.unwrap();
            let err = mailer
                .send(&email(&["refused@example.org"]))
                .await
                .unwrap_err();
            assert!(!err.transient, "550 is permanent: {err}");
            assert!(err.message.contains("550"), "{err}");
            // A message to three recipients, one refused, goes to the other two.
            let many = &["b@example.org", "refused2@example.org", "c@example.org"];
            mailer.send(&email(many)).await.unwrap();
            mailer.send(&email(&["d@example.org"])).await.unwrap();

            let recipients: Vec<Vec<String>> =
                smtp.messages().into_iter().map(|m| m.recipients).collect();
            assert_eq!(
                recipients,
                vec![
                    vec!["a@example.org".to_owned()],
                    vec!["b@example.org".to_owned(), "c@example.org".to_owned()],
                    vec!["d@example.org".to_owned()],
                ],
                "pipelining: {pipelining}"
            );
            let stats = smtp.stats();
            assert_eq!(stats.rejected_recipients, 2);
            // The refusals were reset with RSET on the same session, never a new connection.
            assert_eq!(stats.connections, 1, "pipelining: {pipelining}");
            assert_eq!(stats.synchronization_errors, 0);
        }
    }

    #[tokio::test]
    async fn a_temporary_failure_at_the_end_of_data_is_transient_and_keeps_the_session() {
        let smtp = FakeSmtp::builder().tempfail_first(1).start().await;
        let mailer = mailer(smtp.port(), 1);
        let err = mailer.send(&email(&["a@example.org"])).await.unwrap_err();
        assert!(err.transient, "{err}");
        mailer.send(&email(&["a@example.org"])).await.unwrap();
        let stats = smtp.stats();
        assert_eq!(
            (stats.tempfailed, stats.accepted, stats.connections),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn an_outage_breaks_the_session_and_the_next_send_reconnects() {
        let smtp = FakeSmtp::start().await;
        let mailer = mailer(smtp.port(), 1);
        mailer.send(&email(&["a@example.org"])).await.unwrap();
        smtp.down().await;
        let err = mailer.send(&email(&["b@example.org"])).await.unwrap_err();
        assert!(err.transient, "{err}");
        smtp.up().await.unwrap();
        mailer.send(&email(&["c@example.org"])).await.unwrap();
        assert_eq!(smtp.stats().accepted, 2);
        assert_eq!(smtp.stats().connections, 2);
    }
}
