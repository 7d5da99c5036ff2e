//! Snapshot loads, resumes, incremental syncs and schema changes against the local stage's
//! PostgreSQL (`cargo xtask local up`) and the fake DAP API.

use std::time::{Duration, Instant};

use canvas_data::dap::{Credentials, DapClient, Timing};
use canvas_data::db::{self, Db, DbConfig};
use canvas_data::fake::{self, FakeDap, FakeTable};
use canvas_data::handlers::{self, Env};
use canvas_data::init::{init_table, Budget};
use canvas_data::sync::sync_table;
use canvas_data::State;
use serde_json::{json, Value};
use support::Secret;
use tokio::sync::OnceCell;

const DATABASE: &str = "canvas_test";

fn port() -> u16 {
    std::env::var("LOCAL_POSTGRES_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(54329)
}

fn superuser(dbname: &str) -> DbConfig {
    DbConfig::from_secret_json(
        &json!({"username": "postgres", "password": "", "host": "127.0.0.1", "port": port(), "dbname": dbname})
            .to_string(),
    )
    .unwrap()
}

static CREATED: OnceCell<()> = OnceCell::const_new();

/// A clean schema of its own for each test, in a database the tests share.
async fn database(schema: &str) -> Db {
    CREATED
        .get_or_init(|| async {
            let server = db::connect(&superuser("postgres")).await.expect(
                "the local PostgreSQL is not running: start it with `cargo xtask local up`",
            );
            let exists = server
                .client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
                .await
                .unwrap()
                .is_some();
            if !exists {
                server
                    .client
                    .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                    .await
                    .unwrap();
            }
            server.close().await;
        })
        .await;
    let db = db::connect(&superuser(DATABASE)).await.unwrap();
    db.client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    canvas_data::db::meta::ensure(&db.client, schema)
        .await
        .unwrap();
    db
}

fn client(url: &str) -> DapClient {
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

fn plenty() -> Budget {
    Budget {
        deadline: Instant::now() + Duration::from_secs(600),
        reserve: Duration::ZERO,
    }
}

/// Rows whose text needs every escape COPY has.
fn row(id: i64, name: &str) -> String {
    json!({"key": {"id": id}, "value": {
        "name": format!("{name} {id}\ttab\nline \\ back \"quote\" ünï"),
        "score": id as f64 / 4.0,
        "active": id % 2 == 0,
        "created_at": "2026-03-04T05:06:07Z",
        "settings": {"n": id, "s": "a\tb"},
    }})
    .to_string()
}

fn people(ids: std::ops::RangeInclusive<i64>, per_object: usize) -> FakeTable {
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

async fn count(db: &Db, sql: &str) -> i64 {
    db.client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn until(db: &Db, schema: &str, table: &str) -> Option<String> {
    db.client
        .query_opt(
            &format!("SELECT until FROM {schema}.dap_meta WHERE table_name = $1"),
            &[&table],
        )
        .await
        .unwrap()
        .and_then(|r| r.get(0))
}

#[tokio::test]
async fn init_loads_a_multi_object_snapshot_and_swaps_it_in() {
    let s = "t_init";
    let mut db = database(s).await;
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=1000, 143));
    let c = client(&dap.start().await);
    let r = init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap();
    assert_eq!(r.state, State::Complete);
    assert_eq!((r.rows, r.objects_done, r.objects_total), (1000, 7, 7));
    assert_eq!(count(&db, "SELECT count(*) FROM t_init.people").await, 1000);
    let row = db
        .client
        .query_one(
            "SELECT name, score, active, created_at = '2026-03-04T05:06:07Z', settings->>'s', pg_typeof(settings)::text
             FROM t_init.people WHERE id = 10",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "person 10\ttab\nline \\ back \"quote\" ünï"
    );
    assert_eq!(row.get::<_, f64>(1), 2.5);
    assert!(row.get::<_, bool>(2) && row.get::<_, bool>(3));
    assert_eq!(row.get::<_, String>(4), "a\tb");
    assert_eq!(row.get::<_, String>(5), "jsonb");
    let pk = count(
        &db,
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 't_init.people'::regclass AND contype = 'p'",
    )
    .await;
    assert_eq!(pk, 1, "the key columns form the primary key");
    assert_eq!(
        until(&db, s, "people").await.as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM pg_tables WHERE schemaname = 't_init' AND tablename LIKE '%__init'").await,
        0
    );

    // a second snapshot replaces the table as a whole
    dap.set_table("people", people(501..=800, 100));
    let r = init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap();
    assert_eq!((r.state, r.rows), (State::Complete, 300));
    assert_eq!(count(&db, "SELECT min(id) FROM t_init.people").await, 501);
    assert_eq!(count(&db, "SELECT count(*) FROM t_init.people").await, 300);
    db.close().await;
}

#[tokio::test]
async fn init_stopped_mid_object_resumes_without_duplicates() {
    let s = "t_resume";
    let mut db = database(s).await;
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=600, 100));
    dap.stall_object("people", 3);
    let c = client(&dap.start().await);
    let budget = Budget {
        deadline: Instant::now() + Duration::from_secs(3),
        reserve: Duration::from_millis(500),
    };
    let first = init_table(&c, &mut db.client, s, "people", budget)
        .await
        .unwrap();
    assert_eq!(first.state, State::NeedsInitContinue);
    assert_eq!((first.objects_done, first.rows), (3, 300));
    // the interrupted object left nothing behind; the old table (none) is untouched
    assert_eq!(
        count(&db, "SELECT count(*) FROM t_resume.people__init").await,
        300
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 't_resume' AND tablename = 'people'"
        )
        .await,
        0
    );
    assert_eq!(until(&db, s, "people").await, None);
    // a sync meanwhile sees a table that still needs its snapshot
    let r = sync_table(&c, &mut db.client, s, "people").await.unwrap();
    assert_eq!(r.state, State::NeedsInit);

    let second = init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap();
    assert_eq!(second.state, State::Complete);
    assert_eq!((second.objects_done, second.rows), (6, 600));
    assert_eq!(
        count(&db, "SELECT count(*) FROM t_resume.people").await,
        600
    );
    assert_eq!(
        count(&db, "SELECT count(DISTINCT id) FROM t_resume.people").await,
        600
    );
    assert_eq!(
        dap.queries().len(),
        1,
        "the resumed run used the first run's snapshot job"
    );
    db.close().await;
}

