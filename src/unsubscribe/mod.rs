//! One-click unsubscribe (RFC 8058): the `List-Unsubscribe` links every notification
//! carries, and the `/u/{token}` endpoint they lead to.
//!
//! - `POST /u/{token}` with the body `List-Unsubscribe=One-Click` unsubscribes at once and
//!   answers with a short confirmation, no further step: that is what mailbox providers
//!   send when the recipient clicks "Unsubscribe" in their interface. A POST without that
//!   body is refused (400).
//! - `GET /u/{token}` never changes anything (link scanners follow links): it shows a small
//!   page with one button, and a choice between this conference and all conferences.
//!
//! The token is signed with `UNSUBSCRIBE_SECRET` and expires (`token`); nothing in the URL
//! is looked up in the database.
mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

pub use token::{Claims, TokenError, TokenKey};

use crate::app::AppState;
use crate::config::ConfigError;
use crate::mail::html::escape;
use crate::suppression::{self, Reason};

/// The smallest secret accepted in `UNSUBSCRIBE_SECRET`.
const MIN_SECRET_LEN: usize = 32;

/// `UNSUBSCRIBE_*` settings.
#[derive(Clone, Debug)]
pub struct UnsubscribeSettings {
    /// `UNSUBSCRIBE_SECRET`; `None` in the embedded setup, which generates one.
    pub secret: Option<SecretString>,
    /// `UNSUBSCRIBE_SECRET_FILE`: where the generated secret is kept.
    pub secret_file: PathBuf,
    /// `UNSUBSCRIBE_TOKEN_TTL_DAYS`.
    pub ttl: chrono::Duration,
    /// `UNSUBSCRIBE_MAILTO`: an optional address for `mailto:` unsubscribe requests.
    pub mailto: Option<String>,
    /// Where `/u/` is served: `TECHCONF_PUBLIC_URL`, or the listen address.
    pub base_url: String,
}

impl UnsubscribeSettings {
    pub fn from_lookup(
        get: &impl Fn(&'static str) -> Option<String>,
        public_url: Option<&str>,
        listen: std::net::SocketAddr,
    ) -> Result<Self, ConfigError> {
        let error = |variable: &'static str, reason: &str| ConfigError {
            variable,
            reason: reason.to_owned(),
        };
        let secret = get("UNSUBSCRIBE_SECRET");
        match (&secret, public_url) {
            (Some(secret), _) if secret.trim().len() < MIN_SECRET_LEN => {
                return Err(error(
                    "UNSUBSCRIBE_SECRET",
                    "must be at least 32 characters (e.g. `openssl rand -hex 32`)",
                ));
            }
            (None, Some(_)) => {
                return Err(error(
                    "UNSUBSCRIBE_SECRET",
                    "is required when TECHCONF_PUBLIC_URL is set: every API and worker \
                     replica must sign and check unsubscribe links with the same secret",
                ));
            }
            _ => {}
        }
        let ttl_days: i64 = match get("UNSUBSCRIBE_TOKEN_TTL_DAYS") {
            None => 90,
            Some(raw) => raw
                .trim()
                .parse()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    error(
                        "UNSUBSCRIBE_TOKEN_TTL_DAYS",
                        "must be a number of days from 1 to 3650",
                    )
                })?,
        };
        let mailto = match get("UNSUBSCRIBE_MAILTO") {
            None => None,
            Some(address) => {
                let address = address.trim().to_owned();
                address.parse::<lettre::Address>().map_err(|_| {
                    error(
                        "UNSUBSCRIBE_MAILTO",
                        "must be an email address, e.g. unsubscribe@example.org",
                    )
                })?;
                Some(address)
            }
        };
        let base_url = public_url
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{listen}"));
        Ok(Self {
            secret: secret.map(|s| SecretString::from(s.trim().to_owned())),
            secret_file: get("UNSUBSCRIBE_SECRET_FILE")
                .unwrap_or_else(|| "./var/unsubscribe.secret".into())
                .into(),
            ttl: chrono::Duration::days(ttl_days),
            mailto,
            base_url,
        })
    }
}

/// The two `List-Unsubscribe` targets of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeLink {
    pub url: String,
    pub mailto: Option<String>,
}

impl UnsubscribeLink {
    /// The `List-Unsubscribe` header value: `<https://…>, <mailto:…>`.
    pub fn header_value(&self) -> String {
        match &self.mailto {
            Some(mailto) => format!("<{}>, <{mailto}>", self.url),
            None => format!("<{}>", self.url),
        }
    }
}

