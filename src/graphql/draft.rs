//! Notification drafts: saved as an admin writes, continued on any device. Admin only; each
//! token sees its own drafts.
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::{ADMINS, db, parse_id, require, scope};
use crate::config::ApiLimits;
use crate::entity::notification_draft;
use crate::error::IntoGraphql;
use crate::service::{self, draft::SaveDraft};

/// A notification being written, not sent yet.
pub struct NotificationDraft(notification_draft::Model);

#[Object]
impl NotificationDraft {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn conference_id(&self) -> ID {
        ID(self.0.conference_id.to_string())
    }
    /// Empty when none was given.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The subject template as written so far (not checked until it is sent).
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// The message template as written so far.
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it was last saved.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A draft to save: without `id` a new one, with it a replacement (the last save wins).
#[derive(InputObject)]
pub struct SaveNotificationDraftInput {
    pub id: Option<ID>,
    pub conference_id: ID,
    /// At most 200 characters.
    pub name: Option<String>,
    /// At most 500 characters; may be empty or half written.
    pub subject: String,
    /// At most 50,000 characters; may be empty or half written.
    pub message: String,
}

fn max_drafts(ctx: &Context<'_>) -> usize {
    ctx.data_opt::<ApiLimits>()
        .map_or(50, |l| l.draft_max_per_conference)
}

#[derive(Default)]
pub struct DraftQuery;

#[Object]
impl DraftQuery {
    /// Your drafts for a conference, most recently saved first (at most
    /// `DRAFT_MAX_PER_CONFERENCE`). Admin only.
    #[graphql(complexity = "50 * child_complexity")]
    async fn notification_drafts(
        &self,
        ctx: &Context<'_>,
        conference_id: ID,
    ) -> Result<Vec<NotificationDraft>> {
        let principal = require(ctx, ADMINS).gql()?;
        let conference_id = parse_id("conferenceId", &conference_id).gql()?;
        let drafts = service::draft::list(
            db(ctx),
            &scope(ctx),
            principal,
            conference_id,
            max_drafts(ctx),
        )
        .await
        .gql()?;
        Ok(drafts.into_iter().map(NotificationDraft).collect())
    }

    /// One of your drafts; another token's is `NOT_FOUND`. Admin only.
    async fn notification_draft(&self, ctx: &Context<'_>, id: ID) -> Result<NotificationDraft> {
        let principal = require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::draft::get(db(ctx), &scope(ctx), principal, id)
            .await
            .map(NotificationDraft)
            .gql()
    }
}

#[derive(Default)]
pub struct DraftMutation;

#[Object]
impl DraftMutation {
    /// Saves a draft as it is written. Lengths are checked, templates are not (that happens
    /// at `createNotification`). A new draft beyond `DRAFT_MAX_PER_CONFERENCE` is
    /// `LIMIT_EXCEEDED`. Admin only.
    async fn save_notification_draft(
        &self,
        ctx: &Context<'_>,
        input: SaveNotificationDraftInput,
    ) -> Result<NotificationDraft> {
        let principal = require(ctx, ADMINS).gql()?;
        let id = input
            .id
            .as_ref()
            .map(|id| parse_id("id", id))
            .transpose()
            .gql()?;
        let conference_id = parse_id("conferenceId", &input.conference_id).gql()?;
        service::draft::save(
            db(ctx),
            &scope(ctx),
            principal,
            SaveDraft {
                id,
                conference_id,
                name: input.name,
                subject: input.subject,
                message: input.message,
            },
            max_drafts(ctx),
        )
        .await
        .map(NotificationDraft)
        .gql()
    }

    /// Deletes one of your drafts (once sent, or abandoned). Admin only.
    async fn delete_notification_draft(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let principal = require(ctx, ADMINS).gql()?;
        let id = parse_id("id", &id).gql()?;
        service::draft::delete(db(ctx), &scope(ctx), principal, id)
            .await
            .map(|()| true)
            .gql()
    }
}
