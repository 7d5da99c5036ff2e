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
    /// Encrypted, but the certificate is not checked: it keeps passive eavesdroppers out, not an
    /// active man in the middle (RDS's chain needs the RDS CA bundle, see [`CA_BUNDLE_VAR`]).
    Require,
    /// Encrypted and verified against the system roots and `DATABASE_CA_BUNDLE`.
    VerifyFull,
}

/// PEM file with extra roots for [`Tls::VerifyFull`] (the RDS CA bundle).
pub const CA_BUNDLE_VAR: &str = "DATABASE_CA_BUNDLE";

/// MySQL 8's default `sql_mode`: what the app's RDS database most likely runs with, and what the
/// local MariaDB is started with, so local runs are as strict as production.
pub const MYSQL8_DEFAULT_SQL_MODE: &str = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

#[derive(Debug, Clone)]
pub struct DbConfig {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Secret,
    pub tls: Tls,
    /// `tls` was set by the secret's `sslmode` (a CA bundle does not change it then).
    pub tls_from_secret: bool,
    /// PEM roots for [`Tls::VerifyFull`] besides the system's (the RDS CA bundle): a file or
    /// the PEM text itself.
    pub ca_bundle: Option<CaBundle>,
    /// A session `sql_mode` to set on connect; `None` keeps the server's.
    pub sql_mode: Option<String>,
}

#[derive(Clone)]
pub enum CaBundle {
    Path(std::path::PathBuf),
    Pem(Vec<u8>),
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaBundle::Path(p) => write!(f, "{}", p.display()),
            CaBundle::Pem(b) => write!(f, "PEM ({} bytes)", b.len()),
        }
    }
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
    /// Without `sslmode`: plain TCP to 127.0.0.1, `verify-full` when a CA bundle is given
    /// ([`DbConfig::with_ca_bundle`]), `require` otherwise.
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
            tls_from_secret: login.sslmode.is_some(),
            ca_bundle: None,
            sql_mode: None,
        })
    }

    /// Extra roots for `verify-full`; when the secret names no `sslmode`, a bundle makes
    /// `verify-full` the mode (off 127.0.0.1).
    pub fn with_ca_bundle(mut self, bundle: Option<CaBundle>) -> DbConfig {
        if bundle.is_some() && !self.tls_from_secret && self.tls == Tls::Require {
            self.tls = Tls::VerifyFull;
        }
        self.ca_bundle = bundle;
        self
    }

    /// One line for the log: where, as whom, and how the connection is encrypted (never the
    /// password).
    pub fn describe(&self) -> String {
        let tls = match (self.tls, &self.ca_bundle) {
            (Tls::Disable, _) => "disable (plain TCP)".to_string(),
            (Tls::Require, _) => {
                "require (encrypted, certificate NOT verified; set a CA bundle for verify-full)"
                    .to_string()
            }
            (Tls::VerifyFull, None) => "verify-full against the system roots".to_string(),
            (Tls::VerifyFull, Some(b)) => format!("verify-full against the system roots and {b:?}"),
        };
        format!(
            "mysql {}:{}/{} as {}, tls {tls}",
            self.host, self.port, self.dbname, self.user
        )
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
            let roots = match &c.ca_bundle {
                Some(CaBundle::Path(p)) => vec![p.clone().into()],
                Some(CaBundle::Pem(pem)) => vec![pem.clone().into()],
                None => Vec::new(),
            };
            Some(SslOpts::default().with_root_certs(roots))
        }
    };
    let mut init = vec!["SET NAMES utf8mb4".to_string()];
    if let Some(mode) = &c.sql_mode {
        if !mode
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b',')
        {
            return Err(Error::Schema(format!("`{mode}` is not an sql_mode")));
        }
        init.push(format!("SET SESSION sql_mode = '{mode}'"));
    }
    let opts = OptsBuilder::default()
        .ip_or_hostname(c.host.clone())
        .tcp_port(c.port)
        .user(Some(c.user.clone()))
        .pass(Some(c.password.expose().to_string()))
        .db_name(Some(c.dbname.clone()))
        // mysql_async would switch a 127.0.0.1 connection to the server's Unix socket
        .prefer_socket(false)
        .ssl_opts(ssl)
        .init(init);
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
    /// Other UNIQUE columns. Rows are written with a plain `INSERT` (new key) or
    /// `UPDATE … WHERE key = ?` (changed row), never an upsert, so a value that clashes with
    /// another row's under the column's collation (case, accents, trailing spaces) can only make
    /// the server refuse the row (a duplicate-key error, the row skipped), never overwrite that
    /// other row. Named here for the notes.
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

