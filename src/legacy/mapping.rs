//! The rules that turn one legacy row into TechConf values: the same validation as the API
//! (`NewConference`, `NewAttendee`), money in cents, and the legacy notification
//! statuses mapped onto `NotificationStatus`. Pure functions; the loader applies them.
use super::dump::{LegacyAttendee, LegacyConference, LegacyNotification, LegacyNotificationStatus};
use super::report::Problem;
use crate::domain::{NewAttendee, NewConference, NotificationStatus, Registration};

/// Why a row is refused, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub problem: Problem,
    pub reason: String,
}

impl Refusal {
    fn invalid(reason: impl Into<String>) -> Self {
        Self {
            problem: Problem::InvalidValue,
            reason: reason.into(),
        }
    }
}

/// Legacy addresses were typed in a text area; TechConf keeps one line, so line breaks become
/// ", " and tabs spaces. Nothing else is changed.
pub fn single_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
        .replace('\t', " ")
}

/// A legacy conference, checked as `createConference` would check it. The price (a double)
/// becomes whole cents, rounded.
pub fn conference(row: &LegacyConference) -> Result<NewConference, Refusal> {
    NewConference::parse(
        &row.name,
        row.date,
        row.price,
        &single_line(&row.address),
        row.active,
    )
    .map_err(|e| Refusal::invalid(format!("{}: {}", e.field, e.message)))
}

/// The legacy column behind a field name of `NewAttendee::parse`.
fn legacy_column(field: &str) -> &str {
    match field {
        "firstName" => "first_name",
        "lastName" => "last_name",
        "jobPosition" => "job_position",
        other => other,
    }
}

/// A legacy attendee, checked as `registerAttendee` would check it.
pub fn attendee(row: &LegacyAttendee) -> Result<NewAttendee, Refusal> {
    NewAttendee::try_from(Registration {
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        email: row.email.clone(),
        job_position: row.job_position.clone(),
        company: row.company.clone(),
        city: row.city.clone(),
        state: row.state.clone(),
        interests: row.interests.clone(),
        comments: row.comments.clone(),
    })
    .map_err(|e| {
        if e.field == "email" {
            Refusal {
                problem: Problem::InvalidEmail,
                reason: format!("email {:?} {}", row.email, e.message),
            }
        } else {
            Refusal::invalid(format!("{}: {}", legacy_column(&e.field), e.message))
        }
    })
}

/// A notification needs a subject: a blank one is refused.
pub fn subject(row: &LegacyNotification) -> Result<(), Refusal> {
    if row.subject.trim().is_empty() {
        return Err(Refusal {
            problem: Problem::EmptySubject,
            reason: "the subject is empty".to_owned(),
        });
    }
    Ok(())
}

/// Where an imported notification ends up. None of them is ever sent again: the import writes
/// no job, and every status it produces is terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationOutcome {
    pub status: NotificationStatus,
    /// Recipients (and emails sent), when the legacy status says how many; 0 when unknown.
    pub recipients: i32,
    /// Something the report should say about the row.
    pub note: Option<String>,
}

