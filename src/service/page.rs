//! Keyset pagination: pages are ordered by id (uuid v7 ids are time-ordered), and a cursor is
//! the last id seen, so a page never repeats or skips rows however the table grows.
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Value,
};

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which page to read: `first` rows after the row with id `after`.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest<K> {
    pub first: u64,
    pub after: Option<K>,
}

impl<K> PageRequest<K> {
    /// Checks the page size a client asked for.
    pub fn new(first: Option<i32>, after: Option<K>) -> Result<Self, ApiError> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
            Some(n) => {
                return Err(ApiError::validation(
                    "first",
                    format!("must be between 0 and {MAX_PAGE_SIZE}, not {n}"),
                ));
            }
        };
        Ok(Self { first, after })
    }
}

/// One page of rows, and what the client needs to fetch the next.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total_count: u64,
}

/// Which way a page walks its ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Lowest id (oldest) first.
    OldestFirst,
    /// Highest id (newest) first; the cursor is again the last id seen.
    NewestFirst,
}

/// Reads one page of `select`, ordered by `id_column` (oldest first).
pub async fn fetch<E, K>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_column: E::Column,
    request: PageRequest<K>,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Sync,
    K: Into<Value>,
{
    fetch_ordered(db, select, id_column, request, Order::OldestFirst).await
}

/// Reads one page of `select`, ordered by `id_column` in `order`.
pub async fn fetch_ordered<E, K>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_column: E::Column,
    request: PageRequest<K>,
    order: Order,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Sync,
    K: Into<Value>,
{
    let total_count = select.clone().count(db).await?;
    let newest_first = order == Order::NewestFirst;
    let mut select = if newest_first {
        select.order_by_desc(id_column)
    } else {
        select.order_by_asc(id_column)
    };
    if let Some(after) = request.after {
        select = select.filter(if newest_first {
            id_column.lt(after)
        } else {
            id_column.gt(after)
        });
    }
    let mut items = select.limit(request.first + 1).all(db).await?;
    let has_next = items.len() as u64 > request.first;
    items.truncate(request.first as usize);
    Ok(Page {
        items,
        has_next,
        total_count,
    })
}
