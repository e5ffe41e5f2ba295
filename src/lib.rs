//! TechConf: conference registration and attendee email notifications.
//!
//! The library holds everything; the `techconf` and `techconf-worker` binaries are thin.
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod error;
pub mod export;
pub mod graphql;
pub mod http_server;
pub mod legacy;
pub mod mail;
pub mod metrics;
pub mod progress;
pub mod queue;
pub mod rate_limit;
pub mod service;
pub mod store;
pub mod suppression;
pub mod telemetry;
pub mod tenancy;
pub mod unsubscribe;
pub mod webhooks;
pub mod worker;
pub mod ws;
