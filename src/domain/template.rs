//! Notification templates: a subject and a message, rendered per attendee with minijinja.
//!
//! Templates are compiled and checked when a notification is created, so the worker never
//! meets a template that cannot render: only the variables below are allowed, undefined
//! values are errors, and trial renders catch unknown filters.
//!
//! Every render runs on a budget (`TemplateLimits`): a static check bounds the memory any
//! value can take (`template_budget`), fuel bounds the instructions, the output stops at a
//! size cap, and rendering happens on the blocking pool with a timeout, never on the async
//! threads. A template that blows its budget is a `ValidationError`, never a crash.
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::ValidationError;
use super::template_budget::{self, ATTENDEE_FIELDS, CONFERENCE_FIELDS};

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
        "conference.price",
        "conference.currency",
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
    /// `YYYY-MM-DD`; `| date("long")` writes it out.
    pub starts_on: String,
    pub address: String,
    /// The ticket price in major units (`| money` adds the currency).
    pub price: f64,
    /// ISO 4217 code of the price.
    pub currency: String,
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

/// The budget every render of a notification template runs on (`TEMPLATE_*` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateLimits {
    /// minijinja instructions per render (subject and message each).
    pub fuel: u64,
    /// Largest rendered subject, in bytes.
    pub max_subject_bytes: usize,
    /// Largest rendered message, in bytes.
    pub max_body_bytes: usize,
    /// How long a caller waits for one render (or for creation's trial renders).
    pub timeout: Duration,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        Self {
            fuel: 100_000,
            max_subject_bytes: 1_000,
            max_body_bytes: 131_072,
            timeout: Duration::from_secs(2),
        }
    }
}

/// Why a render produced no email.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template blew its budget or failed for this recipient: rendering again will not
    /// help.
    #[error("{0}")]
    Refused(ValidationError),
    /// No answer within `TEMPLATE_TIMEOUT_MS` (the rendering threads were busy, or the
    /// render slow): worth trying again later.
    #[error("{0}")]
    TimedOut(ValidationError),
}

impl From<RenderError> for ValidationError {
    fn from(error: RenderError) -> Self {
        match error {
            RenderError::Refused(e) | RenderError::TimedOut(e) => e,
        }
    }
}

/// A compiled subject and message, with the budget they render on. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NotificationTemplate {
    inner: Arc<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    env: Environment<'static>,
    limits: TemplateLimits,
    /// Attendees shaped to take the template's branches, for the trial renders.
    trials: Vec<RecipientFields>,
}

const SUBJECT: &str = "subject.txt";
const MESSAGE: &str = "message.txt";
/// The message again, rendered with HTML auto-escaping for the HTML part.
const MESSAGE_HTML: &str = "message.html";
/// The longest subject template, in characters.
pub const MAX_SUBJECT: usize = 500;
/// The longest message template, in characters.
pub const MAX_MESSAGE: usize = 50_000;
/// Trial attendees built from the template's own string constants, at most.
const MAX_CONSTANT_TRIALS: usize = 32;

impl NotificationTemplate {
    /// Compiles both templates, refusing syntax errors, unknown variables and unknown
    /// filters, and anything that could make a render outgrow `limits` (see
    /// `template_budget`). Cheap: no rendering happens here; see [`Self::check`].
    pub fn compile(
        subject: &str,
        message: &str,
        limits: &TemplateLimits,
    ) -> Result<Self, ValidationError> {
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
        env.set_fuel(Some(limits.fuel));
        let cap = limits.max_body_bytes.max(limits.max_subject_bytes);
        // The static check bounds `replace`; this bounds it again at run time.
        env.add_filter(
            "replace",
            move |value: String, from: String, to: String, count: Option<usize>| {
                bounded_replace(&value, &from, &to, count, cap)
            },
        );
        env.add_filter("date", super::template_filters::date);
        env.add_filter("money", super::template_filters::money);
        let mut constants = BTreeSet::new();
        for (field, name, source, max, cap) in [
            (
                "subject",
                SUBJECT,
                subject,
                MAX_SUBJECT,
                limits.max_subject_bytes,
            ),
            (
                "message",
                MESSAGE,
                message,
                MAX_MESSAGE,
                limits.max_body_bytes,
            ),
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
            // Before minijinja compiles it: its compiler folds constants such as `'x' * N`.
            // Values are bounded by the larger cap; the output by the template's own.
            template_budget::check(source, name, limits.max_body_bytes.max(cap))
                .map_err(|reason| ValidationError::new(field, reason))?;
            env.add_template_owned(name.to_owned(), source.to_owned())
                .map_err(|e| ValidationError::new(field, describe(&e)))?;
            let template = env
                .get_template(name)
                .map_err(|e| ValidationError::new(field, describe(&e)))?;
            let unknown: BTreeSet<String> = template
                .undeclared_variables(true)
                .into_iter()
                .filter(|v| !TemplateVariables::is_known(v) && v != "range")
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
            constants.extend(template_budget::string_constants(source, name));
        }
        env.add_template_owned(MESSAGE_HTML.to_owned(), message.to_owned())
            .map_err(|e| ValidationError::new("message", describe(&e)))?;
        Ok(Self {
            inner: Arc::new(Compiled {
                env,
                limits: *limits,
                trials: RecipientFields::trials(constants),
            }),
        })
    }

