//! PostgreSQL: connection settings from the database secret, TLS for anything not on this
//! host, identifier quoting, the per-table meta rows and advisory locks.

pub mod deps;
pub mod meta;
mod tls;

use serde::Deserialize;
use support::Secret;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database secret: {0}")]
    Secret(String),
    #[error("connecting to {host}:{port}/{dbname} as {user}: {message}")]
    Connect {
        host: String,
        port: u16,
        dbname: String,
        user: String,
        message: String,
    },
    #[error("{context}: {message}")]
    Query { context: String, message: String },
}

/// Adds what was being done to a PostgreSQL error, with the server's detail when it has one.
pub fn query_error(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> DbError {
    move |e| DbError::Query {
        context: context.into(),
        message: describe(&e),
    }
}

pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; {d}"));
            }
            if let Some(w) = db.where_() {
                s.push_str(&format!("; {w}"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// How the connection is encrypted: `disable` (only sensible on this host), `require`
/// (encrypted, server certificate not verified: libpq's meaning) or `verify-full` (verified
/// against the system's roots plus the PEM bundle in `DATABASE_CA_BUNDLE`, e.g. the RDS one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    Disable,
    Require,
    VerifyFull,
}

/// The JSON of the database secret: `username`, `password`, `host`, `port`, `dbname`, and an
/// optional `sslmode`.
#[derive(Clone, Deserialize)]
pub struct DbConfig {
    #[serde(rename = "username")]
    pub user: String,
    pub password: Secret,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub dbname: String,
    #[serde(default, rename = "sslmode")]
    pub tls: Option<Tls>,
}

fn default_port() -> u16 {
    5432
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

impl DbConfig {
    pub fn from_secret_json(json: &str) -> Result<DbConfig, DbError> {
        // serde's message names the field, never the value
        serde_json::from_str(json).map_err(|e| {
            DbError::Secret(format!(
                "expected JSON with username, password, host, port, dbname: {}",
                e.to_string().split(" at line").next().unwrap_or_default()
            ))
        })
    }

    fn local(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "localhost" | "::1")
    }

    /// TLS unless said otherwise, except on this host, where there is nothing to protect.
    pub fn tls(&self) -> Tls {
        self.tls.unwrap_or(if self.local() {
            Tls::Disable
        } else {
            Tls::Require
        })
    }

    pub fn with_dbname(&self, dbname: &str) -> DbConfig {
        DbConfig {
            dbname: dbname.into(),
            ..self.clone()
        }
    }
}

/// A connection that [`Db::close`] ends deterministically: a Lambda run returns only after its
/// session (and the advisory locks it holds) is gone, never leaving it to a frozen sandbox.
pub struct Db {
    pub client: Client,
    conn: tokio::task::JoinHandle<()>,
}

impl Db {
    pub async fn close(self) {
        drop(self.client);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.conn).await;
    }
}

pub async fn connect(c: &DbConfig) -> Result<Db, DbError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&c.host)
        .port(c.port)
        .user(&c.user)
        .dbname(&c.dbname)
        .application_name("canvas-data")
        .connect_timeout(std::time::Duration::from_secs(15));
    if !c.password.expose().is_empty() {
        config.password(c.password.expose());
    }
    let failed = |message: String| DbError::Connect {
        host: c.host.clone(),
        port: c.port,
        dbname: c.dbname.clone(),
        user: c.user.clone(),
        message,
    };
    let spawn = |conn: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send>,
    >| {
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %describe(&e), "database connection ended");
            }
        })
    };
    let db = match c.tls() {
        Tls::Disable => {
            let (client, conn) = config
                .connect(NoTls)
                .await
                .map_err(|e| failed(describe(&e)))?;
            Db {
                client,
                conn: spawn(Box::pin(conn)),
            }
        }
        mode => {
            config.ssl_mode(SslMode::Require);
            let tls = tls::Connector::new(mode == Tls::VerifyFull).map_err(failed)?;
            let (client, conn) = config
                .connect(tls)
                .await
                .map_err(|e| failed(describe(&e)))?;
            Db {
                client,
                conn: spawn(Box::pin(conn)),
            }
        }
    };
    Ok(db)
}

/// `"name"` with embedded quotes doubled: safe for any identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// A SQL string literal (for statements that take no parameters, like `CREATE ROLE`).
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn lock_key(schema: &str, table: &str) -> String {
    format!("canvas-data:{schema}.{table}")
}

/// Releases [`lock_table`]'s lock before the session ends.
pub async fn unlock_table(client: &Client, schema: &str, table: &str) -> Result<(), DbError> {
    client
        .query_one(
            "SELECT pg_advisory_unlock(hashtext($1))",
            &[&lock_key(schema, table)],
        )
        .await
        .map_err(query_error(format!("unlocking {table}")))?;
    Ok(())
}

/// Holds a session-level advisory lock on the table for as long as the connection lives, so
/// two overlapping refreshes never load the same table at once.
pub async fn lock_table(client: &Client, schema: &str, table: &str) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext($1))",
            &[&lock_key(schema, table)],
        )
        .await
        .map_err(query_error(format!("locking {table}")))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_json_parses_and_never_prints_the_password() {
        let c = DbConfig::from_secret_json(
            r#"{"username":"app","password":"hunter2","host":"db.example","port":5433,"dbname":"canvas"}"#,
        )
        .unwrap();
        assert_eq!(format!("{c:?}"), "app@db.example:5433/canvas");
        assert_eq!(c.tls(), Tls::Require);
        let local = DbConfig::from_secret_json(
            r#"{"username":"app","password":"x","host":"127.0.0.1","dbname":"canvas","sslmode":"verify-full"}"#,
        )
        .unwrap();
        assert_eq!((local.port, local.tls()), (5432, Tls::VerifyFull));
        let err = DbConfig::from_secret_json(r#"{"username":"app","password":"hunter2"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `host`"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(qualified("canvas", "a\"b"), "\"canvas\".\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
