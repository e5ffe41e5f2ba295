//! Relay-style cursor connections over `service::page` pages.
use async_graphql::SimpleObject;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, echo};
use crate::service::page::Page;

/// Fields every connection carries besides its edges.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many nodes match, over all pages.
    pub total_count: u64,
}

pub type ListConnection<T> = Connection<String, T, ConnectionTotals, EmptyFields>;

pub fn encode_cursor(key: impl ToString) -> String {
    URL_SAFE_NO_PAD.encode(key.to_string())
}

/// Reads a cursor that `encode_cursor` wrote.
pub fn decode_cursor<K: std::str::FromStr>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid =
        || ApiError::validation("after", format!("`{}` is not a valid cursor", echo(cursor)));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.parse().map(Some).map_err(|_| invalid())
}

/// Builds a connection from a page; `key` gives each row's cursor key.
pub fn connection<M, T, K: ToString>(
    page: Page<M>,
    had_cursor: bool,
    key: impl Fn(&M) -> K,
) -> ListConnection<T>
where
    T: From<M> + async_graphql::OutputType,
{
    let mut connection = Connection::with_additional_fields(
        had_cursor,
        page.has_next,
        ConnectionTotals {
            total_count: page.total_count,
        },
    );
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|m| Edge::new(encode_cursor(key(&m)), T::from(m))),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_validation_error() {
        let id = uuid::Uuid::now_v7();
        let cursor = encode_cursor(id);
        assert_eq!(
            decode_cursor::<uuid::Uuid>(Some(&cursor)).unwrap(),
            Some(id)
        );
        assert_eq!(decode_cursor::<i64>(None).unwrap(), None);
        let err = decode_cursor::<uuid::Uuid>(Some("!!")).unwrap_err();
        assert_eq!(err.code(), "VALIDATION");
    }
}
