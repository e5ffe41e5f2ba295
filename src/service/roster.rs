//! A conference's attendees as an organizer manages them: filtered on any column, sorted,
//! paged by keyset cursors (or jumped to by offset), edited and removed.
//!
//! A cursor carries the sort key of the last row seen as well as its id, so the next page
//! is `(key, id) > (last key, last id)` whatever happened to that row meanwhile: a page
//! never repeats or skips rows when others are added, edited or removed.
use std::fmt;
use std::str::FromStr;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr},
};
use uuid::Uuid;

use super::page::{MAX_PAGE_SIZE, Page};
use crate::domain::NewAttendee;
use crate::entity::{attendee, delivery};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

/// The longest search or filter term.
pub const TERM_MAX: usize = 100;

/// Which attendees to list: a search over every text column, and per-column filters; all
/// case-insensitive substring matches, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AttendeeFilter {
    pub search: Option<String>,
    pub columns: ColumnFilter,
}

// The GraphQL `AttendeeFilter` input and the CSV export's query string both read it.
/// Case-insensitive substring matches on single columns; all given must hold.
#[derive(Clone, Debug, Default, async_graphql::InputObject, serde::Deserialize)]
#[graphql(name = "AttendeeFilter")]
#[serde(rename_all = "camelCase")]
pub struct ColumnFilter {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub job_position: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
}

// `Added` is the order attendees were added (ids are uuid v7). The GraphQL
// `AttendeeSortField` enum is this one.
/// What attendees can be sorted by. Text columns sort without regard to letter case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "AttendeeSortField")]
pub enum SortField {
    /// The order attendees registered or were imported in.
    #[default]
    Added,
    FirstName,
    LastName,
    Email,
    Company,
    JobPosition,
    City,
    State,
}

impl SortField {
    fn column(self) -> Option<attendee::Column> {
        use attendee::Column as C;
        Some(match self {
            SortField::Added => return None,
            SortField::FirstName => C::FirstName,
            SortField::LastName => C::LastName,
            SortField::Email => C::Email,
            SortField::Company => C::Company,
            SortField::JobPosition => C::JobPosition,
            SortField::City => C::City,
            SortField::State => C::State,
        })
    }

    /// The sort key of a row, as the database computes it: `lower(column)`, which SQLite
    /// applies to ASCII letters only.
    fn key(self, row: &attendee::Model, backend: DbBackend) -> String {
        let value = match self {
            SortField::Added => return String::new(),
            SortField::FirstName => &row.first_name,
            SortField::LastName => &row.last_name,
            SortField::Email => &row.email,
            SortField::Company => &row.company,
            SortField::JobPosition => &row.job_position,
            SortField::City => &row.city,
            SortField::State => &row.state,
        };
        match backend {
            DbBackend::Sqlite => value.to_ascii_lowercase(),
            _ => value.to_lowercase(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

/// Where a page starts: after a cursor's row (`id`, with its sort `key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortCursor {
    pub id: Uuid,
    pub key: String,
}

impl SortCursor {
    pub fn of(sort: Sort, row: &attendee::Model, backend: DbBackend) -> Self {
        Self {
            id: row.id,
            key: sort.field.key(row, backend),
        }
    }
}

/// `<uuid>` or `<uuid>:<key>`; a bare id is what unsorted cursors always were.
impl fmt::Display for SortCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{}:{}", self.id, self.key)
        }
    }
}

impl FromStr for SortCursor {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, key) = s.split_once(':').unwrap_or((s, ""));
        Ok(Self {
            id: id.parse()?,
            key: key.to_owned(),
        })
    }
}

/// A page request: `first` rows after `after`, or (to jump to a page) after skipping
/// `offset` rows.
#[derive(Clone, Debug)]
pub struct RosterPage {
    pub first: u64,
    pub after: Option<SortCursor>,
    pub offset: u64,
}

impl RosterPage {
    pub fn new(
        first: Option<i32>,
        after: Option<SortCursor>,
        offset: Option<i32>,
    ) -> ApiResult<Self> {
        let request = super::page::PageRequest::new(first, after)?;
        let offset = match offset {
            None => 0,
            Some(n) if n < 0 => {
                return Err(ApiError::validation(
                    "offset",
                    format!("must be 0 or more, not {n}"),
                ));
            }
            Some(n) if n > 0 && request.after.is_some() => {
                return Err(ApiError::validation(
                    "offset",
                    "give either a cursor (`after`) or an offset, not both",
                ));
            }
            Some(n) => n as u64,
        };
        Ok(Self {
            first: request.first,
            after: request.after,
            offset,
        })
    }
}

fn lower(column: attendee::Column) -> SimpleExpr {
    Func::lower(Expr::col(column)).into()
}

fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `%term%` for `LIKE`, lowered as the database lowers (SQLite: ASCII letters only), with
/// the term's wildcards matched literally.
pub(crate) fn pattern(term: &str, backend: DbBackend) -> LikeExpr {
    let lowered = match backend {
        DbBackend::Sqlite => term.to_ascii_lowercase(),
        _ => term.to_lowercase(),
    };
    LikeExpr::new(format!("%{}%", escape_like(&lowered))).escape('\\')
}

/// `lower(column) LIKE %term%`.
fn contains(column: attendee::Column, term: &str, backend: DbBackend) -> SimpleExpr {
    lower(column).like(pattern(term, backend))
}

/// A trimmed, non-empty term, checked for length.
pub(crate) fn term<'a>(field: &str, value: Option<&'a str>) -> ApiResult<Option<&'a str>> {
    let Some(term) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if term.chars().count() > TERM_MAX {
        return Err(ApiError::validation(
            field,
            format!("must be at most {TERM_MAX} characters"),
        ));
    }
    Ok(Some(term))
}

