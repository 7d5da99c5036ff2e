//! What the three functions run: configuration from the environment (credentials from SSM and
//! Secrets Manager, read once per sandbox), one database session per invocation.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::dap::{Credentials, DapClient, Timing};
use crate::db::{self, meta, Db, DbConfig, DbError};
use crate::init::{init_table, Budget, Limits};
use crate::sync::sync_table;
use crate::{check_table_name, TableError};

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is `{value}`, expected a whole number")]
    Invalid { name: &'static str, value: String },
    #[error("reading SSM parameter {name}: {message}")]
    Parameter { name: String, message: String },
    #[error("reading secret {name}: {message}")]
    Secret { name: String, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

pub struct Env {
    pub dap: DapClient,
    pub db: DbConfig,
    pub schema: String,
    pub skip_tables: Vec<String>,
    pub limits: Limits,
    /// The stage, as the lag metric's dimension.
    pub stage: String,
}

impl Env {
    pub async fn from_environment() -> Result<Env, EnvError> {
        let var = |k: &'static str| std::env::var(k).map_err(|_| EnvError::Missing(k));
        let aws = support::aws_config().await;
        let ssm = aws_sdk_ssm::Client::new(&aws);
        let param = |name: String| {
            let ssm = ssm.clone();
            async move {
                support::parameter(&ssm, &name)
                    .await
                    .map_err(|message| EnvError::Parameter { name, message })
            }
        };
        let client_id = param(var("DAP_CLIENT_ID_PARAMETER")?).await?;
        let client_secret = param(var("DAP_CLIENT_SECRET_PARAMETER")?).await?;
        let secret_name = var("DATABASE_SECRET")?;
        let secret = support::secret_string(&aws, &secret_name)
            .await
            .map_err(|message| EnvError::Secret {
                name: secret_name.clone(),
                message,
            })?;
        let db = DbConfig::from_secret_json(secret.expose())?;
        let number = |name: &'static str| match std::env::var(name) {
            Ok(value) => value
                .parse::<u32>()
                .map(Some)
                .map_err(|_| EnvError::Invalid { name, value }),
            Err(_) => Ok(None),
        };
        let mut limits = Limits::default();
        if let Some(n) = number("MAX_SAME_FAILURES")? {
            limits.max_same_failures = n as i32;
        }
        if let Some(n) = number("MAX_ROUNDS")? {
            limits.max_rounds = n;
        }
        if let Some(n) = number("EXECUTION_BUDGET_SECONDS")? {
            limits.execution_budget = Some(Duration::from_secs(n.into()));
        }
        Ok(Env {
            dap: DapClient::new(
                &var("DAP_API_URL")?,
                Credentials {
                    client_id: client_id.expose().to_string(),
                    client_secret,
                },
                Timing::default(),
            ),
            db,
            schema: std::env::var("DB_SCHEMA").unwrap_or_else(|_| "canvas".into()),
            skip_tables: std::env::var("SKIP_TABLES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            limits,
            stage: std::env::var("STAGE").unwrap_or_else(|_| "local".into()),
        })
    }
}

/// `{"table_name": "..."}` from the state machine, or `{"check": true}` (smoke tests). The
/// state machine passes each answer on as the next event, so what a table's refresh has
/// gathered so far (rounds, time spent, why it needed a snapshot) rides along.
#[derive(Debug, Default, Deserialize)]
pub struct Request {
    pub table_name: Option<String>,
    #[serde(default)]
    pub check: bool,
    #[serde(default)]
    pub round: u32,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// When the state machine's execution started (`$$.Execution.StartTime`).
    #[serde(default)]
    pub execution_started: Option<String>,
    /// `status` or `reset` (with `table_name`): what `cargo xtask canvas-data` asks on AWS,
    /// where only the functions reach the database.
    #[serde(default)]
    pub operator: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(
        "the event needs `table_name` (or `\"check\": true` for a connectivity check), got {0}"
    )]
    BadEvent(String),
    #[error(transparent)]
    Table(#[from] TableError),
}

/// What Lambda reports, and a state machine's `Catch` matches: a short kind rather than Rust's
/// type path, and the whole message.
impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let kind = match &e {
            HandlerError::BadEvent(_) => "BadEvent",
            HandlerError::Table(_) => "TableError",
        };
        lambda_runtime::Diagnostic {
            error_type: kind.into(),
            error_message: e.to_string(),
        }
    }
}

