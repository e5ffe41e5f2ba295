//! Building the emails TechConf sends: notifications and registration confirmations.
use icalendar::{Calendar, Component, EventLike};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use uuid::Uuid;

use super::{OutgoingEmail, SendError, Sender};
use crate::domain::{ConferenceFields, RecipientFields, RenderedEmail};
use crate::entity::{attendee, conference};
use crate::unsubscribe::UnsubscribeLink;

/// The conference's part of a notification's template context.
pub fn conference_context(conference: &conference::Model) -> ConferenceFields {
    ConferenceFields {
        name: conference.name.clone(),
        starts_on: conference.starts_on.to_string(),
        address: conference.address.clone(),
        price: conference.price_cents as f64 / 100.0,
        currency: conference.currency.clone(),
    }
}

/// One recipient's template context: what the worker renders each notification email with,
/// and what the preview shows. `email` is the address the delivery goes to (copied when the
/// notification was planned).
pub fn recipient_context(
    attendee: &attendee::Model,
    email: &str,
    conference: ConferenceFields,
) -> RecipientFields {
    RecipientFields {
        first_name: attendee.first_name.clone(),
        last_name: attendee.last_name.clone(),
        email: email.to_owned(),
        company: attendee.company.clone(),
        job_position: attendee.job_position.clone(),
        city: attendee.city.clone(),
        state: attendee.state.clone(),
        conference,
    }
}

/// The Message-ID of a notification email: the same for every attempt at the same
/// recipient, so a downstream system can drop the one duplicate a crash can cause.
pub fn notification_message_id(notification: Uuid, attendee: Uuid, domain: &str) -> String {
    format!("<{}.{}@{domain}>", notification.simple(), attendee.simple())
}

/// One recipient's notification email, before it is built.
pub struct NotificationEmail<'a> {
    pub notification: Uuid,
    pub attendee: Uuid,
    pub to: &'a str,
    pub name: &'a str,
    pub conference_name: &'a str,
    pub rendered: &'a RenderedEmail,
    /// The recipient's one-click unsubscribe link (RFC 8058).
    pub unsubscribe: Option<&'a UnsubscribeLink>,
}

/// A notification: `multipart/alternative` with the text as written and the sanitised HTML
/// in the layout, plus the `List-Unsubscribe` and `List-Unsubscribe-Post` headers.
pub fn notification_email(
    sender: &Sender,
    email: NotificationEmail<'_>,
) -> Result<OutgoingEmail, SendError> {
    let message_id = notification_message_id(email.notification, email.attendee, sender.domain());
    let html = super::html::document(
        email.conference_name,
        &email.rendered.html,
        email.unsubscribe.map(|u| u.url.as_str()),
    );
    let mut builder = Message::builder()
        .from(sender.mailbox.clone())
        .to(recipient(email.to, email.name)?)
        .subject(email.rendered.subject.clone())
        .message_id(Some(message_id.clone()));
    if let Some(link) = email.unsubscribe {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                link.header_value(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            email.rendered.body.clone(),
            html,
        ))
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
    finish(sender, message, message_id)
}

/// A registration confirmation with the conference attached as an iCalendar event.
pub fn confirmation_email(
    sender: &Sender,
    attendee: &attendee::Model,
    conference: &conference::Model,
) -> Result<OutgoingEmail, SendError> {
    let message_id = format!(
        "<registration.{}@{}>",
        attendee.id.simple(),
        sender.domain()
    );
    let event = icalendar::Event::new()
        .uid(&format!("{}@{}", conference.id, sender.domain()))
        .summary(&conference.name)
        .location(&conference.address)
        .all_day(conference.starts_on)
        .done();
    let calendar = Calendar::new()
        .name(&conference.name)
        .push(event)
        .done()
        .to_string();
    let body = format!(
        "Hello {},\n\nYou are registered for {}, on {} at {}.\n\
         The attached calendar file adds it to your calendar.\n\nSee you there!\n",
        attendee.first_name,
        conference.name,
        conference.starts_on.format("%A %-d %B %Y"),
        conference.address
    );
    let ics_type = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
        .map_err(|e| SendError::permanent(format!("content type: {e}")))?;
    let message = Message::builder()
        .from(sender.mailbox.clone())
        .to(recipient(
            &attendee.email,
            &format!("{} {}", attendee.first_name, attendee.last_name),
        )?)
        .subject(format!("You are registered for {}", conference.name))
        .message_id(Some(message_id.clone()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(body))
                .singlepart(Attachment::new("conference.ics".into()).body(calendar, ics_type)),
        )
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
    finish(sender, message, message_id)
}

