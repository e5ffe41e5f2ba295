//! Loads demo data (`data/demo.json`): a conference and its attendees, with fixed ids so that
//! loading twice changes nothing.
use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{NewAttendee, Registration};
use crate::entity::{attendee, conference};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    pub conference: SeedConference,
    pub attendees: Vec<SeedAttendee>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConference {
    pub id: Uuid,
    pub name: String,
    pub starts_on: NaiveDate,
    pub price: f64,
    pub address: String,
    pub active: bool,
}

/// An attendee with a fixed id and registration time, its other fields as a registration has
/// them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAttendee {
    pub id: Uuid,
    pub submitted_at: DateTime<Utc>,
    #[serde(flatten)]
    pub registration: Registration,
}

/// What a seed run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub conferences_added: usize,
    pub attendees_added: usize,
    pub attendees_present: usize,
}

/// Parses and validates a seed file: every attendee must pass the same checks as a
/// registration.
pub fn parse(text: &str) -> anyhow::Result<SeedFile> {
    let file: SeedFile = serde_json::from_str(text).context("reading the seed file")?;
    let mut emails = HashSet::new();
    for a in &file.attendees {
        let new = NewAttendee::try_from(a.registration.clone())
            .with_context(|| format!("attendee {} in the seed file", a.id))?;
        anyhow::ensure!(
            emails.insert(new.email().to_lowercase()),
            "the seed file lists {} twice",
            new.email()
        );
    }
    Ok(file)
}

/// Loads the seed data, adding only what is missing, in one transaction.
pub async fn load(db: &DatabaseConnection, file: &SeedFile) -> anyhow::Result<SeedReport> {
    let txn = crate::db::begin_write(db).await?;
    let mut report = SeedReport::default();
    let c = &file.conference;
    if conference::Entity::find_by_id(c.id)
        .one(&txn)
        .await?
        .is_none()
    {
        conference::Entity::insert(conference::ActiveModel {
            id: Set(c.id),
            name: Set(c.name.clone()),
            starts_on: Set(c.starts_on),
            price_cents: Set((c.price * 100.0).round() as i64),
            address: Set(c.address.clone()),
            active: Set(c.active),
            legacy_id: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        })
        .exec_without_returning(&txn)
        .await?;
        report.conferences_added = 1;
    }
    let existing: Vec<(Uuid, String)> = attendee::Entity::find()
        .select_only()
        .column(attendee::Column::Id)
        .column(attendee::Column::Email)
        .filter(attendee::Column::ConferenceId.eq(c.id))
        .into_tuple()
        .all(&txn)
        .await?;
    let ids: HashSet<Uuid> = existing.iter().map(|(id, _)| *id).collect();
    let emails: HashSet<String> = existing.iter().map(|(_, e)| e.to_lowercase()).collect();
    let mut rows = Vec::new();
    for a in &file.attendees {
        let new = NewAttendee::try_from(a.registration.clone())?;
        if ids.contains(&a.id) || emails.contains(&new.email().to_lowercase()) {
            report.attendees_present += 1;
            continue;
        }
        let mut row = new.into_active_model();
        row.id = Set(a.id);
        row.conference_id = Set(c.id);
        row.submitted_at = Set(a.submitted_at);
        row.legacy_id = Set(None);
        rows.push(row);
    }
    report.attendees_added = rows.len();
    // SQLite allows at most 32766 bound parameters per statement.
    for chunk in rows.chunks(500) {
        attendee::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn file(attendee_extra: &str) -> String {
        format!(
            r#"{{"conference": {{"id": "01a27e14-7680-7f7f-b9bc-3354c8ccd235", "name": "C",
                "starts_on": "2027-10-12", "price": 1.0, "address": "A", "active": true}},
              "attendees": [{{"id": "01a31956-5bb8-72ba-9b7d-81129fa2e648",
                "submitted_at": "2027-01-01T00:00:00Z", "first_name": "Ada",
                "last_name": "Lovelace", "email": "ada@example.org", "job_position": "Engineer",
                "company": "AE", "city": "London", "state": "LDN", "interests": null,
                "comments": null{attendee_extra}}}]}}"#
        )
    }

    #[test]
    fn an_attendee_is_read_with_its_registration_fields() {
        let seed = parse(&file("")).unwrap();
        assert_eq!(seed.attendees[0].registration.first_name, "Ada");
    }

    #[test]
    fn an_unknown_attendee_field_is_refused() {
        let err = parse(&file(r#", "favourite_colour": "teal""#)).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `favourite_colour`"),
            "{err:#}"
        );
    }

    #[test]
    fn an_attendee_is_checked_as_a_registration() {
        let err = parse(&file("").replace("ada@example.org", "not-an-email")).unwrap_err();
        assert!(format!("{err:#}").contains("email"), "{err:#}");
    }
}
