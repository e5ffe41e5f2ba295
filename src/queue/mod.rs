//! The job queue. Jobs are rows written in the same transaction as the business change that
//! causes them (an outbox), and carry ids only: the database stays the source of truth.
//!
//! The rows themselves are written by [`crate::store::job`]; this module is how a worker
//! sees them ([`database::DatabaseQueue`]) and how they reach Service Bus ([`servicebus`]).
pub mod database;
pub mod servicebus;

pub use crate::store::job::{
    DEFAULT_MAX_ATTEMPTS, JobPayload, WAKE_CHANNEL, enqueue, enqueue_many,
};
