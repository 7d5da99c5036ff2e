//! The app's MySQL database (MariaDB locally): connecting, the run lock, and writing one table's
//! changes in one transaction.

use std::collections::{HashMap, HashSet};

use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, SslOpts, TxOpts, Value};
use serde::Deserialize;
use support::Secret;

use crate::report::StepReport;
use crate::text::entities_for_4_byte;
use crate::Error;

/// How the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    /// Plain TCP: the local stage's MariaDB only.
    Disable,
    /// Encrypted; the certificate is not checked (RDS's chain needs the RDS CA bundle).
    Require,
    /// Encrypted and verified against the system roots and `DATABASE_CA_BUNDLE`.
    VerifyFull,
}

/// PEM file with extra roots for [`Tls::VerifyFull`] (the RDS CA bundle).
pub const CA_BUNDLE_VAR: &str = "DATABASE_CA_BUNDLE";

#[derive(Debug, Clone)]
pub struct DbConfig {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Secret,
    pub tls: Tls,
}

/// The credentials secret: RDS's `{"username","password"}`, optionally `sslmode`.
#[derive(Deserialize)]
struct Login {
    username: String,
    password: Secret,
    #[serde(default)]
    sslmode: Option<Tls>,
}

impl DbConfig {
    /// Host, port and database from the stage; user, password (and `sslmode`) from the secret.
    pub fn new(host: &str, port: u16, dbname: &str, secret_json: &str) -> Result<DbConfig, Error> {
        let login: Login = serde_json::from_str(secret_json).map_err(|e| {
            Error::Schema(format!(
                "the credentials secret must be JSON with username and password ({e})"
            ))
        })?;
        let local = matches!(host, "127.0.0.1" | "localhost" | "::1");
        Ok(DbConfig {
            host: host.into(),
            port,
            dbname: dbname.into(),
            user: login.username,
            password: login.password,
            tls: login
                .sslmode
                .unwrap_or(if local { Tls::Disable } else { Tls::Require }),
        })
    }
}

/// One session; `utf8mb4` on the wire so 4-byte characters arrive intact and are handled by
/// [`apply`], not mangled by the connection.
pub async fn connect(c: &DbConfig) -> Result<Conn, Error> {
    let ssl = match c.tls {
        Tls::Disable => None,
        Tls::Require => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Tls::VerifyFull => {
            let roots = std::env::var_os(CA_BUNDLE_VAR)
                .map(|p| vec![std::path::PathBuf::from(p).into()])
                .unwrap_or_default();
            Some(SslOpts::default().with_root_certs(roots))
        }
    };
    let opts = OptsBuilder::default()
        .ip_or_hostname(c.host.clone())
        .tcp_port(c.port)
        .user(Some(c.user.clone()))
        .pass(Some(c.password.expose().to_string()))
        .db_name(Some(c.dbname.clone()))
        // mysql_async would switch a 127.0.0.1 connection to the server's Unix socket
        .prefer_socket(false)
        .ssl_opts(ssl)
        .init(vec!["SET NAMES utf8mb4"]);
    Ok(Conn::new(opts).await?)
}

/// `GET_LOCK` with no wait: `true` when this session now holds the run's lock. The lock is the
/// session's: it goes when the connection closes, even if the function dies.
pub async fn try_lock(conn: &mut Conn, name: &str) -> Result<bool, Error> {
    let got: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, 0)", (name,)).await?;
    Ok(got.flatten() == Some(1))
}

pub async fn unlock(conn: &mut Conn, name: &str) -> Result<(), Error> {
    let _: Option<Option<i64>> = conn.exec_first("SELECT RELEASE_LOCK(?)", (name,)).await?;
    Ok(())
}

/// The columns a step writes, key first; columns not named (the app's own, such as
/// `assertions.assessment_tracker_id`) are never written.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    /// Other UNIQUE columns: a row that would collide on one is skipped, so the upsert's
    /// `ON DUPLICATE KEY` can only ever match the primary key.
    pub unique: &'static [&'static str],
}

/// A row as text, aligned with [`Table::columns`]; `None` is NULL. Text is what MySQL's text
/// protocol returns, so stored and incoming rows compare directly: DATETIME as
/// `YYYY-MM-DD HH:MM:SS`, booleans as `1`/`0`.
pub type Values = Vec<Option<String>>;

#[derive(Debug)]
/// An incoming row and how to name it in notes (`id 4 "R Programming II"`).
pub struct Incoming {
    pub label: String,
    pub values: Values,
}

struct Column {
    mb3: bool,
    /// Characters for VARCHAR, bytes for TEXT.
    max: Option<u64>,
    text: bool,
}

async fn columns(conn: &mut Conn, table: &Table) -> Result<Vec<Column>, Error> {
    let rows: Vec<(String, Option<String>, Option<u64>, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME, CHARACTER_MAXIMUM_LENGTH, DATA_TYPE \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (table.name,),
        )
        .await?;
    let by_name: HashMap<String, (Option<String>, Option<u64>, String)> = rows
        .into_iter()
        .map(|(n, cs, max, ty)| (n.to_ascii_lowercase(), (cs, max, ty)))
        .collect();
    let missing: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| !by_name.contains_key(&c.to_ascii_lowercase()))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(Error::Schema(format!(
            "table {} lacks columns {} (cargo xtask db-prepare --service skill-sync creates the schema)",
            table.name,
            missing.join(", ")
        )));
    }
    Ok(table
        .columns
        .iter()
        .map(|c| {
            let (cs, max, ty) = &by_name[&c.to_ascii_lowercase()];
            let text = ty.ends_with("text");
            Column {
                mb3: matches!(cs.as_deref(), Some("utf8" | "utf8mb3")),
                max: if text { Some(65_535) } else { *max },
                text,
            }
        })
        .collect())
}