/// Makes and checks unsubscribe links.
#[derive(Clone, Debug)]
pub struct Unsubscribe(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    key: TokenKey,
    ttl: chrono::Duration,
    mailto: Option<String>,
    base_url: String,
}

impl Unsubscribe {
    /// The configured secret, or (embedded setup) the one kept in `UNSUBSCRIBE_SECRET_FILE`,
    /// generated on first use.
    pub fn from_settings(settings: &UnsubscribeSettings) -> anyhow::Result<Self> {
        let secret = match &settings.secret {
            Some(secret) => secret.clone(),
            None => generated_secret(&settings.secret_file)?,
        };
        Ok(Self(Arc::new(Inner {
            key: TokenKey::new(secret),
            ttl: settings.ttl,
            mailto: settings.mailto.clone(),
            base_url: settings.base_url.clone(),
        })))
    }

    /// The link for `email` and `conference_id`, valid for the configured time from `now`.
    pub fn link(&self, email: &str, conference_id: Uuid, now: DateTime<Utc>) -> UnsubscribeLink {
        let token = self.0.key.sign(email, conference_id, now + self.0.ttl);
        UnsubscribeLink {
            url: format!("{}/u/{token}", self.0.base_url),
            mailto: self.0.mailto.as_ref().map(|address| {
                format!(
                    "mailto:{address}?subject=unsubscribe%20{}",
                    conference_id.simple()
                )
            }),
        }
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        self.0.key.verify(token, now)
    }
}

/// Reads the generated secret, creating it (64 hex characters, mode 0600) if missing.
fn generated_secret(path: &Path) -> anyhow::Result<SecretString> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let read = |path: &Path| -> anyhow::Result<SecretString> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("UNSUBSCRIBE_SECRET_FILE: cannot read {}", path.display()))?;
        let text = text.trim();
        anyhow::ensure!(
            text.len() >= MIN_SECRET_LEN,
            "UNSUBSCRIBE_SECRET_FILE: {} holds fewer than 32 characters",
            path.display()
        );
        Ok(SecretString::from(text.to_owned()))
    };
    if path.exists() {
        return read(path);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("UNSUBSCRIBE_SECRET_FILE: cannot create {}", dir.display()))?;
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).with_context(|| {
                format!("UNSUBSCRIBE_SECRET_FILE: cannot write {}", path.display())
            })?;
            tracing::info!(file = %path.display(), "generated an unsubscribe secret");
            Ok(SecretString::from(secret))
        }
        // Another process created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(err) => Err(err)
            .with_context(|| format!("UNSUBSCRIBE_SECRET_FILE: cannot create {}", path.display())),
    }
}

/// `GET /u/{token}`: a page with one button. Changes nothing.
pub async fn page(State(state): State<AppState>, UrlPath(token): UrlPath<String>) -> Response {
    let claims = match state.unsubscribe.verify(&token, Utc::now()) {
        Ok(claims) => claims,
        Err(err) => return refused(err),
    };
    let conference = conference_name(&state, claims.conference_id).await;
    let body = format!(
        r#"<h1>Unsubscribe</h1>
<p>Stop emails to <strong>{email}</strong>:</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<p><label><input type="radio" name="scope" value="conference" checked> about {conference}</label><br>
<label><input type="radio" name="scope" value="all"> about all conferences</label></p>
<p><button type="submit">Unsubscribe</button></p>
</form>"#,
        email = escape(&claims.email),
        conference = escape(&conference),
    );
    small_page(StatusCode::OK, &body)
}

