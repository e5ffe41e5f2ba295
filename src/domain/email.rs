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
        // lettre also parses forms that mail relays refuse or that it cannot put in an
        // envelope: quoted local parts (`"a b"@x.org`) and address literals (`a@[127.0.0.1]`).
        // Keep to the dot-atom form every relay accepts.
        let user_ok = address
            .user()
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !user_ok {
            return Err(invalid(
                "is not a deliverable email address (quoted or unusual characters before the @)",
            ));
        }
        let domain = address.domain();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if !domain.contains('.') || !domain.split('.').all(label_ok) {
            return Err(invalid(
                "is not a deliverable email address (the domain must be a name with a dot, like example.org)",
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
    fn every_accepted_address_can_be_put_in_a_message() {
        for ok in [
            "ada@example.org",
            "o'brien+x@mail.example.co.uk",
            "josé@exämple.org",
        ] {
            let address = EmailAddress::parse(ok).unwrap();
            let mailbox = lettre::message::Mailbox::new(
                Some("Ada".into()),
                address.as_str().parse().unwrap(),
            );
            let message = lettre::Message::builder()
                .from("TechConf <no-reply@example.org>".parse().unwrap())
                .to(mailbox)
                .subject("hi")
                .body(String::from("hello"));
            assert!(message.is_ok(), "{ok}: {message:?}");
        }
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
            "\"a b\"@example.org",
            "\"ada\"@example.org",
            "a@[127.0.0.1]",
            "a@[IPv6:::1]",
            "a@-example.org",
            "a@exa_mple.org",
            "a\0b@example.org",
        ] {
            let err = EmailAddress::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