impl Request {
    pub fn parse(event: &Value) -> Result<Request, HandlerError> {
        let request: Request = serde_json::from_value(event.clone())
            .map_err(|e| HandlerError::BadEvent(format!("{event} ({e})")))?;
        if request.table_name.is_none() && !request.check && request.operator.is_none() {
            return Err(HandlerError::BadEvent(event.to_string()));
        }
        Ok(request)
    }
}

/// `canvas-data-list-tables`: DAP's tables less the stage's `skip_tables`.
pub async fn list_tables(env: &Env, event: &Value) -> Result<Value, HandlerError> {
    if event.get("check").is_some_and(|c| c == true) {
        return check(env).await;
    }
    let all = env.dap.tables().await.map_err(TableError::from)?;
    let (skipped, tables): (Vec<String>, Vec<String>) =
        all.into_iter().partition(|t| env.skip_tables.contains(t));
    Ok(json!({ "tables": tables, "skipped": skipped }))
}

/// `canvas-data-sync-table`; `deadline` is the invocation's.
pub async fn sync(env: &Env, event: &Value, deadline: Instant) -> Result<Value, HandlerError> {
    let started = Instant::now();
    let request = Request::parse(event)?;
    if let Some(op) = &request.operator {
        return operator(env, op, request.table_name.as_deref()).await;
    }
    let Some(table) = request.table_name.clone() else {
        return check(env).await;
    };
    capped(env, &request, &table)?;
    let mut db = open(env, &table).await?;
    let result = sync_table(
        &env.dap,
        &mut db.client,
        &env.schema,
        &table,
        budget(deadline),
        env.limits,
    )
    .await;
    report_lag(env, &db, &table).await;
    db.close().await;
    let r = logged(&table, result)?;
    let mut answer = carried(&request, &table, r.state, started);
    let fields = json!({
        "upserts": r.upserts, "deletes": r.deletes, "added_columns": r.added_columns,
        "objects_done": r.objects_done, "objects_total": r.objects_total,
        "rows_changed": r.upserts + r.deletes,
        "reason": r.reason.or(request.reason),
        "note": r.note.or(request.note),
    });
    merge(&mut answer, fields);
    Ok(answer)
}

/// `canvas-data-init-table`; `deadline` is the invocation's.
pub async fn init(env: &Env, event: &Value, deadline: Instant) -> Result<Value, HandlerError> {
    let started = Instant::now();
    let request = Request::parse(event)?;
    let Some(table) = request.table_name.clone() else {
        return check(env).await;
    };
    capped(env, &request, &table)?;
    let mut db = open(env, &table).await?;
    let result = init_table(
        &env.dap,
        &mut db.client,
        &env.schema,
        &table,
        budget(deadline),
        env.limits,
    )
    .await;
    report_lag(env, &db, &table).await;
    db.close().await;
    let r = logged(&table, result)?;
    let note = match (request.note.clone(), r.restarted.clone()) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => b.or(a),
    };
    let mut answer = carried(&request, &table, r.state, started);
    merge(
        &mut answer,
        json!({
            "rows": r.rows, "rows_changed": r.rows,
            "objects_done": r.objects_done, "objects_total": r.objects_total,
            "restarted": r.restarted, "reason": request.reason, "note": note,
        }),
    );
    Ok(answer)
}

/// `{"operator": "status"}` → `{"tables": [...]}`; `{"operator": "reset", "table_name"}` →
/// `{"done": [...]}`.
async fn operator(env: &Env, op: &str, table: Option<&str>) -> Result<Value, HandlerError> {
    let mut db = db::connect(&env.db).await.map_err(TableError::from)?;
    let result = match (op, table) {
        ("status", _) => crate::ops::status(&db.client, &env.schema)
            .await
            .map(|t| json!({ "tables": t }))
            .map_err(|e| HandlerError::Table(e.into())),
        ("reset", Some(table)) => crate::ops::reset(&mut db.client, &env.schema, table)
            .await
            .map(|done| json!({ "done": done }))
            .map_err(HandlerError::from),
        _ => Err(HandlerError::BadEvent(format!(
            "operator `{op}` needs to be `status` or `reset` with `table_name`"
        ))),
    };
    db.close().await;
    result
}

