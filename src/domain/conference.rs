//! A conference's money and place details: the currency of its price and an optional region.
use super::{ValidationError, optional_text};

/// An ISO 4217 currency code: three ASCII letters, kept upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(ValidationError::new(
                "currency",
                format!("must be a three-letter ISO 4217 code such as EUR or USD, not `{raw}`"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What a conference has besides `NewConference`'s fields.
#[derive(Clone, Debug)]
pub struct ConferenceDetails {
    pub currency: Currency,
    pub region: Option<String>,
}

/// The details of a conference nobody gave any for: euros, no region.
impl Default for ConferenceDetails {
    fn default() -> Self {
        Self {
            currency: Currency("EUR".to_owned()),
            region: None,
        }
    }
}

impl ConferenceDetails {
    pub fn parse(currency: &str, region: Option<&str>) -> Result<Self, ValidationError> {
        Ok(Self {
            currency: Currency::parse(currency)?,
            region: optional_text("region", region, 100)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_letters_kept_upper_case() {
        assert_eq!(Currency::parse(" eur ").unwrap().as_str(), "EUR");
        for bad in ["", "EU", "EURO", "E1R", "€"] {
            assert_eq!(Currency::parse(bad).unwrap_err().field, "currency", "{bad}");
        }
    }

    #[test]
    fn a_blank_region_is_none() {
        assert_eq!(
            ConferenceDetails::parse("USD", Some("  ")).unwrap().region,
            None
        );
        assert_eq!(
            ConferenceDetails::parse("USD", Some(" WA "))
                .unwrap()
                .region
                .as_deref(),
            Some("WA")
        );
    }
}
