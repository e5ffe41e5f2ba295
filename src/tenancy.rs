//! The tenancy boundary: which organization's data a caller may read and change.
//!
//! An organization owns conferences; attendees, notifications and deliveries belong to it
//! through their conference, suppressions directly. A [`Scope`] is made once per request from
//! the caller's credentials ([`Scope::of`]) and passed to every service function, which
//! reaches rows only through the lookups and filters here. A row outside the scope is
//! `NOT_FOUND`, exactly as if it did not exist, so an id from another organization tells the
//! caller nothing.
use sea_orm::sea_query::{Expr, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Select,
};
use uuid::Uuid;

use crate::auth::Authentication;
use crate::domain::Role;
use crate::entity::{attendee, conference, delivery, notification, organization};
use crate::error::{ApiError, ApiResult};

/// The organization existing data was moved into when organizations were introduced; the
/// bootstrap `TECHCONF_ADMIN_TOKEN` is an admin of it.
pub fn default_organization() -> Uuid {
    DEFAULT_ORGANIZATION
}

/// `migration::DEFAULT_ORGANIZATION` as a uuid (a unit test keeps the two equal).
const DEFAULT_ORGANIZATION: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

/// Whose rows a caller reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A token of one organization: its conferences and everything under them.
    Organization(Uuid),
    /// An operator token (or the installation's own code: CLI, worker): every organization.
    Installation,
    /// No token: the public surface only, i.e. conferences (to register for them).
    Public,
}

impl Scope {
    /// The scope of a request's credentials. Invalid credentials reach nothing beyond the
    /// public surface (and resolvers refuse them before that).
    pub fn of(auth: &Authentication) -> Scope {
        match auth {
            Authentication::Authenticated(p) => match (p.role, p.organization_id) {
                (Role::Operator, _) => Scope::Installation,
                (_, Some(organization)) => Scope::Organization(organization),
                // An organization role without an organization reaches nothing of anyone's.
                (_, None) => Scope::Organization(Uuid::nil()),
            },
            Authentication::Anonymous | Authentication::Invalid => Scope::Public,
        }
    }

    /// The organization new conferences go into.
    pub fn organization_for_create(&self) -> ApiResult<Uuid> {
        match self {
            Scope::Organization(id) => Ok(*id),
            Scope::Installation => Err(ApiError::validation(
                "organization",
                "an operator token belongs to no organization; create conferences with a token \
                 of the organization that should own them",
            )),
            Scope::Public => Err(ApiError::Unauthenticated(
                "this operation needs an API token".into(),
            )),
        }
    }

    /// The organization whose rows this scope is limited to, if any.
    fn organization(&self) -> Option<Uuid> {
        match self {
            Scope::Organization(id) => Some(*id),
            Scope::Installation | Scope::Public => None,
        }
    }

    /// Whether rows below conferences (attendees, notifications, deliveries, suppressions)
    /// are reachable at all.
    fn reaches_private_rows(&self) -> bool {
        !matches!(self, Scope::Public)
    }

    /// The conferences in scope.
    pub fn conferences(&self) -> Select<conference::Entity> {
        let select = conference::Entity::find();
        match self.organization() {
            Some(org) => select.filter(conference::Column::OrganizationId.eq(org)),
            None => select,
        }
    }

    /// A condition on a table's conference column: true for rows of conferences in scope.
    pub fn conference_condition(&self, column: impl ColumnTrait) -> SimpleExpr {
        if !self.reaches_private_rows() {
            return Expr::val(false);
        }
        match self.organization() {
            Some(org) => column.in_subquery(
                Query::select()
                    .column(conference::Column::Id)
                    .from(conference::Entity)
                    .and_where(conference::Column::OrganizationId.eq(org))
                    .to_owned(),
            ),
            None => Expr::val(true),
        }
    }

    /// A condition on a table's organization column.
    pub fn organization_condition(&self, column: impl ColumnTrait) -> SimpleExpr {
        if !self.reaches_private_rows() {
            return Expr::val(false);
        }
        match self.organization() {
            Some(org) => column.eq(org),
            None => Expr::val(true),
        }
    }

    /// The conference `id`, if it is in scope.
    pub async fn conference(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
    ) -> ApiResult<conference::Model> {
        self.conferences()
            .filter(conference::Column::Id.eq(id))
            .one(db)
            .await?
            .ok_or_else(|| ApiError::not_found("conference", id))
    }

    /// The attendee `id`, if its conference is in scope.
    pub async fn attendee(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
    ) -> ApiResult<attendee::Model> {
        attendee::Entity::find_by_id(id)
            .filter(self.conference_condition(attendee::Column::ConferenceId))
            .one(db)
            .await?
            .ok_or_else(|| ApiError::not_found("attendee", id))
    }

    /// The notification `id`, if its conference is in scope.
    pub async fn notification(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
    ) -> ApiResult<notification::Model> {
        notification::Entity::find_by_id(id)
            .filter(self.conference_condition(notification::Column::ConferenceId))
            .one(db)
            .await?
            .ok_or_else(|| ApiError::not_found("notification", id))
    }

