//! An email address that the mailer will accept.
use std::str::FromStr;

use super::ValidationError;

/// A syntactically valid address, as typed (case is kept; uniqueness ignores it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LENGTH: usize = 254;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        let invalid = |why: &str| ValidationError::new("email", why.to_owned());
        if value.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if value.len() > Self::MAX_LENGTH {
            return Err(invalid("must be at most 254 characters"));
        }
        // The same parser the mailer uses, so an accepted address can always be sent to.
        let address = lettre::Address::from_str(value)
            .map_err(|_| invalid("is not a valid email address"))?;
        let domain = address.domain();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid(
                "is not a valid email address (the domain needs a dot)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_accepted_and_trimmed() {
        for ok in ["ada@example.org", " Ada.Lovelace+conf@Mail.Example.co.uk "] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(EmailAddress::parse(" a@b.io ").unwrap().as_str(), "a@b.io");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "not-an-email",
            "a@",
            "@b.org",
            "a@localhost",
            "a b@c.org",
            "a@b.org\r\nBcc: x@y.org",
        ] {
            let err = EmailAddress::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
