//! Outgoing email: building messages and handing them to a transport (`MAIL_URL`).
//!
//! Failures are classified once, here: a `SendError` is either transient (SMTP 4xx,
//! connection errors, timeouts: worth retrying) or permanent (5xx, an address the server
//! refuses: retrying will not help).
pub mod dkim;
mod file;
pub mod html;
mod message;
mod pipeline;
mod smtp;

use std::sync::Arc;

use lettre::Address;
use lettre::address::Envelope;
use lettre::message::Mailbox;

pub use dkim::Dkim;
pub use file::FileMailer;
pub use message::{
    NotificationEmail, conference_context, confirmation_email, mask_address, notification_email,
    recipient_context,
};
pub use smtp::SmtpMailer;

use crate::config::{MailSettings, Settings};

/// A message ready to send: its envelope and its RFC 5322 bytes.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub envelope: Envelope,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// Why a message was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub transient: bool,
    pub message: String,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }
}

/// Where email goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp(Arc<SmtpMailer>),
    File(Arc<FileMailer>),
}

impl Mailer {
    /// The transport `MAIL_URL` names, with `concurrency` messages in flight at most.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(match &settings.mail {
            MailSettings::Smtp { .. } => Mailer::Smtp(Arc::new(SmtpMailer::new(
                &settings.mail,
                settings.worker.concurrency,
            )?)),
            MailSettings::File { dir } => Mailer::File(Arc::new(FileMailer::new(dir.clone()))),
        })
    }

    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(smtp) => smtp.send(email).await,
            Mailer::File(file) => {
                let started = std::time::Instant::now();
                let result = file.send(email).await;
                crate::metrics::record_send(&result, "none", started.elapsed());
                result
            }
        }
    }
}

/// The sender and the domain used in Message-IDs, and the DKIM key that signs, if any.
#[derive(Clone, Debug)]
pub struct Sender {
    pub mailbox: Mailbox,
    pub dkim: Option<Dkim>,
}

impl Sender {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mailbox: Mailbox = text
            .parse()
            .map_err(|e| anyhow::anyhow!("MAIL_FROM `{text}` is not a mailbox: {e}"))?;
        Ok(Self {
            mailbox,
            dkim: None,
        })
    }

    /// Signs every message with `dkim` (`DKIM_*`).
    pub fn with_dkim(mut self, dkim: Option<Dkim>) -> Self {
        self.dkim = dkim;
        self
    }

    pub fn address(&self) -> &Address {
        &self.mailbox.email
    }

    pub fn domain(&self) -> &str {
        self.mailbox.email.domain()
    }
}

/// A transport and a sender for email the API process sends itself (test sends).
#[derive(Clone)]
pub struct Outbound {
    pub mailer: Mailer,
    pub sender: Sender,
}

impl Outbound {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            mailer: Mailer::from_settings(settings)?,
            sender: Sender::parse(&settings.worker.sender)?.with_dkim(settings.dkim.clone()),
        })
    }
}
