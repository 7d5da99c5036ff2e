//! `cargo xtask canvas-data status|reset`: what the operator sees and what a reset leaves.

mod common;

use std::time::{Duration, Instant};

use canvas_data::fake::FakeDap;
use canvas_data::handlers;
use canvas_data::init::{init_table, Limits};
use canvas_data::ops;
use common::*;
use serde_json::json;

#[tokio::test]
async fn status_shows_each_table_and_reset_makes_the_next_run_start_over() {
    let sc = Scratch::new("t_ops").await;
    let s = sc.schema.as_str();
    let mut db = canvas_data::db::connect(&superuser(DATABASE))
        .await
        .unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=40, 10));
    dap.set_table("loading", people(1..=40, 10));
    let mut broken = people(1..=10, 5);
    broken.snapshot[0] = "{not json\n".into();
    dap.set_table("broken", broken);
    let url = dap.start().await;
    let c = client(&url);
    let limits = Limits::default();
    init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    dap.stall_object("loading", 2);
    init_table(&c, &mut db.client, s, "loading", short(3), limits)
        .await
        .unwrap();
    init_table(&c, &mut db.client, s, "broken", plenty(), limits)
        .await
        .unwrap_err();

    let tables = ops::status(&db.client, s).await.unwrap();
    let by = |name: &str| tables.iter().find(|t| t.table == name).unwrap().clone();
    let people = by("people");
    assert_eq!((people.state.as_str(), people.rows), ("loaded", Some(40)));
    assert_eq!(people.until.as_deref(), Some("2026-11-01T00:00:00Z"));
    assert!(people.lag_hours.unwrap() > 0.0);
    assert_eq!((people.checkpoint, people.last_error), (None, None));
    let loading = by("loading");
    assert_eq!(
        (loading.state.as_str(), loading.rows),
        ("loading", Some(20))
    );
    let checkpoint = loading.checkpoint.unwrap();
    assert!(
        checkpoint.starts_with("init 2/4 objects, job job-") && checkpoint.ends_with(", 0 h old"),
        "{checkpoint}"
    );
    let broken = by("broken");
    assert_eq!((broken.state.as_str(), broken.failures), ("failing", 1));
    assert!(
        broken
            .last_error
            .as_deref()
            .unwrap()
            .contains("line 1: malformed JSON"),
        "{broken:?}"
    );
    let text = ops::render(&tables);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("table    state    rows  until"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("people   loaded   40    2026-11-01T00:00:00Z"),
        "{text}"
    );
    assert!(lines[2].contains("init 2/4 objects"), "{text}");
    assert!(
        lines[1].contains("malformed JSON") && lines[1].ends_with("(1×)"),
        "{text}"
    );

    // on AWS the same goes through the sync function
    let env = sc.env(&url);
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = handlers::sync(&env, &json!({"operator": "status"}), deadline)
        .await
        .unwrap();
    assert_eq!(answer["tables"].as_array().unwrap().len(), 3);
    assert_eq!(answer["tables"][2]["state"], "loaded");

    // a reset drops staging and checkpoint; the next run re-inits with a new job
    let queries = dap.queries().len();
    let answer = handlers::sync(
        &env,
        &json!({"operator": "reset", "table_name": "loading"}),
        deadline,
    )
    .await
    .unwrap();
    assert_eq!(answer["done"][0], "loading: staging table dropped");
    assert_eq!(
        sc.count(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{s}' AND tablename = 'loading__init'"
        ))
        .await,
        0
    );
    let loading = ops::status(&db.client, s).await.unwrap()[1].clone();
    assert_eq!((loading.state.as_str(), loading.checkpoint), ("new", None));
    let done = ops::reset(&mut db.client, s, "people").await.unwrap();
    assert_eq!(
        done,
        vec![
            "people: checkpoints, failures and until cleared; the next run takes a fresh snapshot"
        ]
    );
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        40,
        "still readable"
    );
    let out = refresh(&env, "people").await.unwrap();
    assert_eq!(out["state"], "complete");
    assert_eq!(out["reason"], "no recorded `until` (reset by an operator)");
    assert_eq!(dap.queries().len(), queries + 1, "a new snapshot job");

    // a table a run holds is not reset under it
    let other = canvas_data::db::connect(&superuser(DATABASE))
        .await
        .unwrap();
    assert!(canvas_data::db::lock_table(&other.client, s, "people")
        .await
        .unwrap());
    let err = ops::reset(&mut db.client, s, "people")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is being refreshed by another run"), "{err}");
    other.close().await;
    let err = ops::reset(&mut db.client, s, "x; DROP")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a DAP table name"), "{err}");
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn a_meta_table_of_the_previous_release_gains_the_new_columns() {
    let sc = Scratch::new("t_migrate").await;
    let s = sc.schema.as_str();
    sc.db
        .client
        .batch_execute(&format!(
            "DROP TABLE {s}.dap_meta;
             CREATE TABLE {s}.dap_meta (
                table_name text PRIMARY KEY, schema_version bigint, until text,
                columns jsonb NOT NULL DEFAULT '[]', init_checkpoint jsonb,
                updated_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO {s}.dap_meta (table_name, until) VALUES ('people', '2026-11-01T00:00:00Z');"
        ))
        .await
        .unwrap();
    canvas_data::db::meta::ensure(&sc.db.client, s)
        .await
        .unwrap();
    let m = canvas_data::db::meta::get(&sc.db.client, s, "people")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.until.as_deref(), Some("2026-11-01T00:00:00Z"));
    assert_eq!(
        (m.failures, m.last_error, m.sync_checkpoint),
        (0, None, None)
    );
    sc.finish().await;
}
