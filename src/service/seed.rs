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

use crate::domain::{NewAttendee, RegistrationFields};
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAttendee {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub job_position: String,
    pub company: String,
    pub city: String,
    pub state: String,
    pub interests: Option<String>,
    pub comments: Option<String>,
    pub submitted_at: DateTime<Utc>,
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
        NewAttendee::parse(RegistrationFields {
            first_name: &a.first_name,
            last_name: &a.last_name,
            email: &a.email,
            job_position: &a.job_position,
            company: &a.company,
            city: &a.city,
            state: &a.state,
            interests: a.interests.as_deref(),
            comments: a.comments.as_deref(),
        })
        .with_context(|| format!("attendee {} in the seed file", a.id))?;
        anyhow::ensure!(
            emails.insert(a.email.to_lowercase()),
            "the seed file lists {} twice",
            a.email
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
        if ids.contains(&a.id) || emails.contains(&a.email.to_lowercase()) {
            report.attendees_present += 1;
            continue;
        }
        rows.push(attendee::ActiveModel {
            id: Set(a.id),
            conference_id: Set(c.id),
            first_name: Set(a.first_name.clone()),
            last_name: Set(a.last_name.clone()),
            email: Set(a.email.clone()),
            job_position: Set(a.job_position.clone()),
            company: Set(a.company.clone()),
            city: Set(a.city.clone()),
            state: Set(a.state.clone()),
            interests: Set(a.interests.clone()),
            comments: Set(a.comments.clone()),
            submitted_at: Set(a.submitted_at),
            legacy_id: Set(None),
        });
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
