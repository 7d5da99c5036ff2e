//! The refresh function: canonical objects after a purge, recent variants within bounds, one
//! MIPS session, failures reported while the rest continue.

use std::time::{Duration, Instant};

use mips_cache::refresh::refresh;
use serde_json::json;
use time::macros::date;
use wiremock::ResponseTemplate;

use crate::fake::{self, item, success};
use crate::{call, env, env_with, get};

/// The refresh function's budget.
fn minutes() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

const TODAY_KEY: &str = "cache/balances?from=2024-06-01&to=2024-06-20";

#[tokio::test]
async fn refresh_after_a_purge_rebuilds_the_canonical_objects_in_one_session() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    e.mips
        .balances(
            "2024-06-01",
            "2024-06-20",
            success(vec![item("1000", 3, 12.5, "Ending Balance")]),
        )
        .await;
    let purged = e
        .app
        .handle(json!({"action": "purge"}), crate::deadline())
        .await
        .unwrap();
    assert_eq!(purged["deleted"], 0);
    let report = refresh(&e.app, date!(2024 - 06 - 20), minutes(), false)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        report.refreshed,
        ["cache/accounts", "cache/tags", TODAY_KEY]
    );
    assert_eq!(e.keys().await, ["cache/accounts", TODAY_KEY, "cache/tags"]);
    assert!(e
        .body(TODAY_KEY)
        .await
        .contains("1000,Cash,2024-06-01,2024-06-20,0.00,0.00,12.50"));
    assert_eq!(e.mips.logins_and_logouts().await, (1, 1));
    let (_, cache, _) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!(
        cache.as_deref(),
        Some("HIT"),
        "the API serves what the refresh built"
    );
}

#[tokio::test]
async fn a_failing_variant_is_reported_and_the_rest_are_rebuilt() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    // asked for by callers: a limited list and the balances of May (asked on June 3rd)
    call(&e.app, get("/accounts", &[("limit", "1")])).await;
    e.mips
        .balances("2024-05-01", "2024-05-31", success(vec![]))
        .await;
    call(&e.app, get("/balances", &[("target_date", "2024-06-03")])).await;
    e.mips.server.reset().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    e.mips
        .balances("2024-06-01", "2024-06-20", success(vec![]))
        .await;
    e.mips
        .balances(
            "2024-05-01",
            "2024-05-31",
            ResponseTemplate::new(200)
                .set_body_json(json!({"executionResult": "FAILURE", "extraInformation": {}})),
        )
        .await;
    let may = "cache/balances?from=2024-05-01&to=2024-05-31";
    let may_before = e.body(may).await;
    let report = refresh(&e.app, date!(2024 - 06 - 20), minutes(), false)
        .await
        .unwrap();
    assert_eq!(report.failed.keys().collect::<Vec<_>>(), [may]);
    assert!(report.failed[may].contains("FAILURE"), "{report:?}");
    assert_eq!(
        report.refreshed,
        [
            "cache/accounts",
            "cache/tags",
            TODAY_KEY,
            "cache/accounts?limit=1"
        ]
    );
    assert_eq!(
        e.body(may).await,
        may_before,
        "the failed variant keeps its last good object"
    );
    assert_eq!(
        e.mips.logins_and_logouts().await,
        (1, 1),
        "one session for all"
    );
    assert_eq!(e.mips.count(fake::BALANCES).await, 2, "one call per period");
}

#[tokio::test]
async fn refreshing_keeps_asked_at_so_unused_variants_expire_and_variants_are_bounded() {
    let e = env_with(|c| c.refresh_max_variants = 1).await;
    e.mips.sessions().await;
    e.mips.chart().await;
    e.mips
        .balances("2024-06-01", "2024-06-20", success(vec![]))
        .await;
    let now = mips_cache::cache::now();
    let day = 86400;
    e.put_asked_at("cache/tags?limit=1", "[]", now - 2 * day)
        .await;
    e.put_asked_at("cache/tags?limit=2", "[]", now - day).await;
    e.put_asked_at("cache/accounts?limit=9", "{}", now - 31 * day)
        .await;
    e.put_asked_at("cache/accounts?show_other_code=true", "{}", now)
        .await;
    let plan = refresh(&e.app, date!(2024 - 06 - 20), minutes(), true)
        .await
        .unwrap();
    assert_eq!(
        plan.refreshed,
        [
            "cache/accounts",
            "cache/tags",
            TODAY_KEY,
            "cache/tags?limit=2"
        ]
    );
    assert!(
        e.mips.server.received_requests().await.unwrap().is_empty(),
        "a dry run reads only the bucket"
    );
    assert_eq!(e.keys().await.len(), 4, "a dry run deletes nothing");

    let report = refresh(&e.app, date!(2024 - 06 - 20), minutes(), false)
        .await
        .unwrap();
    assert_eq!(
        report.refreshed,
        [
            "cache/accounts",
            "cache/tags",
            TODAY_KEY,
            "cache/tags?limit=2"
        ],
        "canonical objects, then at most 1 variant: the most recently asked"
    );
    assert_eq!(report.skipped, ["cache/tags?limit=1"]);
    assert_eq!(
        report.expired,
        [
            "cache/accounts?limit=9",
            "cache/accounts?show_other_code=true"
        ],
        "not asked within 30 days; and a key no request can reach"
    );
    let meta = e.metadata("cache/tags?limit=2").await;
    assert_eq!(
        meta["asked-at"],
        (now - day).to_string(),
        "a refresh is not a request"
    );
    assert_ne!(meta["checked-at"], (now - day).to_string());
    assert_eq!(
        e.keys().await,
        [
            "cache/accounts",
            TODAY_KEY,
            "cache/tags",
            "cache/tags?limit=1",
            "cache/tags?limit=2"
        ]
    );
}

#[tokio::test]
async fn the_function_takes_refresh_events_and_a_dry_run_needs_no_mips() {
    let e = env().await;
    let out = mips_cache::refresh::handle(
        &e.app,
        json!({"action": "refresh", "dry_run": true}),
        minutes(),
    )
    .await
    .unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["dry_run"], true);
    assert_eq!(out["refreshed"].as_array().unwrap().len(), 3, "{out}");
    assert!(e.mips.server.received_requests().await.unwrap().is_empty());
    for bad in [
        json!({"action": "purge"}),
        json!({"action": "refresh", "dry_run": "yes"}),
    ] {
        let err = mips_cache::refresh::handle(&e.app, bad.clone(), minutes())
            .await
            .unwrap_err();
        assert!(matches!(err, mips_cache::Error::Event(_)), "{bad}: {err}");
    }
}

#[tokio::test]
async fn a_refresh_that_cannot_read_the_chart_fails_and_still_logs_out() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.get(fake::SEGMENTS, ResponseTemplate::new(500)).await;
    let err = refresh(&e.app, date!(2024 - 06 - 20), minutes(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("segments"), "{err}");
    assert_eq!(e.mips.logins_and_logouts().await, (1, 1));
}
