//! Parsed registration and conference input.
use async_graphql::InputObject;
use chrono::NaiveDate;
use sea_orm::{DeriveIntoActiveModel, IntoActiveModel};
use serde::Deserialize;

use super::{EmailAddress, ValidationError, optional_text, required_text};
use crate::entity::attendee;

/// An attendee's own fields, as a person fills them in. Besides the table
/// (`entity::attendee`), this is the one list of them in Rust: the GraphQL input flattens it,
/// the seed file and the legacy import fill it in, and `into_active_model` (derived, so the
/// names cannot drift) writes it into a row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, InputObject, DeriveIntoActiveModel)]
#[serde(deny_unknown_fields)]
// The derive would leave a `None` unset, so that an update kept the old value; an absent
// optional field is NULL, so those two are set as they are.
#[sea_orm(
    active_model = "crate::entity::attendee::ActiveModel",
    set(interests = "self.interests", comments = "self.comments")
)]
pub struct Registration {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub job_position: String,
    pub company: String,
    pub city: String,
    pub state: String,
    #[sea_orm(ignore)]
    pub interests: Option<String>,
    #[sea_orm(ignore)]
    pub comments: Option<String>,
}

/// A registration that passed the same checks everywhere (API, seed, legacy import): text
/// trimmed and within its length, blank optional fields `None`, a valid email address. Only
/// `TryFrom<Registration>` makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttendee(Registration);

pub const NAME_MAX: usize = 100;
pub const LONG_TEXT_MAX: usize = 2000;

impl TryFrom<Registration> for NewAttendee {
    type Error = ValidationError;

    /// Errors name the field as the API does (`firstName`).
    fn try_from(raw: Registration) -> Result<Self, ValidationError> {
        Ok(Self(Registration {
            first_name: required_text("firstName", &raw.first_name, NAME_MAX)?,
            last_name: required_text("lastName", &raw.last_name, NAME_MAX)?,
            email: EmailAddress::parse(&raw.email)?.into_inner(),
            job_position: required_text("jobPosition", &raw.job_position, NAME_MAX)?,
            company: required_text("company", &raw.company, NAME_MAX)?,
            city: required_text("city", &raw.city, NAME_MAX)?,
            state: required_text("state", &raw.state, NAME_MAX)?,
            interests: optional_text("interests", raw.interests.as_deref(), LONG_TEXT_MAX)?,
            comments: optional_text("comments", raw.comments.as_deref(), LONG_TEXT_MAX)?,
        }))
    }
}

impl NewAttendee {
    pub fn fields(&self) -> &Registration {
        &self.0
    }

    /// The checked email address.
    pub fn email(&self) -> &str {
        &self.0.email
    }

    /// A new row: the checked fields set, the id, conference, time and legacy id left to the
    /// caller.
    pub fn into_active_model(self) -> attendee::ActiveModel {
        self.0.into_active_model()
    }
}

/// A valid new conference.
#[derive(Clone, Debug)]
pub struct NewConference {
    pub name: String,
    pub starts_on: NaiveDate,
    pub price_cents: i64,
    pub address: String,
    pub active: bool,
}

impl NewConference {
    pub fn parse(
        name: &str,
        starts_on: NaiveDate,
        price: f64,
        address: &str,
        active: bool,
    ) -> Result<Self, ValidationError> {
        if !(0.0..=1_000_000.0).contains(&price) {
            return Err(ValidationError::new(
                "price",
                "must be between 0 and 1,000,000",
            ));
        }
        Ok(Self {
            name: required_text("name", name, 200)?,
            starts_on,
            price_cents: (price * 100.0).round() as i64,
            address: required_text("address", address, 300)?,
            active,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use sea_orm::ActiveValue::{NotSet, Set};

    fn fields() -> Registration {
        Registration {
            first_name: " Ada ".into(),
            last_name: "Lovelace".into(),
            email: "ada@example.org".into(),
            job_position: "Engineer".into(),
            company: "AE".into(),
            city: "London".into(),
            state: "LDN".into(),
            interests: None,
            comments: Some(" ".into()),
        }
    }

    #[test]
    fn a_complete_registration_parses_trimmed() {
        let a = NewAttendee::try_from(fields()).unwrap();
        assert_eq!(a.email(), "ada@example.org");
        assert_eq!(a.fields().first_name, "Ada");
        assert_eq!(a.fields().comments, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |f: Registration| NewAttendee::try_from(f).unwrap_err().field;
        assert_eq!(
            field(Registration {
                first_name: " ".into(),
                ..fields()
            }),
            "firstName"
        );
        assert_eq!(
            field(Registration {
                email: "nope".into(),
                ..fields()
            }),
            "email"
        );
        assert_eq!(
            field(Registration {
                company: "x".repeat(NAME_MAX + 1),
                ..fields()
            }),
            "company"
        );
    }

    #[test]
    fn a_checked_registration_sets_its_own_columns_and_no_other() {
        let row = NewAttendee::try_from(fields()).unwrap().into_active_model();
        assert_eq!(row.first_name, Set("Ada".to_owned()));
        assert_eq!(row.comments, Set(None));
        assert_eq!(row.email, Set("ada@example.org".to_owned()));
        assert_eq!(
            (row.id, row.conference_id, row.submitted_at, row.legacy_id),
            (NotSet, NotSet, NotSet, NotSet)
        );
    }

    #[test]
    fn prices_are_stored_in_cents_and_must_be_sane() {
        let d = NaiveDate::from_ymd_opt(2027, 5, 1).unwrap();
        assert_eq!(
            NewConference::parse("C", d, 199.99, "A", true)
                .unwrap()
                .price_cents,
            19999
        );
        assert!(NewConference::parse("C", d, -1.0, "A", true).is_err());
        assert!(NewConference::parse("C", d, f64::NAN, "A", true).is_err());
    }
}
