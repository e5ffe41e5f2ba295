//! The one owner of the notification lifecycle: every write to the `notification`,
//! `delivery` and `job` tables is a function here, one per change.
//!
//! - [`notification`]: create (with its plan job, due now or at `send_at`), plan, reschedule,
//!   pause, resume, cancel, retry failed, auto-pause, settle, finish, reserve the shared send
//!   rate.
//! - [`audience`]: the audience criteria as one bound SQL condition over `attendee`.
//! - [`delivery`]: claim a batch, record a batch's outcomes (and, in the same transaction,
//!   settle or finish the notification when that was the last delivery in flight).
//! - [`job`]: enqueue, claim, extend, complete, fail, release, hand over; the outbox relay's
//!   claim, publish and release; requeueing orphans.
//!
//! Each change that subscribers must hear about returns the [`Signal`] to publish once it has
//! committed (on PostgreSQL the `pg_notify` is already part of the transaction).
//! Transitions of a notification are checked against
//! [`NotificationStatus::can_become`](crate::domain::NotificationStatus::can_become): every
//! status UPDATE here is conditional on a source status that the state machine allows.
//!
//! Backends: every statement is written once with `$n` placeholders, which both PostgreSQL and
//! SQLite (through sqlx) bind natively. Where the two databases need different SQL, the
//! statement is a [`sql::Paired`] with one text per backend (as River's drivers do); nothing
//! rewrites SQL at run time. `tests/store.rs` runs every function here against both.
pub mod audience;
pub mod delivery;
pub mod job;
pub mod notification;
mod sql;

pub use sql::upsert as upsert_by_legacy_id;

use uuid::Uuid;

use crate::domain::NotificationStatus;
pub use crate::progress::Signal;
use sea_orm::DbErr;

/// Why a change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("notification {0} not found")]
    NotFound(Uuid),
    /// The state machine has no such transition from the notification's status (or it was
    /// imported from the original TechConf, which is never sent).
    #[error("notification {id} is {status} and cannot be {action}")]
    Refused {
        id: Uuid,
        status: NotificationStatus,
        imported: bool,
        action: &'static str,
    },
    /// Retry asked with nothing failed (or only hard bounces, not asked for, and suppressed
    /// addresses).
    #[error(
        "notification {0} has no failed deliveries to retry (hard bounces are retried only \
         when asked; suppressed addresses never)"
    )]
    NothingToRetry(Uuid),
    /// The row cannot be processed (no conference, say): retrying cannot help.
    #[error("notification {id}: {reason}")]
    Invalid { id: Uuid, reason: String },
}
