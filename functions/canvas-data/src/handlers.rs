//! What the three functions run: configuration from the environment (credentials from SSM and
//! Secrets Manager, read once per sandbox), one database session per invocation.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::dap::{Credentials, DapClient, Timing};
use crate::db::{self, meta, Db, DbConfig, DbError};
use crate::init::{init_table, Budget};
use crate::sync::sync_table;
use crate::{check_table_name, TableError};

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
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
        })
    }
}

/// `{"table_name": "..."}` from the state machine, or `{"check": true}` (smoke tests).
#[derive(Debug, Default, Deserialize)]
pub struct Request {
    pub table_name: Option<String>,
    #[serde(default)]
    pub check: bool,
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
        if request.table_name.is_none() && !request.check {
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

/// `canvas-data-sync-table`.
pub async fn sync(env: &Env, event: &Value) -> Result<Value, HandlerError> {
    let request = Request::parse(event)?;
    let Some(table) = request.table_name else {
        return check(env).await;
    };
    let mut db = open(env, &table).await?;
    let result = sync_table(&env.dap, &mut db.client, &env.schema, &table).await;
    db.close().await;
    let r = logged(&table, result)?;
    Ok(json!({
        "table_name": table, "state": r.state, "upserts": r.upserts,
        "deletes": r.deletes, "added_columns": r.added_columns, "reason": r.reason
    }))
}

/// `canvas-data-init-table`; `deadline` is the invocation's.
pub async fn init(env: &Env, event: &Value, deadline: Instant) -> Result<Value, HandlerError> {
    let request = Request::parse(event)?;
    let Some(table) = request.table_name else {
        return check(env).await;
    };
    // a rollback and the answer fit easily in this; the rest of the run is for loading
    let budget = Budget {
        deadline,
        reserve: Duration::from_secs(20),
    };
    let mut db = open(env, &table).await?;
    let result = init_table(&env.dap, &mut db.client, &env.schema, &table, budget).await;
    db.close().await;
    let r = logged(&table, result)?;
    Ok(json!({
        "table_name": table, "state": r.state, "rows": r.rows,
        "objects_done": r.objects_done, "objects_total": r.objects_total
    }))
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
