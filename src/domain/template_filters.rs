//! The formatting filters of notification templates: `date` for the conference's date and
//! `money` for its price, in British English as the rest of the console and emails are.
//!
//! Both take bounded input (a `YYYY-MM-DD` date; a number within ±10^12 and a three-letter
//! currency code) and give short output, so `template_budget` can bound what they produce.
use chrono::NaiveDate;
use minijinja::{Error, ErrorKind, State, Value};

/// The longest text `date` produces ("Wednesday 29 September 2027" and the like).
pub const DATE_MAX_BYTES: usize = 32;
/// The longest text `money` produces: sign, symbol, 13 digits with separators, decimals.
pub const MONEY_MAX_BYTES: usize = 32;
/// Amounts beyond this are refused rather than printed in exponent notation.
const MONEY_MAX_ABS: f64 = 1e12;

/// The formats `date` knows, for error messages and the docs.
pub const DATE_FORMATS: &[&str] = &["long", "medium", "short", "iso"];

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// `{{ conference.starts_on | date("long") }}`: "Tuesday 12 October 2027". Formats: `long`
/// (the default), `medium` ("12 Oct 2027"), `short` ("12/10/2027") and `iso` ("2027-10-12").
pub fn date(value: &str, format: Option<&str>) -> Result<String, Error> {
    let day = NaiveDate::parse_from_str(value.get(..10).unwrap_or(value), "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| {
            invalid(format!(
                "date expects a date such as 2027-10-12, not `{}`",
                crate::error::echo(value)
            ))
        })?;
    let pattern = match format.unwrap_or("long") {
        "long" => "%A %-d %B %Y",
        "medium" => "%-d %b %Y",
        "short" => "%d/%m/%Y",
        "iso" => "%Y-%m-%d",
        other => {
            return Err(invalid(format!(
                "date knows the formats {}, not `{}`",
                DATE_FORMATS.join(", "),
                crate::error::echo(other)
            )));
        }
    };
    Ok(day.format(pattern).to_string())
}

/// `{{ conference.price | money }}`: "€349.00" in the conference's currency, or
/// `money("USD")` in another. Thousands are separated by commas; yen and won have no
/// decimals.
pub fn money(state: &State, amount: Value, currency: Option<&str>) -> Result<String, Error> {
    let amount = f64::try_from(amount.clone())
        .ok()
        .filter(|a| a.is_finite() && a.abs() <= MONEY_MAX_ABS)
        .ok_or_else(|| {
            invalid(format!(
                "money expects an amount of at most {MONEY_MAX_ABS:e}, not `{}`",
                crate::error::echo(&amount.to_string())
            ))
        })?;
    let from_conference = state
        .lookup("conference")
        .and_then(|c| c.get_attr("currency").ok())
        .and_then(|c| c.as_str().map(str::to_owned));
    let code = currency
        .map(str::to_owned)
        .or(from_conference)
        .unwrap_or_else(|| "EUR".to_owned());
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid(format!(
            "money expects a three-letter currency code such as EUR, not `{}`",
            crate::error::echo(&code)
        )));
    }
    Ok(format_money(amount, &code.to_ascii_uppercase()))
}

/// An amount in a currency as en-GB writes it: "€1,349.00", "US$99.00", "CHF 20.00".
pub fn format_money(amount: f64, code: &str) -> String {
    let decimals = match code {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" => 0,
        _ => 2,
    };
    let fixed = format!("{:.*}", decimals, amount.abs());
    let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let number = if fraction.is_empty() {
        grouped
    } else {
        format!("{grouped}.{fraction}")
    };
    let sign = if amount < 0.0 && fixed.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        "-"
    } else {
        ""
    };
    match symbol(code) {
        Some(symbol) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{code}\u{a0}{number}"),
    }
}

fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "EUR" => "€",
        "GBP" => "£",
        "USD" => "US$",
        "JPY" => "JP¥",
        "CAD" => "CA$",
        "AUD" => "A$",
        "INR" => "₹",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_each_format() {
        assert_eq!(date("2027-10-12", None).unwrap(), "Tuesday 12 October 2027");
        assert_eq!(
            date("2027-10-12", Some("long")).unwrap(),
            "Tuesday 12 October 2027"
        );
        assert_eq!(date("2027-10-02", Some("medium")).unwrap(), "2 Oct 2027");
        assert_eq!(date("2027-10-02", Some("short")).unwrap(), "02/10/2027");
        assert_eq!(date("2027-10-02", Some("iso")).unwrap(), "2027-10-02");
        let longest = date("2027-09-29", None).unwrap();
        assert_eq!(longest, "Wednesday 29 September 2027");
        assert!(longest.len() <= DATE_MAX_BYTES);
    }

    #[test]
    fn dates_refuse_other_text_and_formats() {
        for bad in ["Ada", "", "2027-13-01", "2027-10-12T00:00", "12/10/2027"] {
            let err = date(bad, None).unwrap_err();
            assert!(err.to_string().contains("2027-10-12"), "{bad}: {err}");
        }
        let err = date("2027-10-12", Some("%Y")).unwrap_err();
        assert!(err.to_string().contains("long, medium"), "{err}");
        let err = date(&"x".repeat(10_000), None).unwrap_err();
        assert!(err.to_string().len() < 200, "the input is not echoed whole");
    }

    #[test]
    fn money_as_en_gb_writes_it() {
        assert_eq!(format_money(349.0, "EUR"), "€349.00");
        assert_eq!(format_money(1349.5, "EUR"), "€1,349.50");
        assert_eq!(format_money(99.0, "USD"), "US$99.00");
        assert_eq!(format_money(1_234_567.891, "GBP"), "£1,234,567.89");
        assert_eq!(format_money(5000.4, "JPY"), "JP¥5,000");
        assert_eq!(format_money(20.0, "CHF"), "CHF\u{a0}20.00");
        assert_eq!(format_money(-3.5, "EUR"), "-€3.50");
        assert_eq!(format_money(-0.001, "EUR"), "€0.00");
        let widest = format_money(-MONEY_MAX_ABS, "CHF");
        assert!(widest.len() <= MONEY_MAX_BYTES, "{widest}");
    }
}
