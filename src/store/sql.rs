//! How the store writes SQL for two backends.
//!
//! Statements use `$n` placeholders on both backends: PostgreSQL binds them natively and so
//! does SQLite through sqlx (`$NNN` is a numbered parameter there), so one text serves both
//! where the SQL is the same. Where it is not, a [`Paired`] statement holds one text per
//! backend, side by side, so a reviewer sees the difference in one place.
use sea_orm::{DbBackend, Statement, Value};

/// One statement in the SQL of each backend.
pub struct Paired {
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

impl Paired {
    pub fn on(&self, backend: DbBackend, values: Vec<Value>) -> Statement {
        let sql = match backend {
            DbBackend::Postgres => self.postgres,
            _ => self.sqlite,
        };
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// A statement whose SQL is the same on both backends.
pub fn same(backend: DbBackend, sql: impl Into<String>, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql.into(), values)
}