/// Text that fits its column: 4-byte characters as entities in `utf8mb3` columns (noted), too
/// long → `Err(reason)`.
fn fit(
    values: &mut Values,
    table: &Table,
    cols: &[Column],
    label: &str,
    report: &mut StepReport,
) -> Result<(), String> {
    for ((value, col), name) in values.iter_mut().zip(cols).zip(table.columns) {
        let Some(v) = value else { continue };
        if col.mb3 {
            if let Some(encoded) = entities_for_4_byte(v) {
                report.note(format!(
                    "{} {label}: 4-byte characters in {name} stored as HTML entities (the column is utf8mb3)",
                    table.name
                ));
                *v = encoded;
            }
        }
        let len = if col.text { v.len() } else { v.chars().count() } as u64;
        if col.max.is_some_and(|max| len > max) {
            return Err(format!(
                "{name} is {len} {} long, the column holds {}",
                if col.text { "bytes" } else { "characters" },
                col.max.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Write `incoming` into `table` in one transaction: new keys inserted, changed rows updated,
/// equal rows left alone (a second run with the same sources writes nothing). Rows that cannot be
/// stored are skipped and noted; any database error rolls the whole table back.
pub async fn apply(
    conn: &mut Conn,
    table: &Table,
    incoming: Vec<Incoming>,
    report: &mut StepReport,
) -> Result<(), Error> {
    let cols = columns(conn, table).await?;
    let key = table.columns[0];
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let select = format!(
        "SELECT {} FROM `{}` FOR UPDATE",
        table
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
        table.name
    );
    // the text protocol: every value as MySQL prints it, which is how incoming rows are built
    let stored: Vec<Values> = tx
        .query_map(select, |row: mysql_async::Row| {
            row.unwrap().into_iter().map(text).collect::<Values>()
        })
        .await?;
    let by_key: HashMap<String, &Values> = stored
        .iter()
        .filter_map(|r| Some((r[0].clone()?.to_lowercase(), r)))
        .collect();
    // unique values held by other keys, and by rows already accepted in this run
    let unique_at: Vec<usize> = table
        .unique
        .iter()
        .filter_map(|u| table.columns.iter().position(|c| c == u))
        .collect();
    let mut taken: HashMap<(usize, String), String> = HashMap::new();
    for r in &stored {
        for &i in &unique_at {
            if let (Some(v), Some(k)) = (&r[i], &r[0]) {
                taken.insert((i, v.to_lowercase()), k.to_lowercase());
            }
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    let (mut inserts, mut updates, mut unchanged) = (0, 0, 0);
    let mut writes: Vec<Values> = Vec::new();
    'rows: for mut row in incoming {
        let Some(k) = row.values[0].clone() else {
            report.skip(format!("{} {}: no {key}", table.name, row.label));
            continue;
        };
        // MySQL compares keys case-insensitively (the app's collations are _ci)
        let k = k.to_lowercase();
        if !seen.insert(k.clone()) {
            report.skip(format!(
                "{} {}: {key} appears twice in the source; the first is kept",
                table.name, row.label
            ));
            continue;
        }
        if let Err(reason) = fit(&mut row.values, table, &cols, &row.label, report) {
            report.skip(format!("{} {}: {reason}", table.name, row.label));
            continue;
        }
        for &i in &unique_at {
            let Some(v) = &row.values[i] else { continue };
            match taken.get(&(i, v.to_lowercase())) {
                Some(owner) if *owner != k => {
                    report.skip(format!(
                        "{} {}: {} `{v}` already belongs to {key} {owner}",
                        table.name, row.label, table.columns[i]
                    ));
                    continue 'rows;
                }
                _ => {}
            }
        }
        for &i in &unique_at {
            if let Some(v) = &row.values[i] {
                taken.insert((i, v.to_lowercase()), k.clone());
            }
        }
        match by_key.get(&k) {
            Some(old) if **old == row.values => unchanged += 1,
            Some(_) => {
                updates += 1;
                writes.push(row.values);
            }
            None => {
                inserts += 1;
                writes.push(row.values);
            }
        }
    }
    if !writes.is_empty() {
        let names = table
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>();
        // VALUES(col) rather than MySQL 8.0.19's row alias: MariaDB has no alias syntax, and
        // MySQL 8 still accepts VALUES() (with a deprecation note)
        let sql = format!(
            "INSERT INTO `{}` ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}",
            table.name,
            names.join(", "),
            vec!["?"; names.len()].join(", "),
            names[1..]
                .iter()
                .map(|c| format!("{c} = VALUES({c})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let params = writes.into_iter().map(|values| {
            mysql_async::Params::Positional(values.into_iter().map(Value::from).collect())
        });
        if let Err(e) = tx.exec_batch(sql, params).await {
            tx.rollback().await?;
            return Err(e.into());
        }
    }
    tx.commit().await?;
    report.inserted += inserts;
    report.updated += updates;
    report.unchanged += unchanged;
    Ok(())
}
