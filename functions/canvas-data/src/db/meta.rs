//! `<schema>.dap_meta`: per table, the applied schema version and columns, the `until` of the
//! last load, and the checkpoint of an unfinished snapshot load.

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use super::{qualified, query_error, DbError};
use crate::schema::Column;

pub const TABLE: &str = "dap_meta";

/// Progress of a snapshot load, committed with each object's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub job_id: String,
    pub objects: Vec<String>,
    /// Objects `0..next` are in the staging table.
    pub next: usize,
    pub rows: u64,
    /// The snapshot's `at`: where incremental syncs continue from.
    pub at: String,
    pub schema_version: i64,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub schema_version: Option<i64>,
    pub until: Option<String>,
    pub columns: Vec<Column>,
    pub checkpoint: Option<Checkpoint>,
}

pub async fn ensure(client: &impl GenericClient, schema: &str) -> Result<(), DbError> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                table_name text PRIMARY KEY,
                schema_version bigint,
                until text,
                columns jsonb NOT NULL DEFAULT '[]',
                init_checkpoint jsonb,
                updated_at timestamptz NOT NULL DEFAULT now()
            )",
            qualified(schema, TABLE)
        ))
        .await
        .map_err(query_error(format!(
            "creating {schema}.{TABLE} (has `cargo xtask db-prepare` run for this stage?)"
        )))
}

pub async fn get(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Option<Meta>, DbError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT schema_version, until, columns::text, init_checkpoint::text FROM {} WHERE table_name = $1",
                qualified(schema, TABLE)
            ),
            &[&table],
        )
        .await
        .map_err(query_error(format!("reading the meta row of {table}")))?;
    let Some(row) = row else { return Ok(None) };
    let bad = |e: serde_json::Error| DbError::Query {
        context: format!("the meta row of {table}"),
        message: e.to_string(),
    };
    let columns: String = row.get(2);
    let checkpoint: Option<String> = row.get(3);
    Ok(Some(Meta {
        schema_version: row.get(0),
        until: row.get(1),
        columns: serde_json::from_str(&columns).map_err(bad)?,
        checkpoint: checkpoint
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(bad)?,
    }))
}

/// Records snapshot progress (`None` clears it).
pub async fn set_checkpoint(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<(), DbError> {
    let json = checkpoint.map(|c| serde_json::to_string(c).expect("checkpoints serialize"));
    client
        .execute(
            &format!(
                "INSERT INTO {} (table_name, init_checkpoint) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (table_name) DO UPDATE
                 SET init_checkpoint = EXCLUDED.init_checkpoint, updated_at = now()",
                qualified(schema, TABLE)
            ),
            &[&table, &json],
        )
        .await
        .map_err(query_error(format!("saving the checkpoint of {table}")))?;
    Ok(())
}

/// After a completed load: the version and columns now in the table, and where to continue.
pub async fn set_loaded(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    version: i64,
    columns: &[Column],
    until: &str,
) -> Result<(), DbError> {
    let columns = serde_json::to_string(columns).expect("columns serialize");
    client
        .execute(
            &format!(
                "INSERT INTO {} (table_name, schema_version, until, columns, init_checkpoint)
                 VALUES ($1, $2, $3, $4::text::jsonb, NULL)
                 ON CONFLICT (table_name) DO UPDATE
                 SET schema_version = EXCLUDED.schema_version, until = EXCLUDED.until,
                     columns = EXCLUDED.columns, init_checkpoint = NULL, updated_at = now()",
                qualified(schema, TABLE)
            ),
            &[&table, &version, &until, &columns],
        )
        .await
        .map_err(query_error(format!("recording the load of {table}")))?;
    Ok(())
}
