//! Campaign settings of a notification: who receives it (`Audience`) and when it stops itself
//! (`AutoPause`). Both are checked here, stored on the notification as JSON, and applied by
//! the store (the audience inside the plan step's `INSERT ... SELECT`, auto-pause in the
//! transaction that records a batch).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ValidationError;

/// The bounds of campaign input (`AUDIENCE_*`, `AUTO_PAUSE_*`, `TEST_SEND_*` settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CampaignLimits {
    /// Values in one list criterion (company, job position, city, state).
    pub audience_max_values: usize,
    /// Explicit attendee ids in one audience.
    pub audience_max_attendee_ids: usize,
    /// Characters in one criterion value.
    pub audience_max_value_chars: usize,
    /// The auto-pause rule of a notification created without one.
    pub auto_pause_default: AutoPause,
    /// The largest `minimumAttempts` (the window the notification row keeps).
    pub auto_pause_max_window: u32,
    /// How far ahead a send may be scheduled.
    pub schedule_max_ahead: chrono::Duration,
    /// Addresses one test send may go to.
    pub test_send_max_recipients: usize,
}

impl Default for CampaignLimits {
    fn default() -> Self {
        Self {
            audience_max_values: 100,
            audience_max_attendee_ids: 1000,
            audience_max_value_chars: 200,
            auto_pause_default: AutoPause {
                failure_ratio: 0.2,
                minimum_attempts: 50,
            },
            auto_pause_max_window: 10_000,
            schedule_max_ahead: chrono::Duration::days(366),
            test_send_max_recipients: 5,
        }
    }
}

/// Which attendees of the conference receive a notification. Criteria combine with AND; the
/// values of one list with OR (compared without regard to case); an omitted criterion does
/// not filter. No criteria: every attendee registered when the notification is planned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_position: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Vec<String>>,
    /// A substring of the attendee's interests, without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interests_contain: Option<String>,
    /// Registered at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_after: Option<DateTime<Utc>>,
    /// Registered before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendee_ids: Option<Vec<Uuid>>,
}

impl Audience {
    /// Checks the criteria against `limits`. An empty list is refused rather than read as
    /// "nobody" or "everybody": omit the criterion to not filter.
    pub fn check(self, limits: &CampaignLimits) -> Result<Self, ValidationError> {
        let lists = [
            ("audience.company", &self.company),
            ("audience.jobPosition", &self.job_position),
            ("audience.city", &self.city),
            ("audience.state", &self.state),
        ];
        for (field, values) in lists {
            let Some(values) = values else { continue };
            if values.is_empty() {
                return Err(ValidationError::new(
                    field,
                    "give at least one value, or leave the criterion out",
                ));
            }
            if values.len() > limits.audience_max_values {
                return Err(ValidationError::new(
                    field,
                    format!("at most {} values", limits.audience_max_values),
                ));
            }
            for value in values {
                check_value(field, value, limits)?;
            }
        }
        if let Some(text) = &self.interests_contain {
            check_value("audience.interestsContain", text, limits)?;
            if text.trim().is_empty() {
                return Err(ValidationError::new(
                    "audience.interestsContain",
                    "must not be blank",
                ));
            }
        }
        if let (Some(after), Some(before)) = (self.registered_after, self.registered_before)
            && after >= before
        {
            return Err(ValidationError::new(
                "audience.registeredBefore",
                "must be later than registeredAfter",
            ));
        }
        if let Some(ids) = &self.attendee_ids {
            if ids.is_empty() {
                return Err(ValidationError::new(
                    "audience.attendeeIds",
                    "give at least one id, or leave the criterion out",
                ));
            }
            if ids.len() > limits.audience_max_attendee_ids {
                return Err(ValidationError::new(
                    "audience.attendeeIds",
                    format!("at most {} ids", limits.audience_max_attendee_ids),
                ));
            }
        }
        Ok(self)
    }

