//! Shared by the database tests: the local stage's PostgreSQL (`cargo xtask local up`), a
//! schema of its own per test and process (tests run in parallel, and so may two `cargo test`
//! processes), the fake DAP and a client built as the handlers build theirs.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use canvas_data::dap::{Credentials, DapClient, Timing};
use canvas_data::db::{self, Db, DbConfig};
use canvas_data::fake::{self, FakeTable};
use canvas_data::handlers::{self, Env};
use canvas_data::init::{Budget, Limits};
use serde_json::json;
use support::Secret;
use tokio::sync::OnceCell;

pub const DATABASE: &str = "canvas_test";

pub fn port() -> u16 {
    std::env::var("LOCAL_POSTGRES_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(54329)
}

pub fn superuser(dbname: &str) -> DbConfig {
    DbConfig::from_secret_json(
        &json!({"username": "postgres", "password": "", "host": "127.0.0.1", "port": port(), "dbname": dbname})
            .to_string(),
    )
    .unwrap()
}

/// `<base>_<pid>`: unique among the tests of this process (bases differ) and across processes.
pub fn unique(base: &str) -> String {
    format!("{base}_{}", std::process::id())
}

static CREATED: OnceCell<()> = OnceCell::const_new();

/// The shared test database, created once; schemas left by test processes that are gone (a
/// panicked test skips its clean-up) are dropped.
async fn shared_database() {
    CREATED
        .get_or_init(|| async {
            let server = db::connect(&superuser("postgres")).await.expect(
                "the local PostgreSQL is not running: start it with `cargo xtask local up`",
            );
            // CREATE DATABASE has no IF NOT EXISTS; another process may win the race
            if let Err(e) = server
                .client
                .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                .await
            {
                let code = e.code().map(|c| c.code().to_string());
                assert!(
                    matches!(code.as_deref(), Some("42P04" | "23505")),
                    "creating {DATABASE}: {e}"
                );
            }
            server.close().await;
            let db = db::connect(&superuser(DATABASE)).await.unwrap();
            let rows = db
                .client
                .query(
                    "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^t_.*_[0-9]+$'",
                    &[],
                )
                .await
                .unwrap();
            for row in rows {
                let name: String = row.get(0);
                let pid = name.rsplit('_').next().unwrap_or_default();
                let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
                if !alive {
                    let _ = db
                        .client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            }
            db.close().await;
        })
        .await;
}

/// A test's own schema in the shared database; [`Scratch::finish`] drops it.
pub struct Scratch {
    pub schema: String,
    pub db: Db,
}

impl Scratch {
    pub async fn new(base: &str) -> Scratch {
        shared_database().await;
        let schema = unique(base);
        let db = db::connect(&superuser(DATABASE)).await.unwrap();
        db.client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .unwrap();
        canvas_data::db::meta::ensure(&db.client, &schema)
            .await
            .unwrap();
        Scratch { schema, db }
    }

    /// `schema.relation`.
    pub fn q(&self, relation: &str) -> String {
        format!("{}.{relation}", self.schema)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.client.query_one(sql, &[]).await.unwrap().get(0)
    }

    pub async fn until(&self, table: &str) -> Option<String> {
        self.db
            .client
            .query_opt(
                &format!(
                    "SELECT until FROM {} WHERE table_name = $1",
                    self.q("dap_meta")
                ),
                &[&table],
            )
            .await
            .unwrap()
            .and_then(|r| r.get(0))
    }

    pub fn env(&self, url: &str) -> Env {
        Env {
            schema: self.schema.clone(),
            ..Scratch::env_for(url)
        }
    }

    /// The environment the handlers get, against the fake DAP at `url`.
    pub fn env_for(url: &str) -> Env {
        Env {
            dap: client(url),
            db: superuser(DATABASE),
            schema: "canvas".into(),
            skip_tables: Vec::new(),
            limits: Limits::default(),
            stage: "test".into(),
        }
    }

    pub async fn finish(self) {
        self.db
            .client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .unwrap();
        self.db.close().await;
    }
}

pub fn client(url: &str) -> DapClient {
    DapClient::new(
        url,
        Credentials {
            client_id: fake::CLIENT_ID.into(),
            client_secret: Secret::new(fake::CLIENT_SECRET),
        },
        Timing {
            attempts: 4,
            poll_first: Duration::from_millis(5),
            poll_max: Duration::from_millis(20),
            job_timeout: Duration::from_secs(10),
        },
    )
}

pub fn plenty() -> Budget {
    Budget {
        deadline: Instant::now() + Duration::from_secs(600),
        reserve: Duration::ZERO,
    }
}

/// A run that ends after `seconds` (less half a second kept back).
pub fn short(seconds: u64) -> Budget {
    Budget {
        deadline: Instant::now() + Duration::from_secs(seconds),
        reserve: Duration::from_millis(500),
    }
}

/// Rows whose text needs every escape COPY has.
pub fn row(id: i64, name: &str) -> String {
    json!({"key": {"id": id}, "value": {
        "name": format!("{name} {id}\ttab\nline \\ back \"quote\" ünï"),
        "score": id as f64 / 4.0,
        "active": id % 2 == 0,
        "created_at": "2026-03-04T05:06:07Z",
        "settings": {"n": id, "s": "a\tb"},
    }})
    .to_string()
}

pub fn people(ids: std::ops::RangeInclusive<i64>, per_object: usize) -> FakeTable {
    let lines: Vec<String> = ids.map(|i| row(i, "person")).collect();
    FakeTable {
        version: 1,
        schema: fake::table_schema(
            json!({"id": {"type": "integer", "format": "int64"}}),
            json!({
                "name": {"type": "string"},
                "score": {"type": "number", "format": "float64"},
                "active": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "settings": {"type": "object"}
            }),
        ),
        snapshot: fake::objects(&lines, per_object),
        changes: Vec::new(),
        at: "2026-11-01T00:00:00Z".into(),
        until: "2026-11-02T00:00:00Z".into(),
    }
}

pub fn upsert(id: i64, name: &str) -> String {
    json!({"key": {"id": id}, "value": {"name": name}, "meta": {"action": "U"}}).to_string()
}

pub fn delete(id: i64) -> String {
    json!({"key": {"id": id}, "meta": {"action": "D"}}).to_string()
}

/// What the state machine does for one table within one execution: sync, and init or sync
/// again while the answer says to continue, each answer being the next event.
pub async fn refresh(env: &Env, table: &str) -> Result<serde_json::Value, String> {
    let deadline = || Instant::now() + Duration::from_secs(600);
    let started = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let event = json!({ "table_name": table, "execution_started": started });
    let mut out = handlers::sync(env, &event, deadline())
        .await
        .map_err(|e| e.to_string())?;
    loop {
        out = match out["state"].as_str().unwrap_or("") {
            "needs_init" | "needs_init_continue" => handlers::init(env, &out, deadline()).await,
            "needs_sync_continue" => handlers::sync(env, &out, deadline()).await,
            _ => return Ok(out),
        }
        .map_err(|e| e.to_string())?;
    }
}

pub async fn refresh_state(env: &Env, table: &str) -> Result<String, String> {
    refresh(env, table)
        .await
        .map(|out| out["state"].as_str().unwrap_or_default().to_string())
}
