//! Notification templates: a subject and a message, rendered per attendee with minijinja.
//!
//! Templates are compiled and checked when a notification is created, so the worker never
//! meets a template that cannot render: only the variables below are allowed, undefined
//! values are errors, and a trial render catches unknown filters.
use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::ValidationError;

/// The variables a template may use.
pub struct TemplateVariables;

impl TemplateVariables {
    pub const ATTENDEE: &'static [&'static str] = &[
        "first_name",
        "last_name",
        "email",
        "company",
        "job_position",
        "city",
        "state",
    ];
    pub const CONFERENCE: &'static [&'static str] = &[
        "conference.name",
        "conference.starts_on",
        "conference.address",
    ];

    fn is_known(name: &str) -> bool {
        Self::ATTENDEE.contains(&name) || Self::CONFERENCE.contains(&name)
    }
}

/// One recipient's values for the template.
#[derive(Clone, Debug, Serialize)]
pub struct RecipientFields {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub company: String,
    pub job_position: String,
    pub city: String,
    pub state: String,
    pub conference: ConferenceFields,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConferenceFields {
    pub name: String,
    pub starts_on: String,
    pub address: String,
}

/// A rendered email for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    /// The text part: the message as written (Markdown reads well as plain text).
    pub body: String,
    /// The HTML part's content: the message as Markdown, with attendee values HTML-escaped,
    /// rendered and sanitised (`mail::html`). The layout is added when the email is built.
    pub html: String,
}

/// A compiled subject and message.
#[derive(Debug)]
pub struct NotificationTemplate {
    env: Environment<'static>,
}

const SUBJECT: &str = "subject.txt";
const MESSAGE: &str = "message.txt";
/// The message again, rendered with HTML auto-escaping for the HTML part.
const MESSAGE_HTML: &str = "message.html";
const MAX_SUBJECT: usize = 500;
const MAX_MESSAGE: usize = 50_000;

impl NotificationTemplate {
    /// Compiles both templates, refusing syntax errors, unknown variables and unknown filters.
    pub fn compile(subject: &str, message: &str) -> Result<Self, ValidationError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // The text part and the subject are not HTML: no escaping there. The HTML part's
        // source escapes every value, so attendee data is text in the HTML whatever it holds.
        env.set_auto_escape_callback(|name| {
            if name == MESSAGE_HTML {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for (field, name, source, max) in [
            ("subject", SUBJECT, subject, MAX_SUBJECT),
            ("message", MESSAGE, message, MAX_MESSAGE),
        ] {
            if source.trim().is_empty() {
                return Err(ValidationError::new(field, "must not be empty"));
            }
            if source.chars().count() > max {
                return Err(ValidationError::new(
                    field,
                    format!("must be at most {max} characters"),
                ));
            }
            env.add_template_owned(name.to_owned(), source.to_owned())
                .map_err(|e| ValidationError::new(field, describe(&e)))?;
            let template = env
                .get_template(name)
                .map_err(|e| ValidationError::new(field, describe(&e)))?;
            let unknown: BTreeSet<String> = template
                .undeclared_variables(true)
                .into_iter()
                .filter(|v| !TemplateVariables::is_known(v))
                .collect();
            if !unknown.is_empty() {
                let unknown: Vec<_> = unknown.into_iter().collect();
                return Err(ValidationError::new(
                    field,
                    format!(
                        "unknown variable{} {}; known variables are {}, {}",
                        if unknown.len() == 1 { "" } else { "s" },
                        unknown.join(", "),
                        TemplateVariables::ATTENDEE.join(", "),
                        TemplateVariables::CONFERENCE.join(", ")
                    ),
                ));
            }
        }
        env.add_template_owned(MESSAGE_HTML.to_owned(), message.to_owned())
            .map_err(|e| ValidationError::new("message", describe(&e)))?;
        let compiled = Self { env };
        // A trial render catches what only shows at render time (unknown filters, bad calls).
        compiled.render(&RecipientFields::sample())?;
        Ok(compiled)
    }

    /// Renders the email for one recipient.
    pub fn render(&self, fields: &RecipientFields) -> Result<RenderedEmail, ValidationError> {
        let render = |field: &str, name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(fields))
                .map_err(|e| ValidationError::new(field, describe(&e)))
        };
        let subject = render("subject", SUBJECT)?;
        // A header is one line: fold any line breaks a template produced.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let html_source = render("message", MESSAGE_HTML)?;
        Ok(RenderedEmail {
            subject,
            body: render("message", MESSAGE)?,
            html: crate::mail::html::markdown_to_html(&html_source),
        })
    }
}

