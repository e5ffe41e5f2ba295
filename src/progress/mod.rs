//! Progress signals: "this notification's rows changed". On PostgreSQL the signal is a
//! `pg_notify` sent in the same transaction as the change, so it is delivered only when the
//! rows it announces are committed, to every API process listening.
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// The PostgreSQL channel carrying notification ids whose progress changed.
pub const CHANNEL: &str = "techconf_progress";

/// Announces a change to `notification` as part of the current transaction.
pub async fn signal(conn: &impl ConnectionTrait, notification: Uuid) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            vec![CHANNEL.into(), notification.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}
