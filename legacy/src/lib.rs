//! The original TechConf (the Flask application) as a data source: its plain-format `pg_dump`
//! backups and its live PostgreSQL database, read into typed legacy records.
//!
//! [`dump`] parses dump files, [`source`] turns a dump or a live database into the same
//! [`LegacyData`], and [`report`] is what an import says it did. This crate knows the legacy
//! schema and nothing of TechConf's own tables: the rules and the writes live in
//! `techconf::legacy`, which depends on this crate (docs/ARCHITECTURE.md says why).
//!
//! With the `synthetic` feature (tests and benchmarks only), [`synthetic`] writes large
//! deterministic dumps.
pub mod dump;
pub mod report;
pub mod source;
#[cfg(any(test, feature = "synthetic"))]
pub mod synthetic;

pub use report::{ImportReport, Problem};
pub use source::{LegacyData, Origin};
