//! Streams one DAP object into a table with `COPY`, inside the caller's transaction.

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::Transaction;

use crate::dap::ObjectReader;
use crate::db::query_error;
use crate::error::TableError;
use crate::rows::{Action, Encoder};

/// Rows are sent to PostgreSQL in chunks of about this size.
const CHUNK: usize = 512 * 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub upserts: u64,
    pub deletes: u64,
}

/// Where the rows go and how they are encoded.
pub struct Target<'a> {
    pub table: &'a str,
    /// `COPY <relation> (<columns>) FROM STDIN`.
    pub copy_sql: &'a str,
    pub encoder: Encoder<'a>,
}

/// Copies every line of `object`; `seq` numbers the lines across objects. A bad line aborts
/// the COPY (and with it the caller's transaction) and names the line.
pub async fn copy_object(
    tx: &Transaction<'_>,
    target: &Target<'_>,
    object: &str,
    mut reader: ObjectReader,
    seq: &mut u64,
) -> Result<Copied, TableError> {
    let sink = tx
        .copy_in::<_, Bytes>(target.copy_sql)
        .await
        .map_err(query_error(format!("starting COPY into {}", target.table)))?;
    futures_util::pin_mut!(sink);
    let mut copied = Copied::default();
    let mut line = Vec::new();
    let mut out = Vec::with_capacity(CHUNK + 64 * 1024);
    let mut number = 0u64;
    loop {
        let more = reader
            .next_line(&mut line)
            .await
            .map_err(|e| TableError::Read {
                table: target.table.into(),
                object: object.into(),
                line: number,
                message: e.to_string(),
            })?;
        if !more {
            break;
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        *seq += 1;
        let action = target
            .encoder
            .encode(&line, *seq, &mut out)
            .map_err(|error| TableError::Row {
                table: target.table.into(),
                object: object.into(),
                line: number,
                error,
            })?;
        match action {
            Action::Upsert => copied.upserts += 1,
            Action::Delete => copied.deletes += 1,
        }
        if out.len() >= CHUNK {
            let chunk = Bytes::from(std::mem::replace(
                &mut out,
                Vec::with_capacity(CHUNK + 64 * 1024),
            ));
            sink.send(chunk)
                .await
                .map_err(query_error(format!("COPY into {}", target.table)))?;
        }
    }
    if !out.is_empty() {
        sink.send(Bytes::from(out))
            .await
            .map_err(query_error(format!("COPY into {}", target.table)))?;
    }
    sink.as_mut().finish().await.map_err(query_error(format!(
        "COPY of object {object} into {}",
        target.table
    )))?;
    Ok(copied)
}

/// `COPY "schema"."table" ("a", "b", ...) FROM STDIN`.
pub fn copy_sql(relation: &str, columns: impl IntoIterator<Item = String>) -> String {
    let list: Vec<String> = columns.into_iter().collect();
    format!("COPY {relation} ({}) FROM STDIN", list.join(", "))
}