    /// Whether no criterion is set (every attendee).
    pub fn is_everyone(&self) -> bool {
        *self == Audience::default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The stored criteria; `None` (every attendee) when there are none or they cannot be
    /// read.
    pub fn from_json(text: Option<&str>) -> Result<Option<Self>, String> {
        text.map(|t| serde_json::from_str(t).map_err(|e| format!("stored audience: {e}")))
            .transpose()
    }
}

fn check_value(field: &str, value: &str, limits: &CampaignLimits) -> Result<(), ValidationError> {
    if value.chars().count() > limits.audience_max_value_chars {
        return Err(ValidationError::new(
            field,
            format!(
                "values are at most {} characters",
                limits.audience_max_value_chars
            ),
        ));
    }
    if value.contains('\0') {
        return Err(ValidationError::new(field, "must not contain NUL"));
    }
    Ok(())
}

/// A notification pauses itself when more than `failure_ratio` of its last
/// `minimum_attempts` finished deliveries failed (a sliding window over outcomes; nothing is
/// judged before that many have finished).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoPause {
    pub failure_ratio: f64,
    pub minimum_attempts: u32,
}

impl AutoPause {
    pub fn check(self, limits: &CampaignLimits) -> Result<Self, ValidationError> {
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(ValidationError::new(
                "autoPause.failureRatio",
                "must be greater than 0 and at most 1 (1 never pauses)",
            ));
        }
        if self.minimum_attempts == 0 || self.minimum_attempts > limits.auto_pause_max_window {
            return Err(ValidationError::new(
                "autoPause.minimumAttempts",
                format!("must be between 1 and {}", limits.auto_pause_max_window),
            ));
        }
        Ok(self)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: Option<&str>) -> Option<Self> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }

    /// Appends outcomes to the window (`s` sent, `f` failed), keeps its last
    /// `minimum_attempts`, and says why to pause, if the window is full and the failures in
    /// it exceed the ratio.
    pub fn observe(&self, window: &mut String, sent: u64, failed: u64) -> Option<String> {
        let size = self.minimum_attempts as usize;
        let added = (sent + failed) as usize;
        // Only the last `size` of what was added can stay.
        let keep_failed = (failed as usize).min(size);
        let keep_sent = (sent as usize).min(size - keep_failed);
        window.extend(std::iter::repeat_n('s', keep_sent));
        window.extend(std::iter::repeat_n('f', keep_failed));
        if window.len() > size {
            window.drain(..window.len() - size);
        }
        if added == 0 || window.len() < size {
            return None;
        }
        let failures = window.bytes().filter(|b| *b == b'f').count();
        (failures as f64 > self.failure_ratio * size as f64).then(|| {
            format!(
                "auto-paused: {failures} of the last {size} deliveries failed (more than {}%)",
                (self.failure_ratio * 100.0).round()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_and_oversized_criteria_are_refused() {
        let limits = CampaignLimits::default();
        let empty = Audience {
            company: Some(vec![]),
            ..Audience::default()
        };
        assert_eq!(empty.check(&limits).unwrap_err().field, "audience.company");
        let many = Audience {
            city: Some(vec!["x".into(); 101]),
            ..Audience::default()
        };
        assert!(many.check(&limits).is_err());
        let backwards = Audience {
            registered_after: Some(Utc::now()),
            registered_before: Some(Utc::now() - chrono::Duration::days(1)),
            ..Audience::default()
        };
        assert!(backwards.check(&limits).is_err());
        assert!(Audience::default().check(&limits).unwrap().is_everyone());
    }

    #[test]
    fn the_window_slides_and_pauses_only_when_full_and_over_the_ratio() {
        let rule = AutoPause {
            failure_ratio: 0.2,
            minimum_attempts: 10,
        };
        let mut window = String::new();
        assert_eq!(rule.observe(&mut window, 0, 5), None, "not full yet");
        assert_eq!(rule.observe(&mut window, 3, 0), None, "still not full");
        assert!(rule.observe(&mut window, 2, 0).is_some(), "5 of 10 failed");
        let mut window = String::new();
        assert_eq!(
            rule.observe(&mut window, 8, 2),
            None,
            "2 of 10 is not more than 20%"
        );
        assert_eq!(rule.observe(&mut window, 10, 0), None);
        assert_eq!(window, "ssssssssss");
        let reason = rule.observe(&mut window, 7, 3).unwrap();
        assert!(reason.contains("3 of the last 10"), "{reason}");
        assert_eq!(window.len(), 10);
        let never = AutoPause {
            failure_ratio: 1.0,
            minimum_attempts: 10,
        };
        assert_eq!(never.observe(&mut String::new(), 0, 50), None);
    }
}
