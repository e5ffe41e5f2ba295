//! Dev-only test infrastructure shared by the integration tests and
//! benchmarks of the TechConf crates.
//!
//! * [`smtp::FakeSmtp`]: an in-process, programmable ESMTP server for fault
//!   injection (permanent / transient rejections, outages).
//! * [`smtp::SmtpSink`]: a wrapper around Postfix's real `smtp-sink` test
//!   server, for checking that what we send is accepted by a real MTA
//!   implementation.
//! * [`db::TestDatabase`]: a fresh PostgreSQL database or SQLite file per
//!   test, removed again on drop.
//! * [`servicebus::FakeServiceBus`]: the Azure Service Bus REST data plane
//!   (send, peek-lock, complete/unlock/renew, SAS checks, throttling,
//!   dead-lettering), for contract tests of a real client.
//!
//! Everything in here panics loudly when the environment is not usable
//! (PostgreSQL unreachable, `smtp-sink` not installed, ...): tests must never
//! silently skip.

// This crate is test support code only: panicking on broken test
// infrastructure is the desired behaviour, so unwrap/expect are allowed here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod db;
pub mod message;
pub mod servicebus;
pub mod smtp;
pub mod tempdir;

pub use db::TestDatabase;
pub use message::ReceivedMessage;
pub use smtp::{FakeSmtp, FakeSmtpBuilder, FakeSmtpHandle, SmtpSink, WaitTimeout};
pub use tempdir::TempDir;
