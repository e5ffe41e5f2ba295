//! API tokens: generation, hashing, and turning an `Authorization` header into a principal.
//!
//! Tokens are random 256-bit values shown once; only their SHA-256 is stored, so a leaked
//! database does not leak usable tokens.
use base64::Engine;
use chrono::{Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Role;
use crate::entity::api_token;
use crate::error::ApiError;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's row id; `None` for the bootstrap `TECHCONF_ADMIN_TOKEN`.
    pub token_id: Option<Uuid>,
    pub name: String,
    pub role: Role,
    /// The organization it acts in; `None` for an operator (the whole installation).
    pub organization_id: Option<Uuid>,
}

impl Principal {
    /// A stable identity, used to scope idempotency keys to the token that sent them.
    pub fn identity(&self) -> String {
        match self.token_id {
            Some(id) => id.to_string(),
            None => "env:TECHCONF_ADMIN_TOKEN".to_owned(),
        }
    }
}

/// The outcome of reading credentials from a request or a WebSocket `connection_init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    Anonymous,
    /// Credentials were sent but match no live token.
    Invalid,
    Authenticated(Principal),
}

impl Authentication {
    /// The principal, if it has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        match self {
            Authentication::Anonymous => Err(ApiError::Unauthenticated(
                "this operation needs an API token: send `Authorization: Bearer <token>`".into(),
            )),
            Authentication::Invalid => Err(ApiError::Unauthenticated(
                "the API token is invalid or has been revoked".into(),
            )),
            // An operator may do whatever an organization's admin may, in every organization.
            Authentication::Authenticated(p)
                if roles.contains(&p.role) || p.role == Role::Operator =>
            {
                Ok(p)
            }
            Authentication::Authenticated(p) => Err(ApiError::Forbidden(format!(
                "this operation needs the {} role; token `{}` has the {} role",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                p.name,
                p.role
            ))),
        }
    }
}

/// A new random token, `tc_` followed by 43 URL-safe characters.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "tc_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Extracts the token from an `Authorization` header value (`Bearer <token>`).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves tokens against the database and the optional bootstrap admin token.
#[derive(Clone)]
pub struct Authenticator {
    bootstrap_hash: Option<String>,
}

impl Authenticator {
    pub fn new(bootstrap: Option<&SecretString>) -> Self {
        Self {
            bootstrap_hash: bootstrap.map(|t| hash_token(t.expose_secret())),
        }
    }

    /// `token` is the raw credential, if the caller sent one.
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        token: Option<&str>,
    ) -> Result<Authentication, DbErr> {
        let Some(token) = token else {
            return Ok(Authentication::Anonymous);
        };
        // Comparing hashes keeps the comparison independent of where the tokens differ.
        let hash = hash_token(token);
        if self.bootstrap_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Authentication::Authenticated(Principal {
                token_id: None,
                name: "TECHCONF_ADMIN_TOKEN".into(),
                role: Role::Admin,
                organization_id: Some(crate::tenancy::default_organization()),
            }));
        }
        let Some(row) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(db)
            .await?
        else {
            return Ok(Authentication::Invalid);
        };
        let Ok(role) = row.role.parse() else {
            return Ok(Authentication::Invalid);
        };
        let now = Utc::now();
        if row
            .last_used_at
            .is_none_or(|at| now - at > Duration::minutes(1))
        {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, now.into())
                .filter(api_token::Column::Id.eq(row.id))
                .exec(db)
                .await?;
        }
        Ok(Authentication::Authenticated(Principal {
            token_id: Some(row.id),
            name: row.name,
            role,
            organization_id: row.organization_id,
        }))
    }
}

/// Stores a new token and returns its row and the token itself (shown once). An operator
/// token has no organization; every other token has one.
pub async fn create_token(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
    organization_id: Option<Uuid>,
) -> Result<(api_token::Model, String), ApiError> {
    let name = crate::domain::required_text("name", name, 100)?;
    match (role, organization_id) {
        (Role::Operator, Some(_)) => {
            return Err(ApiError::validation(
                "organization",
                "an operator token acts for the whole installation and has no organization",
            ));
        }
        (Role::Admin | Role::Integrator, None) => {
            return Err(ApiError::validation(
                "organization",
                format!("a {role} token needs an organization"),
            ));
        }
        _ => {}
    }
    let token = generate_token();
    let row = api_token::Model {
        id: Uuid::now_v7(),
        name,
        role: role.as_str().to_owned(),
        token_hash: hash_token(&token),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
        organization_id,
    };
    api_token::Entity::insert(api_token::ActiveModel {
        id: Set(row.id),
        name: Set(row.name.clone()),
        role: Set(row.role.clone()),
        token_hash: Set(row.token_hash.clone()),
        created_at: Set(row.created_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        organization_id: Set(organization_id),
    })
    .exec_without_returning(db)
    .await?;
    Ok((row, token))
}

/// Every token row, oldest first.
pub async fn list_tokens(db: &impl ConnectionTrait) -> Result<Vec<api_token::Model>, DbErr> {
    use sea_orm::QueryOrder;
    api_token::Entity::find()
        .order_by_asc(api_token::Column::Id)
        .all(db)
        .await
}

/// Revokes every live token named `name`; returns how many. Requests with it fail at once,
/// and its open WebSockets close at the next revocation check.
pub async fn revoke_token(db: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    let result = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Utc::now().into())
        .filter(api_token::Column::Name.eq(name))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Whether any admin token row exists (the bootstrap variable does not count).
pub async fn admin_token_exists(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::Role.eq(Role::Admin.as_str()))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with("tc_") && a.len() == 46, "{a}");
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn roles_are_enforced_with_distinct_errors() {
        let integrator = Authentication::Authenticated(Principal {
            token_id: None,
            name: "ci".into(),
            role: Role::Integrator,
            organization_id: None,
        });
        assert!(matches!(
            integrator.require(&[Role::Admin]),
            Err(ApiError::Forbidden(_))
        ));
        assert!(integrator.require(&[Role::Admin, Role::Integrator]).is_ok());
        assert!(matches!(
            Authentication::Anonymous.require(&[Role::Admin]),
            Err(ApiError::Unauthenticated(_))
        ));
        assert!(matches!(
            Authentication::Invalid.require(&[Role::Admin]),
            Err(ApiError::Unauthenticated(_))
        ));
    }
}
