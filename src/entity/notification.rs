//! A notification: templated subject and message sent to every attendee of a conference.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conference_id: Option<Uuid>,
    /// What lists and headings show; `None` on rows from before names (show the subject).
    pub name: Option<String>,
    pub subject: String,
    pub message: String,
    pub status: crate::domain::NotificationStatus,
    pub total: i32,
    pub sent: i32,
    pub failed: i32,
    pub cancelled: i32,
    /// Deliveries skipped at plan time because the address is on the suppression list.
    pub suppressed: i32,
    /// Deliveries sent, then reported bounced by the provider (also counted in `sent`).
    pub bounced: i32,
    pub submitted_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    pub created_by: String,
    pub idempotency_key: Option<String>,
    pub legacy_id: Option<i32>,
    pub legacy_status: Option<String>,
    /// The shared rate limiter's state (microseconds since the epoch).
    pub rate_tat: Option<i64>,
    /// When a scheduled notification is planned (its plan job is due then).
    pub send_at: Option<DateTimeUtc>,
    /// The audience criteria (`domain::Audience` as JSON); none: every attendee.
    pub audience: Option<String>,
    /// The auto-pause rule (`domain::AutoPause` as JSON); none: off.
    pub auto_pause: Option<String>,
    /// The most recent outcomes, oldest first: `s` sent, `f` failed (the auto-pause window).
    pub auto_pause_window: Option<String>,
    /// Why the notification paused itself; cleared by resume.
    pub paused_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
