//! The DAP client against the fake: login and renewal, retries, jobs and streamed objects.

use std::time::Duration;

use canvas_data::dap::{Credentials, DapClient, DapError, Timing};
use canvas_data::fake::{self, FakeDap, FakeTable};
use serde_json::json;
use support::Secret;

fn fast() -> Timing {
    Timing {
        attempts: 4,
        poll_first: Duration::from_millis(5),
        poll_max: Duration::from_millis(20),
        job_timeout: Duration::from_secs(10),
    }
}

async fn client(secret: &str) -> (FakeDap, DapClient) {
    let dap = fake::sample();
    let url = dap.start().await;
    let client = DapClient::new(
        &url,
        Credentials {
            client_id: fake::CLIENT_ID.into(),
            client_secret: Secret::new(secret),
        },
        fast(),
    );
    (dap, client)
}

#[tokio::test]
async fn lists_tables_and_reuses_the_token() {
    let (dap, c) = client(fake::CLIENT_SECRET).await;
    assert_eq!(c.tables().await.unwrap(), vec!["accounts", "courses"]);
    assert_eq!(c.schema("courses").await.unwrap().version, 2);
    assert_eq!(dap.logins(), 1);
}

#[tokio::test]
async fn renews_a_token_near_expiry_and_after_a_401() {
    let (dap, c) = client(fake::CLIENT_SECRET).await;
    c.tables().await.unwrap();
    dap.revoke_tokens();
    c.tables().await.unwrap();
    assert_eq!(dap.logins(), 2, "a 401 renews the token once");
    // a short-lived token is used for half its life, then renewed before it expires
    dap.token_ttl(1);
    dap.revoke_tokens();
    c.tables().await.unwrap();
    c.tables().await.unwrap();
    assert_eq!(dap.logins(), 3);
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.tables().await.unwrap();
    assert_eq!(dap.logins(), 4);
}

#[tokio::test]
async fn retries_429_then_gives_up_with_the_status() {
    let (dap, c) = client(fake::CLIENT_SECRET).await;
    c.tables().await.unwrap();
    dap.throttle_next(3);
    assert_eq!(c.tables().await.unwrap().len(), 2);
    dap.throttle_next(10);
    let err = c.tables().await.unwrap_err();
    assert!(matches!(err, DapError::Status { status: 429, .. }), "{err}");
    assert!(err.to_string().starts_with("DAP list tables: HTTP 429"));
}

#[tokio::test]
async fn bad_credentials_fail_without_showing_them() {
    let (_, c) = client("wrong-secret-value").await;
    let err = c.tables().await.unwrap_err().to_string();
    assert!(err.contains("login: HTTP 401"), "{err}");
    assert!(!err.contains("wrong-secret-value"));
}

#[tokio::test]
async fn snapshot_and_incremental_jobs_stream_their_objects() {
    let (dap, c) = client(fake::CLIENT_SECRET).await;
    dap.polls_before_complete(3);
    let snapshot = c.query("accounts", None).await.unwrap();
    assert_eq!(snapshot.objects.len(), 3);
    assert_eq!(snapshot.until, "2026-11-01T00:00:00Z", "a snapshot's `at`");
    let mut lines = 0;
    for object in &snapshot.objects {
        let mut reader = c.open(object).await.unwrap();
        let mut line = Vec::new();
        while reader.next_line(&mut line).await.unwrap() {
            let row: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert!(row["key"]["id"].is_i64());
            lines += 1;
        }
    }
    assert_eq!(lines, 25);
    let changes = c.query("accounts", Some(&snapshot.until)).await.unwrap();
    assert_eq!(changes.until, "2026-11-02T00:00:00Z");
    assert_eq!(
        dap.queries(),
        vec![
            ("accounts".to_string(), None),
            ("accounts".to_string(), Some(snapshot.until.clone()))
        ]
    );
    let missing = c.query("nope", None).await.unwrap_err().to_string();
    assert!(
        missing.contains("HTTP 404") && missing.contains("table nope not found"),
        "{missing}"
    );
    dap.set_table(
        "empty",
        FakeTable {
            version: 1,
            schema: fake::table_schema(json!({"id": {"type": "integer"}}), json!({})),
            at: "2026-01-01T00:00:00Z".into(),
            ..FakeTable::default()
        },
    );
    assert!(c.query("empty", None).await.unwrap().objects.is_empty());
}
