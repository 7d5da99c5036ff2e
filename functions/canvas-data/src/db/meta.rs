//! `<schema>.dap_meta`: per table, the applied schema version and columns, the `until` of the
//! last load, the checkpoints of an unfinished snapshot load or sync, and the last error with
//! how many runs in a row failed with it.

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
    /// When the job was started (Unix seconds): DAP keeps a job's objects about a day.
    /// Checkpoints written before this field existed have none and count as expired.
    #[serde(default)]
    pub started: i64,
}

/// Progress of an incremental sync whose objects did not fit in one run: each object is applied
/// with this in one transaction; `until` is recorded only when all are in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncCheckpoint {
    pub job_id: String,
    pub objects: Vec<String>,
    pub next: usize,
    /// The `since` the job was asked for: a new job must start from the same place.
    pub since: String,
    /// The job's `until`: recorded when the last object is in.
    pub until: String,
    pub upserts: u64,
    pub deletes: u64,
    pub started: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub schema_version: Option<i64>,
    pub until: Option<String>,
    pub columns: Vec<Column>,
    pub checkpoint: Option<Checkpoint>,
    pub sync_checkpoint: Option<SyncCheckpoint>,
    pub last_error: Option<String>,
    /// Runs in a row that failed with `last_error`.
    pub failures: i32,
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub async fn ensure(client: &impl GenericClient, schema: &str) -> Result<(), DbError> {
    let context = || {
        query_error(format!(
            "creating {schema}.{TABLE} (has `cargo xtask db-prepare` run for this stage?)"
        ))
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                table_name text PRIMARY KEY,
                schema_version bigint,
                until text,
                columns jsonb NOT NULL DEFAULT '[]',
                init_checkpoint jsonb,
                updated_at timestamptz NOT NULL DEFAULT now(),
                sync_checkpoint jsonb,
                last_error text,
                failures integer NOT NULL DEFAULT 0
            )",
            qualified(schema, TABLE)
        ))
        .await
        .map_err(context())?;
    // tables made before these columns existed; ALTER only then, since it locks the table
    // against every concurrent run
    let missing: i64 = client
        .query_one(
            "SELECT 3 - count(*) FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2
               AND column_name IN ('sync_checkpoint', 'last_error', 'failures')",
            &[&schema, &TABLE],
        )
        .await
        .map_err(context())?
        .get(0);
    if missing > 0 {
        client
            .batch_execute(&format!(
                "ALTER TABLE {0} ADD COLUMN IF NOT EXISTS sync_checkpoint jsonb;
                 ALTER TABLE {0} ADD COLUMN IF NOT EXISTS last_error text;
                 ALTER TABLE {0} ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0;",
                qualified(schema, TABLE)
            ))
            .await
            .map_err(context())?;
    }
    Ok(())
}

pub async fn get(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Option<Meta>, DbError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT schema_version, until, columns::text, init_checkpoint::text,
                        sync_checkpoint::text, last_error, failures
                 FROM {} WHERE table_name = $1",
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
    let sync_checkpoint: Option<String> = row.get(4);
    Ok(Some(Meta {
        schema_version: row.get(0),
        until: row.get(1),
        columns: serde_json::from_str(&columns).map_err(bad)?,
        checkpoint: checkpoint
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(bad)?,
        sync_checkpoint: sync_checkpoint
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(bad)?,
        last_error: row.get(5),
        failures: row.get(6),
    }))
}

/// Records snapshot progress (`None` clears it); progress also ends a run of failures.
pub async fn set_checkpoint(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<(), DbError> {
    let json = checkpoint.map(|c| serde_json::to_string(c).expect("checkpoints serialize"));
    save_progress(client, schema, table, "init_checkpoint", json).await
}

/// Stores a checkpoint column and clears the failure count, since a checkpoint means progress.
async fn save_progress(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    column: &'static str,
    json: Option<String>,
) -> Result<(), DbError> {
    client
        .execute(
            &format!(
                "INSERT INTO {} (table_name, {column}) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (table_name) DO UPDATE
                 SET {column} = EXCLUDED.{column}, last_error = NULL, failures = 0,
                     updated_at = now()",
                qualified(schema, TABLE)
            ),
            &[&table, &json],
        )
        .await
        .map_err(query_error(format!("saving the {column} of {table}")))?;
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
                     columns = EXCLUDED.columns, init_checkpoint = NULL, sync_checkpoint = NULL,
                     last_error = NULL, failures = 0, updated_at = now()",
                qualified(schema, TABLE)
            ),
            &[&table, &version, &until, &columns],
        )
        .await
        .map_err(query_error(format!("recording the load of {table}")))?;
    Ok(())
}

/// Records sync progress (`None` clears it); progress also ends a run of failures.
pub async fn set_sync_checkpoint(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    checkpoint: Option<&SyncCheckpoint>,
) -> Result<(), DbError> {
    let json = checkpoint.map(|c| serde_json::to_string(c).expect("checkpoints serialize"));
    save_progress(client, schema, table, "sync_checkpoint", json).await
}

/// Record a failed run's error (as `prefix` + the error) and hand the result back unchanged; a
/// failure to record is only logged, so the run's own error is what the caller sees.
pub async fn recording_failure<T, E: std::fmt::Display>(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    prefix: &str,
    result: Result<T, E>,
) -> Result<T, E> {
    if let Err(e) = &result {
        let message = format!("{prefix}{e}");
        if let Err(record) = record_failure(client, schema, table, &message).await {
            tracing::warn!(table, error = %record, "could not record the failure");
        }
    }
    result
}

pub async fn record_failure(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    error: &str,
) -> Result<i32, DbError> {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO {} AS m (table_name, last_error, failures) VALUES ($1, $2, 1)
                 ON CONFLICT (table_name) DO UPDATE
                 SET failures = CASE WHEN m.last_error = EXCLUDED.last_error
                                     THEN m.failures + 1 ELSE 1 END,
                     last_error = EXCLUDED.last_error, updated_at = now()
                 RETURNING failures",
                qualified(schema, TABLE)
            ),
            &[&table, &error],
        )
        .await
        .map_err(query_error(format!("recording the failure of {table}")))?;
    Ok(row.get(0))
}