/// The attendees of a conference that match `filter`, unordered. The conference must exist
/// in the scope.
pub async fn matching(
    db: &impl ConnectionTrait,
    scope: &Scope,
    conference_id: Uuid,
    filter: &AttendeeFilter,
) -> ApiResult<Select<attendee::Entity>> {
    use attendee::Column as C;
    let backend = db.get_database_backend();
    scope.conference(db, conference_id).await?;
    let mut all = Condition::all().add(C::ConferenceId.eq(conference_id));
    if let Some(term) = term("search", filter.search.as_deref())? {
        let mut any = Condition::any();
        for column in [
            C::FirstName,
            C::LastName,
            C::Email,
            C::Company,
            C::JobPosition,
            C::City,
            C::State,
        ] {
            any = any.add(contains(column, term, backend));
        }
        // "Ada Lovelace" finds Ada Lovelace.
        any = any.add(
            Expr::cust(r#"lower("first_name" || ' ' || "last_name")"#).like(pattern(term, backend)),
        );
        all = all.add(any);
    }
    let columns = &filter.columns;
    for (field, column, value) in [
        ("filter.firstName", C::FirstName, &columns.first_name),
        ("filter.lastName", C::LastName, &columns.last_name),
        ("filter.email", C::Email, &columns.email),
        ("filter.company", C::Company, &columns.company),
        ("filter.jobPosition", C::JobPosition, &columns.job_position),
        ("filter.city", C::City, &columns.city),
        ("filter.state", C::State, &columns.state),
    ] {
        if let Some(term) = term(field, value.as_deref())? {
            all = all.add(contains(column, term, backend));
        }
    }
    Ok(attendee::Entity::find().filter(all))
}

/// Orders `select` by `sort` (then id), starting after `after` when given.
pub fn ordered(
    mut select: Select<attendee::Entity>,
    sort: Sort,
    after: Option<&SortCursor>,
) -> Select<attendee::Entity> {
    use attendee::Column as C;
    let order = if sort.descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let beyond = |left: SimpleExpr, right: SimpleExpr| {
        if sort.descending {
            left.lt(right)
        } else {
            left.gt(right)
        }
    };
    match sort.field.column() {
        None => {
            if let Some(after) = after {
                select = select.filter(beyond(Expr::col(C::Id), after.id.into()));
            }
        }
        Some(column) => {
            if let Some(after) = after {
                let key: SimpleExpr = after.key.clone().into();
                select = select.filter(
                    Condition::any()
                        .add(beyond(lower(column), key.clone()))
                        .add(
                            Condition::all()
                                .add(lower(column).eq(key))
                                .add(beyond(Expr::col(C::Id), after.id.into())),
                        ),
                );
            }
            select = select.order_by(lower(column), order.clone());
        }
    }
    select.order_by(C::Id, order)
}

/// One page of the attendees of a conference matching `filter`, sorted by `sort`.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    conference_id: Uuid,
    filter: &AttendeeFilter,
    sort: Sort,
    request: &RosterPage,
) -> ApiResult<Page<attendee::Model>> {
    let select = matching(db, scope, conference_id, filter).await?;
    let total_count = select.clone().count(db).await?;
    let first = Ord::min(request.first, MAX_PAGE_SIZE);
    let mut items = ordered(select, sort, request.after.as_ref())
        .offset(request.offset)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page {
        items,
        has_next,
        total_count,
    })
}

/// Replaces an attendee's fields with `new`, checked as a registration is. The email must
/// stay unique (in any case) within the conference.
pub async fn update(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Uuid,
    new: NewAttendee,
) -> ApiResult<attendee::Model> {
    scope.attendee(db, id).await?;
    let email = new.email().to_owned();
    let mut active = new.into_active_model();
    active.id = sea_orm::ActiveValue::Unchanged(id);
    attendee::Entity::update(active)
        .exec(db)
        .await
        .map_err(|e| {
            ApiError::conflict_on_unique(
                e,
                format!("{email} is already registered for this conference"),
            )
        })
}

/// Removes an attendee who has no deliveries. One who was sent a notification stays, so
/// that the delivery log keeps saying who got what: `CONFLICT`.
pub async fn remove(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Uuid,
) -> ApiResult<attendee::Model> {
    let row = scope.attendee(db, id).await?;
    let deliveries = delivery::Entity::find()
        .filter(delivery::Column::AttendeeId.eq(id))
        .count(db)
        .await?;
    if deliveries > 0 {
        return Err(ApiError::Conflict(format!(
            "{} {} has {deliveries} notification deliveries on record and cannot be removed",
            row.first_name, row.last_name
        )));
    }
    attendee::Entity::delete_by_id(id).exec(db).await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_search_terms_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn cursors_carry_the_sort_key_and_bare_ids_still_parse() {
        let id = Uuid::now_v7();
        let cursor = SortCursor {
            id,
            key: "lisbon: old town".into(),
        };
        assert_eq!(cursor.to_string().parse::<SortCursor>().unwrap(), cursor);
        let bare: SortCursor = id.to_string().parse().unwrap();
        assert_eq!(bare.key, "");
        assert!("nope:x".parse::<SortCursor>().is_err());
    }

    #[test]
    fn an_offset_and_a_cursor_together_are_refused() {
        let cursor = SortCursor {
            id: Uuid::now_v7(),
            key: String::new(),
        };
        assert!(RosterPage::new(Some(25), Some(cursor), Some(25)).is_err());
        assert!(RosterPage::new(Some(25), None, Some(-1)).is_err());
        assert_eq!(RosterPage::new(None, None, Some(50)).unwrap().offset, 50);
    }
}
