//! `techconf import-legacy`: the original TechConf's backup loaded into a fresh database per
//! test, on SQLite and PostgreSQL, through the library and through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// A test crate root looks for modules next to itself; these live in tests/legacy_import/.
#[path = "legacy_import/helpers.rs"]
mod helpers;
#[path = "support/mod.rs"]
mod support;

#[path = "legacy_import/cli.rs"]
mod cli;
#[path = "legacy_import/dirty_data.rs"]
mod dirty_data;
#[path = "legacy_import/loading.rs"]
mod loading;
#[path = "legacy_import/rerun.rs"]
mod rerun;
#[path = "legacy_import/sources.rs"]
mod sources;