#[tokio::test]
async fn sync_applies_upserts_and_deletes_in_order() {
    let s = "t_sync";
    let mut db = database(s).await;
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=10, 4));
    let c = client(&dap.start().await);
    init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    let upsert = |id: i64, name: &str| {
        json!({"key": {"id": id}, "value": {"name": name}, "meta": {"action": "U"}}).to_string()
    };
    let delete = |id: i64| json!({"key": {"id": id}, "meta": {"action": "D"}}).to_string();
    t.changes = vec![
        [
            upsert(2, "two"),
            upsert(11, "eleven"),
            delete(3),
            upsert(4, "four, first"),
        ]
        .join("\n"),
        // later lines win: 4 updated again, 5 deleted then re-inserted, 11 deleted again
        [
            upsert(4, "four, last"),
            delete(5),
            upsert(5, "five again"),
            delete(11),
        ]
        .join("\n"),
    ];
    dap.set_table("people", t);
    let r = sync_table(&c, &mut db.client, s, "people").await.unwrap();
    assert_eq!(r.state, State::Complete);
    assert_eq!((r.upserts, r.deletes), (5, 3));
    let names: Vec<(i64, Option<String>)> = db
        .client
        .query(
            "SELECT id, name FROM t_sync.people WHERE id IN (2,3,4,5,11) ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        names,
        vec![
            (2, Some("two".into())),
            (4, Some("four, last".into())),
            (5, Some("five again".into())),
        ]
    );
    assert_eq!(count(&db, "SELECT count(*) FROM t_sync.people").await, 9);
    assert_eq!(
        until(&db, s, "people").await.as_deref(),
        Some("2026-11-02T00:00:00Z")
    );
    assert_eq!(
        dap.queries().last().unwrap().1.as_deref(),
        Some("2026-11-01T00:00:00Z"),
        "the sync asked for changes since the snapshot"
    );
    db.close().await;
}