    /// Notifications in scope.
    pub fn notifications(&self) -> Select<notification::Entity> {
        notification::Entity::find()
            .filter(self.conference_condition(notification::Column::ConferenceId))
    }

    /// Deliveries in scope (of notifications in scope).
    pub fn deliveries(&self) -> Select<delivery::Entity> {
        let select = delivery::Entity::find();
        if !self.reaches_private_rows() {
            return select.filter(Expr::val(false));
        }
        match self.organization() {
            Some(_) => select.filter(
                delivery::Column::NotificationId.in_subquery(
                    Query::select()
                        .column(notification::Column::Id)
                        .from(notification::Entity)
                        .and_where(self.conference_condition(notification::Column::ConferenceId))
                        .to_owned(),
                ),
            ),
            None => select,
        }
    }
}

/// The organization that owns `conference_id`, for code acting for the installation (an
/// unsubscribe link, a provider's bounce).
pub async fn organization_of_conference(
    db: &impl ConnectionTrait,
    conference_id: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    Ok(conference::Entity::find_by_id(conference_id)
        .one(db)
        .await?
        .map(|c| c.organization_id))
}

/// The organization that owns the notification `notification_id` (through its conference).
pub async fn organization_of_notification(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    let Some(row) = notification::Entity::find_by_id(notification_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    match row.conference_id {
        Some(conference_id) => organization_of_conference(db, conference_id).await,
        None => Ok(None),
    }
}

/// Creates an organization; its name must be new.
pub async fn create_organization(
    db: &impl ConnectionTrait,
    name: &str,
    rate_per_second: Option<u32>,
) -> ApiResult<organization::Model> {
    let name = crate::domain::required_text("name", name, 100)?;
    let row = organization::Model {
        id: Uuid::now_v7(),
        name: name.clone(),
        rate_per_second: rate_per_second.map(rate_column).transpose()?,
        rate_tat: None,
        created_at: chrono::Utc::now(),
    };
    organization::Entity::insert(organization::ActiveModel {
        id: Set(row.id),
        name: Set(row.name.clone()),
        rate_per_second: Set(row.rate_per_second),
        rate_tat: Set(None),
        created_at: Set(row.created_at),
    })
    .exec_without_returning(db)
    .await
    .map_err(|e| ApiError::conflict_on_unique(e, format!("an organization is named `{name}`")))?;
    Ok(row)
}

fn rate_column(rate: u32) -> ApiResult<i32> {
    match i32::try_from(rate) {
        Ok(rate) if rate > 0 => Ok(rate),
        _ => Err(ApiError::validation(
            "ratePerSecond",
            "must be between 1 and 2147483647 messages per second",
        )),
    }
}

/// Sets or (with `None`) removes an organization's send rate limit.
pub async fn set_rate_limit(
    db: &impl ConnectionTrait,
    name: &str,
    rate_per_second: Option<u32>,
) -> ApiResult<organization::Model> {
    let mut row = find_organization(db, name).await?;
    row.rate_per_second = rate_per_second.map(rate_column).transpose()?;
    organization::Entity::update_many()
        .col_expr(
            organization::Column::RatePerSecond,
            Expr::value(row.rate_per_second),
        )
        .filter(organization::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(row)
}

/// The organization called `name`.
pub async fn find_organization(
    db: &impl ConnectionTrait,
    name: &str,
) -> ApiResult<organization::Model> {
    organization::Entity::find()
        .filter(organization::Column::Name.eq(name.trim()))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no organization is named `{}`", name.trim())))
}

/// Every organization, oldest first.
pub async fn list_organizations(
    db: &impl ConnectionTrait,
) -> Result<Vec<organization::Model>, DbErr> {
    organization::Entity::find()
        .order_by_asc(organization::Column::CreatedAt)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_organization_is_the_one_the_migration_created() {
        assert_eq!(
            default_organization().to_string(),
            migration::DEFAULT_ORGANIZATION
        );
    }

    #[test]
    fn tokens_map_to_their_scope() {
        use crate::auth::Principal;
        let org = Uuid::now_v7();
        let token = |role, organization_id| {
            Scope::of(&Authentication::Authenticated(Principal {
                token_id: None,
                name: "t".into(),
                role,
                organization_id,
            }))
        };
        assert_eq!(token(Role::Admin, Some(org)), Scope::Organization(org));
        assert_eq!(token(Role::Integrator, Some(org)), Scope::Organization(org));
        assert_eq!(token(Role::Operator, None), Scope::Installation);
        assert_eq!(
            token(Role::Admin, None),
            Scope::Organization(Uuid::nil()),
            "an organization role without one reaches nobody's rows"
        );
        assert_eq!(Scope::of(&Authentication::Anonymous), Scope::Public);
        assert_eq!(Scope::of(&Authentication::Invalid), Scope::Public);
    }
}
