//! Shared by the integration tests: a database of its own per test on the local MariaDB
//! (`cargo xtask local up`, port 3307), the fakes, secrets and a bucket of its own in the local
//! emulator, and the function's [`Env`] built by [`Env::load`], exactly as the handler builds it.

#![allow(dead_code)]

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::Conn;
use serde_json::json;
use skill_sync::db::{self, DbConfig};
use skill_sync::fake::{self, FakeAirtable, FakeBadgr, FakeGitHub};
use skill_sync::handler::{Env, Settings};
use skill_sync::schema;
use tokio::sync::Mutex;

pub const APP_USER: &str = "skill_app_test";
pub const APP_PASSWORD: &str = "local-only-test-password";

pub fn port() -> u16 {
    std::env::var("LOCAL_MARIADB_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3307)
}

pub fn admin(dbname: &str) -> DbConfig {
    DbConfig::new(
        "127.0.0.1",
        port(),
        dbname,
        &json!({"username": schema::LOCAL_ADMIN_USER, "password": schema::LOCAL_ADMIN_PASSWORD})
            .to_string(),
    )
    .unwrap()
}

pub fn app(dbname: &str) -> DbConfig {
    DbConfig::new(
        "127.0.0.1",
        port(),
        dbname,
        &json!({"username": APP_USER, "password": APP_PASSWORD}).to_string(),
    )
    .unwrap()
}

/// One prepare at a time in this process: they all create and alter the same login.
static PREPARE: Mutex<()> = Mutex::const_new(());

pub struct Harness {
    pub name: String,
    pub airtable: FakeAirtable,
    pub badgr: FakeBadgr,
    pub github: FakeGitHub,
    pub settings: Settings,
    pub bucket: String,
    pub s3: aws_sdk_s3::Client,
}

/// `ss_<test>_<pid>`: unique among this process's tests and across processes.
fn unique(test: &str) -> String {
    format!("ss_{test}_{}", std::process::id())
}

/// A fresh database with the app's schema, the sample fakes, secrets and a bucket.
pub async fn harness(test: &str) -> Harness {
    // what the local stage's functions get: path-style S3 on the emulator (support::s3_client)
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:5000");
    }
    let name = unique(test);
    {
        let _one = PREPARE.lock().await;
        drop_leftovers().await;
        let mut conn = db::connect(&admin("mysql")).await.expect(
            "the local MariaDB is not running on 127.0.0.1:3307: start it with `cargo xtask local up`",
        );
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        conn.disconnect().await.unwrap();
        schema::prepare(&admin(&name), &app(&name)).await.unwrap();
    }
    let sample = fake::sample();
    // one page of everything unless a test asks for pages
    sample.airtable.page_size(100);
    sample.badgr.page_size(None);
    let airtable_url = sample.airtable.start().await;
    let badgr_url = sample.badgr.start().await;
    let github_url = sample.github.start().await;

    let aws = support::emulator_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let secret = |suffix: &str, value: String| {
        let secrets = secrets.clone();
        let id = format!("test/skill-sync/{name}/{suffix}");
        async move {
            let _ = secrets
                .delete_secret()
                .secret_id(&id)
                .force_delete_without_recovery(true)
                .send()
                .await;
            secrets
                .create_secret()
                .name(&id)
                .secret_string(value)
                .send()
                .await
                .expect("the local emulator is not running: `cargo xtask local up`");
            id
        }
    };
    let database_secret = secret(
        "database",
        json!({"username": APP_USER, "password": APP_PASSWORD}).to_string(),
    )
    .await;
    let airtable_secret = secret("airtable", fake::AIRTABLE_TOKEN.into()).await;
    let badgr_secret = secret(
        "badgr",
        json!({"username": fake::BADGR_USERNAME, "password": fake::BADGR_PASSWORD}).to_string(),
    )
    .await;
    let bucket = name.replace('_', "-").to_lowercase();
    let s3 = support::s3_client(&aws);
    let _ = s3.create_bucket().bucket(&bucket).send().await;

    let settings = Settings::from_vars(|k| {
        Some(match k {
            "DB_HOST" => "127.0.0.1".into(),
            "DB_PORT" => port().to_string(),
            "DB_NAME" => name.clone(),
            "DATABASE_SECRET" => database_secret.clone(),
            "AIRTABLE_API_URL" => airtable_url.clone(),
            "AIRTABLE_BASE_ID" => fake::AIRTABLE_BASE.into(),
            "AIRTABLE_TOKEN_SECRET" => airtable_secret.clone(),
            "BADGR_API_URL" => badgr_url.clone(),
            "BADGR_ISSUER_ID" => fake::BADGR_ISSUER.into(),
            "BADGR_CREDENTIALS_SECRET" => badgr_secret.clone(),
            "GITHUB_API_URL" => github_url.clone(),
            "TEMPLATES_BUCKET" => bucket.clone(),
            _ => return None,
        })
    })
    .unwrap();
    Harness {
        name,
        airtable: sample.airtable,
        badgr: sample.badgr,
        github: sample.github,
        settings,
        bucket,
        s3,
    }
}