#[tokio::test]
async fn a_new_column_is_added_and_reported() {
    let s = "t_schema";
    let mut db = database(s).await;
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=5, 5));
    let c = client(&dap.start().await);
    init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    t.version = 2;
    t.schema["properties"]["value"]["properties"]["nickname"] = json!({"type": "string"});
    t.changes = vec![json!({"key": {"id": 1}, "value": {"name": "one", "nickname": "uno"}, "meta": {"action": "U"}}).to_string()];
    dap.set_table("people", t.clone());
    let r = sync_table(&c, &mut db.client, s, "people").await.unwrap();
    assert_eq!(r.state, State::CompleteWithUpdate);
    assert_eq!(r.added_columns, vec!["nickname"]);
    let nick: Option<String> = db
        .client
        .query_one("SELECT nickname FROM t_schema.people WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(nick.as_deref(), Some("uno"));
    // the next sync finds nothing new to add
    let r = sync_table(&c, &mut db.client, s, "people").await.unwrap();
    assert_eq!(r.state, State::Complete);

    // a changed column type cannot be altered in place: the table needs a new snapshot
    t.schema["properties"]["value"]["properties"]["score"] = json!({"type": "string"});
    dap.set_table("people", t);
    let r = sync_table(&c, &mut db.client, s, "people").await.unwrap();
    assert_eq!(r.state, State::NeedsInit);
    assert_eq!(
        r.reason.as_deref(),
        Some("column score changed from double precision to text")
    );
    db.close().await;
}

#[tokio::test]
async fn a_bad_line_fails_its_table_and_commits_nothing_of_its_object() {
    let s = "t_bad";
    let mut db = database(s).await;
    let dap = FakeDap::new();
    let mut t = people(1..=30, 10);
    t.snapshot[1] = t.snapshot[1].replacen("{\"key\":{\"id\":15}", "{\"key\":{\"id\":15", 1);
    dap.set_table("people", t);
    let c = client(&dap.start().await);
    let err = init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("people: object people/job-")
            && err
                .contains("/1, line 5: malformed JSON: EOF while parsing an object (at character"),
        "{err}"
    );
    assert!(
        err.ends_with("nothing of this object was committed"),
        "{err}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM t_bad.people__init").await,
        10
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM t_bad.people__init WHERE id > 10").await,
        0
    );

    // a bad change rolls the whole sync back
    dap.set_table("people", people(1..=5, 5));
    let _ = db.client.batch_execute("DELETE FROM t_bad.dap_meta").await;
    init_table(&c, &mut db.client, s, "people", plenty())
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    t.changes = vec![
        json!({"key": {"id": 1}, "meta": {"action": "D"}}).to_string(),
        json!({"key": {"id": 2}, "value": {"active": "yes"}, "meta": {"action": "U"}}).to_string(),
    ];
    dap.set_table("people", t);
    let err = sync_table(&c, &mut db.client, s, "people")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("object people/job-"), "{err}");
    assert!(
        err.contains("line 1: column active: expected true or false, got \"yes\""),
        "{err}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM t_bad.people").await,
        5,
        "the delete was rolled back"
    );
    assert_eq!(
        until(&db, s, "people").await.as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
    db.close().await;
}

