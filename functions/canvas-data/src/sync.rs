//! An incremental sync: everything DAP reports since the last `until`, applied in one
//! transaction (interrupted → nothing changed). New columns are added first.

use tokio_postgres::Client;

use crate::dap::DapClient;
use crate::db::meta;
use crate::db::{ident, qualified, query_error};
use crate::error::TableError;
use crate::init::{column_defs, key_list};
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
}

impl SyncReport {
    fn needs_init(reason: impl Into<String>) -> SyncReport {
        SyncReport {
            state: State::NeedsInit,
            upserts: 0,
            deletes: 0,
            added_columns: Vec::new(),
            reason: Some(reason.into()),
        }
    }
}

pub async fn sync_table(
    dap: &DapClient,
    db: &mut Client,
    schema: &str,
    table: &str,
) -> Result<SyncReport, TableError> {
    let Some(until) = meta::get(db, schema, table).await?.and_then(|m| m.until) else {
        return Ok(SyncReport::needs_init("never loaded"));
    };
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
    let result = dap.query(table, Some(&until)).await?;
    tracing::info!(
        table,
        since = until,
        until = result.until,
        objects = result.objects.len(),
        "changes ready"
    );

    let target = qualified(schema, table);
    let tx = db
        .transaction()
        .await
        .map_err(query_error("starting a transaction"))?;
    for c in &added {
        tx.batch_execute(&format!(
            "ALTER TABLE {target} ADD COLUMN {} {}",
            ident(&c.name),
            c.ty.sql()
        ))
        .await
        .map_err(query_error(format!("adding column {} to {table}", c.name)))?;
    }
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
    let mut total = Copied::default();
    let mut seq = 0;
    for object in &result.objects {
        let reader = dap.open(object).await?;
        let copied = copy_object(&tx, &loader, object, reader, &mut seq).await?;
        total.upserts += copied.upserts;
        total.deletes += copied.deletes;
    }
    // the last change of each key wins, whatever the order of objects and lines
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
    meta::set_loaded(
        &tx,
        schema,
        table,
        wanted.version,
        &wanted.columns,
        &result.until,
    )
    .await?;
    tx.commit()
        .await
        .map_err(query_error(format!("committing the sync of {table}")))?;
    Ok(SyncReport {
        state: if added.is_empty() {
            State::Complete
        } else {
            State::CompleteWithUpdate
        },
        upserts: total.upserts,
        deletes: total.deletes,
        added_columns: added.into_iter().map(|c| c.name).collect(),
        reason: None,
    })
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