/// The status rule:
///
/// | legacy `status`            | `completed_date` | TechConf status | total = sent |
/// |----------------------------|------------------|-----------------|--------------|
/// | `Notified N attendees`     | any              | COMPLETED       | N            |
/// | `Notifications submitted`  | set              | COMPLETED       | 0 (unknown)  |
/// | `Notifications submitted`  | NULL             | CANCELLED       | 0            |
/// | anything else              | any              | CANCELLED       | 0            |
///
/// A notification the old worker never finished is CANCELLED rather than QUEUED: nobody knows
/// who got it, so sending it now could email people twice, years later.
pub fn notification(row: &LegacyNotification) -> Result<NotificationOutcome, Refusal> {
    Ok(match row.status_kind() {
        LegacyNotificationStatus::Notified { attendees } => NotificationOutcome {
            status: NotificationStatus::Completed,
            recipients: i32::try_from(attendees).map_err(|_| {
                Refusal::invalid(format!(
                    "status: {attendees} attendees is more than TechConf counts"
                ))
            })?,
            note: None,
        },
        LegacyNotificationStatus::Submitted if row.completed_date.is_some() => {
            NotificationOutcome {
                status: NotificationStatus::Completed,
                recipients: 0,
                note: None,
            }
        }
        LegacyNotificationStatus::Submitted => NotificationOutcome {
            status: NotificationStatus::Cancelled,
            recipients: 0,
            note: Some(
                "submitted but never completed by the legacy worker: imported as CANCELLED, \
                 and it will not be sent"
                    .to_owned(),
            ),
        },
        LegacyNotificationStatus::Other => NotificationOutcome {
            status: NotificationStatus::Cancelled,
            recipients: 0,
            note: Some(format!(
                "unrecognised legacy status {:?}: imported as CANCELLED, and it will not be sent",
                row.status
            )),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset};

    fn ts(value: &str) -> DateTime<FixedOffset> {
        super::super::dump::parse_legacy_timestamp(value).unwrap()
    }

    fn notification_row(status: &str, completed: Option<&str>) -> LegacyNotification {
        LegacyNotification {
            line_number: 1,
            id: 1,
            status: status.to_owned(),
            message: "m".to_owned(),
            submitted_date: Some(ts("2019-04-01 10:00:00+00")),
            completed_date: completed.map(ts),
            subject: "s".to_owned(),
        }
    }

    fn attendee_row(email: &str) -> LegacyAttendee {
        LegacyAttendee {
            line_number: 1,
            id: 1,
            first_name: "Ada".to_owned(),
            last_name: "Lovelace".to_owned(),
            conference_id: 1,
            job_position: "Engineer".to_owned(),
            email: email.to_owned(),
            company: "AE".to_owned(),
            city: "London".to_owned(),
            state: "LDN".to_owned(),
            interests: None,
            submitted_date: ts("2019-03-01 09:00:00+05:30"),
            comments: Some("Line 1\nLine 2".to_owned()),
        }
    }

    #[test]
    fn notified_n_attendees_is_completed_with_n_sent() {
        let outcome = notification(&notification_row(
            "Notified 5 attendees",
            Some("2019-04-01 10:01:00+00"),
        ))
        .unwrap();
        assert_eq!(outcome.status, NotificationStatus::Completed);
        assert_eq!(outcome.recipients, 5);
        assert_eq!(outcome.note, None);
    }

    #[test]
    fn a_submitted_notification_is_completed_only_if_it_has_a_completed_date() {
        let done = notification(&notification_row(
            "Notifications submitted",
            Some("2019-04-01 10:01:00+00"),
        ))
        .unwrap();
        assert_eq!(
            (done.status, done.recipients),
            (NotificationStatus::Completed, 0)
        );
        let never = notification(&notification_row("Notifications submitted", None)).unwrap();
        assert_eq!(never.status, NotificationStatus::Cancelled);
        assert!(never.note.unwrap().contains("never completed"));
    }

    #[test]
    fn an_unknown_status_is_cancelled_with_a_note_quoting_it() {
        let outcome = notification(&notification_row("Failed: SMTP", None)).unwrap();
        assert_eq!(outcome.status, NotificationStatus::Cancelled);
        assert!(outcome.note.unwrap().contains("\"Failed: SMTP\""));
    }

    #[test]
    fn every_imported_status_is_terminal() {
        for (status, completed) in [
            ("Notified 3 attendees", None),
            ("Notifications submitted", Some("2019-04-01 10:01:00+00")),
            ("Notifications submitted", None),
            ("whatever", None),
        ] {
            let outcome = notification(&notification_row(status, completed)).unwrap();
            assert!(outcome.status.is_terminal(), "{status}");
        }
    }

    #[test]
    fn attendees_follow_the_registration_rules() {
        assert!(attendee(&attendee_row("ada@example.org")).is_ok());
        let bad = attendee(&attendee_row("not-an-email")).unwrap_err();
        assert_eq!(bad.problem, Problem::InvalidEmail);
        assert_eq!(
            bad.reason,
            "email \"not-an-email\" is not a valid email address"
        );
        let mut row = attendee_row("ada@example.org");
        row.job_position = "x".repeat(101);
        let long = attendee(&row).unwrap_err();
        assert_eq!(long.problem, Problem::InvalidValue);
        assert!(long.reason.starts_with("job_position: "), "{}", long.reason);
    }

    #[test]
    fn conference_prices_become_rounded_cents_and_addresses_one_line() {
        let row = LegacyConference {
            line_number: 1,
            id: 1,
            name: "TechConf".to_owned(),
            active: true,
            date: chrono::NaiveDate::from_ymd_opt(2019, 4, 20).unwrap(),
            price: 299.99,
            address: "Hall 1\n900 Boylston St\r\n\tBoston".to_owned(),
        };
        let new = conference(&row).unwrap();
        assert_eq!(new.price_cents, 29999);
        assert_eq!(new.address, "Hall 1, 900 Boylston St, Boston");
        assert_eq!(new.starts_on.to_string(), "2019-04-20");
        let negative = conference(&LegacyConference { price: -1.0, ..row }).unwrap_err();
        assert!(
            negative.reason.starts_with("price: "),
            "{}",
            negative.reason
        );
    }
}