/// What the state machine does for one table: sync, and init until it completes.
async fn refresh(env: &Env, table: &str) -> Result<String, String> {
    let event = json!({ "table_name": table });
    let mut out = handlers::sync(env, &event)
        .await
        .map_err(|e| e.to_string())?;
    while ["needs_init", "needs_init_continue"].contains(&out["state"].as_str().unwrap_or("")) {
        let deadline = Instant::now() + Duration::from_secs(600);
        out = handlers::init(env, &event, deadline)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(out["state"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn one_failing_table_leaves_the_others_complete() {
    let s = "t_many";
    let db = database(s).await;
    let dap = fake::sample();
    dap.set_table("people", people(1..=50, 20));
    dap.break_schema("courses");
    let env = Env {
        dap: client(&dap.start().await),
        db: superuser(DATABASE),
        schema: s.into(),
        skip_tables: vec!["skipped".into()],
    };
    dap.set_table("skipped", people(1..=1, 1));
    let listed: Value = handlers::list_tables(&env, &json!({})).await.unwrap();
    assert_eq!(listed["tables"], json!(["accounts", "courses", "people"]));
    assert_eq!(listed["skipped"], json!(["skipped"]));
    let mut results = Vec::new();
    for table in listed["tables"].as_array().unwrap() {
        let table = table.as_str().unwrap();
        results.push((table, refresh(&env, table).await));
    }
    assert_eq!(results[0], ("accounts", Ok("complete".to_string())));
    assert_eq!(results[2], ("people", Ok("complete".to_string())));
    let (_, courses) = &results[1];
    let err = courses.as_ref().unwrap_err();
    assert!(err.contains("DAP schema of courses: HTTP 500"), "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM t_many.accounts").await, 25);
    assert_eq!(count(&db, "SELECT count(*) FROM t_many.people").await, 50);
    // the next run syncs the loaded tables incrementally
    assert_eq!(refresh(&env, "accounts").await.unwrap(), "complete");
    assert_eq!(count(&db, "SELECT count(*) FROM t_many.accounts").await, 25);
    let renamed: String = db
        .client
        .query_one("SELECT name FROM t_many.accounts WHERE id = 2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(renamed, "Account 2 (renamed)");
    // bad events and table names are refused before anything runs
    let err = handlers::sync(&env, &json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs `table_name`"), "{err}");
    let err = handlers::sync(&env, &json!({"table_name": "x; DROP"}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a DAP table name"), "{err}");
    let check = handlers::sync(&env, &json!({"check": true})).await.unwrap();
    assert_eq!(check["state"], "ok");
    db.close().await;
}

#[tokio::test]
async fn a_table_being_refreshed_elsewhere_is_refused() {
    let s = "t_lock";
    let db = database(s).await;
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=5, 5));
    let env = Env {
        dap: client(&dap.start().await),
        db: superuser(DATABASE),
        schema: s.into(),
        skip_tables: Vec::new(),
    };
    assert!(canvas_data::db::lock_table(&db.client, s, "people")
        .await
        .unwrap());
    let err = handlers::sync(&env, &json!({"table_name": "people"}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("people is being refreshed by another run"),
        "{err}"
    );
    db.close().await;
    assert_eq!(refresh(&env, "people").await.unwrap(), "complete");
}

#[tokio::test]
async fn prepare_is_idempotent_and_the_role_can_load_tables() {
    let app = DbConfig::from_secret_json(
        &json!({"username": "canvas_test_app", "password": "test-only-password",
                "host": "127.0.0.1", "port": port(), "dbname": "canvas_prepared"})
        .to_string(),
    )
    .unwrap();
    let admin = superuser("postgres");
    let first = canvas_data::prepare::prepare(&admin, &app, "replica")
        .await
        .unwrap();
    let second = canvas_data::prepare::prepare(&admin, &app, "replica")
        .await
        .unwrap();
    assert!(
        second
            .iter()
            .any(|l| l == "database canvas_prepared: exists"),
        "{first:?} {second:?}"
    );
    assert!(second
        .iter()
        .any(|l| l.starts_with("role canvas_test_app: password set")));
    assert!(!format!("{first:?}{second:?}").contains("test-only-password"));
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=20, 7));
    let env = Env {
        dap: client(&dap.start().await),
        db: app,
        schema: "replica".into(),
        skip_tables: Vec::new(),
    };
    assert_eq!(refresh(&env, "people").await.unwrap(), "complete");
    let db = db::connect(&superuser("canvas_prepared")).await.unwrap();
    let owner: String = db
        .client
        .query_one("SELECT tableowner::text FROM pg_tables WHERE schemaname = 'replica' AND tablename = 'people'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "canvas_test_app");
    db.close().await;
}
