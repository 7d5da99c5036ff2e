//! What `skill-sync-sync` runs: configuration from the environment (credentials from Secrets
//! Manager, read once per sandbox), then per invocation the four steps, each on its own: one
//! failing source does not stop the others, and the invocation fails after all of them ran when
//! any failed, so the schedule's retries and DLQ see it.

use std::collections::{BTreeSet, HashMap};

use mysql_async::prelude::*;
use mysql_async::Conn;
use serde::Deserialize;
use serde_json::{json, Value};
use support::Secret;

use crate::airtable::Airtable;
use crate::badgr::{Badgr, BadgrSettings};
use crate::db::{self, DbConfig};
use crate::github::GitHub;
use crate::report::{StepReport, Summary};
use crate::templates::{self, Marker, Store};
use crate::{rows, Error};

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is `{value}`: {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("reading secret {name}: {message}")]
    Secret { name: String, message: String },
    #[error(transparent)]
    Config(#[from] Error),
}

/// Everything the function is told by its environment; secrets by name only.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db_host: String,
    pub db_port: u16,
    pub db_name: String,
    /// `{"username","password"}` (RDS's shape), optionally `sslmode`.
    pub database_secret: String,
    pub airtable_api_url: String,
    pub airtable_base_id: String,
    /// The personal access token, as the secret's whole string.
    pub airtable_token_secret: String,
    pub badgr_api_url: String,
    pub badgr_issuer_id: String,
    pub badgr_scope: String,
    pub badgr_grant_type: String,
    pub badgr_client_id: String,
    /// `{"username","password"}` of the Badgr account.
    pub badgr_credentials_secret: String,
    pub github_api_url: String,
    pub github_org: String,
    /// A token as the secret's whole string; a secret that does not exist, or holds only
    /// whitespace, means anonymous requests.
    pub github_token_secret: Option<String>,
    /// A PEM file with the database's CA (the RDS bundle) for `verify-full`.
    pub database_ca_bundle: Option<String>,
    /// A secret whose string is that PEM text (for a bundle that is not in the package).
    pub database_ca_bundle_secret: Option<String>,
    pub templates_bucket: String,
    /// A zipball, and what it unpacks to, may be at most this large.
    pub max_zip_bytes: u64,
}

/// Names a secret holding the database's CA bundle as PEM text.
pub const CA_BUNDLE_SECRET_VAR: &str = "DATABASE_CA_BUNDLE_SECRET";

impl Settings {
    /// From variables as the stack sets them (`get` is `std::env::var` in the function).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Settings, EnvError> {
        let var = |k: &'static str| get(k).filter(|v| !v.is_empty()).ok_or(EnvError::Missing(k));
        let or = |k: &str, default: &str| get(k).unwrap_or_else(|| default.into());
        let db_port = var("DB_PORT")?;
        let max_zip = or("MAX_ZIP_MB", "200");
        Ok(Settings {
            db_host: var("DB_HOST")?,
            db_port: db_port.parse().map_err(|_| EnvError::Invalid {
                name: "DB_PORT",
                value: db_port.clone(),
                expected: "a port number",
            })?,
            db_name: var("DB_NAME")?,
            database_secret: var("DATABASE_SECRET")?,
            airtable_api_url: or("AIRTABLE_API_URL", "https://api.airtable.com"),
            airtable_base_id: var("AIRTABLE_BASE_ID")?,
            airtable_token_secret: var("AIRTABLE_TOKEN_SECRET")?,
            badgr_api_url: or("BADGR_API_URL", "https://api.badgr.io"),
            badgr_issuer_id: var("BADGR_ISSUER_ID")?,
            badgr_scope: or("BADGR_SCOPE", "rw:issuer rw:backpack"),
            badgr_grant_type: or("BADGR_GRANT_TYPE", "password"),
            badgr_client_id: or("BADGR_CLIENT_ID", "public"),
            badgr_credentials_secret: var("BADGR_CREDENTIALS_SECRET")?,
            github_api_url: or("GITHUB_API_URL", "https://api.github.com"),
            github_org: or("GITHUB_ORG", "Bioinformatics-Research-Network"),
            github_token_secret: get("GITHUB_TOKEN_SECRET").filter(|v| !v.is_empty()),
            database_ca_bundle: get(db::CA_BUNDLE_VAR).filter(|v| !v.is_empty()),
            database_ca_bundle_secret: get(CA_BUNDLE_SECRET_VAR).filter(|v| !v.is_empty()),
            templates_bucket: var("TEMPLATES_BUCKET")?,
            max_zip_bytes: max_zip.parse::<u64>().map_err(|_| EnvError::Invalid {
                name: "MAX_ZIP_MB",
                value: max_zip.clone(),
                expected: "a whole number of megabytes",
            })? * 1024
                * 1024,
        })
    }
}

