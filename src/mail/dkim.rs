//! DKIM signing (`DKIM_SELECTOR`, `DKIM_DOMAIN`, `DKIM_PRIVATE_KEY_FILE`), for deployments
//! that send through their own MTA. Providers such as Azure Communication Services or
//! SendGrid sign for you; leave these unset there.
//!
//! The key is read and parsed once at start-up, so a bad one stops the process with an
//! error naming the setting instead of failing every send. Accepted keys: RSA in PKCS#1 PEM
//! (`-----BEGIN RSA PRIVATE KEY-----`), or Ed25519 as the base64 of its 32-byte seed.
use std::sync::Arc;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

use crate::config::ConfigError;

/// The headers signed: what a reader sees, plus the one-click unsubscribe pair, which
/// Gmail requires to be covered by the signature. Not `Content-Type`: lettre 0.11 keeps a
/// multipart body's `Content-Type` with the body, so it cannot sign it (it would sign an
/// absent header, and every verifier would then fail the message).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// A loaded signing configuration.
#[derive(Clone)]
pub struct Dkim {
    config: Arc<DkimConfig>,
    pub selector: String,
    pub domain: String,
}

impl std::fmt::Debug for Dkim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dkim")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Dkim {
    /// `None` when no `DKIM_*` variable is set; all three are needed otherwise.
    pub fn from_lookup(
        get: &impl Fn(&'static str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let error = |variable: &'static str, reason: String| ConfigError { variable, reason };
        let (selector, domain, file) = (
            get("DKIM_SELECTOR"),
            get("DKIM_DOMAIN"),
            get("DKIM_PRIVATE_KEY_FILE"),
        );
        let (selector, domain, file) = match (selector, domain, file) {
            (None, None, None) => return Ok(None),
            (Some(s), Some(d), Some(f)) => (s.trim().to_owned(), d.trim().to_owned(), f),
            (None, ..) => return Err(error("DKIM_SELECTOR", missing())),
            (_, None, _) => return Err(error("DKIM_DOMAIN", missing())),
            (.., None) => return Err(error("DKIM_PRIVATE_KEY_FILE", missing())),
        };
        let label = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
        };
        if !label(&selector) {
            return Err(error(
                "DKIM_SELECTOR",
                format!("`{selector}` is not a DNS label"),
            ));
        }
        if !label(&domain) {
            return Err(error(
                "DKIM_DOMAIN",
                format!("`{domain}` is not a domain name"),
            ));
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| error("DKIM_PRIVATE_KEY_FILE", format!("cannot read {file}: {e}")))?;
        let key = parse_key(&text)
            .map_err(|reason| error("DKIM_PRIVATE_KEY_FILE", format!("{file}: {reason}")))?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect();
        let config = DkimConfig::new(
            selector.clone(),
            domain.clone(),
            key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(Some(Self {
            config: Arc::new(config),
            selector,
            domain,
        }))
    }

    pub fn config(&self) -> &DkimConfig {
        &self.config
    }
}

fn missing() -> String {
    "DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_FILE go together: set all three or none".into()
}

fn parse_key(text: &str) -> Result<DkimSigningKey, String> {
    let text = text.trim();
    if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        return DkimSigningKey::new(text, DkimSigningAlgorithm::Rsa)
            .map_err(|e| format!("not a valid RSA private key ({e})"));
    }
    if text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err("a PKCS#8 key: convert it to PKCS#1 with \
                    `openssl pkey -in key.pem -traditional -out dkim.pem`, \
                    or use an Ed25519 seed in base64"
            .into());
    }
    if text.contains("-----BEGIN") {
        return Err("unsupported PEM: expected `-----BEGIN RSA PRIVATE KEY-----`".into());
    }
    DkimSigningKey::new(text, DkimSigningAlgorithm::Ed25519).map_err(|e| {
        format!("neither an RSA PEM key nor an Ed25519 seed (32 bytes in base64) ({e})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&'static str, &str)]) -> Result<Option<Dkim>, ConfigError> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Dkim::from_lookup(&|name| vars.get(name).cloned())
    }

    #[test]
    fn unset_means_no_signing_and_partial_settings_are_refused() {
        assert!(load(&[]).unwrap().is_none());
        let err = load(&[("DKIM_SELECTOR", "s1")]).unwrap_err();
        assert_eq!(err.variable, "DKIM_DOMAIN");
    }

    #[test]
    fn a_bad_key_is_refused_naming_the_setting() {
        let dir = std::env::temp_dir().join(format!("dkim-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (
                "garbage",
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            ),
            (
                "pkcs8",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            ("short", "c2hvcnQ="),
        ];
        for (name, text) in cases {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let err = load(&[
                ("DKIM_SELECTOR", "s1"),
                ("DKIM_DOMAIN", "example.org"),
                ("DKIM_PRIVATE_KEY_FILE", path.to_str().unwrap()),
            ])
            .unwrap_err();
            assert_eq!(err.variable, "DKIM_PRIVATE_KEY_FILE", "{name}");
        }
        let err = load(&[
            ("DKIM_SELECTOR", "s1"),
            ("DKIM_DOMAIN", "example.org"),
            (
                "DKIM_PRIVATE_KEY_FILE",
                dir.join("absent").to_str().unwrap(),
            ),
        ])
        .unwrap_err();
        assert!(err.reason.contains("cannot read"), "{}", err.reason);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