    /// Trial renders against attendees shaped to take each branch: the sample attendee,
    /// empty fields, fields at their maximum length, and each string constant of the
    /// templates in every field (so `first_name == 'Bob'` is taken as well as its `else`).
    /// Catches unknown filters and bad calls too. Memory is bounded for every attendee by
    /// the static check; these renders show the fuel suffices on the branches they take.
    pub async fn check(&self) -> Result<(), RenderError> {
        self.off_thread(1, |compiled| {
            compiled
                .trials
                .iter()
                .try_for_each(|fields| compiled.render(fields).map(drop))
        })
        .await
    }

    /// Renders the email for one recipient on a blocking thread, within the budget.
    pub async fn render(&self, fields: &RecipientFields) -> Result<RenderedEmail, RenderError> {
        let fields = fields.clone();
        self.off_thread(1, move |compiled| compiled.render(&fields))
            .await
    }

    /// Renders the emails of many recipients (a worker's batch) in one trip to the blocking
    /// pool: one thread hand-off and one rendering slot for the lot, rather than one each.
    /// Each render keeps its own budget (fuel, output caps); the wait is the timeout times
    /// the number of renders. An `Err` means the whole batch timed out waiting.
    pub async fn render_all(
        &self,
        recipients: Vec<RecipientFields>,
    ) -> Result<Vec<Result<RenderedEmail, ValidationError>>, RenderError> {
        let renders = recipients.len();
        self.off_thread(renders, move |compiled| {
            Ok(recipients.iter().map(|f| compiled.render(f)).collect())
        })
        .await
    }

    /// Runs `work` (`renders` renders) on the blocking pool, a few at a time, and waits at
    /// most the timeout per render. A render that overruns keeps its thread until its fuel
    /// runs out, never longer.
    async fn off_thread<T: Send + 'static>(
        &self,
        renders: usize,
        work: impl FnOnce(&Compiled) -> Result<T, ValidationError> + Send + 'static,
    ) -> Result<T, RenderError> {
        let timeout = self.inner.limits.timeout;
        let too_slow = || {
            ValidationError::new(
                "message",
                format!(
                    "rendering took longer than {} ms (TEMPLATE_TIMEOUT_MS)",
                    timeout.as_millis()
                ),
            )
        };
        let deadline = tokio::time::Instant::now()
            + timeout.saturating_mul(u32::try_from(renders.max(1)).unwrap_or(u32::MAX));
        let permit = tokio::time::timeout_at(deadline, render_slots().acquire_owned())
            .await
            .map_err(|_| RenderError::TimedOut(too_slow()))?
            .map_err(|_| {
                RenderError::TimedOut(ValidationError::new("message", "rendering is shut down"))
            })?;
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&inner)
        });
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(RenderError::TimedOut(too_slow())),
            Ok(Err(_)) => Err(RenderError::Refused(ValidationError::new(
                "message",
                "rendering failed",
            ))),
            Ok(Ok(result)) => result.map_err(RenderError::Refused),
        }
    }
}