/// Past the round cap, or too near the execution's timeout for another run, a table stops for
/// this execution, its checkpoint intact.
fn capped(env: &Env, request: &Request, table: &str) -> Result<(), TableError> {
    if request.round >= env.limits.max_rounds {
        return Err(TableError::RoundCap {
            table: table.into(),
            rounds: request.round,
        });
    }
    let started = request.execution_started.as_deref().and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    });
    if let (Some(started), Some(budget)) = (started, env.limits.execution_budget) {
        if time::OffsetDateTime::now_utc() - started > budget {
            return Err(TableError::OutOfTime {
                table: table.into(),
            });
        }
    }
    Ok(())
}

/// A rollback and the answer fit easily in 20 s; the rest of the run is for loading.
fn budget(deadline: Instant) -> Budget {
    Budget {
        deadline,
        reserve: Duration::from_secs(20),
    }
}

/// The fields every answer carries to the next round and, at the end, to the summary.
fn carried(request: &Request, table: &str, state: crate::State, started: Instant) -> Value {
    json!({
        "table_name": table,
        "state": state,
        "round": request.round + 1,
        "duration_ms": request.duration_ms + started.elapsed().as_millis() as u64,
        "execution_started": request.execution_started,
    })
}

fn merge(into: &mut Value, fields: Value) {
    if let (Some(into), Value::Object(fields)) = (into.as_object_mut(), fields) {
        into.extend(fields);
    }
}

/// The table's lag after this run, whether it went well or not: a table that keeps failing
/// is exactly the one whose lag must keep rising.
async fn report_lag(env: &Env, db: &Db, table: &str) {
    match meta::get(&db.client, &env.schema, table).await {
        Ok(Some(m)) => {
            if let Some(until) = m.until {
                crate::metrics::emit_lag(&env.stage, table, &until);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(table, error = %e, "could not read the lag"),
    }
}

/// A session for the table's work that holds its advisory lock; the caller closes it.
async fn open(env: &Env, table: &str) -> Result<Db, TableError> {
    check_table_name(table)?;
    let db = db::connect(&env.db).await?;
    let locked = async {
        meta::ensure(&db.client, &env.schema).await?;
        if !db::lock_table(&db.client, &env.schema, table).await? {
            return Err(TableError::Busy(table.into()));
        }
        Ok(())
    }
    .await;
    match locked {
        Ok(()) => Ok(db),
        Err(e) => {
            db.close().await;
            Err(e)
        }
    }
}

fn logged<T: std::fmt::Debug>(table: &str, result: Result<T, TableError>) -> Result<T, TableError> {
    match &result {
        Ok(r) => tracing::info!(table, result = ?r, "done"),
        Err(e) => tracing::error!(table, error = %e, "failed"),
    }
    result
}

/// Connectivity: the database answers and DAP accepts the credentials.
async fn check(env: &Env) -> Result<Value, HandlerError> {
    let db = db::connect(&env.db).await.map_err(TableError::from)?;
    let meta = meta::ensure(&db.client, &env.schema).await;
    db.close().await;
    meta.map_err(TableError::from)?;
    let tables = env.dap.tables().await.map_err(TableError::from)?;
    Ok(json!({ "state": "ok", "database": "reachable", "dap_tables": tables.len() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_without_a_table_is_a_bad_event_by_kind_and_message() {
        let e = Request::parse(&json!({"table": "accounts"})).unwrap_err();
        let d = lambda_runtime::Diagnostic::from(e);
        assert_eq!(d.error_type, "BadEvent");
        assert!(
            d.error_message.contains("table_name"),
            "{}",
            d.error_message
        );
        assert!(Request::parse(&json!({"check": true})).is_ok());
    }
}
