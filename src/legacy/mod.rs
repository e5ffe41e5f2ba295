//! Migrating from the original TechConf application.
pub mod dump;
