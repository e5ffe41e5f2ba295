//! Parsed registration and conference input.
use chrono::NaiveDate;

use super::{EmailAddress, ValidationError, optional_text, required_text};

/// A valid attendee registration (the conference is checked by the service).
#[derive(Clone, Debug)]
pub struct NewAttendee {
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
    pub job_position: String,
    pub company: String,
    pub city: String,
    pub state: String,
    pub interests: Option<String>,
    pub comments: Option<String>,
}

/// The raw fields of a registration, as a client sends them.
#[derive(Clone, Debug, Default)]
pub struct RegistrationFields<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub job_position: &'a str,
    pub company: &'a str,
    pub city: &'a str,
    pub state: &'a str,
    pub interests: Option<&'a str>,
    pub comments: Option<&'a str>,
}

pub const NAME_MAX: usize = 100;
pub const LONG_TEXT_MAX: usize = 2000;

impl NewAttendee {
    pub fn parse(raw: RegistrationFields<'_>) -> Result<Self, ValidationError> {
        Ok(Self {
            first_name: required_text("firstName", raw.first_name, NAME_MAX)?,
            last_name: required_text("lastName", raw.last_name, NAME_MAX)?,
            email: EmailAddress::parse(raw.email)?,
            job_position: required_text("jobPosition", raw.job_position, NAME_MAX)?,
            company: required_text("company", raw.company, NAME_MAX)?,
            city: required_text("city", raw.city, NAME_MAX)?,
            state: required_text("state", raw.state, NAME_MAX)?,
            interests: optional_text("interests", raw.interests, LONG_TEXT_MAX)?,
            comments: optional_text("comments", raw.comments, LONG_TEXT_MAX)?,
        })
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

    fn fields() -> RegistrationFields<'static> {
        RegistrationFields {
            first_name: "Ada",
            last_name: "Lovelace",
            email: "ada@example.org",
            job_position: "Engineer",
            company: "AE",
            city: "London",
            state: "LDN",
            interests: None,
            comments: Some(" "),
        }
    }

    #[test]
    fn a_complete_registration_parses() {
        let a = NewAttendee::parse(fields()).unwrap();
        assert_eq!(a.email.as_str(), "ada@example.org");
        assert_eq!(a.comments, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut f = fields();
        f.first_name = " ";
        assert_eq!(NewAttendee::parse(f).unwrap_err().field, "firstName");
        let mut f = fields();
        f.email = "nope";
        assert_eq!(NewAttendee::parse(f).unwrap_err().field, "email");
        let long = "x".repeat(NAME_MAX + 1);
        let mut f = fields();
        f.company = &long;
        assert_eq!(NewAttendee::parse(f).unwrap_err().field, "company");
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
