//! An incremental sync: everything DAP reports since the last `until`. Each object is applied
//! in its own transaction with the sync checkpoint (a backlog larger than one run continues in
//! the next, with the same job); the new `until` is recorded with the last object. A run that
//! cannot apply even one object falls back to a fresh snapshot. New columns are added first.

use std::time::{Duration, Instant};

use tokio_postgres::{Client, Transaction};

use crate::dap::DapClient;
use crate::db::meta::{self, SyncCheckpoint};
use crate::db::{ident, qualified, query_error};
use crate::error::TableError;
use crate::init::{column_defs, key_list, Budget, Limits};
use crate::load::{copy_object, copy_sql, Copied, Target};
use crate::rows::Encoder;
use crate::schema::{Column, TableSchema};
use crate::State;

#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub state: State,
    pub upserts: u64,
    pub deletes: u64,
    pub added_columns: Vec<String>,
    /// Why the table needs a snapshot, when it does.
    pub reason: Option<String>,
    pub objects_done: usize,
    pub objects_total: usize,
    /// How the run went when it was not one step: continued in steps, started over, fell back.
    pub note: Option<String>,
}

impl SyncReport {
    fn needs_init(reason: impl Into<String>) -> SyncReport {
        SyncReport {
            state: State::NeedsInit,
            upserts: 0,
            deletes: 0,
            added_columns: Vec::new(),
            reason: Some(reason.into()),
            objects_done: 0,
            objects_total: 0,
            note: None,
        }
    }
}

/// What `last_error` of a failed sync starts with (see [`crate::init::FAILURE_PREFIX`]).
pub const FAILURE_PREFIX: &str = "sync: ";

pub async fn sync_table(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
    budget: Budget,
    limits: Limits,
) -> Result<SyncReport, TableError> {
    let result = run(dap, db, schema, table, budget, limits).await;
    meta::recording_failure(&*db, schema, table, FAILURE_PREFIX, result).await
}