/// MySQL's and MariaDB's "Duplicate entry … for key …".
const ER_DUP_ENTRY: u16 = 1062;

/// A write waiting for its turn: new rows are inserted, changed rows updated by key.
struct Write {
    label: String,
    values: Values,
    insert: bool,
    /// The server's last refusal (a duplicate key), for the note when the row is given up.
    refused: Option<String>,
}

/// Write `incoming` into `table` in one transaction: new keys inserted (`INSERT`), changed rows
/// updated by their stored key (`UPDATE … WHERE key = ?`), equal rows left alone (a second run
/// with the same sources writes nothing). Columns in `leave_alone` are neither compared nor
/// written. Rows that cannot be stored are skipped and noted, the rest commits: among them a
/// row whose unique value (or key) the server's collation finds equal to another row's — it is
/// refused by the server and can never overwrite that other row. Any other database error, or a
/// write that did not touch exactly one row, rolls the whole table back.
pub async fn apply(
    conn: &mut Conn,
    table: &Table,
    incoming: Vec<Incoming>,
    report: &mut StepReport,
) -> Result<(), Error> {
    apply_except(conn, table, &[], incoming, report).await
}

/// [`apply`], leaving the columns `leave_alone` as they are.
pub async fn apply_except(
    conn: &mut Conn,
    table: &Table,
    leave_alone: &[&str],
    incoming: Vec<Incoming>,
    report: &mut StepReport,
) -> Result<(), Error> {
    let cols = columns(conn, table).await?;
    let key = table.columns[0];
    // the columns compared and written: the key, then every other one not left alone
    let written: Vec<usize> = (0..table.columns.len())
        .filter(|&i| i == 0 || !leave_alone.contains(&table.columns[i]))
        .collect();
    let q = |i: &usize| format!("`{}`", table.columns[*i]);
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let select = format!(
        "SELECT {} FROM `{}` FOR UPDATE",
        written.iter().map(q).collect::<Vec<_>>().join(", "),
        table.name
    );
    // the text protocol: every value as MySQL prints it, which is how incoming rows are built
    let stored: Vec<Values> = tx
        .query_map(select, |row: mysql_async::Row| {
            row.unwrap().into_iter().map(text).collect::<Values>()
        })
        .await?;
    // keys as the app's `_ci` collations compare them, as far as case goes; keys equal only
    // under accents or trailing spaces are not found here, and the server refuses their INSERT
    let by_key: HashMap<String, &Values> = stored
        .iter()
        .filter_map(|r| Some((r[0].clone()?.to_lowercase(), r)))
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut unchanged = 0;
    let mut pending: Vec<Write> = Vec::new();
    for mut row in incoming {
        let Some(k) = row.values[0].clone() else {
            report.skip(format!("{} {}: no {key}", table.name, row.label));
            continue;
        };
        if !seen.insert(k.to_lowercase()) {
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
        let mut values: Values = written.iter().map(|&i| row.values[i].take()).collect();
        match by_key.get(&k.to_lowercase()) {
            Some(old) => {
                // the key as stored: the row is found by it, and it is never rewritten, so a
                // source that spells it in another case is not a change
                values[0] = old[0].clone();
                if **old == values {
                    unchanged += 1;
                } else {
                    pending.push(Write {
                        label: row.label,
                        values,
                        insert: false,
                        refused: None,
                    });
                }
            }
            None => pending.push(Write {
                label: row.label,
                values,
                insert: true,
                refused: None,
            }),
        }
    }
    let names: Vec<String> = written.iter().map(q).collect();
    let insert = format!(
        "INSERT INTO `{}` ({}) VALUES ({})",
        table.name,
        names.join(", "),
        vec!["?"; names.len()].join(", ")
    );
    let update = format!(
        "UPDATE `{}` SET {} WHERE {} = ?",
        table.name,
        names[1..]
            .iter()
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(", "),
        names[0]
    );
    let (mut inserts, mut updates) = (0, 0);
    // rounds: a row refused for a unique value another row of this run gives up (a renamed
    // assessment's old name taken by another) is written once that other row is; a round that
    // writes nothing ends it, and the rows still refused are skipped
    loop {
        let mut progress = false;
        let mut again = Vec::new();
        for mut w in pending {
            let (sql, params): (&str, Vec<Value>) = if w.insert {
                (&insert, w.values.iter().cloned().map(Value::from).collect())
            } else {
                let mut p: Vec<Value> = w.values[1..].iter().cloned().map(Value::from).collect();
                p.push(Value::from(w.values[0].clone()));
                (&update, p)
            };
            let result = tx.exec_drop(sql, params).await;
            match result {
                Ok(()) => {
                    let n = tx.affected_rows();
                    match (w.insert, n) {
                        (true, 1) => inserts += 1,
                        (false, 1) => updates += 1,
                        // the server found nothing to change after all (a value equal to the
                        // stored one under its type, e.g. a DATETIME): nothing was written
                        (false, 0) => unchanged += 1,
                        _ => {
                            tx.rollback().await?;
                            return Err(Error::Schema(format!(
                                "{} {}: the {} touched {n} rows, not 1; nothing written",
                                table.name,
                                w.label,
                                if w.insert { "INSERT" } else { "UPDATE" }
                            )));
                        }
                    }
                    progress = true;
                }
                Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_ENTRY => {
                    // only this statement is undone; the transaction goes on
                    w.refused = Some(e.message);
                    again.push(w);
                }
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e.into());
                }
            }
        }
        pending = again;
        if pending.is_empty() || !progress {
            break;
        }
    }
    for w in pending {
        let note = clash(&mut tx, table, &written, &w).await?;
        report.skip(format!("{} {}: {note}", table.name, w.label));
    }
    tx.commit().await?;
    report.inserted += inserts;
    report.updated += updates;
    report.unchanged += unchanged;
    Ok(())
}