pub struct Env {
    pub settings: Settings,
    pub db: DbConfig,
    pub airtable: Airtable,
    pub badgr: Badgr,
    pub github: GitHub,
    pub store: Store,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: Secret,
}

impl Env {
    pub async fn from_environment() -> Result<Env, EnvError> {
        let settings = Settings::from_vars(|k| std::env::var(k).ok())?;
        Env::load(settings, &support::aws_config().await).await
    }

    /// The clients the function uses, with the secrets `settings` names read from Secrets
    /// Manager through `aws`.
    pub async fn load(settings: Settings, aws: &support::SdkConfig) -> Result<Env, EnvError> {
        let secret = |name: String| async move {
            support::secret_string(aws, &name)
                .await
                .map_err(|message| EnvError::Secret { name, message })
        };
        let db_login = secret(settings.database_secret.clone()).await?;
        let ca_bundle = match (
            &settings.database_ca_bundle_secret,
            &settings.database_ca_bundle,
        ) {
            (Some(name), _) => {
                let pem = secret(name.clone()).await?;
                Some(db::CaBundle::Pem(pem.expose().as_bytes().to_vec()))
            }
            (None, Some(path)) => {
                if !std::path::Path::new(path).is_file() {
                    return Err(EnvError::Invalid {
                        name: db::CA_BUNDLE_VAR,
                        value: path.clone(),
                        expected: "a PEM file in the function's package",
                    });
                }
                Some(db::CaBundle::Path(path.into()))
            }
            (None, None) => None,
        };
        let db = DbConfig::new(
            &settings.db_host,
            settings.db_port,
            &settings.db_name,
            db_login.expose(),
        )?
        .with_ca_bundle(ca_bundle);
        tracing::info!("database: {}", db.describe());
        let airtable_token = secret(settings.airtable_token_secret.clone()).await?;
        let badgr_login = secret(settings.badgr_credentials_secret.clone()).await?;
        let badgr_login: Login =
            serde_json::from_str(badgr_login.expose()).map_err(|e| EnvError::Secret {
                name: settings.badgr_credentials_secret.clone(),
                message: format!("must be JSON with username and password ({e})"),
            })?;
        let github_token =
            match &settings.github_token_secret {
                Some(name) => github_token(support::secret_string(aws, name).await, name).map_err(
                    |message| EnvError::Secret {
                        name: name.clone(),
                        message,
                    },
                )?,
                None => {
                    tracing::info!("GitHub: no token secret configured; anonymous requests");
                    None
                }
            };
        let http = crate::http::client();
        Ok(Env {
            db,
            airtable: Airtable::new(
                http.clone(),
                &settings.airtable_api_url,
                &settings.airtable_base_id,
                airtable_token,
            ),
            badgr: Badgr::new(
                http.clone(),
                BadgrSettings {
                    api_url: settings.badgr_api_url.clone(),
                    issuer_id: settings.badgr_issuer_id.clone(),
                    username: badgr_login.username,
                    password: badgr_login.password,
                    scope: settings.badgr_scope.clone(),
                    grant_type: settings.badgr_grant_type.clone(),
                    client_id: settings.badgr_client_id.clone(),
                },
            ),
            github: GitHub::new(
                http,
                &settings.github_api_url,
                &settings.github_org,
                github_token,
            ),
            store: Store {
                s3: support::s3_client(aws),
                bucket: settings.templates_bucket.clone(),
            },
            settings,
        })
    }
}

