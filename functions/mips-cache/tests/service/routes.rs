//! The API function's routes and its cache: hits, normalized keys, stale answers, a cache that
//! fails, purge, and starting the refresh function.

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::fake;
use crate::{call, env, env_with, get};

#[tokio::test]
async fn miss_then_hit_under_one_normalized_key() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let (status, cache, body) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("MISS")));
    assert_eq!(
        body,
        r#"{"000001":"Other","000000":"No Program","101300":"Leadership Academy","200100":"Residency NYC"}"#,
        "Other, then No Program, then the program codes"
    );
    let (status, cache, again) = call(
        &e.app,
        get(
            "/accounts",
            &[("show_other_code", "yes"), ("hide_no_program_code", "0")],
        ),
    )
    .await;
    assert_eq!(
        (status, cache.as_deref()),
        (200, Some("HIT")),
        "defaults given explicitly are the same variant"
    );
    assert_eq!(again, body);
    assert_eq!(e.keys().await, ["cache/accounts"]);
    assert_eq!(e.mips.count(fake::LOGIN).await, 1);
}

#[tokio::test]
async fn limit_keeps_the_head_of_priority_other_no_program_then_the_rest() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let (_, _, body) = call(
        &e.app,
        get("/tags", &[("priority_codes", "200100"), ("limit", "3")]),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([
            "Residency NYC / 200100",
            "Other / 000001",
            "No Program / 000000"
        ])
    );
    assert_eq!(e.keys().await, ["cache/tags?limit=3&priority_codes=200100"]);
}

#[tokio::test]
async fn a_hit_records_that_the_variant_is_still_asked_for() {
    let e = env().await;
    let now = mips_cache::cache::now();
    let key = "cache/tags?limit=1";
    // fresh content, last asked for two days ago
    e.s3.put_object()
        .bucket(&e.bucket)
        .key(key)
        .content_type("application/json")
        .metadata("checked-at", now.to_string())
        .metadata("asked-at", (now - 2 * 86400).to_string())
        .body(br#"["Other / 000001"]"#.to_vec().into())
        .send()
        .await
        .unwrap();
    let (status, cache, body) = call(&e.app, get("/tags", &[("limit", "1")])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("HIT")));
    assert_eq!(body, r#"["Other / 000001"]"#);
    let asked: u64 = e.metadata(key).await["asked-at"].parse().unwrap();
    assert!(asked >= now, "asked-at renewed: {asked} < {now}");
    assert_eq!(e.body(key).await, body, "content kept");
    assert!(e.mips.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn stale_result_served_when_mips_fails() {
    let e = env_with(|c| c.cache_ttl = std::time::Duration::ZERO).await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let (_, cache, first) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!(cache.as_deref(), Some("MISS"));
    e.mips.server.reset().await;
    e.mips.sessions().await;
    e.mips.get(fake::SEGMENTS, ResponseTemplate::new(503)).await;
    let (status, cache, body) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("STALE")));
    assert_eq!(body, first);
    assert_eq!(e.mips.logins_and_logouts().await, (1, 1));
}

#[tokio::test]
async fn a_cache_that_fails_still_gets_the_fresh_answer() {
    let e = env_with(|c| c.cache_bucket = "mips-cache-test-no-such-bucket".into()).await;
    e.mips.sessions().await;
    e.mips.chart().await;
    let (status, cache, body) = call(&e.app, get("/tags", &[])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("MISS")), "{body}");
    assert!(body.contains("Leadership Academy / 101300"), "{body}");
}

#[tokio::test]
async fn purge_empties_the_cache() {
    let e = env().await;
    e.mips.sessions().await;
    e.mips.chart().await;
    call(&e.app, get("/accounts", &[])).await;
    call(&e.app, get("/tags", &[("limit", "2")])).await;
    assert_eq!(e.keys().await.len(), 2);
    let out = e
        .app
        .handle(json!({"action": "purge"}), crate::deadline())
        .await
        .unwrap();
    assert_eq!(out["deleted"], 2);
    assert!(e.keys().await.is_empty());
}

#[tokio::test]
async fn the_refresh_route_starts_the_refresh_function_and_names_it_when_it_cannot() {
    let refresh = |name: Option<&str>| {
        let name = name.map(str::to_string);
        env_with(move |c| c.refresh_function = name)
    };
    let post = json!({
        "version": "2.0",
        "routeKey": "POST /cache/refresh",
        "rawPath": "/cache/refresh",
        "requestContext": {"http": {"method": "POST", "path": "/cache/refresh"}}
    });
    let e = refresh(Some("mips-cache-refresh-missing-in-test")).await;
    let (status, _, body) = call(&e.app, post.clone()).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("mips-cache-refresh-missing-in-test"),
        "{body}"
    );
    let e = refresh(None).await;
    let (status, _, body) = call(&e.app, post.clone()).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("REFRESH_FUNCTION"), "{body}");
    assert!(e.mips.server.received_requests().await.unwrap().is_empty());
    // the refresh function's app (refresh_from_env) has no Lambda client
    let mut e = refresh(Some("mips-cache-refresh-local")).await;
    e.app.lambda = None;
    let (status, _, body) = call(&e.app, post).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("no Lambda client"), "{body}");
}

#[tokio::test]
async fn unknown_events_and_routes_are_refused() {
    let e = env().await;
    let err = e
        .app
        .handle(json!({"action": "refresh"}), crate::deadline())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mips-cache-refresh"), "{err}");
    assert!(e
        .app
        .handle(json!({"hello": 1}), crate::deadline())
        .await
        .is_err());
    let (status, _, _) = call(&e.app, get("/nope", &[])).await;
    assert_eq!(status, 404);
}
