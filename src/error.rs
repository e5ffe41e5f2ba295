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
            if let ApiError::Validation(v) = self {
                ext.set("field", v.field.as_str());
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
