//! Tables that heal themselves: an expired snapshot job, the same failure over and over, the
//! round cap of one execution, and a sync backlog larger than one run.

mod common;

use std::time::{Duration, Instant};

use canvas_data::fake::FakeDap;
use canvas_data::handlers;
use canvas_data::init::{init_table, Limits};
use canvas_data::sync::sync_table;
use canvas_data::State;
use common::*;
use serde_json::json;

#[tokio::test]
async fn an_expired_job_behind_a_checkpoint_starts_over_with_a_new_snapshot() {
    let sc = Scratch::new("t_expired").await;
    let s = sc.schema.as_str();
    let mut db = canvas_data::db::connect(&superuser(DATABASE))
        .await
        .unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=600, 100));
    dap.stall_object("people", 3);
    let c = client(&dap.start().await);
    let limits = Limits::default();
    let first = init_table(&c, &mut db.client, s, "people", short(3), limits)
        .await
        .unwrap();
    assert_eq!(
        (first.state, first.objects_done),
        (State::NeedsInitContinue, 3)
    );
    assert_eq!(first.restarted, None);

    // DAP forgot the job: its objects answer 404
    dap.expire_jobs();
    let second = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!(second.state, State::Complete);
    assert_eq!((second.rows, second.objects_done), (600, 6));
    let why = second.restarted.unwrap();
    assert!(why.contains("expired") && why.contains("HTTP 404"), "{why}");
    assert!(why.contains("started over with a new snapshot"), "{why}");
    assert_eq!(dap.queries().len(), 2);
    assert_eq!(
        sc.count(&format!("SELECT count(DISTINCT id) FROM {s}.people"))
            .await,
        600
    );

    // a checkpoint older than DAP keeps its jobs starts over without asking for the old job
    dap.stall_object("people", 2);
    let third = init_table(&c, &mut db.client, s, "people", short(3), limits)
        .await
        .unwrap();
    assert_eq!(
        (third.state, third.objects_done),
        (State::NeedsInitContinue, 2)
    );
    db.client
        .batch_execute(&format!(
            "UPDATE {s}.dap_meta SET init_checkpoint = jsonb_set(init_checkpoint, '{{started}}',
                to_jsonb(floor(extract(epoch FROM now()))::bigint - 25 * 3600 - 600))"
        ))
        .await
        .unwrap();
    let fourth = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!((fourth.state, fourth.rows), (State::Complete, 600));
    let why = fourth.restarted.unwrap();
    assert!(why.contains("is 25 h old"), "{why}");
    assert_eq!(dap.queries().len(), 4);
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn the_same_failure_n_times_drops_the_checkpoint() {
    let sc = Scratch::new("t_same").await;
    let s = sc.schema.as_str();
    let mut db = canvas_data::db::connect(&superuser(DATABASE))
        .await
        .unwrap();
    let dap = FakeDap::new();
    let good = people(1..=30, 10);
    let mut bad = good.clone();
    bad.snapshot[1] = bad.snapshot[1].replacen("{\"key\":{\"id\":15}", "{\"key\":{\"id\":15", 1);
    dap.set_table("people", bad);
    let c = client(&dap.start().await);
    let limits = Limits {
        max_same_failures: 3,
        ..Limits::default()
    };
    let mut errors = Vec::new();
    for _ in 0..3 {
        let e = init_table(&c, &mut db.client, s, "people", plenty(), limits)
            .await
            .unwrap_err();
        errors.push(e.to_string());
    }
    assert!(errors.iter().all(|e| e == &errors[0]), "{errors:?}");
    assert_eq!(dap.queries().len(), 1, "resumed the same job while under N");
    let failures: i32 = db
        .client
        .query_one(&format!("SELECT failures FROM {s}.dap_meta"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 3);
    // DAP has fixed its data meanwhile; only a new job sees that
    dap.set_table("people", good);
    let r = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!((r.state, r.rows), (State::Complete, 30));
    let why = r.restarted.unwrap();
    assert!(why.contains("failed 3 runs in a row"), "{why}");
    assert!(why.contains("line 5: malformed JSON"), "{why}");
    assert_eq!(dap.queries().len(), 2);
    let (failures, error): (i32, Option<String>) = db
        .client
        .query_one(
            &format!("SELECT failures, last_error FROM {s}.dap_meta"),
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((failures, error), (0, None));
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn past_the_round_cap_a_table_fails_and_the_next_execution_resumes() {
    let sc = Scratch::new("t_rounds").await;
    let s = sc.schema.as_str();
    let mut db = canvas_data::db::connect(&superuser(DATABASE))
        .await
        .unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=400, 100));
    dap.stall_object("people", 2);
    let url = dap.start().await;
    let c = client(&url);
    init_table(&c, &mut db.client, s, "people", short(3), Limits::default())
        .await
        .unwrap();
    let env = canvas_data::handlers::Env {
        limits: Limits {
            max_rounds: 5,
            ..Limits::default()
        },
        ..sc.env(&url)
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    // what the state machine passes on after the fifth round of this execution
    let event = json!({"table_name": "people", "state": "needs_init_continue", "round": 5});
    let err = handlers::init(&env, &event, deadline)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("people: stopped after 5 rounds in this execution"),
        "{err}"
    );
    let checkpoint: i64 = db
        .client
        .query_one(
            &format!("SELECT (init_checkpoint->>'next')::bigint FROM {s}.dap_meta"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        checkpoint, 2,
        "the checkpoint is left for the next execution"
    );
    // an execution near its timeout begins no new run either, so it still reaches its summary
    let env = canvas_data::handlers::Env {
        limits: Limits {
            execution_budget: Some(Duration::from_secs(3600)),
            ..env.limits
        },
        ..env
    };
    let event = json!({"table_name": "people", "state": "needs_init_continue", "round": 1,
                       "execution_started": "2026-01-01T00:00:00.000Z"});
    let err = handlers::init(&env, &event, deadline)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("people: stopped, this execution has less than one function run left"),
        "{err}"
    );
    // the next execution starts counting again and resumes the same job
    let out = refresh(&env, "people").await.unwrap();
    assert_eq!(out["state"], "complete");
    assert_eq!(out["rows"], 400);
    assert_eq!(dap.queries().len(), 1);
    db.close().await;
    sc.finish().await;
}

#[tokio::test]
async fn a_sync_backlog_larger_than_one_run_commits_in_steps_or_falls_back() {
    let sc = Scratch::new("t_backlog").await;
    let s = sc.schema.as_str();
    let mut db = canvas_data::db::connect(&superuser(DATABASE))
        .await
        .unwrap();
    let dap = FakeDap::new();
    dap.set_table("people", people(1..=10, 5));
    let c = client(&dap.start().await);
    let limits = Limits::default();
    init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    let mut t = dap.table("people").unwrap();
    t.changes = vec![
        upsert(1, "one"),
        delete(2),
        upsert(11, "eleven"),
        [upsert(1, "one, last"), delete(11)].join("\n"),
    ];
    dap.set_table("people", t);
    dap.stall_object("people", 2);
    let first = sync_table(&c, &mut db.client, s, "people", short(3), limits)
        .await
        .unwrap();
    assert_eq!(first.state, State::NeedsSyncContinue);
    assert_eq!((first.objects_done, first.objects_total), (2, 4));
    assert!(
        first
            .note
            .as_deref()
            .unwrap()
            .contains("committing in steps"),
        "{first:?}"
    );
    // objects 0 and 1 are in, `until` waits for the rest
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        9
    );
    assert_eq!(
        sc.until("people").await.as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
    let second = sync_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!(second.state, State::Complete);
    assert_eq!(
        (second.objects_done, second.upserts, second.deletes),
        (4, 3, 2)
    );
    assert!(
        second.note.as_deref().unwrap().contains("in steps"),
        "{second:?}"
    );
    assert_eq!(
        dap.queries().len(),
        2,
        "the second run kept the first run's job"
    );
    assert_eq!(
        sc.until("people").await.as_deref(),
        Some("2026-11-02T00:00:00Z")
    );
    let name: String = db
        .client
        .query_one(&format!("SELECT name FROM {s}.people WHERE id = 1"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "one, last");
    assert_eq!(
        sc.count(&format!("SELECT count(*) FROM {s}.people")).await,
        9
    );

    // not even one object fits in a run: a fresh snapshot instead
    dap.stall_object("people", 0);
    let third = sync_table(&c, &mut db.client, s, "people", short(3), limits)
        .await
        .unwrap();
    assert_eq!(third.state, State::NeedsInit);
    let reason = third.reason.unwrap();
    assert!(
        reason.contains("did not fit in one run; falling back to a fresh snapshot"),
        "{reason}"
    );
    // while that snapshot is under way, syncs route to it instead of starting new jobs
    dap.stall_object("people", 1);
    let r = init_table(&c, &mut db.client, s, "people", short(3), limits)
        .await
        .unwrap();
    assert_eq!((r.state, r.objects_done), (State::NeedsInitContinue, 1));
    let queries = dap.queries().len();
    let r = sync_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!(r.state, State::NeedsInit);
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("under way (1 of 2 objects loaded)"),
        "{reason}"
    );
    assert_eq!(dap.queries().len(), queries);
    let r = init_table(&c, &mut db.client, s, "people", plenty(), limits)
        .await
        .unwrap();
    assert_eq!(r.state, State::Complete);
    let pending: Option<String> = db
        .client
        .query_one(
            &format!("SELECT sync_checkpoint::text FROM {s}.dap_meta"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, None);
    db.close().await;
    sc.finish().await;
}