impl Compiled {
    fn render(&self, fields: &RecipientFields) -> Result<RenderedEmail, ValidationError> {
        fields.check_lengths()?;
        let subject = self.render_one("subject", SUBJECT, fields, self.limits.max_subject_bytes)?;
        // A header is one line: fold any line breaks a template produced.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let html_source =
            self.render_one("message", MESSAGE_HTML, fields, self.limits.max_body_bytes)?;
        Ok(RenderedEmail {
            subject,
            body: self.render_one("message", MESSAGE, fields, self.limits.max_body_bytes)?,
            html: crate::mail::html::markdown_to_html(&html_source),
        })
    }

    fn render_one(
        &self,
        field: &str,
        name: &str,
        fields: &RecipientFields,
        cap: usize,
    ) -> Result<String, ValidationError> {
        let mut out = CappedWriter {
            bytes: Vec::new(),
            cap,
            overflowed: false,
        };
        let template = self
            .env
            .get_template(name)
            .map_err(|e| ValidationError::new(field, describe(&e)))?;
        match template.render_captured_to(fields, &mut out) {
            Ok(_) => {}
            Err(_) if out.overflowed => {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "the rendered {field} is longer than {cap} bytes (TEMPLATE_MAX_{}_BYTES)",
                        if field == "subject" {
                            "SUBJECT"
                        } else {
                            "BODY"
                        }
                    ),
                ));
            }
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "the {field} needs more than {} steps to render (TEMPLATE_FUEL)",
                        self.limits.fuel
                    ),
                ));
            }
            Err(e) => return Err(ValidationError::new(field, describe(&e))),
        }
        String::from_utf8(out.bytes)
            .map_err(|_| ValidationError::new(field, "rendered text is not UTF-8"))
    }
}

/// Rendering threads in use at once: renders are CPU-bound, so about one per core.
fn render_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(Semaphore::new(cores.max(2)))
        })
        .clone()
}

