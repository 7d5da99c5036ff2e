//! What an operator asks of the replica (`cargo xtask canvas-data status|reset`): per table its
//! state, rows, last `until`, lag, checkpoint and last error; and a reset that makes the next
//! run take a fresh snapshot.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::db::meta::{self, Checkpoint, SyncCheckpoint};
use crate::db::{lock_table, qualified, query_error, unlock_table, DbError};
use crate::error::TableError;
use crate::init::staging_name;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStatus {
    pub table: String,
    /// `loaded`, `loading` (snapshot checkpoint), `syncing` (sync checkpoint), `failing`
    /// (its last run failed) or `new` (never loaded).
    pub state: String,
    /// PostgreSQL's estimate (refreshed by the ANALYZE after each snapshot); rows in staging
    /// while loading.
    pub rows: Option<i64>,
    pub until: Option<String>,
    pub lag_hours: Option<f64>,
    /// `init 3/6 objects, job j, 2 h old` or `sync …`.
    pub checkpoint: Option<String>,
    pub last_error: Option<String>,
    pub failures: i32,
}

pub async fn status(db: &Client, schema: &str) -> Result<Vec<TableStatus>, DbError> {
    meta::ensure(db, schema).await?;
    let rows = db
        .query(
            &format!(
                "SELECT m.table_name, m.until, m.init_checkpoint::text, m.sync_checkpoint::text,
                        m.last_error, m.failures,
                        (SELECT c.reltuples::bigint FROM pg_class c
                         WHERE c.oid = to_regclass(format('%I.%I', $1::text, m.table_name)))
                 FROM {} m ORDER BY m.table_name",
                qualified(schema, meta::TABLE)
            ),
            &[&schema],
        )
        .await
        .map_err(query_error("reading the tables' status"))?;
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for r in rows {
        let table: String = r.get(0);
        let until: Option<String> = r.get(1);
        let bad = |e: serde_json::Error| DbError::Query {
            context: format!("the meta row of {table}"),
            message: e.to_string(),
        };
        let init: Option<Checkpoint> = r
            .get::<_, Option<String>>(2)
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(bad)?;
        let sync: Option<SyncCheckpoint> = r
            .get::<_, Option<String>>(3)
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(bad)?;
        let last_error: Option<String> = r.get(4);
        let failures: i32 = r.get(5);
        let estimate: Option<i64> = r.get::<_, Option<i64>>(6).filter(|n| *n >= 0);
        let age = |started: i64| (meta::now() - started).max(0) / 3600;
        let checkpoint = match (&init, &sync) {
            (Some(c), _) => Some(format!(
                "init {}/{} objects, job {}, {} h old",
                c.next,
                c.objects.len(),
                c.job_id,
                age(c.started)
            )),
            (None, Some(c)) => Some(format!(
                "sync {}/{} objects, job {}, {} h old",
                c.next,
                c.objects.len(),
                c.job_id,
                age(c.started)
            )),
            (None, None) => None,
        };
        let state = match (&init, &sync, failures > 0, &until) {
            (_, _, true, _) => "failing",
            (Some(_), _, _, _) => "loading",
            (None, Some(_), _, _) => "syncing",
            (None, None, false, Some(_)) => "loaded",
            (None, None, false, None) => "new",
        };
        out.push(TableStatus {
            rows: match &init {
                Some(c) if until.is_none() => Some(c.rows as i64),
                _ => estimate,
            },
            lag_hours: until
                .as_deref()
                .and_then(|u| crate::metrics::lag_hours(u, now)),
            state: state.into(),
            until,
            checkpoint,
            last_error,
            failures,
            table,
        });
    }
    Ok(out)
}

/// The status as a text table for a terminal.
pub fn render(tables: &[TableStatus]) -> String {
    let dash = || "-".to_string();
    let mut lines = vec![[
        "table".to_string(),
        "state".into(),
        "rows".into(),
        "until".into(),
        "lag".into(),
        "checkpoint".into(),
        "last error".into(),
    ]];
    for t in tables {
        lines.push([
            t.table.clone(),
            t.state.clone(),
            t.rows.map_or_else(dash, |r| r.to_string()),
            t.until.clone().unwrap_or_else(dash),
            t.lag_hours.map_or_else(dash, |h| format!("{h:.1} h")),
            t.checkpoint.clone().unwrap_or_else(dash),
            t.last_error
                .as_ref()
                .map_or_else(dash, |e| format!("{e} ({}×)", t.failures)),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|l| {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Clears the table's checkpoints, staging table, failures and `until`, so the next run takes a
/// fresh snapshot (the table itself stays readable until that snapshot replaces it). Refused
/// while a run holds the table.
pub async fn reset(db: &mut Client, schema: &str, table: &str) -> Result<Vec<String>, TableError> {
    crate::check_table_name(table)?;
    meta::ensure(&*db, schema).await?;
    if !lock_table(db, schema, table).await? {
        return Err(TableError::Busy(table.into()));
    }
    let result = async {
        let tx = db
            .transaction()
            .await
            .map_err(query_error("starting a transaction"))?;
        let staging = qualified(schema, &staging_name(table));
        let had_staging: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&staging])
            .await
            .map_err(query_error(format!("looking for the staging table of {table}")))?
            .get(0);
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {staging}"))
            .await
            .map_err(query_error(format!("dropping the staging table of {table}")))?;
        let updated = tx
            .execute(
                &format!(
                    "UPDATE {} SET until = NULL, init_checkpoint = NULL, sync_checkpoint = NULL,
                            last_error = NULL, failures = 0, updated_at = now()
                     WHERE table_name = $1",
                    qualified(schema, meta::TABLE)
                ),
                &[&table],
            )
            .await
            .map_err(query_error(format!("resetting the meta row of {table}")))?;
        tx.commit()
            .await
            .map_err(query_error(format!("committing the reset of {table}")))?;
        let mut done = Vec::new();
        if had_staging {
            done.push(format!("{table}: staging table dropped"));
        }
        done.push(if updated == 0 {
            format!("{table}: no meta row (never loaded); nothing else to reset")
        } else {
            format!("{table}: checkpoints, failures and until cleared; the next run takes a fresh snapshot")
        });
        Ok::<_, DbError>(done)
    }
    .await;
    let unlocked = unlock_table(db, schema, table).await;
    let done = result?;
    unlocked?;
    Ok(done)
}
