//! Business operations. Each takes a database connection and returns domain results, so
//! GraphQL resolvers, the CLI and tests all call the same code.
pub mod attendee;
pub mod campaign;
pub mod conference;
pub mod controls;
pub mod csv_stream;
pub mod deliveries;
pub mod draft;
pub mod notification;
pub mod page;
pub mod roster;
pub mod roster_csv;
pub mod seed;

use sea_orm::{ConnectionTrait, EntityTrait, PrimaryKeyTrait};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The row of `E` with this id, or `NOT_FOUND` naming it as `what`.
async fn find_by_id<E>(db: &impl ConnectionTrait, id: Uuid, what: &str) -> ApiResult<E::Model>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    E::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found(what, id))
}
