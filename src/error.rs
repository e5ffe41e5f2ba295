//! The error type of the API boundary, and its mapping to GraphQL `extensions.code`.
//!
//! Internal causes are logged with their full chain and replaced by a generic message:
//! database text never reaches a client.
use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

use crate::domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A request budget (`graphql::limits`): `limit` names the setting's subject.
    #[error("{message}")]
    LimitExceeded {
        limit: &'static str,
        message: String,
    },
    #[error("too many registrations; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the request took longer than {0} ms and was stopped")]
    Timeout(u128),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "VALIDATION",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Timeout(_) => "TIMEOUT",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(ValidationError::new(field, message))
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} {id} does not exist"))
    }

    /// Maps a unique-constraint violation to `Conflict` with `message`; any other database
    /// error is internal.
    pub fn conflict_on_unique(err: DbErr, message: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict(message.into()),
            _ => ApiError::Internal(err.into()),
        }
    }
}

/// How much of a caller's bad input an error message repeats.
pub const ECHO_CHARS: usize = 40;

/// At most [`ECHO_CHARS`] characters of `input`, for an error message: a request with a
/// 150 KB bad id must not get 150 KB back per error.
pub fn echo(input: &str) -> std::borrow::Cow<'_, str> {
    match input.char_indices().nth(ECHO_CHARS) {
        None => input.into(),
        Some((end, _)) => format!("{}…", &input[..end]).into(),
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Database(err) => err.into(),
            StoreError::NotFound(id) => ApiError::not_found("notification", id),
            StoreError::Refused {
                id,
                imported: true,
                action,
                ..
            } => ApiError::Conflict(format!(
                "notification {id} was imported from the original TechConf and cannot be {action}"
            )),
            err @ (StoreError::Refused { .. } | StoreError::NothingToRetry(_)) => {
                ApiError::Conflict(err.to_string())
            }
            StoreError::Invalid { .. } => ApiError::Internal(err.into()),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error while answering a GraphQL request");
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                ApiError::Validation(v) => ext.set("field", v.field.as_str()),
                ApiError::LimitExceeded { limit, .. } => ext.set("limit", *limit),
                ApiError::RateLimited { retry_after_secs } => {
                    ext.set("retryAfter", *retry_after_secs)
                }
                _ => {}
            }
        })
    }
}

/// Turns service results into GraphQL results carrying `extensions.code`.
pub trait IntoGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGraphql<T> for ApiResult<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_keeps_short_input_and_cuts_long_input() {
        assert_eq!(echo("abc"), "abc");
        let long = "é".repeat(150_000);
        let shown = echo(&long);
        assert_eq!(shown.chars().count(), ECHO_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
