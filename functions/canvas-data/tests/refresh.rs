//! Snapshot loads, resumes, incremental syncs and schema changes against the local stage's
//! PostgreSQL (`cargo xtask local up`) and the fake DAP API.

mod common;

use canvas_data::db;
use canvas_data::fake::{self, FakeDap};
use canvas_data::handlers::{self, Env};
use canvas_data::init::Budget;
use canvas_data::init::{init_table, Limits};
use canvas_data::sync::sync_table;
use canvas_data::State;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn init_loads_a_multi_object_snapshot_and_swaps_it_in() {
    let sc = Scratch::new("t_init").await;
    let s = sc.schema.as_str();
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=1000, 143));
    let c = client(&dap.start().await);
    let r = init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(r.state, State::Complete);
    assert_eq!((r.rows, r.objects_done, r.objects_total), (1000, 7, 7));
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        1000
    );
    let row = db
        .client
        .query_one(
            &format!("SELECT name, score, active, created_at = '2026-03-04T05:06:07Z', settings->>'s', pg_typeof(settings)::text
             FROM {s}.people WHERE id = 10"),
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
    let pk = sc.count(&format!("SELECT count(*) FROM pg_constraint WHERE conrelid = '{s}.people'::regclass AND contype = 'p'"),
    )
    .await;
    assert_eq!(pk, 1, "the key columns form the primary key");
    assert_eq!(
        sc.until("people").await.as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
    assert_eq!(
        sc.count(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{s}' AND tablename LIKE '%__init'"
        ))
        .await,
        0
    );

    // a second snapshot replaces the table as a whole
    dap.set_table("people", people(501..=800, 100));
    let r = init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!((r.state, r.rows), (State::Complete, 300));
    assert_eq!(
        sc.count(&format!("SELECT min(id) FROM {s}.people")).await,
        501
    );
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        300
    );
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn init_stopped_mid_object_resumes_without_duplicates() {
    let sc = Scratch::new("t_resume").await;
    let s = sc.schema.as_str();
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=600, 100));
    dap.stall_object("people", 3);
    let c = client(&dap.start().await);
    let budget = Budget {
        deadline: Instant::now() + Duration::from_secs(3),
        reserve: Duration::from_millis(500),
    };
    let first = init_table(&c, &mut db.client, s, "people", budget, Limits::default())
        .await
        .unwrap();
    assert_eq!(first.state, State::NeedsInitContinue);
    assert_eq!((first.objects_done, first.rows), (3, 300));
    // the interrupted object left nothing behind; the old table (none) is untouched
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people__init"))
            .await,
        300
    );
    assert_eq!(
        sc.count(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{s}' AND tablename = 'people'"
        ))
        .await,
        0
    );
    assert_eq!(sc.until("people").await, None);
    // a sync meanwhile sees a table that still needs its snapshot
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(r.state, State::NeedsInit);

    let second = init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(second.state, State::Complete);
    assert_eq!((second.objects_done, second.rows), (6, 600));
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        600
    );
    assert_eq!(
        sc.count(&format!("SELECT count(DISTINCT id) FROM {s}.people"))
            .await,
        600
    );
    assert_eq!(
        dap.queries().len(),
        1,
        "the resumed run used the first run's snapshot job"
    );
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn sync_applies_upserts_and_deletes_in_order() {
    let sc = Scratch::new("t_sync").await;
    let s = sc.schema.as_str();
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=10, 4));
    let c = client(&dap.start().await);
    init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
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
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(r.state, State::Complete);
    assert_eq!((r.upserts, r.deletes), (5, 3));
    let names: Vec<(i64, Option<String>)> = db
        .client
        .query(
            &format!("SELECT id, name FROM {s}.people WHERE id IN (2,3,4,5,11) ORDER BY id"),
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
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        9
    );
    assert_eq!(
        sc.until("people").await.as_deref(),
        Some("2026-11-02T00:00:00Z")
    );
    assert_eq!(
        dap.queries().last().unwrap().1.as_deref(),
        Some("2026-11-01T00:00:00Z"),
        "the sync asked for changes since the snapshot"
    );
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn a_new_column_is_added_and_reported() {
    let sc = Scratch::new("t_schema").await;
    let s = sc.schema.as_str();
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=5, 5));
    let c = client(&dap.start().await);
    init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    t.version = 2;
    t.schema["properties"]["value"]["properties"]["nickname"] = json!({"type": "string"});
    t.changes = vec![json!({"key": {"id": 1}, "value": {"name": "one", "nickname": "uno"}, "meta": {"action": "U"}}).to_string()];
    dap.set_table("people", t.clone());
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(r.state, State::CompleteWithUpdate);
    assert_eq!(r.added_columns, vec!["nickname"]);
    let nick: Option<String> = db
        .client
        .query_one(
            &format!("SELECT nickname FROM {s}.people WHERE id = 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(nick.as_deref(), Some("uno"));
    // the next sync finds nothing new to add
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(r.state, State::Complete);

    // a changed column type cannot be altered in place: the table needs a new snapshot
    t.schema["properties"]["value"]["properties"]["score"] = json!({"type": "string"});
    dap.set_table("people", t);
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    assert_eq!(r.state, State::NeedsInit);
    assert_eq!(
        r.reason.as_deref(),
        Some("column score changed from double precision to text")
    );
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn a_bad_line_fails_its_table_and_commits_nothing_of_its_object() {
    let sc = Scratch::new("t_bad").await;
    let s = sc.schema.as_str();
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    let mut t = people(1..=30, 10);
    t.snapshot[1] = t.snapshot[1].replacen("{\"key\":{\"id\":15}", "{\"key\":{\"id\":15", 1);
    dap.set_table("people", t);
    let c = client(&dap.start().await);
    let err = init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
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
        sc.count(&format!("SELECT count(*) FROM {s}.people__init"))
            .await,
        10
    );
    assert_eq!(
        sc.count(&format!(
            "SELECT count(*) FROM {s}.people__init WHERE id > 10"
        ))
        .await,
        0
    );

    // a bad change rolls its object back; objects before it stay applied, `until` stays
    dap.set_table("people", people(1..=5, 5));
    let _ = db
        .client
        .batch_execute(&format!("DELETE FROM {s}.dap_meta"))
        .await;
    init_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    t.changes = vec![
        json!({"key": {"id": 1}, "meta": {"action": "D"}}).to_string(),
        [
            json!({"key": {"id": 3}, "meta": {"action": "D"}}).to_string(),
            json!({"key": {"id": 2}, "value": {"active": "yes"}, "meta": {"action": "U"}})
                .to_string(),
        ]
        .join("\n"),
    ];
    dap.set_table("people", t);
    let err = sync_table(&c, &mut db.client, s, "people", plenty(), Limits::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("object people/job-") && err.contains("/1, line 2"),
        "{err}"
    );
    assert!(
        err.contains("line 2: column active: expected true or false, got \"yes\""),
        "{err}"
    );
    let ids: Vec<i64> = db
        .client
        .query(&format!("SELECT id FROM {s}.people ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ids,
        vec![2, 3, 4, 5],
        "object 0 applied, object 1 rolled back"
    );
    let (failures, last_error): (i32, Option<String>) = db
        .client
        .query_one(
            &format!("SELECT failures, last_error FROM {s}.dap_meta WHERE table_name = 'people'"),
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(failures, 1);
    assert_eq!(last_error, Some(format!("sync: {err}")));
    assert_eq!(
        sc.until("people").await.as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn one_failing_table_leaves_the_others_complete() {
    let sc = Scratch::new("t_many").await;
    let s = sc.schema.as_str();
    let dap = fake::sample();
    dap.set_table("people", people(1..=50, 20));
    dap.break_schema("courses");
    let env = Env {
        skip_tables: vec!["skipped".into()],
        ..sc.env(&dap.start().await)
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
    let accounts = results[0].1.as_ref().unwrap();
    assert_eq!(accounts["state"], "complete");
    // what the summary shows per table: rows, why it needed a snapshot, rounds
    assert_eq!(accounts["rows_changed"], 25);
    assert_eq!(accounts["reason"], "never loaded");
    assert_eq!(accounts["round"], 2, "one sync, one init");
    assert!(accounts["duration_ms"].is_u64(), "{accounts}");
    assert_eq!(results[2].1.as_ref().unwrap()["state"], "complete");
    let (_, courses) = &results[1];
    let err = courses.as_ref().unwrap_err();
    assert!(err.contains("DAP schema of courses: HTTP 500"), "{err}");
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.accounts"))
            .await,
        25
    );
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        50
    );
    // the next run syncs the loaded tables incrementally
    let again = refresh(&env, "accounts").await.unwrap();
    assert_eq!(again["state"], "complete");
    assert_eq!(
        (again["upserts"].clone(), again["deletes"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(again["rows_changed"], 3);
    assert_eq!(again["reason"], Value::Null);
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.accounts"))
            .await,
        25
    );
    let renamed: String = sc
        .db
        .client
        .query_one(&format!("SELECT name FROM {s}.accounts WHERE id = 2"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(renamed, "Account 2 (renamed)");
    // bad events and table names are refused before anything runs
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let err = handlers::sync(&env, &json!({}), deadline)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs `table_name`"), "{err}");
    let err = handlers::sync(&env, &json!({"table_name": "x; DROP"}), deadline)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a DAP table name"), "{err}");
    let check = handlers::sync(&env, &json!({"check": true}), deadline)
        .await
        .unwrap();
    assert_eq!(check["state"], "ok");
    sc.finish().await;
}

#[tokio::test]
async fn a_table_being_refreshed_elsewhere_is_refused() {
    let sc = Scratch::new("t_lock").await;
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=5, 5));
    let env = sc.env(&dap.start().await);
    let other = db::connect(&superuser(DATABASE)).await.unwrap();
    assert!(
        canvas_data::db::lock_table(&other.client, &sc.schema, "people")
            .await
            .unwrap()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let err = handlers::sync(&env, &json!({"table_name": "people"}), deadline)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("people is being refreshed by another run"),
        "{err}"
    );
    other.close().await;
    assert_eq!(refresh_state(&env, "people").await.unwrap(), "complete");
    sc.finish().await;
}