/// Why the server refused a row: which other row holds its unique value (found with the
/// column's own collation) or its key.
async fn clash(
    tx: &mut mysql_async::Transaction<'_>,
    table: &Table,
    written: &[usize],
    w: &Write,
) -> Result<String, Error> {
    let key = table.columns[0];
    for (pos, &i) in written.iter().enumerate() {
        let column = table.columns[i];
        if !table.unique.contains(&column) {
            continue;
        }
        let Some(v) = &w.values[pos] else { continue };
        let owners: Vec<Option<String>> = tx
            .exec_map(
                format!(
                    "SELECT `{key}` FROM `{}` WHERE `{column}` = ? AND NOT (`{key}` <=> ?)",
                    table.name
                ),
                (v, &w.values[0]),
                |(k,): (Value,)| text(k),
            )
            .await?;
        if let Some(owner) = owners.into_iter().flatten().next() {
            return Ok(format!(
                "{column} `{v}` already belongs to {key} {owner} (the column's collation finds them equal)"
            ));
        }
    }
    Ok(format!(
        "refused by the database: {}",
        w.refused.as_deref().unwrap_or("duplicate key")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_makes_verify_full_the_default_and_the_log_line_has_no_password() {
        let login = r#"{"username":"app","password":"hunter2-secret"}"#;
        let plain = DbConfig::new("db.example", 3306, "skillapp", login).unwrap();
        assert_eq!(plain.tls, Tls::Require);
        assert!(plain.describe().contains("NOT verified"));
        let bundle = Some(CaBundle::Path("/var/task/rds-ca.pem".into()));
        let verified = plain.clone().with_ca_bundle(bundle.clone());
        assert_eq!(verified.tls, Tls::VerifyFull);
        assert!(verified.describe().contains("verify-full"));
        assert!(verified.describe().contains("/var/task/rds-ca.pem"));
        // the secret's explicit sslmode wins; 127.0.0.1 stays plain
        let explicit = r#"{"username":"app","password":"p","sslmode":"require"}"#;
        let kept = DbConfig::new("db.example", 3306, "skillapp", explicit)
            .unwrap()
            .with_ca_bundle(bundle.clone());
        assert_eq!(kept.tls, Tls::Require);
        let local = DbConfig::new("127.0.0.1", 3307, "x", login)
            .unwrap()
            .with_ca_bundle(bundle);
        assert_eq!(local.tls, Tls::Disable);
        for c in [&plain, &verified, &kept, &local] {
            assert!(!c.describe().contains("hunter2"));
        }
    }
}