/// The optional GitHub token from its secret's answer: a secret that does not exist or holds
/// only whitespace (Secrets Manager refuses an empty string) means anonymous requests, logged
/// once; any other failure (no permission, the service down) is an error.
pub fn github_token(answer: Result<Secret, String>, name: &str) -> Result<Option<Secret>, String> {
    match answer {
        Ok(t) if t.expose().trim().is_empty() => {
            tracing::info!("GitHub: the token secret {name} is empty; anonymous requests");
            Ok(None)
        }
        Ok(t) => Ok(Some(Secret::new(t.expose().trim()))),
        Err(e) if e.starts_with("ResourceNotFoundException") => {
            tracing::info!("GitHub: the token secret {name} does not exist; anonymous requests");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Db(#[from] Error),
    #[error("{}; summary: {}", .0.failures(), serde_json::to_string(.0).unwrap_or_default())]
    Failed(Summary),
}

impl From<RunError> for lambda_runtime::Diagnostic {
    fn from(e: RunError) -> Self {
        let kind = match &e {
            RunError::Db(_) => "DatabaseError",
            RunError::Failed(_) => "StepsFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: kind.into(),
            error_message: e.to_string(),
        }
    }
}

/// The run lock's name: one per database, so runs against different databases never wait on
/// each other. MySQL refuses names longer than 64 characters, so a long database name is
/// replaced by its SHA-256 (as much of it as fits).
pub fn lock_name(db: &DbConfig) -> String {
    const MAX: usize = 64;
    let name = format!("skill-sync:{}", db.dbname);
    if name.chars().count() <= MAX {
        return name;
    }
    let mut hashed = format!(
        "skill-sync:#{}",
        crate::templates::sha256_hex(db.dbname.as_bytes())
    );
    hashed.truncate(MAX);
    hashed
}

/// `{}` (the schedule) runs the sync; `{"check": true}` checks the database's tables and the
/// bucket and writes nothing.
pub async fn handle(env: &Env, event: &Value) -> Result<Value, RunError> {
    if event.get("check").is_some_and(|c| c == true) {
        return check(env).await.map_err(RunError::Db);
    }
    let summary = sync(env).await?;
    tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "sync done");
    if summary.ok() {
        Ok(serde_json::to_value(&summary).expect("serializable"))
    } else {
        Err(RunError::Failed(summary))
    }
}

async fn check(env: &Env) -> Result<Value, Error> {
    let mut conn = db::connect(&env.db).await?;
    let mut tables = serde_json::Map::new();
    for t in [&rows::ASSESSMENTS, &rows::BADGES, &rows::ASSERTIONS] {
        let n: Option<i64> = conn
            .query_first(format!("SELECT COUNT(*) FROM `{}`", t.name))
            .await?;
        tables.insert(t.name.into(), json!(n.unwrap_or(0)));
    }
    conn.disconnect().await?;
    env.store
        .s3
        .head_bucket()
        .bucket(&env.store.bucket)
        .send()
        .await
        .map_err(|e| Error::s3("HeadBucket", &env.store.bucket, &e))?;
    Ok(json!({"check": "ok", "rows": tables, "bucket": env.store.bucket}))
}

/// Every step, in the original's order; `Summary::skipped_run` when another run holds the lock.
pub async fn sync(env: &Env) -> Result<Summary, Error> {
    let mut conn = db::connect(&env.db).await?;
    let lock = lock_name(&env.db);
    if !db::try_lock(&mut conn, &lock).await? {
        tracing::warn!("another run holds {lock}; this one does nothing");
        conn.disconnect().await?;
        return Ok(Summary {
            skipped_run: Some(format!("another run holds the lock {lock}")),
            steps: Vec::new(),
        });
    }
    let steps = vec![
        assessments(env, &mut conn).await,
        badges(env, &mut conn).await,
        assertions(env, &mut conn).await,
        releases(env, &mut conn).await,
    ];
    for s in &steps {
        tracing::info!(
            step = s.step,
            inserted = s.inserted,
            updated = s.updated,
            unchanged = s.unchanged,
            skipped = s.skipped,
            errors = s.errors.len(),
            "step done"
        );
    }
    db::unlock(&mut conn, &lock).await?;
    conn.disconnect().await?;
    Ok(Summary {
        skipped_run: None,
        steps,
    })
}

async fn assessments(env: &Env, conn: &mut Conn) -> StepReport {
    let mut report = StepReport::new("assessments");
    let records = match env.airtable.assessments().await {
        Ok(r) => r,
        Err(e) => {
            report.fail(e.to_string());
            return report;
        }
    };
    let unknown = rows::unknown_fields(records.iter());
    if !unknown.is_empty() {
        report.note(format!(
            "Airtable fields with no assessments column, ignored: {}",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    // a column no record of this run has at all is not the source's to clear: it may be kept
    // by hand (or Airtable lacks the field), and writing it would set NULL in every row
    let absent = rows::absent_columns(records.iter());
    if !absent.is_empty() && !records.is_empty() {
        report.note(format!(
            "no Airtable record has {}: those columns are left as they are",
            absent.join(", ")
        ));
    }
    let mut incoming = Vec::new();
    for fields in &records {
        match rows::assessment(fields) {
            Ok(row) => incoming.push(row),
            Err(reason) => report.skip(reason),
        }
    }
    if let Err(e) = db::apply_except(conn, &rows::ASSESSMENTS, &absent, incoming, &mut report).await
    {
        report.fail(format!("nothing written to assessments: {e}"));
    }
    report
}

async fn badges(env: &Env, conn: &mut Conn) -> StepReport {
    let mut report = StepReport::new("badges");
    let classes = match env.badgr.badge_classes().await {
        Ok(c) => c,
        Err(e) => {
            report.fail(e.to_string());
            return report;
        }
    };
    let mut incoming = Vec::new();
    for b in &classes {
        match rows::badge(b) {
            Ok(row) => incoming.push(row),
            Err(reason) => report.skip(reason),
        }
    }
    if let Err(e) = db::apply(conn, &rows::BADGES, incoming, &mut report).await {
        report.fail(format!("nothing written to badges: {e}"));
    }
    report
}

async fn assertions(env: &Env, conn: &mut Conn) -> StepReport {
    let mut report = StepReport::new("assertions");
    let list = match env.badgr.assertions().await {
        Ok(a) => a,
        Err(e) => {
            report.fail(e.to_string());
            return report;
        }
    };
    // the badges as stored (this run's step 2 included): an assertion needs its badge's name,
    // and its badge class must exist for the foreign key
    let names: Result<Vec<(String, Option<String>)>, _> =
        conn.query("SELECT entityId, name FROM badges").await;
    let names: HashMap<String, String> = match names {
        Ok(n) => n
            .into_iter()
            .filter_map(|(id, name)| Some((id, name?)))
            .collect(),
        Err(e) => {
            report.fail(format!("reading badges: {e}"));
            return report;
        }
    };
    let mut incoming = Vec::new();
    for a in &list {
        match rows::assertion(a, &names) {
            Ok(row) => incoming.push(row),
            Err(reason) => report.skip(reason),
        }
    }
    if let Err(e) = db::apply(conn, &rows::ASSERTIONS, incoming, &mut report).await {
        report.fail(format!("nothing written to assertions: {e}"));
    }
    report
}

/// For every (template_repo, latest_release) in `assessments`: unchanged commit → nothing more;
/// otherwise the zipball, unpacked in memory, to S3. One release failing does not stop the
/// others.
async fn releases(env: &Env, conn: &mut Conn) -> StepReport {
    let mut report = StepReport::new("templates");
    let pairs: Result<Vec<(String, String)>, _> = conn
        .query(
            "SELECT DISTINCT template_repo, latest_release FROM assessments \
             WHERE template_repo IS NOT NULL AND template_repo <> '' \
             AND latest_release IS NOT NULL AND latest_release <> ''",
        )
        .await;
    let pairs: BTreeSet<(String, String)> = match pairs {
        Ok(p) => p.into_iter().collect(),
        Err(e) => {
            report.fail(format!("reading assessments: {e}"));
            return report;
        }
    };
    for (repo, release) in pairs {
        if !templates::valid_repo(&repo) || !templates::valid_ref(&release) {
            report.skip(format!(
                "{repo}@{release}: not a repository name and git ref that fit an S3 key"
            ));
            continue;
        }
        match release_step(env, &repo, &release, &mut report).await {
            Ok(Outcome::Unchanged) => report.unchanged += 1,
            Ok(Outcome::Uploaded { first: true }) => report.inserted += 1,
            Ok(Outcome::Uploaded { first: false }) => report.updated += 1,
            Err(e) => report.fail(format!("{repo}@{release}: {e}")),
        }
    }
    report
}

enum Outcome {
    Unchanged,
    Uploaded { first: bool },
}

async fn release_step(
    env: &Env,
    repo: &str,
    release: &str,
    report: &mut StepReport,
) -> Result<Outcome, Error> {
    let commit = env.github.commit(repo, release).await?;
    let marker = env.store.marker(repo, release).await?;
    if marker.as_ref().is_some_and(|m| m.commit == commit) {
        return Ok(Outcome::Unchanged);
    }
    let max = env.settings.max_zip_bytes;
    let zip = env.github.zipball(repo, release, max).await?;
    let unpacked = templates::unpack(&zip, &format!("{repo}@{release}"), max)?;
    for note in unpacked.notes {
        report.note(note);
    }
    let files = unpacked.files;
    let new_marker = Marker {
        commit,
        zipball_sha256: templates::sha256_hex(&zip),
        files: files.len(),
    };
    let removed = env.store.upload(repo, release, &files, &new_marker).await?;
    tracing::info!(
        repo,
        release,
        files = files.len(),
        removed,
        "release uploaded to {}",
        templates::prefix(repo, release)
    );
    Ok(Outcome::Uploaded {
        first: marker.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dbname: &str) -> DbConfig {
        DbConfig::new(
            "db.example",
            3306,
            dbname,
            r#"{"username":"u","password":"p"}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_lock_name_fits_mysqls_64_characters_and_stays_per_database() {
        assert_eq!(lock_name(&config("skillapp")), "skill-sync:skillapp");
        // MySQL's longest database name
        let a = "a".repeat(63) + "1";
        let b = "a".repeat(63) + "2";
        let (la, lb) = (lock_name(&config(&a)), lock_name(&config(&b)));
        assert!(la.chars().count() <= 64 && lb.chars().count() <= 64, "{la}");
        assert_ne!(la, lb);
        assert!(la.starts_with("skill-sync:"));
        assert_eq!(la, lock_name(&config(&a)));
    }

    #[test]
    fn a_missing_or_blank_github_token_means_anonymous_other_failures_do_not() {
        let missing = Err(
            "ResourceNotFoundException: Secrets Manager can't find the specified secret.".into(),
        );
        assert!(github_token(missing, "s").unwrap().is_none());
        assert!(github_token(Ok(Secret::new(" \n")), "s").unwrap().is_none());
        assert_eq!(
            github_token(Ok(Secret::new("ghp_x\n")), "s")
                .unwrap()
                .unwrap()
                .expose(),
            "ghp_x"
        );
        let denied = Err("AccessDeniedException: not allowed".into());
        assert!(github_token(denied, "s").is_err());
    }
}