impl Harness {
    /// The function's environment, loaded as the handler loads it.
    pub async fn env(&self) -> Env {
        let mut env = Env::load(self.settings.clone(), &support::emulator_config().await)
            .await
            .unwrap();
        // Airtable's real 30 s after a 429 would only make the tests slow
        env.airtable.pacing.throttled_wait = Duration::from_millis(50);
        // as strict as MySQL 8 even when the local MariaDB was started with older flags
        env.db.sql_mode = Some(db::MYSQL8_DEFAULT_SQL_MODE.into());
        env
    }

    pub async fn conn(&self) -> Conn {
        let mut c = admin(&self.name);
        c.sql_mode = Some(db::MYSQL8_DEFAULT_SQL_MODE.into());
        db::connect(&c).await.unwrap()
    }

    /// Rows of a query as text (NULL as None).
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut conn = self.conn().await;
        let rows: Vec<mysql_async::Row> = conn.query(sql).await.unwrap();
        conn.disconnect().await.unwrap();
        rows.into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => None,
                        mysql_async::Value::Bytes(b) => Some(String::from_utf8(b).unwrap()),
                        other => Some(format!("{other:?}")),
                    })
                    .collect()
            })
            .collect()
    }

    pub async fn one(&self, sql: &str) -> Option<String> {
        self.rows(sql).await.remove(0).remove(0)
    }

    /// Keys under `prefix` in the test's bucket.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    pub async fn object(&self, key: &str) -> (Option<String>, Vec<u8>) {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let ct = out.content_type().map(str::to_string);
        (ct, out.body.collect().await.unwrap().into_bytes().to_vec())
    }

    /// Counts every row the sync inserts or updates, whatever the report says: triggers on the
    /// three tables add to `writes`.
    pub async fn count_writes(&self) {
        let mut conn = self.conn().await;
        conn.query_drop("CREATE TABLE writes (n INT NOT NULL)")
            .await
            .unwrap();
        conn.query_drop("INSERT INTO writes VALUES (0)")
            .await
            .unwrap();
        for t in ["assessments", "badges", "assertions"] {
            for ev in ["INSERT", "UPDATE"] {
                conn.query_drop(format!(
                    "CREATE TRIGGER count_{t}_{ev} AFTER {ev} ON {t} FOR EACH ROW UPDATE writes SET n = n + 1"
                ))
                .await
                .unwrap();
            }
        }
        conn.disconnect().await.unwrap();
    }

    pub async fn writes(&self) -> i64 {
        self.one("SELECT n FROM writes")
            .await
            .unwrap()
            .parse()
            .unwrap()
    }

    pub async fn drop(self) {
        let mut conn = db::connect(&admin("mysql")).await.unwrap();
        let _ = conn
            .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await;
        let _ = conn.disconnect().await;
    }
}

/// Databases of test processes that are gone (a failed test skips its clean-up).
async fn drop_leftovers() {
    let Ok(mut conn) = db::connect(&admin("mysql")).await else {
        return;
    };
    let names: Vec<String> = conn
        .query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'ss\\_%'",
        )
        .await
        .unwrap_or_default();
    for name in names {
        let pid = name.rsplit('_').next().unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = conn
                .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                .await;
        }
    }
    let _ = conn.disconnect().await;
}
