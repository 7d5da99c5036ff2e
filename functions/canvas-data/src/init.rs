//! `needs_init` → a snapshot load that survives the Lambda deadline: each object is copied and
//! checkpointed in one transaction; near the deadline the run stops and the next one resumes
//! after the last committed object. The finished load replaces the table in one transaction.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::dap::{DapClient, DapError};
use crate::db::meta::{self, Checkpoint};
use crate::db::{deps, ident, qualified, query_error, DbError};
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

/// When a checkpoint is no longer worth resuming.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A checkpoint whose job is older than this starts over: DAP keeps a job's objects about
    /// 24 hours.
    pub job_lifetime: Duration,
    /// Runs in a row failing with the same error after which the checkpoint starts over.
    pub max_same_failures: i32,
    /// Function runs per table in one execution of the state machine; the run past it fails
    /// the table, and the next execution resumes from the checkpoint.
    pub max_rounds: u32,
    /// How long after its start an execution still begins a function run: its timeout less
    /// one run and a margin, so the execution reaches its summary. `None`: no limit.
    pub execution_budget: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            job_lifetime: Duration::from_secs(23 * 3600),
            max_same_failures: 3,
            max_rounds: 20,
            execution_budget: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InitReport {
    pub state: State,
    pub rows: u64,
    pub objects_done: usize,
    pub objects_total: usize,
    /// Why this run dropped the staging table and started over with a new snapshot job.
    pub restarted: Option<String>,
}

pub fn staging_name(table: &str) -> String {
    format!("{table}__init")
}

/// What `last_error` of a failed init starts with, so a failure of a sync is not counted
/// against a snapshot checkpoint.
pub const FAILURE_PREFIX: &str = "init: ";

pub async fn init_table(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
    budget: Budget,
    limits: Limits,
) -> Result<InitReport, TableError> {
    let result = load(dap, db, schema, table, budget, limits).await;
    meta::recording_failure(&*db, schema, table, FAILURE_PREFIX, result).await
}

/// Whether a download failed because the job's objects are gone (an expired job).
fn expired(e: &TableError) -> bool {
    matches!(
        e,
        TableError::Dap(DapError::Status {
            status: 404 | 410,
            ..
        })
    )
}

async fn load(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
    budget: Budget,
    limits: Limits,
) -> Result<InitReport, TableError> {
    let staging = qualified(schema, &staging_name(table));
    let meta = meta::get(db, schema, table).await?;
    let (failures, last_error) = meta
        .as_ref()
        .map(|m| (m.failures, m.last_error.clone().unwrap_or_default()))
        .unwrap_or_default();
    let mut restarted = None;
    let mut checkpoint = match meta.and_then(|m| m.checkpoint) {
        Some(c) if !staging_exists(db, schema, table).await? => {
            restarted = Some(format!(
                "the staging table of job {} was gone; started over with a new snapshot",
                c.job_id
            ));
            start_snapshot(dap, db, schema, table).await?
        }
        Some(c) if meta::now() - c.started > limits.job_lifetime.as_secs() as i64 => {
            restarted = Some(format!(
                "snapshot job {} is {} h old and DAP keeps jobs about 24 h; staging dropped, started over with a new snapshot",
                c.job_id,
                (meta::now() - c.started) / 3600
            ));
            start_snapshot(dap, db, schema, table).await?
        }
        Some(c)
            if failures >= limits.max_same_failures && last_error.starts_with(FAILURE_PREFIX) =>
        {
            restarted = Some(format!(
                "job {} failed {failures} runs in a row with `{}`; staging dropped, started over with a new snapshot",
                c.job_id,
                &last_error[FAILURE_PREFIX.len()..]
            ));
            start_snapshot(dap, db, schema, table).await?
        }
        Some(c) => {
            tracing::info!(
                table,
                next = c.next,
                of = c.objects.len(),
                "resuming snapshot"
            );
            c
        }
        None => start_snapshot(dap, db, schema, table).await?,
    };
    if let Some(reason) = &restarted {
        tracing::warn!(table, reason, "snapshot restarted");
    }
    loop {
        match copy_objects(dap, db, schema, table, &staging, &mut checkpoint, budget).await {
            Ok(true) => {}
            Ok(false) => {
                return Ok(report(State::NeedsInitContinue, &checkpoint, restarted));
            }
            Err(e) if expired(&e) && restarted.is_none() => {
                let reason = format!(
                    "snapshot job {} expired ({e}); staging dropped, started over with a new snapshot",
                    checkpoint.job_id
                );
                tracing::warn!(table, reason, "snapshot restarted");
                restarted = Some(reason);
                checkpoint = start_snapshot(dap, db, schema, table).await?;
                continue;
            }
            Err(e) => return Err(e),
        }
        break;
    }
    match swap(db, schema, table, &checkpoint, budget).await {
        Ok(()) => {
            analyze(db, schema, table).await;
            Ok(report(State::Complete, &checkpoint, restarted))
        }
        Err(TableError::Db(DbError::Query { message, .. })) if message.contains("(57014)") => {
            tracing::info!(
                table,
                "deadline near during the swap: it is repeated next run"
            );
            Ok(report(State::NeedsInitContinue, &checkpoint, restarted))
        }
        Err(e) => Err(e),
    }
}

/// Copies objects from `checkpoint.next` on; false when the deadline stopped it early.
async fn copy_objects(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
    staging: &str,
    checkpoint: &mut Checkpoint,
    budget: Budget,
) -> Result<bool, TableError> {
    let columns = checkpoint.columns.clone();
    let target = Target {
        table,
        copy_sql: &copy_sql(staging, columns.iter().map(|c| ident(&c.name))),
        encoder: Encoder::snapshot(&columns),
    };
    // the longest object so far predicts whether the next one fits in what is left
    let mut longest = Duration::ZERO;
    while checkpoint.next < checkpoint.objects.len() {
        let left = budget.left();
        if left.is_zero() || left < longest.mul_f32(1.5) {
            return Ok(false);
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
                *checkpoint = next;
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
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Fresh planner statistics (and row estimates for `canvas-data status`); a failure only costs
/// plan quality, so it is logged, not raised.
async fn analyze(db: &Client, schema: &str, table: &str) {
    if let Err(e) = db
        .batch_execute(&format!("ANALYZE {}", qualified(schema, table)))
        .await
    {
        tracing::warn!(table, error = %crate::db::describe(&e), "ANALYZE failed");
    }
}

fn report(state: State, c: &Checkpoint, restarted: Option<String>) -> InitReport {
    InitReport {
        state,
        rows: c.rows,
        objects_done: c.next,
        objects_total: c.objects.len(),
        restarted,
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
        started: meta::now(),
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

/// The loaded staging table becomes the table: views on the old one saved and dropped, old one
/// dropped, primary key built (once, after the bulk load: faster than maintaining it row by
/// row), views, grants and indexes restored, meta updated, in one transaction.
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
    tx.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}"))
        .await
        .map_err(query_error("setting the swap's statement timeout"))?;
    let saved = deps::save_and_drop(&tx, schema, table).await?;
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS {target};
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
    deps::restore(&tx, table, &saved).await?;
    if !saved.view_names().is_empty() {
        tracing::info!(table, views = ?saved.view_names(), "dependent views recreated");
    }
    meta::set_loaded(&tx, schema, table, c.schema_version, &c.columns, &c.at).await?;
    tx.commit().await.map_err(query_error(format!(
        "committing the new snapshot of {table}"
    )))?;
    Ok(())
}
