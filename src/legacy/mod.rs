//! Migrating from the original TechConf application: `techconf import-legacy` loads its data
//! into TechConf.
//!
//! Reading the legacy data (dump files, live databases) is the `techconf-legacy` crate,
//! re-exported here as [`dump`], [`source`] and [`report`]. What is TechConf's own stays here:
//! [`mapping`] holds the per-row rules (TechConf's validation), [`import`] writes the rows in one
//! transaction, and the `import-legacy` command line glues them together.
mod command;
pub mod import;
pub mod mapping;

pub use command::{ImportArgs, ReportFormat, run};
pub use import::{ImportError, ImportOptions, import};
pub use techconf_legacy::{ImportReport, LegacyData, Origin, Problem, dump, report, source};

/// Reads the three legacy tables from a live legacy database (`--from`).
pub async fn read_database(url: &crate::config::DatabaseUrl) -> anyhow::Result<LegacyData> {
    source::read_database(url.expose(), url.redacted()).await
}
