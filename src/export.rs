//! CSV downloads over plain HTTP, for what a browser saves as a file rather than reads as
//! GraphQL: `GET /admin/export/attendees.csv?conferenceId=…` and
//! `GET /admin/export/deliveries.csv?notificationId=…`, with the same token as the API
//! (`Authorization: Bearer …`, admin or integrator). The rows are streamed as they are read,
//! a page at a time (`service::csv_stream`), so an export's memory does not grow with the
//! conference.
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderMap};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::app::{AppState, authenticate_http};
use crate::domain::DeliveryStatus;
use crate::error::ApiError;
use crate::service::deliveries::{self, DeliveryFilter};
use crate::service::roster::{AttendeeFilter, ColumnFilter};
use crate::service::roster_csv;
use crate::tenancy::Scope;

/// The query string: the conference, and the same search and filters as `attendees`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendeeExport {
    conference_id: String,
    search: Option<String>,
    #[serde(flatten)]
    columns: ColumnFilter,
}

/// An error as JSON with the API's code, and the HTTP status that goes with it.
fn error_response(err: &ApiError) -> Response {
    let status = match err {
        ApiError::Validation(_) => StatusCode::BAD_REQUEST,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApiError::LimitExceeded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        ApiError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error while exporting");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let body = serde_json::json!({"error": err.to_string(), "code": err.code()});
    (status, Json(body)).into_response()
}

/// The scope of the request's token, if it may read exports (admin or integrator); else
/// the response that refuses it.
async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Scope, Response> {
    let auth = authenticate_http(state, headers).await?;
    auth.require(crate::graphql::READERS)
        .map_err(|err| error_response(&err))?;
    Ok(Scope::of(&auth))
}

fn parse_id(field: &str, value: &str) -> Result<uuid::Uuid, ApiError> {
    value
        .parse::<uuid::Uuid>()
        .map_err(|_| ApiError::validation(field, format!("`{value}` is not a valid id")))
}

/// A CSV file streamed as `rows` produces it, saved as `filename`.
fn attachment(
    what: &'static str,
    filename: String,
    rows: impl Stream<Item = Result<Vec<u8>, ApiError>> + Send + 'static,
) -> Response {
    crate::metrics::csv_export(what);
    tracing::info!(export = what, %filename, "CSV export started");
    let body = Body::from_stream(rows.map(move |chunk| {
        chunk.map_err(|err| {
            // The status is already sent: cut the body short so the file is visibly broken.
            tracing::error!(error = ?err, export = what, "export failed mid-way");
            std::io::Error::other("export failed")
        })
    }));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

pub async fn attendees_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<AttendeeExport>,
) -> Response {
    let scope = match authorize(&state, &headers).await {
        Ok(scope) => scope,
        Err(refused) => return refused,
    };
    let conference_id = match parse_id("conferenceId", &params.conference_id) {
        Ok(id) => id,
        Err(err) => return error_response(&err),
    };
    let filter = AttendeeFilter {
        search: params.search,
        columns: params.columns,
    };
    match roster_csv::export(state.db.clone(), scope, conference_id, filter).await {
        Ok(rows) => attachment("attendees", format!("attendees-{conference_id}.csv"), rows),
        Err(err) => error_response(&err),
    }
}

/// The query string of a delivery export: the notification, and the same `status` and
/// `search` as `Notification.deliveries`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryExport {
    notification_id: String,
    /// A delivery status in any case (`FAILED` or `failed`).
    status: Option<String>,
    search: Option<String>,
}

/// `GET /admin/export/deliveries.csv?notificationId=…&status=…&search=…`: a notification's
/// delivery log as CSV, streamed.
pub async fn deliveries_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<DeliveryExport>,
) -> Response {
    let scope = match authorize(&state, &headers).await {
        Ok(scope) => scope,
        Err(refused) => return refused,
    };
    let notification_id = match parse_id("notificationId", &params.notification_id) {
        Ok(id) => id,
        Err(err) => return error_response(&err),
    };
    let status = match params
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match s.to_ascii_lowercase().parse::<DeliveryStatus>() {
            Ok(status) => Some(status),
            Err(_) => {
                return error_response(&ApiError::validation(
                    "status",
                    format!("`{s}` is not a delivery status"),
                ));
            }
        },
    };
    let filter = DeliveryFilter {
        status,
        search: params.search,
    };
    match deliveries::export(state.db.clone(), scope, notification_id, filter).await {
        Ok(rows) => attachment(
            "deliveries",
            format!("deliveries-{notification_id}.csv"),
            rows,
        ),
        Err(err) => error_response(&err),
    }
}
