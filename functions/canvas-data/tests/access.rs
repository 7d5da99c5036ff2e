//! What consumers rely on across a table's replacement by a new snapshot: their views, grants,
//! comments and indexes; and the read-only login `db-prepare` creates for them.

mod common;

use canvas_data::db::{self, DbConfig};
use canvas_data::fake::FakeDap;
use canvas_data::init::{init_table, Limits};
use canvas_data::sync::sync_table;
use canvas_data::State;
use common::*;
use serde_json::json;

#[tokio::test]
async fn views_grants_and_indexes_survive_a_reinit_and_a_column_type_change() {
    let sc = Scratch::new("t_views").await;
    let s = sc.schema.as_str();
    let viewer = unique("canvas_test_viewer");
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=10, 4));
    let c = client(&dap.start().await);
    let limits = Limits::default();
    init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    db.client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {viewer}; CREATE ROLE {viewer};
             CREATE VIEW {s}.people_scores WITH (security_barrier) AS
                 SELECT id, score FROM {s}.people WHERE active;
             CREATE VIEW {s}.top_scores AS SELECT * FROM {s}.people_scores WHERE id <= 4;
             CREATE MATERIALIZED VIEW {s}.people_count AS SELECT count(*) AS n FROM {s}.people;
             CREATE UNIQUE INDEX people_count_n ON {s}.people_count (n);
             CREATE INDEX people_by_name ON {s}.people (name);
             COMMENT ON TABLE {s}.people IS 'replica of people';
             COMMENT ON VIEW {s}.top_scores IS 'the first few';
             GRANT SELECT ON {s}.people, {s}.top_scores TO {viewer};
             GRANT SELECT, UPDATE ON {s}.people_scores TO {viewer} WITH GRANT OPTION;"
        ))
        .await
        .unwrap();

    // a re-init replaces the table
    dap.set_table("people", people(1..=20, 6));
    let r = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!((r.state, r.rows), (State::Complete, 20));
    let check = |what: &str| format!("SELECT count(*) FROM {s}.{what}");
    assert_eq!(
        sc.count(&check("top_scores")).await,
        2,
        "ids 2 and 4 are active"
    );
    assert_eq!(sc.count(&check("people_scores")).await, 10);
    let n: i64 = db
        .client
        .query_one(&format!("SELECT n FROM {s}.people_count"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20, "the materialized view was rebuilt on the new rows");
    let facts = db
        .client
        .query_one(
            &format!(
                "SELECT has_table_privilege('{viewer}', '{s}.people', 'SELECT'),
                        has_table_privilege('{viewer}', '{s}.top_scores', 'SELECT'),
                        has_table_privilege('{viewer}', '{s}.people_scores', 'UPDATE WITH GRANT OPTION'),
                        obj_description('{s}.people'::regclass, 'pg_class'),
                        obj_description('{s}.top_scores'::regclass, 'pg_class'),
                        to_regclass('{s}.people_by_name') IS NOT NULL,
                        to_regclass('{s}.people_count_n') IS NOT NULL,
                        (SELECT reloptions::text FROM pg_class WHERE oid = '{s}.people_scores'::regclass)"
            ),
            &[],
        )
        .await
        .unwrap();
    assert!(facts.get::<_, bool>(0) && facts.get::<_, bool>(1) && facts.get::<_, bool>(2));
    assert_eq!(
        facts.get::<_, Option<String>>(3).as_deref(),
        Some("replica of people")
    );
    assert_eq!(
        facts.get::<_, Option<String>>(4).as_deref(),
        Some("the first few")
    );
    assert!(
        facts.get::<_, bool>(5) && facts.get::<_, bool>(6),
        "indexes rebuilt"
    );
    assert_eq!(
        facts.get::<_, Option<String>>(7).as_deref(),
        Some("{security_barrier=true}")
    );

    // a changed column type goes through a re-init too; the view follows the new type
    let mut t = dap.table("people").unwrap();
    t.schema["properties"]["value"]["properties"]["score"] = json!({"type": "string"});
    t.snapshot = vec![r#"{"key":{"id":1},"value":{"score":"high","active":true}}"#.into()];
    dap.set_table("people", t);
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!(r.state, State::NeedsInit);
    let r = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!(r.state, State::Complete);
    let score: String = db
        .client
        .query_one(&format!("SELECT score FROM {s}.top_scores"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(score, "high");
    let ty: String = db
        .client
        .query_one(
            &format!(
                "SELECT data_type::text FROM information_schema.columns
                 WHERE table_schema = '{s}' AND table_name = 'people_scores' AND column_name = 'score'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ty, "text");
    db.close().await;
    sc.finish().await;
    let admin = db::connect(&superuser(DATABASE)).await.unwrap();
    admin
        .client
        .batch_execute(&format!("DROP ROLE {viewer}"))
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::test]
async fn a_view_that_cannot_follow_the_new_table_fails_the_swap_and_keeps_the_old_table() {
    let sc = Scratch::new("t_gone").await;
    let s = sc.schema.as_str();
    let mut db = db::connect(&superuser(DATABASE)).await.unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=10, 4));
    let c = client(&dap.start().await);
    let limits = Limits::default();
    init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    db.client
        .batch_execute(&format!(
            "CREATE VIEW {s}.people_settings AS SELECT id, settings FROM {s}.people"
        ))
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    let value = &mut t.schema["properties"]["value"]["properties"];
    value.as_object_mut().unwrap().remove("settings");
    dap.set_table("people", t);
    let err = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("recreating {s}.people_settings on the new people"))
            && err.contains("settings"),
        "{err}"
    );
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people_settings"))
            .await,
        10
    );
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn prepare_makes_an_app_role_and_a_reader_that_reads_tables_made_later() {
    let app_user = unique("canvas_test_app");
    let reader_user = format!("{app_user}_reader");
    let dbname = unique("canvas_prepared");
    let login = |user: &str, password: &str| {
        DbConfig::from_secret_json(
            &json!({"username": user, "password": password,
                    "host": "127.0.0.1", "port": port(), "dbname": dbname})
            .to_string(),
        )
        .unwrap()
    };
    let app = login(&app_user, "test-only-password");
    let reader = login(&reader_user, "test-only-reader-password");
    let admin = superuser("postgres");
    let prepare =
        || canvas_data::prepare::prepare_with_reader(&admin, &app, Some(&reader), "replica");
    let first = prepare().await.unwrap();
    let second = prepare().await.unwrap();
    assert!(
        second
            .iter()
            .any(|l| l == &format!("database {dbname}: exists")),
        "{first:?} {second:?}"
    );
    assert!(second
        .iter()
        .any(|l| l.starts_with(&format!("role {app_user}: password set"))));
    assert!(second
        .iter()
        .any(|l| l.starts_with(&format!("role {reader_user}: password set"))));
    let printed = format!("{first:?}{second:?}");
    assert!(!printed.contains("test-only-password") && !printed.contains("reader-password"));

    let dap = FakeDap::new();
    dap.set_table("people", people(1..=20, 7));
    let env = canvas_data::handlers::Env {
        db: app,
        schema: "replica".into(),
        ..Scratch::env_for(&dap.start().await)
    };
    assert_eq!(refresh_state(&env, "people").await.unwrap(), "complete");
    let as_reader = db::connect(&reader).await.unwrap();
    let read = |sql: &'static str| {
        let c = &as_reader.client;
        async move { c.query_one(sql, &[]).await.map(|r| r.get::<_, i64>(0)) }
    };
    assert_eq!(
        read("SELECT count(*) FROM replica.people").await.unwrap(),
        20
    );
    let denied = as_reader
        .client
        .batch_execute("DELETE FROM replica.people")
        .await
        .unwrap_err();
    assert_eq!(denied.code().unwrap().code(), "42501", "{denied}");

    // a re-init creates a new table; the reader reads it without a new grant
    let mut t = dap.table("people").unwrap();
    t.schema["properties"]["value"]["properties"]["score"] = json!({"type": "string"});
    t.snapshot = vec![r#"{"key":{"id":1},"value":{"score":"x"}}"#.into()];
    dap.set_table("people", t);
    assert_eq!(refresh_state(&env, "people").await.unwrap(), "complete");
    assert_eq!(
        read("SELECT count(*) FROM replica.people").await.unwrap(),
        1
    );
    as_reader.close().await;

    let owner: String = {
        let db = db::connect(&superuser(&dbname)).await.unwrap();
        let owner = db
            .client
            .query_one("SELECT tableowner::text FROM pg_tables WHERE schemaname = 'replica' AND tablename = 'people'", &[])
            .await
            .unwrap()
            .get(0);
        db.close().await;
        owner
    };
    assert_eq!(owner, app_user);
    let server = db::connect(&superuser("postgres")).await.unwrap();
    // one statement each: DROP DATABASE refuses to run in a (multi-statement) transaction
    for sql in [
        format!("DROP DATABASE {dbname} WITH (FORCE)"),
        format!("DROP ROLE {reader_user}"),
        format!("DROP ROLE {app_user}"),
    ] {
        server.client.batch_execute(&sql).await.unwrap();
    }
    server.close().await;
}