fn describe(error: &minijinja::Error) -> String {
    let mut text = error.kind().to_string();
    if let Some(detail) = error.detail() {
        text = format!("{text}: {detail}");
    }
    if let Some(line) = error.line() {
        text = format!("{text} (line {line})");
    }
    text
}

impl RecipientFields {
    /// Example values, for trial renders and previews.
    pub fn sample() -> Self {
        Self {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ada@example.org".into(),
            company: "Analytical Engines Ltd".into(),
            job_position: "Engineer".into(),
            city: "London".into(),
            state: "LDN".into(),
            conference: ConferenceFields {
                name: "TechConf".into(),
                starts_on: "2027-05-01".into(),
                address: "1 Main Street".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_attendee_and_conference_fields() {
        let t = NotificationTemplate::compile(
            "Hello {{ first_name }}",
            "See you at {{ conference.name }} on {{ conference.starts_on }}, {{ first_name | upper }}.",
        )
        .unwrap();
        let email = t.render(&RecipientFields::sample()).unwrap();
        assert_eq!(email.subject, "Hello Ada");
        assert_eq!(email.body, "See you at TechConf on 2027-05-01, ADA.");
    }

    #[test]
    fn attendee_values_are_text_in_the_html_part_and_verbatim_in_the_text_part() {
        let t = NotificationTemplate::compile("Hi {{ first_name }}", "**Hello** {{ first_name }}")
            .unwrap();
        let mut fields = RecipientFields::sample();
        fields.first_name = "<script>alert('x')</script> & *co*".into();
        let email = t.render(&fields).unwrap();
        assert_eq!(email.subject, "Hi <script>alert('x')</script> & *co*");
        assert_eq!(email.body, "**Hello** <script>alert('x')</script> & *co*");
        assert!(!email.html.contains("<script"), "{}", email.html);
        assert!(
            email.html.contains("<strong>Hello</strong>"),
            "{}",
            email.html
        );
        assert!(email.html.contains("&lt;script&gt;"), "{}", email.html);
    }

    #[test]
    fn unknown_variables_are_refused_by_name() {
        let err = NotificationTemplate::compile("Hi {{ frist_name }}", "x").unwrap_err();
        assert_eq!(err.field, "subject");
        assert!(err.message.contains("frist_name"), "{}", err.message);
        let err = NotificationTemplate::compile("Hi", "{{ conference.price }}").unwrap_err();
        assert_eq!(err.field, "message");
        assert!(err.message.contains("conference.price"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_and_unknown_filters_are_refused() {
        let err = NotificationTemplate::compile("Hi {{ first_name", "x").unwrap_err();
        assert_eq!(err.field, "subject");
        assert!(err.message.contains("syntax"), "{}", err.message);
        let err = NotificationTemplate::compile("Hi", "{{ first_name | shout }}").unwrap_err();
        assert_eq!(err.field, "message");
    }

    #[test]
    fn loop_variables_are_not_mistaken_for_unknown_ones() {
        assert!(
            NotificationTemplate::compile("x", "{% for c in city %}{{ c }}{% endfor %}").is_ok()
        );
    }

    #[test]
    fn attendee_data_is_not_html_escaped_and_subjects_stay_on_one_line() {
        let t = NotificationTemplate::compile("A\n{{ company }}", "{{ company }}").unwrap();
        let mut fields = RecipientFields::sample();
        fields.company = "Smith & <Sons>".into();
        let email = t.render(&fields).unwrap();
        assert_eq!(email.body, "Smith & <Sons>");
        assert_eq!(email.subject, "A Smith & <Sons>");
    }

    #[test]
    fn empty_templates_are_refused() {
        assert_eq!(
            NotificationTemplate::compile(" ", "x").unwrap_err().field,
            "subject"
        );
    }
}
