//! The delivery log of one notification: who it went to and what became of each, filtered
//! by status and searched by recipient (email, or name as registered), paged by id (the
//! order recipients were planned in), and exported as CSV.
//!
//! Search terms are bound parameters in a `LIKE` with their wildcards escaped, trimmed and
//! at most [`roster::TERM_MAX`] characters, like the attendee search.
use std::collections::HashMap;

use futures::Stream;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
    sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr},
};
use uuid::Uuid;

use super::csv_stream::{self, line};
use super::page::{self, Page, PageRequest};
use super::roster::{pattern, term};
use crate::domain::DeliveryStatus;
use crate::entity::{attendee, delivery};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

/// Which deliveries to list: one status, and a search over the recipient's email and name.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub search: Option<String>,
}

/// The columns of an export, in order.
pub const COLUMNS: [&str; 8] = [
    "email",
    "first_name",
    "last_name",
    "status",
    "attempts",
    "sent_at",
    "last_error",
    "message_id",
];

/// The deliveries of a notification that match `filter`, unordered. The notification must
/// exist in the scope.
pub async fn matching(
    db: &impl ConnectionTrait,
    scope: &Scope,
    notification_id: Uuid,
    filter: &DeliveryFilter,
) -> ApiResult<Select<delivery::Entity>> {
    let notification = scope.notification(db, notification_id).await?;
    let backend = db.get_database_backend();
    let mut all = Condition::all().add(delivery::Column::NotificationId.eq(notification_id));
    if let Some(status) = filter.status {
        all = all.add(delivery::Column::Status.eq(status));
    }
    if let Some(term) = term("search", filter.search.as_deref())? {
        let like = pattern(term, backend);
        // "ana@", "Silva" and "Ana Silva" all find Ana Silva.
        let mut by_name = Query::select()
            .column(attendee::Column::Id)
            .from(attendee::Entity)
            .to_owned();
        // Recipients are attendees of the notification's conference: look only there.
        if let Some(conference_id) = notification.conference_id {
            by_name.and_where(attendee::Column::ConferenceId.eq(conference_id));
        }
        by_name.and_where(
            Expr::cust(r#"lower("first_name" || ' ' || "last_name")"#).like(like.clone()),
        );
        all = all.add(
            Condition::any()
                .add(SimpleExpr::from(Func::lower(Expr::col(delivery::Column::Email))).like(like))
                .add(delivery::Column::AttendeeId.in_subquery(by_name)),
        );
    }
    Ok(delivery::Entity::find().filter(all))
}

/// One page of a notification's deliveries matching `filter`, in planning order.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    notification_id: Uuid,
    filter: &DeliveryFilter,
    request: PageRequest<i64>,
) -> ApiResult<Page<delivery::Model>> {
    let select = matching(db, scope, notification_id, filter).await?;
    Ok(page::fetch(db, select, delivery::Column::Id, request).await?)
}

/// A delivery with its recipient's name, as an export writes it.
pub struct Row {
    delivery: delivery::Model,
    name: Option<(String, String)>,
}

fn record(row: &Row) -> Vec<u8> {
    let d = &row.delivery;
    let (first, last) = row
        .name
        .as_ref()
        .map_or(("", ""), |(f, l)| (f.as_str(), l.as_str()));
    let sent_at = d.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    line(&[
        &d.email,
        first,
        last,
        d.status.as_str(),
        &d.attempts.to_string(),
        &sent_at,
        d.last_error.as_deref().unwrap_or(""),
        d.message_id.as_deref().unwrap_or(""),
    ])
}

/// The deliveries of a notification matching `filter`, in planning order, as CSV chunks
/// (the header first). An unknown notification or a bad filter is an error before the
/// first chunk, rather than an empty file.
pub async fn export(
    db: DatabaseConnection,
    scope: Scope,
    notification_id: Uuid,
    filter: DeliveryFilter,
) -> ApiResult<impl Stream<Item = Result<Vec<u8>, ApiError>> + Send + 'static> {
    let select = matching(&db, &scope, notification_id, &filter).await?;
    Ok(csv_stream::paged(
        &COLUMNS,
        move |after: Option<i64>| {
            let (db, mut select) = (db.clone(), select.clone());
            async move {
                if let Some(after) = after {
                    select = select.filter(delivery::Column::Id.gt(after));
                }
                let deliveries = select
                    .order_by_asc(delivery::Column::Id)
                    .limit(csv_stream::PAGE_ROWS)
                    .all(&db)
                    .await?;
                let ids: Vec<Uuid> = deliveries.iter().map(|d| d.attendee_id).collect();
                let mut names: HashMap<Uuid, (String, String)> = attendee::Entity::find()
                    .filter(attendee::Column::Id.is_in(ids))
                    .all(&db)
                    .await?
                    .into_iter()
                    .map(|a| (a.id, (a.first_name, a.last_name)))
                    .collect();
                Ok(deliveries
                    .into_iter()
                    .map(|d| Row {
                        name: names.remove(&d.attendee_id),
                        delivery: d,
                    })
                    .collect())
            }
        },
        |row: &Row| row.delivery.id,
        record,
    ))
}