async fn run(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
    budget: Budget,
    limits: Limits,
) -> Result<SyncReport, TableError> {
    let Some(m) = meta::get(db, schema, table).await? else {
        return Ok(SyncReport::needs_init("never loaded"));
    };
    let Some(until) = m.until.clone() else {
        let reason = if m.columns.is_empty() {
            "never loaded"
        } else {
            "no recorded `until` (reset by an operator)"
        };
        return Ok(SyncReport::needs_init(reason));
    };
    if let Some(c) = &m.checkpoint {
        // a snapshot under way (a type change, a fallback) finishes before syncs resume
        return Ok(SyncReport::needs_init(format!(
            "snapshot job {} under way ({} of {} objects loaded)",
            c.job_id,
            c.next,
            c.objects.len()
        )));
    }
    let s = dap.schema(table).await?;
    let wanted = TableSchema::from_dap(table, s.version, &s.schema)?;
    let existing = existing_columns(db, schema, table).await?;
    if existing.is_empty() {
        return Ok(SyncReport::needs_init("the table is missing"));
    }
    let mut added = Vec::new();
    for c in &wanted.columns {
        match existing.iter().find(|(name, _)| *name == c.name) {
            None if c.key => {
                return Ok(SyncReport::needs_init(format!("new key column {}", c.name)));
            }
            None => added.push(c.clone()),
            Some((_, ty)) if ty != c.ty.sql() => {
                return Ok(SyncReport::needs_init(format!(
                    "column {} changed from {ty} to {}",
                    c.name,
                    c.ty.sql()
                )));
            }
            Some(_) => {}
        }
    }
    let mut note = None;
    let mut checkpoint = match m.sync_checkpoint {
        Some(c) if meta::now() - c.started > limits.job_lifetime.as_secs() as i64 => {
            note = Some(format!(
                "sync job {} had expired with {} of {} objects applied; started a new job since {until}",
                c.job_id,
                c.next,
                c.objects.len()
            ));
            None
        }
        Some(c)
            if m.failures >= limits.max_same_failures
                && m.last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(FAILURE_PREFIX)) =>
        {
            note = Some(format!(
                "sync job {} failed {} runs in a row the same way; started a new job since {until}",
                c.job_id, m.failures
            ));
            None
        }
        c => c,
    };
    let resumed = checkpoint.is_some();
    let mut checkpoint = match checkpoint.take() {
        Some(c) => c,
        None => {
            let result = dap.query(table, Some(&until)).await?;
            tracing::info!(
                table,
                since = until,
                until = result.until,
                objects = result.objects.len(),
                "changes ready"
            );
            SyncCheckpoint {
                job_id: result.job_id,
                objects: result.objects,
                next: 0,
                since: until.clone(),
                until: result.until,
                upserts: 0,
                deletes: 0,
                started: meta::now(),
            }
        }
    };
    let first = checkpoint.next;
    let apply = Apply {
        schema,
        table,
        wanted: &wanted,
    };
    let mut pending_columns = added.as_slice();
    let mut longest = Duration::ZERO;
    let mut stopped = None;
    // an empty result still records the new `until` (and any new columns) in one step
    while checkpoint.next < checkpoint.objects.len() || checkpoint.objects.is_empty() {
        let left = budget.left();
        if left.is_zero() || left < longest.mul_f32(1.5) {
            stopped = Some(checkpoint.next);
            break;
        }
        let started = Instant::now();
        let mut next = checkpoint.clone();
        let step = apply.step(dap, db, pending_columns, &mut next);
        match tokio::time::timeout(left, step).await {
            Ok(result) => {
                result?;
                checkpoint = next;
                pending_columns = &[];
                longest = longest.max(started.elapsed());
                if checkpoint.objects.is_empty() {
                    break;
                }
            }
            Err(_) => {
                tracing::info!(
                    table,
                    object = checkpoint.objects[checkpoint.next],
                    "deadline near: object rolled back"
                );
                stopped = Some(checkpoint.next);
                break;
            }
        }
    }
    let mut report = SyncReport {
        state: if added.is_empty() {
            State::Complete
        } else {
            State::CompleteWithUpdate
        },
        upserts: checkpoint.upserts,
        deletes: checkpoint.deletes,
        added_columns: added.into_iter().map(|c| c.name).collect(),
        reason: None,
        objects_done: checkpoint.next,
        objects_total: checkpoint.objects.len(),
        note,
    };
    let Some(at) = stopped else {
        if resumed || first > 0 {
            report.note.get_or_insert(format!(
                "finished job {} in steps: objects {}-{} of {} this run, until recorded",
                checkpoint.job_id,
                first + 1,
                checkpoint.objects.len(),
                checkpoint.objects.len()
            ));
        }
        return Ok(report);
    };
    if at == first {
        // not one object fits in a run: the backlog would never clear this way
        meta::set_sync_checkpoint(&*db, schema, table, None).await?;
        let reason = format!(
            "sync backlog too large: object {} of {} of job {} did not fit in one run; falling back to a fresh snapshot",
            at + 1,
            checkpoint.objects.len(),
            checkpoint.job_id
        );
        tracing::warn!(table, reason, "falling back to a snapshot");
        return Ok(SyncReport {
            note: Some(reason.clone()),
            ..SyncReport::needs_init(reason)
        });
    }
    report.state = State::NeedsSyncContinue;
    report.note = Some(format!(
        "committing in steps: {} of {} objects of job {} applied, until recorded when all are in",
        checkpoint.next,
        checkpoint.objects.len(),
        checkpoint.job_id
    ));
    Ok(report)
}

struct Apply<'a> {
    schema: &'a str,
    table: &'a str,
    wanted: &'a TableSchema,
}

