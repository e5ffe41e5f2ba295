//! How the store writes SQL for two backends.
//!
//! Statements use `$n` placeholders on both backends: PostgreSQL binds them natively and so
//! does SQLite through sqlx (`$NNN` is a numbered parameter there), so one text serves both
//! where the SQL is the same. Where it is not, a [`Paired`] statement holds one text per
//! backend, side by side, so a reviewer sees the difference in one place.
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    Statement, Value,
};

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

/// Bound parameters per statement: under SQLite's limit (32,766) and PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;

/// Inserts `rows`, turning the insert of a row whose `conflict` column is already taken
/// into an update of every column it sets but those in `keep`. Batched under the
/// parameter limit of both backends.
pub async fn upsert<E>(
    txn: &DatabaseTransaction,
    rows: Vec<E::ActiveModel>,
    conflict: E::Column,
    keep: &[E::Column],
) -> Result<(), DbErr>
where
    E: EntityTrait,
{
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let update: Vec<E::Column> = E::Column::iter()
        .filter(|column| first.get(*column).is_set())
        .filter(|column| {
            column.as_str() != conflict.as_str()
                && !keep.iter().any(|k| k.as_str() == column.as_str())
        })
        .collect();
    let per_statement = MAX_PARAMETERS / E::Column::iter().count();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(per_statement).collect();
        E::insert_many(batch)
            .on_conflict(
                OnConflict::column(conflict)
                    .update_columns(update.iter().copied())
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
