//! DataLoaders for the per-row lookups of list fields (`Delivery.attendee`,
//! `Notification.conference`): the rows of one page are fetched with one `IN (...)` query
//! instead of one query each. They live in the schema's data, shared by all requests: they
//! batch lookups made at the same time and cache nothing, so no request sees stale rows.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::{attendee, conference};
use crate::error::{ApiError, ApiResult};

/// How long a loader collects keys before it queries: long enough for a page's resolvers
/// to register their rows on a busy machine (the default 1 ms split 100 rows into three
/// queries), short against a page's own queries.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

macro_rules! by_id_loader {
    ($(#[$doc:meta])* $name:ident, $entity:ident) => {
        $(#[$doc])*
        pub struct $name {
            db: DatabaseConnection,
        }

        impl $name {
            pub fn new(db: DatabaseConnection) -> DataLoader<Self> {
                DataLoader::new(Self { db }, tokio::spawn).delay(BATCH_WINDOW)
            }
        }

        impl Loader<Uuid> for $name {
            type Value = $entity::Model;
            type Error = Arc<sea_orm::DbErr>;

            async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(keys.iter().copied()))
                    .all(&self.db)
                    .await?;
                Ok(rows.into_iter().map(|row| (row.id, row)).collect())
            }
        }
    };
}

by_id_loader!(
    /// Attendees by id.
    AttendeeLoader,
    attendee
);
by_id_loader!(
    /// Conferences by id.
    ConferenceLoader,
    conference
);

/// Loads one row through `loader`; a missing row is `NOT_FOUND`, naming `what`.
pub(crate) async fn load_one<L>(loader: &DataLoader<L>, what: &str, id: Uuid) -> ApiResult<L::Value>
where
    L: Loader<Uuid, Error = Arc<sea_orm::DbErr>>,
{
    match loader.load_one(id).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(ApiError::not_found(what, id)),
        Err(err) => Err(ApiError::Internal(anyhow::anyhow!(
            "loading {what} {id}: {err}"
        ))),
    }
}
