//! Signed, expiring unsubscribe tokens: `base64url(payload).base64url(HMAC-SHA256(payload))`.
//!
//! The payload names the address, the conference and the expiry, so the link needs no
//! database lookup and there is no id to guess or enumerate: without the server secret
//! nobody can make a token, and changing one byte of a token breaks its MAC.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Lower-cased.
    pub email: String,
    pub conference_id: Uuid,
    pub expires: DateTime<Utc>,
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks tokens with the server secret.
#[derive(Clone)]
pub struct TokenKey(SecretString);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

impl TokenKey {
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length.
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of every length")]
        HmacSha256::new_from_slice(self.0.expose_secret().as_bytes()).expect("any key length")
    }

    pub fn sign(&self, email: &str, conference_id: Uuid, expires: DateTime<Utc>) -> String {
        let payload = format!(
            "{VERSION}|{}|{}|{}",
            conference_id.simple(),
            expires.timestamp(),
            email.to_lowercase()
        );
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The claims of a token this key signed that has not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let (payload, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(&payload);
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Invalid)?;
        let mut parts = payload.splitn(4, '|');
        let (Some(VERSION), Some(conference), Some(expires), Some(email)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let conference_id = Uuid::parse_str(conference).map_err(|_| TokenError::Invalid)?;
        let expires = expires
            .parse::<i64>()
            .ok()
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or(TokenError::Invalid)?;
        if expires < now {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            email: email.to_owned(),
            conference_id,
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> TokenKey {
        TokenKey::new(SecretString::from(secret.to_owned()))
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let conference = Uuid::now_v7();
        let now = Utc::now();
        let expires = now + chrono::Duration::days(1);
        let token = key("s3cret").sign("Ada@Example.org", conference, expires);
        let claims = key("s3cret").verify(&token, now).unwrap();
        assert_eq!(claims.email, "ada@example.org");
        assert_eq!(claims.conference_id, conference);
        assert_eq!(
            key("s3cret").verify(&token, expires + chrono::Duration::seconds(1)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_and_tampered_tokens_are_invalid() {
        let now = Utc::now();
        let expires = now + chrono::Duration::days(1);
        let token = key("s3cret").sign("ada@example.org", Uuid::now_v7(), expires);
        assert_eq!(key("other").verify(&token, now), Err(TokenError::Invalid));
        let (payload, mac) = token.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            key("s3cret").verify(&tampered, now),
            Err(TokenError::Invalid)
        );
        for junk in ["", ".", "abc", "a.b", &format!("{payload}.")] {
            assert_eq!(key("s3cret").verify(junk, now), Err(TokenError::Invalid));
        }
    }
}