impl Apply<'_> {
    /// One object (or, for an empty result, none) applied with its checkpoint, or with the new
    /// `until` when it is the last, in one transaction.
    async fn step(
        &self,
        dap: &DapClient,
        db: &mut Client,
        add: &[Column],
        cp: &mut SyncCheckpoint,
    ) -> Result<(), TableError> {
        let (schema, table) = (self.schema, self.table);
        let target = qualified(schema, table);
        let object = cp.objects.get(cp.next).cloned();
        let reader = match &object {
            Some(o) => Some(dap.open(o).await?),
            None => None,
        };
        let tx = db
            .transaction()
            .await
            .map_err(query_error("starting a transaction"))?;
        for c in add {
            tx.batch_execute(&format!(
                "ALTER TABLE {target} ADD COLUMN {} {}",
                ident(&c.name),
                c.ty.sql()
            ))
            .await
            .map_err(query_error(format!("adding column {} to {table}", c.name)))?;
        }
        if let (Some(object), Some(reader)) = (object, reader) {
            let copied = self.apply(&tx, &object, reader).await?;
            cp.next += 1;
            cp.upserts += copied.upserts;
            cp.deletes += copied.deletes;
        }
        if cp.next >= cp.objects.len() {
            meta::set_loaded(
                &tx,
                schema,
                table,
                self.wanted.version,
                &self.wanted.columns,
                &cp.until,
            )
            .await?;
        } else {
            meta::set_sync_checkpoint(&tx, schema, table, Some(cp)).await?;
        }
        tx.commit()
            .await
            .map_err(query_error(format!("committing the sync of {table}")))?;
        Ok(())
    }

    async fn apply(
        &self,
        tx: &Transaction<'_>,
        object: &str,
        reader: crate::dap::ObjectReader,
    ) -> Result<Copied, TableError> {
        let (table, wanted) = (self.table, self.wanted);
        let target = qualified(self.schema, table);
        let unkeyed: Vec<Column> = wanted
            .columns
            .iter()
            .map(|c| Column {
                key: false,
                ..c.clone()
            })
            .collect();
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE dap_changes ({}, _seq bigint NOT NULL, _action \"char\" NOT NULL) ON COMMIT DROP",
            column_defs(&unkeyed)
        ))
        .await
        .map_err(query_error(format!("creating the change table of {table}")))?;
        let names = || wanted.columns.iter().map(|c| ident(&c.name));
        let loader = Target {
            table,
            copy_sql: &copy_sql(
                "dap_changes",
                names().chain(["_seq".to_string(), "_action".to_string()]),
            ),
            encoder: Encoder::changes(&wanted.columns),
        };
        let mut seq = 0;
        let copied = copy_object(tx, &loader, object, reader, &mut seq).await?;
        // the last change of each key wins, whatever the order of lines; objects are applied
        // in order, one transaction each
        let keys = key_list(&wanted.columns);
        let key_match: Vec<String> = wanted
            .keys()
            .map(|c| format!("t.{0} = l.{0}", ident(&c.name)))
            .collect();
        let latest =
            format!("SELECT DISTINCT ON ({keys}) * FROM dap_changes ORDER BY {keys}, _seq DESC");
        tx.batch_execute(&format!(
            "DELETE FROM {target} t USING ({latest}) l WHERE l._action = 'D' AND {}",
            key_match.join(" AND ")
        ))
        .await
        .map_err(query_error(format!("applying deletes to {table}")))?;
        let cols: Vec<String> = names().collect();
        let updates: Vec<String> = wanted
            .columns
            .iter()
            .filter(|c| !c.key)
            .map(|c| format!("{0} = EXCLUDED.{0}", ident(&c.name)))
            .collect();
        let on_conflict = if updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        tx.batch_execute(&format!(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM ({latest}) l WHERE l._action = 'U'
             ON CONFLICT ({keys}) {on_conflict}",
            cols = cols.join(", ")
        ))
        .await
        .map_err(query_error(format!("applying upserts to {table}")))?;
        Ok(copied)
    }
}

/// `(name, data type)` of the table's columns as PostgreSQL reports them; empty when missing.
async fn existing_columns(
    db: &Client,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, String)>, TableError> {
    let rows = db
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .await
        .map_err(query_error(format!("reading the columns of {table}")))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
