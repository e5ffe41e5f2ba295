//! sea-orm entities: one module per table. These are database rows, never GraphQL types.
pub mod api_token;
pub mod attendee;
pub mod conference;
pub mod delivery;
pub mod job;
pub mod notification;
pub mod notification_draft;
pub mod organization;
pub mod suppression;
