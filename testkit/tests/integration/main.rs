//! Integration tests of the testkit itself: FakeSmtp and SmtpSink driven by a
//! real lettre client, TestDatabase against the real PostgreSQL server.
//! (One test binary with modules, to keep link time down.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod db;
mod fake_smtp;
mod smtp_sink;

use lettre::Message;
use lettre::message::header::ContentType;

/// Builds a plain-text test message with a generated Message-ID.
pub fn mail(from: &str, to: &[&str], subject: &str, body: &str) -> Message {
    let mut builder = Message::builder()
        .from(from.parse().unwrap())
        .subject(subject)
        .message_id(None);
    for rcpt in to {
        builder = builder.to(rcpt.parse().unwrap());
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .unwrap()
}
