//! Business operations. Each takes a database connection and, for anything an organization
//! owns, the caller's [`crate::tenancy::Scope`], and returns domain results, so GraphQL
//! resolvers, the CLI and tests all call the same code.
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
