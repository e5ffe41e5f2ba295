//! API integration tests: the real application on port 0, a fresh database per test, on
//! SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod campaigns;
mod cli;
mod conferences;
mod connections;
mod deliverability;
mod deliveries;
mod drafts;
mod fairness;
mod helpers;
mod limits;
mod migrations;
mod notification;
mod observability;
mod pagination;
mod rate_limit;
mod registration;
mod roster;
mod schema;
mod secrets;
mod seed;
mod setup;
mod subscriptions;
#[path = "../support/mod.rs"]
mod support;
mod template_budget;
mod tenancy;
mod worker;
mod worker_processes;
