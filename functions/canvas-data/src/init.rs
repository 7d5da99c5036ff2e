//! `needs_init` → a snapshot load that survives the Lambda deadline: each object is copied and
//! checkpointed in one transaction; near the deadline the run stops and the next one resumes
//! after the last committed object. The finished load replaces the table in one transaction.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::dap::DapClient;
use crate::db::meta::{self, Checkpoint};
use crate::db::{ident, qualified, query_error, DbError};
use crate::error::TableError;
use crate::load::{copy_object, copy_sql, Target};
use crate::rows::Encoder;
use crate::schema::{Column, TableSchema};
use crate::State;

/// Time left to work in: the deadline less what is kept back to roll back and answer.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    pub reserve: Duration,
}

impl Budget {
    pub fn left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.reserve)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InitReport {
    pub state: State,
    pub rows: u64,
    pub objects_done: usize,
    pub objects_total: usize,
}

pub fn staging_name(table: &str) -> String {
    format!("{table}__init")
}

pub async fn init_table(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
    budget: Budget,
) -> Result<InitReport, TableError> {
    let staging = qualified(schema, &staging_name(table));
    let mut checkpoint = match meta::get(db, schema, table)
        .await?
        .and_then(|m| m.checkpoint)
    {
        Some(c) if staging_exists(db, schema, table).await? => {
            tracing::info!(
                table,
                next = c.next,
                of = c.objects.len(),
                "resuming snapshot"
            );
            c
        }
        _ => start_snapshot(dap, db, schema, table).await?,
    };
    let columns = checkpoint.columns.clone();
    let target = Target {
        table,
        copy_sql: &copy_sql(&staging, columns.iter().map(|c| ident(&c.name))),
        encoder: Encoder::snapshot(&columns),
    };
    // the longest object so far predicts whether the next one fits in what is left
    let mut longest = Duration::ZERO;
    while checkpoint.next < checkpoint.objects.len() {
        let left = budget.left();
        if left.is_zero() || left < longest.mul_f32(1.5) {
            return Ok(report(State::NeedsInitContinue, &checkpoint));
        }
        let started = Instant::now();
        let object = checkpoint.objects[checkpoint.next].clone();
        let mut next = checkpoint.clone();
        let load = async {
            let reader = dap.open(&object).await?;
            let tx = db
                .transaction()
                .await
                .map_err(query_error("starting a transaction"))?;
            let mut seq = 0;
            let copied = copy_object(&tx, &target, &object, reader, &mut seq).await?;
            next.next += 1;
            next.rows += copied.upserts;
            meta::set_checkpoint(&tx, schema, table, Some(&next)).await?;
            tx.commit().await.map_err(query_error(format!(
                "committing object {object} of {table}"
            )))?;
            Ok::<_, TableError>(copied.upserts)
        };
        match tokio::time::timeout(left, load).await {
            Ok(result) => {
                let rows = result?;
                checkpoint = next;
                longest = longest.max(started.elapsed());
                tracing::info!(
                    table,
                    object,
                    rows,
                    done = checkpoint.next,
                    of = checkpoint.objects.len(),
                    "object committed"
                );
            }
            Err(_) => {
                // dropping the load rolled its transaction back: the object is copied again next run
                tracing::info!(
                    table,
                    object,
                    "deadline near: object rolled back, continuing next run"
                );
                return Ok(report(State::NeedsInitContinue, &checkpoint));
            }
        }
    }
    match swap(db, schema, table, &checkpoint, budget).await {
        Ok(()) => Ok(report(State::Complete, &checkpoint)),
        Err(TableError::Db(DbError::Query { message, .. })) if message.contains("(57014)") => {
            tracing::info!(
                table,
                "deadline near during the swap: it is repeated next run"
            );
            Ok(report(State::NeedsInitContinue, &checkpoint))
        }
        Err(e) => Err(e),
    }
}

fn report(state: State, c: &Checkpoint) -> InitReport {
    InitReport {
        state,
        rows: c.rows,
        objects_done: c.next,
        objects_total: c.objects.len(),
    }
}

async fn staging_exists(db: &Client, schema: &str, table: &str) -> Result<bool, TableError> {
    let row = db
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&qualified(schema, &staging_name(table))],
        )
        .await
        .map_err(query_error(format!(
            "looking for the staging table of {table}"
        )))?;
    Ok(row.get(0))
}

/// A new snapshot job, and an empty staging table recorded with the checkpoint.
async fn start_snapshot(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
) -> Result<Checkpoint, TableError> {
    let s = dap.schema(table).await?;
    let table_schema = TableSchema::from_dap(table, s.version, &s.schema)?;
    let result = dap.query(table, None).await?;
    tracing::info!(
        table,
        job = result.job_id,
        objects = result.objects.len(),
        "snapshot ready"
    );
    let checkpoint = Checkpoint {
        job_id: result.job_id,
        objects: result.objects,
        next: 0,
        rows: 0,
        at: result.until,
        schema_version: table_schema.version,
        columns: table_schema.columns,
    };
    let staging = qualified(schema, &staging_name(table));
    let tx = db
        .transaction()
        .await
        .map_err(query_error("starting a transaction"))?;
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS {staging}; CREATE TABLE {staging} ({})",
        column_defs(&checkpoint.columns)
    ))
    .await
    .map_err(query_error(format!(
        "creating the staging table of {table}"
    )))?;
    meta::set_checkpoint(&tx, schema, table, Some(&checkpoint)).await?;
    tx.commit()
        .await
        .map_err(query_error(format!("recording the snapshot of {table}")))?;
    Ok(checkpoint)
}

pub fn column_defs(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            let not_null = if c.key { " NOT NULL" } else { "" };
            format!("{} {}{not_null}", ident(&c.name), c.ty.sql())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn key_list(columns: &[Column]) -> String {
    columns
        .iter()
        .filter(|c| c.key)
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The loaded staging table becomes the table: old one dropped, primary key built (once, after
/// the bulk load: faster than maintaining it row by row), meta updated, in one transaction.
async fn swap(
    db: &mut Client,
    schema: &str,
    table: &str,
    c: &Checkpoint,
    budget: Budget,
) -> Result<(), TableError> {
    let target = qualified(schema, table);
    let tx = db
        .transaction()
        .await
        .map_err(query_error("starting a transaction"))?;
    let timeout_ms = budget.left().as_millis().max(1000);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {timeout_ms};
         DROP TABLE IF EXISTS {target};
         ALTER TABLE {} RENAME TO {};
         ALTER TABLE {target} ADD PRIMARY KEY ({})",
        qualified(schema, &staging_name(table)),
        ident(table),
        key_list(&c.columns)
    ))
    .await
    .map_err(query_error(format!(
        "replacing {table} with its new snapshot"
    )))?;
    meta::set_loaded(&tx, schema, table, c.schema_version, &c.columns, &c.at).await?;
    tx.commit().await.map_err(query_error(format!(
        "committing the new snapshot of {table}"
    )))?;
    Ok(())
}
