//! Domain types: input is parsed into these at the edge, so the rest of the code can trust it.
mod campaign;
mod conference;
mod email;
mod registration;
mod status;
mod template;
mod template_budget;
mod template_filters;
mod text;

pub use campaign::{Audience, AutoPause, CampaignLimits};
pub use conference::{ConferenceDetails, Currency};
pub use email::EmailAddress;
pub use registration::{NewAttendee, NewConference, Registration};
pub use status::{DeliveryStatus, JobStatus, NotificationStatus, Role};
pub use template::{
    ConferenceFields, MAX_MESSAGE, MAX_SUBJECT, NotificationTemplate, RecipientFields, RenderError,
    RenderedEmail, TemplateLimits, TemplateVariables,
};
pub use template_filters::format_money;
pub use text::{checked as untrimmed_text, optional_text, required_text};

/// A field whose value was refused, with a reason a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