fn recipient(address: &str, name: &str) -> Result<Mailbox, SendError> {
    let email = address
        .parse()
        .map_err(|e| SendError::permanent(format!("invalid recipient address: {e}")))?;
    Ok(Mailbox::new(Some(name.to_owned()), email))
}

/// Signs (when DKIM is configured) and serialises.
fn finish(
    sender: &Sender,
    mut message: Message,
    message_id: String,
) -> Result<OutgoingEmail, SendError> {
    if let Some(dkim) = &sender.dkim {
        message.sign(dkim.config());
    }
    Ok(OutgoingEmail {
        envelope: message.envelope().clone(),
        message_id,
        bytes: message.formatted(),
    })
}

/// `ada@example.org` → `a***@example.org`, for logs.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().unwrap_or('*');
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};

    fn sender() -> Sender {
        Sender::parse("TechConf <no-reply@techconf.example>").unwrap()
    }

    #[test]
    fn message_ids_are_deterministic_per_recipient() {
        let (n, a) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            notification_message_id(n, a, "x.org"),
            notification_message_id(n, a, "x.org")
        );
        assert_ne!(
            notification_message_id(n, a, "x.org"),
            notification_message_id(n, Uuid::now_v7(), "x.org")
        );
        let rendered = RenderedEmail {
            subject: "Hé {{ x }}".into(),
            body: "Body".into(),
            html: "<p>Body</p>".into(),
        };
        let email = notification_email(
            &sender(),
            NotificationEmail {
                notification: n,
                attendee: a,
                to: "ada@example.org",
                name: "Ada L",
                conference_name: "RustConf",
                rendered: &rendered,
                unsubscribe: None,
            },
        )
        .unwrap();
        let text = String::from_utf8(email.bytes).unwrap();
        assert!(
            text.contains(&format!("Message-ID: {}", email.message_id)),
            "{text}"
        );
        assert_eq!(email.envelope.to()[0].to_string(), "ada@example.org");
    }

    #[test]
    fn confirmations_carry_an_icalendar_event() {
        let conference = conference::Model {
            id: Uuid::now_v7(),
            name: "RustConf".into(),
            starts_on: NaiveDate::from_ymd_opt(2027, 9, 1).unwrap(),
            price_cents: 0,
            address: "1 Main St".into(),
            active: true,
            legacy_id: None,
            created_at: Utc::now(),
            currency: "EUR".into(),
            region: None,
            organization_id: Uuid::now_v7(),
        };
        let attendee = attendee::Model {
            id: Uuid::now_v7(),
            conference_id: conference.id,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ada@example.org".into(),
            job_position: "x".into(),
            company: "x".into(),
            city: "x".into(),
            state: "x".into(),
            interests: None,
            comments: None,
            submitted_at: Utc::now(),
            legacy_id: None,
        };
        let email = confirmation_email(&sender(), &attendee, &conference).unwrap();
        let text = String::from_utf8(email.bytes).unwrap();
        assert!(text.contains("text/calendar"), "{text}");
        assert!(text.contains("BEGIN:VEVENT"), "{text}");
        assert!(text.contains("SUMMARY:RustConf"), "{text}");
        assert!(text.contains("DTSTART;VALUE=DATE:20270901"), "{text}");
    }

    #[test]
    fn addresses_are_masked_in_logs() {
        assert_eq!(mask_address("ada@example.org"), "a***@example.org");
        assert_eq!(mask_address("nope"), "***");
    }
}