/// `POST /u/{token}`: unsubscribes at once (RFC 8058). The body must hold
/// `List-Unsubscribe=One-Click`; `scope=all` (from the page's choice) covers every
/// conference, anything else the conference the email was about.
pub async fn one_click(
    State(state): State<AppState>,
    UrlPath(token): UrlPath<String>,
    body: String,
) -> Response {
    let claims = match state.unsubscribe.verify(&token, Utc::now()) {
        Ok(claims) => claims,
        Err(err) => return refused(err),
    };
    let mut one_click = false;
    let mut all = false;
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("List-Unsubscribe", "One-Click") => one_click = true,
            ("scope", "all") => all = true,
            _ => {}
        }
    }
    if !one_click {
        return small_page(
            StatusCode::BAD_REQUEST,
            "<h1>Not unsubscribed</h1><p>The request must carry <code>List-Unsubscribe=One-Click</code>.</p>",
        );
    }
    let scope = (!all).then_some(claims.conference_id);
    let recorded = match crate::tenancy::organization_of_conference(&state.db, claims.conference_id)
        .await
    {
        Ok(organization) => {
            let organization = organization.unwrap_or_else(crate::tenancy::default_organization);
            suppression::suppress(
                &state.db,
                organization,
                &claims.email,
                scope,
                Reason::Unsubscribed,
            )
            .await
        }
        Err(err) => Err(err),
    };
    if let Err(err) = recorded {
        tracing::error!(error = %err, "could not record an unsubscribe");
        return small_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "<h1>Please try again</h1><p>Your request could not be recorded just now.</p>",
        );
    }
    tracing::info!(
        to = %crate::mail::mask_address(&claims.email),
        conference = %claims.conference_id,
        all,
        "unsubscribed"
    );
    let what = if all {
        "any conference".to_owned()
    } else {
        escape(&conference_name(&state, claims.conference_id).await)
    };
    small_page(
        StatusCode::OK,
        &format!(
            "<h1>Unsubscribed</h1><p><strong>{}</strong> will get no more emails about {what}.</p>",
            escape(&claims.email)
        ),
    )
}

async fn conference_name(state: &AppState, id: Uuid) -> String {
    match crate::service::conference::get(&state.db, &crate::tenancy::Scope::Installation, id).await
    {
        Ok(conference) => conference.name,
        Err(_) => "this conference".to_owned(),
    }
}

fn refused(err: TokenError) -> Response {
    let status = match err {
        TokenError::Invalid => StatusCode::BAD_REQUEST,
        TokenError::Expired => StatusCode::GONE,
    };
    small_page(
        status,
        &format!(
            "<h1>Unsubscribe</h1><p>{}. Use the link in a more recent email, or reply to it.</p>",
            escape(&capitalised(&err.to_string()))
        ),
    )
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

fn small_page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Unsubscribe</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font:inherit;padding:.5rem 1rem}}</style>
</head><body>
{body}
</body></html>
"#
    );
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Html(html),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&'static str, &str)]) -> Result<crate::config::Settings, ConfigError> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        crate::config::Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn a_public_deployment_needs_a_long_enough_secret() {
        let err = settings(&[("TECHCONF_PUBLIC_URL", "https://t.example")]).unwrap_err();
        assert_eq!(err.variable, "UNSUBSCRIBE_SECRET");
        let err = settings(&[("UNSUBSCRIBE_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "UNSUBSCRIBE_SECRET");
        let ok = settings(&[
            ("TECHCONF_PUBLIC_URL", "https://t.example/"),
            ("UNSUBSCRIBE_SECRET", &"x".repeat(32)),
        ])
        .unwrap();
        assert_eq!(ok.unsubscribe.base_url, "https://t.example");
        for (variable, value) in [
            ("UNSUBSCRIBE_TOKEN_TTL_DAYS", "0"),
            ("UNSUBSCRIBE_MAILTO", "not an address"),
            ("WEBHOOK_AZURE_SECRET", "too-short"),
            ("WEBHOOK_SENDGRID_PUBLIC_KEY", "bm90IGEga2V5"),
        ] {
            let err = settings(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }

    #[test]
    fn the_embedded_secret_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("unsub-{}", Uuid::now_v7()));
        let file = dir.join("secret");
        let file_text = file.to_str().unwrap().to_owned();
        let settings = settings(&[("UNSUBSCRIBE_SECRET_FILE", &file_text)]).unwrap();
        let first = Unsubscribe::from_settings(&settings.unsubscribe).unwrap();
        let link = first.link("ada@example.org", Uuid::now_v7(), Utc::now());
        assert!(
            link.url.starts_with("http://127.0.0.1:8080/u/"),
            "{}",
            link.url
        );
        assert_eq!(link.header_value(), format!("<{}>", link.url));
        // A restart reads the same secret: links already sent keep working.
        let again = Unsubscribe::from_settings(&settings.unsubscribe).unwrap();
        let token = link.url.rsplit('/').next().unwrap();
        assert_eq!(
            again.verify(token, Utc::now()).unwrap().email,
            "ada@example.org"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
