//! Migrating from the original TechConf application: `techconf import-legacy` reads its
//! PostgreSQL backup (or its live database) and loads it into TechConf.
//!
//! [`dump`] parses plain-format `pg_dump` files, [`source`] turns a dump or a live database
//! into legacy records, [`mapping`] holds the per-row rules, [`import`] writes them in one
//! transaction and [`report`] says what happened.
mod command;
pub mod dump;
pub mod import;
pub mod mapping;
pub mod report;
pub mod source;

pub use command::{ImportArgs, ReportFormat, run};
pub use import::{ImportError, ImportOptions, import};
pub use report::{ImportReport, Problem};
pub use source::{LegacyData, Origin};