/// Collects output and fails the render once it passes `cap` bytes.
struct CappedWriter {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered text too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `replace` that computes the result's size before allocating it.
fn bounded_replace(
    value: &str,
    from: &str,
    to: &str,
    count: Option<usize>,
    cap: usize,
) -> Result<String, minijinja::Error> {
    let found = if from.is_empty() {
        value.chars().count() + 1
    } else {
        value.matches(from).count()
    };
    let found = count.map_or(found, |c| c.min(found));
    let size = (value.len() + found * to.len()).saturating_sub(found * from.len());
    if size > cap {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("replace would produce {size} bytes, more than {cap}"),
        ));
    }
    Ok(match count {
        Some(count) => value.replacen(from, to, count),
        None => value.replace(from, to),
    })
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
                price: 349.0,
                currency: "EUR".into(),
            },
        }
    }

    /// Trial attendees: the sample, every field empty, every field at its maximum length
    /// (in 4-byte characters), and each of `constants` in every attendee field.
    fn trials(constants: BTreeSet<String>) -> Vec<Self> {
        let mut trials = vec![Self::sample()];
        let widest = |max_bytes: usize| "\u{1D54F}".repeat(max_bytes / 4);
        let mut empty = Self::sample();
        let mut longest = Self::sample();
        for (name, max) in ATTENDEE_FIELDS {
            empty.set(name, String::new());
            longest.set(name, widest(*max));
        }
        for (name, max) in CONFERENCE_FIELDS {
            if *name != "starts_on" {
                longest.set_conference(name, widest(*max));
            }
        }
        trials.extend([empty, longest]);
        for constant in constants.into_iter().take(MAX_CONSTANT_TRIALS) {
            let mut fields = Self::sample();
            for (name, max) in ATTENDEE_FIELDS {
                if constant.len() <= *max {
                    fields.set(name, constant.clone());
                }
            }
            trials.push(fields);
        }
        trials
    }

    fn set(&mut self, name: &str, value: String) {
        match name {
            "first_name" => self.first_name = value,
            "last_name" => self.last_name = value,
            "email" => self.email = value,
            "company" => self.company = value,
            "job_position" => self.job_position = value,
            "city" => self.city = value,
            "state" => self.state = value,
            _ => {}
        }
    }

    fn set_conference(&mut self, name: &str, value: String) {
        match name {
            "name" => self.conference.name = value,
            "address" => self.conference.address = value,
            _ => {}
        }
    }

    fn get(&self, name: &str) -> &str {
        match name {
            "first_name" => &self.first_name,
            "last_name" => &self.last_name,
            "email" => &self.email,
            "company" => &self.company,
            "job_position" => &self.job_position,
            "city" => &self.city,
            "state" => &self.state,
            "name" => &self.conference.name,
            "starts_on" => &self.conference.starts_on,
            "address" => &self.conference.address,
            "currency" => &self.conference.currency,
            _ => "",
        }
    }

    /// The static budget assumes the registration limits; a row beyond them (imported
    /// data, say) is refused rather than rendered outside the proof.
    fn check_lengths(&self) -> Result<(), ValidationError> {
        for (name, max) in ATTENDEE_FIELDS.iter().chain(CONFERENCE_FIELDS) {
            if self.get(name).len() > *max {
                return Err(ValidationError::new(
                    "message",
                    format!("the recipient's {name} is longer than {max} bytes"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(subject: &str, message: &str) -> Result<NotificationTemplate, ValidationError> {
        NotificationTemplate::compile(subject, message, &TemplateLimits::default())
    }

    #[test]
    fn renders_attendee_and_conference_fields() {
        let t = compile(
            "Hello {{ first_name }}",
            "See you at {{ conference.name }} on {{ conference.starts_on }}, {{ first_name | upper }}.",
        )
        .unwrap();
        let email = t.inner.render(&RecipientFields::sample()).unwrap();
        assert_eq!(email.subject, "Hello Ada");
        assert_eq!(email.body, "See you at TechConf on 2027-05-01, ADA.");
    }

    #[test]
    fn attendee_values_are_text_in_the_html_part_and_verbatim_in_the_text_part() {
        let t = compile("Hi {{ first_name }}", "**Hello** {{ first_name }}").unwrap();
        let mut fields = RecipientFields::sample();
        fields.first_name = "<script>alert('x')</script> & *co*".into();
        let email = t.inner.render(&fields).unwrap();
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
        let err = compile("Hi {{ frist_name }}", "x").unwrap_err();
        assert_eq!(err.field, "subject");
        assert!(err.message.contains("frist_name"), "{}", err.message);
        let err = compile("Hi", "{{ conference.budget }}").unwrap_err();
        assert_eq!(err.field, "message");
        assert!(err.message.contains("conference.budget"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_and_unknown_filters_are_refused() {
        let err = compile("Hi {{ first_name", "x").unwrap_err();
        assert_eq!(err.field, "subject");
        assert!(err.message.contains("syntax"), "{}", err.message);
        let err = compile("Hi", "{{ first_name | shout }}").unwrap_err();
        assert_eq!(err.field, "message");
    }

    #[test]
    fn loop_variables_are_not_mistaken_for_unknown_ones() {
        assert!(compile("x", "{% for c in city %}{{ c }}{% endfor %}").is_ok());
    }

    #[test]
    fn attendee_data_is_not_html_escaped_and_subjects_stay_on_one_line() {
        let t = compile("A\n{{ company }}", "{{ company }}").unwrap();
        let mut fields = RecipientFields::sample();
        fields.company = "Smith & <Sons>".into();
        let email = t.inner.render(&fields).unwrap();
        assert_eq!(email.body, "Smith & <Sons>");
        assert_eq!(email.subject, "A Smith & <Sons>");
    }

    #[test]
    fn empty_templates_are_refused() {
        assert_eq!(compile(" ", "x").unwrap_err().field, "subject");
    }

    fn small() -> TemplateLimits {
        TemplateLimits {
            fuel: 5_000,
            max_subject_bytes: 100,
            max_body_bytes: 1_000,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn nested_loops_run_out_of_fuel_as_a_validation_error() {
        let t = NotificationTemplate::compile(
            "x",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            &small(),
        )
        .unwrap();
        let err = ValidationError::from(t.render(&RecipientFields::sample()).await.unwrap_err());
        assert!(err.message.contains("TEMPLATE_FUEL"), "{}", err.message);
        assert!(t.check().await.is_err());
    }

    #[tokio::test]
    async fn output_stops_at_the_size_cap() {
        let t = NotificationTemplate::compile(
            "{% for i in range(1000) %}{{ first_name }}{% endfor %}",
            "{% for i in range(1000) %}{{ first_name }}{% endfor %}",
            &small(),
        )
        .unwrap();
        let err = ValidationError::from(t.render(&RecipientFields::sample()).await.unwrap_err());
        assert_eq!(err.field, "subject");
        assert!(
            err.message.contains("TEMPLATE_MAX_SUBJECT_BYTES"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn trial_renders_take_branches_the_sample_attendee_does_not() {
        let bomb =
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        for condition in [
            "first_name != 'Ada'",
            "first_name == 'Bob'",
            "first_name|length > 90",
            "not first_name",
            "'z' in city",
        ] {
            let message = format!("{{% if {condition} %}}{bomb}{{% endif %}}");
            let t = NotificationTemplate::compile("x", &message, &small()).unwrap();
            assert!(
                t.render(&RecipientFields::sample()).await.is_ok(),
                "{condition}"
            );
            assert!(t.check().await.is_err(), "{condition} was not taken");
        }
    }

    #[tokio::test]
    async fn everyday_templates_compile_pass_their_trials_and_render() {
        let t = compile(
            "{{ (first_name ~ ' ' ~ last_name)|title }}",
            "{% for c in city %}{{ loop.index }}{{ c|upper }}{% endfor %} \
             {% if company|length > 3 %}{{ company|replace('Ltd', 'Limited') }}{% endif %} \
             {{ conference.name|default('?') }} {{ email|lower }}",
        )
        .unwrap();
        t.check().await.unwrap();
        let email = t.render(&RecipientFields::sample()).await.unwrap();
        assert_eq!(email.subject, "Ada Lovelace");
        assert!(
            email
                .body
                .starts_with("1L2O3N4D5O6N Analytical Engines Limited TechConf"),
            "{}",
            email.body
        );
    }

    #[test]
    fn replace_is_bounded_at_run_time_too() {
        let err = bounded_replace(&"x".repeat(1000), "x", "xxxxxxxxxx", None, 5000).unwrap_err();
        assert!(err.to_string().contains("5000"), "{err}");
        assert_eq!(
            bounded_replace("a-b-c", "-", "+", Some(1), 10).unwrap(),
            "a+b-c"
        );
        assert_eq!(bounded_replace("ab", "", "-", None, 10).unwrap(), "-a-b-");
    }

    #[tokio::test]
    async fn dates_and_prices_are_written_out_by_their_filters() {
        let t = compile(
            "{{ conference.name }} on {{ conference.starts_on | date(\"long\") }}",
            "{{ conference.starts_on | date('medium') }}: {{ conference.price | money }}, \
             {{ conference.price | money('USD') }} ({{ conference.currency }})",
        )
        .unwrap();
        t.check().await.unwrap();
        let mut fields = RecipientFields::sample();
        fields.conference.starts_on = "2027-10-12".into();
        fields.conference.price = 1349.5;
        let email = t.render(&fields).await.unwrap();
        assert_eq!(email.subject, "TechConf on Tuesday 12 October 2027");
        assert_eq!(email.body, "12 Oct 2027: €1,349.50, US$1,349.50 (EUR)");
    }

    #[tokio::test]
    async fn the_filters_refuse_what_they_cannot_format() {
        // An attendee field is no date: the trial renders find it at creation.
        let t = compile("x", "{{ first_name | date }}").unwrap();
        let err = ValidationError::from(t.check().await.unwrap_err());
        assert!(err.message.contains("2027-10-12"), "{}", err.message);
        let t = compile("x", "{{ conference.starts_on | date('%Y') }}").unwrap();
        assert!(t.check().await.is_err());
        let t = compile("x", "{{ conference.price | money('euros') }}").unwrap();
        let err = ValidationError::from(t.check().await.unwrap_err());
        assert!(err.message.contains("three-letter"), "{}", err.message);
        let t = compile("x", "{{ first_name | money }}").unwrap();
        assert!(t.check().await.is_err());
    }

    #[test]
    fn fields_beyond_the_registration_limits_are_refused() {
        let t = compile("x", "{{ first_name }}").unwrap();
        let mut fields = RecipientFields::sample();
        fields.first_name = "x".repeat(401);
        assert!(t.inner.render(&fields).is_err());
    }
}
