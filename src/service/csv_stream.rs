//! CSV files streamed page by page: the header first, then one chunk per page of rows read
//! by keyset (each page starts after the last row of the one before), so an export's memory
//! does not grow with the table. The attendee and delivery exports both use it.
use std::future::Future;

use futures::Stream;
use sea_orm::DbErr;

use crate::error::ApiError;

/// Rows read from the database per page of an export.
pub const PAGE_ROWS: u64 = 500;

/// One CSV record, quoted as needed, with its line ending.
pub fn line(fields: &[&str]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}

/// The CSV chunks of an export: `header`, then the records of each page that `fetch` reads
/// (the page after the given key, at most [`PAGE_ROWS`] rows), until a page comes back
/// short. `key` gives the row a page continues after; `record` writes one row. A database
/// error ends the stream with that error.
pub fn paged<K, T, F, Fut>(
    header: &[&str],
    fetch: F,
    key: fn(&T) -> K,
    record: fn(&T) -> Vec<u8>,
) -> impl Stream<Item = Result<Vec<u8>, ApiError>> + Send + 'static
where
    K: Send + 'static,
    T: Send + 'static,
    F: Fn(Option<K>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<T>, DbErr>> + Send + 'static,
{
    enum Next<A> {
        Header(Vec<u8>),
        After(Option<A>),
        Done,
    }
    let start = Next::Header(line(header));
    futures::stream::unfold((start, fetch), move |(next, fetch)| async move {
        let after = match next {
            Next::Done => return None,
            Next::Header(header) => return Some((Ok(header), (Next::After(None), fetch))),
            Next::After(after) => after,
        };
        match fetch(after).await {
            Err(e) => Some((Err(ApiError::from(e)), (Next::Done, fetch))),
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => {
                let next = if (rows.len() as u64) < PAGE_ROWS {
                    Next::Done
                } else {
                    Next::After(rows.last().map(key))
                };
                let chunk: Vec<u8> = rows.iter().flat_map(record).collect();
                Some((Ok(chunk), (next, fetch)))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn pages_follow_the_last_key_until_a_short_page() {
        let rows: Vec<u64> = (0..(PAGE_ROWS * 2 + 3)).collect();
        let stream = paged(
            &["n"],
            move |after: Option<u64>| {
                let rows = rows.clone();
                async move {
                    let start = after.map_or(0, |a| a + 1) as usize;
                    Ok::<_, DbErr>(
                        rows.into_iter()
                            .skip(start)
                            .take(PAGE_ROWS as usize)
                            .collect::<Vec<_>>(),
                    )
                }
            },
            |n: &u64| *n,
            |n: &u64| line(&[&n.to_string()]),
        );
        let chunks: Vec<_> = stream.collect().await;
        assert_eq!(chunks.len(), 4, "the header and three pages");
        let text: String = chunks
            .into_iter()
            .map(|c| String::from_utf8(c.unwrap()).unwrap())
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, 1 + PAGE_ROWS * 2 + 3);
        assert_eq!(lines[0], "n");
        assert_eq!(lines[1], "0");
        assert_eq!(*lines.last().unwrap(), (PAGE_ROWS * 2 + 2).to_string());
    }

    #[test]
    fn fields_with_commas_quotes_and_newlines_are_quoted() {
        assert_eq!(
            line(&["a,b", "say \"hi\"", "x\ny"]),
            b"\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\n"
        );
    }
}
