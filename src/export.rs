//! CSV downloads over plain HTTP, for what a browser saves as a file rather than reads as
//! GraphQL: `GET /admin/export/attendees.csv?conferenceId=…` with the same token as the API
//! (`Authorization: Bearer …`, admin or integrator). The rows are streamed as they are read,
//! a page at a time, so an export's memory does not grow with the conference.
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderMap};
use futures::StreamExt;
use serde::Deserialize;

use crate::app::{AppState, authenticate_http};
use crate::error::ApiError;
use crate::service::{roster::AttendeeFilter, roster_csv};

/// The query string: the conference, and the same search and filters as `attendees`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendeeExport {
    conference_id: String,
    search: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    company: Option<String>,
    job_position: Option<String>,
    city: Option<String>,
    state: Option<String>,
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

pub async fn attendees_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<AttendeeExport>,
) -> Response {
    let auth = match authenticate_http(&state, &headers).await {
        Ok(auth) => auth,
        Err(response) => return response,
    };
    if let Err(err) = auth.require(crate::graphql::READERS) {
        return error_response(&err);
    }
    let Ok(conference_id) = params.conference_id.parse::<uuid::Uuid>() else {
        return error_response(&ApiError::validation(
            "conferenceId",
            format!("`{}` is not a valid id", params.conference_id),
        ));
    };
    let filter = AttendeeFilter {
        search: params.search,
        first_name: params.first_name,
        last_name: params.last_name,
        email: params.email,
        company: params.company,
        job_position: params.job_position,
        city: params.city,
        state: params.state,
    };
    let rows = match roster_csv::export(
        state.db.clone(),
        crate::tenancy::Scope::of(&auth),
        conference_id,
        filter,
    )
    .await
    {
        Ok(rows) => rows,
        Err(err) => return error_response(&err),
    };
    let body = Body::from_stream(rows.map(|chunk| {
        chunk.map_err(|err| {
            // The status is already sent: cut the body short so the file is visibly broken.
            tracing::error!(error = ?err, "attendee export failed mid-way");
            std::io::Error::other("export failed")
        })
    }));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"attendees-{conference_id}.csv\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
