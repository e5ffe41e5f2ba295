//! Free-text fields: trimmed, bounded in length, free of control characters.
use super::ValidationError;

/// A required single-line text field of at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    checked(field, value, max, false)
}

/// An optional multi-line text field; blank becomes `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => checked(field, value, max, true).map(Some),
    }
}

/// Text as given (not trimmed) within `max` characters, without control characters except
/// line breaks and tabs where `multiline`: for fields kept exactly as typed (drafts).
pub fn checked(
    field: &str,
    value: &str,
    max: usize,
    multiline: bool,
) -> Result<String, ValidationError> {
    let length = value.chars().count();
    if length > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters (got {length})"),
        ));
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
    if !value.chars().all(allowed) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_is_trimmed_and_must_not_be_blank() {
        assert_eq!(required_text("f", "  Ada ", 10).unwrap(), "Ada");
        assert_eq!(required_text("f", "   ", 10).unwrap_err().field, "f");
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(required_text("f", "ééééé", 5).is_ok());
        let err = required_text("f", "éééééé", 5).unwrap_err();
        assert!(err.message.contains("at most 5"), "{err}");
    }

    #[test]
    fn single_line_fields_refuse_newlines_but_comments_allow_them() {
        assert!(required_text("f", "a\nb", 10).is_err());
        assert_eq!(
            optional_text("c", Some("a\nb"), 10).unwrap().as_deref(),
            Some("a\nb")
        );
        assert!(optional_text("c", Some("a\u{7}b"), 10).is_err());
        assert_eq!(optional_text("c", Some("  "), 10).unwrap(), None);
    }
}
