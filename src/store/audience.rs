//! The audience of a notification as one SQL condition over `attendee`: used by the plan
//! step's `INSERT ... SELECT` (so no attendee row is loaded into the worker) and by the
//! preview, so the preview's count is what the plan selects. Every value is a bound
//! parameter; no criterion value is ever part of the SQL text.
use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Func, IntoIden};

use crate::domain::Audience;
use crate::entity::attendee::Column;

/// The condition `audience` puts on rows of `attendee` (named `table` in the query):
/// criteria ANDed, the values of one list ORed, compared without regard to case (both sides
/// through the database's `LOWER`, so both backends fold the same way).
pub fn condition(audience: &Audience, backend: DbBackend, table: impl IntoIden) -> Condition {
    let table = table.into_iden();
    let col = |column: Column| Expr::col((table.clone(), column));
    let mut all = Condition::all();
    let lists = [
        (Column::Company, &audience.company),
        (Column::JobPosition, &audience.job_position),
        (Column::City, &audience.city),
        (Column::State, &audience.state),
    ];
    for (column, values) in lists {
        if let Some(values) = values {
            all = all.add(
                Expr::expr(Func::lower(col(column)))
                    .is_in(values.iter().map(|v| Func::lower(Expr::val(v.as_str())))),
            );
        }
    }
    if let Some(text) = &audience.interests_contain {
        // A position search rather than LIKE: `%` and `_` in the value are plain characters.
        // Both functions take (haystack, needle).
        let position = match backend {
            DbBackend::Postgres => "strpos",
            _ => "instr",
        };
        all = all.add(
            Expr::expr(Func::cust(Alias::new(position)).args([
                Expr::expr(Func::lower(Func::coalesce([
                    col(Column::Interests),
                    Expr::val(""),
                ]))),
                Expr::expr(Func::lower(Expr::val(text.as_str()))),
            ]))
            .gt(0),
        );
    }
    if let Some(after) = audience.registered_after {
        all = all.add(col(Column::SubmittedAt).gte(after));
    }
    if let Some(before) = audience.registered_before {
        all = all.add(col(Column::SubmittedAt).lt(before));
    }
    if let Some(ids) = &audience.attendee_ids {
        all = all.add(col(Column::Id).is_in(ids.iter().copied()));
    }
    all
}
