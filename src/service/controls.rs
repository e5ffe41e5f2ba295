//! Admin controls over a running notification: pause, resume, cancel, retry failures.
//!
//! The changes themselves, and the state machine they follow, are the store's
//! ([`crate::store::notification`]). Workers read the status between batches, so a pause or
//! cancel takes effect within one batch; the deliveries in flight at that moment finish and
//! are recorded, and the notification is `PAUSING` / `CANCELLING` until they are. Resume and
//! retry enqueue send jobs over exactly the deliveries still pending, so nobody is skipped
//! and nobody is sent twice.
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::entity::notification;
use crate::error::ApiResult;
use crate::store::{self, Signal, StoreError};
use crate::tenancy::Scope;

/// Publishes the change, then answers with the row as it now is.
async fn answer(
    db: &DatabaseConnection,
    id: Uuid,
    changed: Result<Signal, StoreError>,
) -> ApiResult<notification::Model> {
    changed?.publish();
    Scope::Installation.notification(db, id).await
}

pub async fn pause(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Uuid,
) -> ApiResult<notification::Model> {
    scope.notification(db, id).await?;
    answer(db, id, store::notification::pause(db, id).await).await
}

pub async fn resume(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Uuid,
    slice_size: usize,
) -> ApiResult<notification::Model> {
    scope.notification(db, id).await?;
    answer(
        db,
        id,
        store::notification::resume(db, id, slice_size).await,
    )
    .await
}

pub async fn cancel(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Uuid,
) -> ApiResult<notification::Model> {
    scope.notification(db, id).await?;
    answer(db, id, store::notification::cancel(db, id).await).await
}

/// What a retry did, and the notification as it now is.
pub struct RetryReport {
    pub notification: notification::Model,
    pub retried: u64,
    pub skipped_bounced: u64,
    pub skipped_suppressed: u64,
}

pub async fn retry_failed(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Uuid,
    slice_size: usize,
    include_bounced: bool,
) -> ApiResult<RetryReport> {
    scope.notification(db, id).await?;
    let store::notification::Retried {
        retried,
        skipped_bounced,
        skipped_suppressed,
        signal,
    } = store::notification::retry_failed(db, id, slice_size, include_bounced).await?;
    tracing::info!(
        notification_id = %id,
        retried,
        skipped_bounced,
        skipped_suppressed,
        include_bounced,
        "failed deliveries retried"
    );
    crate::metrics::deliveries_retried(retried);
    let notification = answer(db, id, Ok(signal)).await?;
    Ok(RetryReport {
        notification,
        retried,
        skipped_bounced,
        skipped_suppressed,
    })
}
