//! The handler against a fake MIPS (wiremock, speaking the documented wire format) and the local
//! emulator's S3 and SSM. Needs the emulator: `cargo xtask local up` (`cargo xtask test` does it).

use std::collections::BTreeMap;
use std::time::Duration;

use mips_cache::cache::Cache;
use mips_cache::config::Config;
use mips_cache::mips::MipsClient;
use mips_cache::transform::Rules;
use mips_cache::App;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn endpoint() -> String {
    support::emulator_endpoint()
}

async fn aws() -> support::SdkConfig {
    support::emulator_config().await
}

struct Env {
    app: App,
    mips: MockServer,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{n}")
}

async fn env(ttl: Duration) -> Env {
    let aws = aws().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("mips-cache-test");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the AWS emulator at {} is not reachable ({e}); run `cargo xtask local up`",
                endpoint()
            )
        });
    let ssm = aws_sdk_ssm::Client::new(&aws);
    let parameter = format!("/test/{}/credentials", unique("mips"));
    ssm.put_parameter()
        .name(&parameter)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(r#"{"username":"svc","password":"s3cret-pw","org":"ORG1"}"#)
        .send()
        .await
        .unwrap();
    let mips = MockServer::start().await;
    let config = Config {
        cache_bucket: bucket.clone(),
        cache_ttl: ttl,
        login_url: mips.uri(),
        api_url: mips.uri(),
        credentials_parameter: parameter,
        rules: Rules {
            codes_to_omit: vec![],
            other_code: "000001".into(),
            no_program_code: "000000".into(),
        },
    };
    let cache = Cache::new(s3.clone(), &bucket, ttl);
    let app = App::new(
        config,
        cache,
        MipsClient::new(reqwest::Client::new(), &mips.uri(), &mips.uri()),
        ssm,
    );
    Env {
        app,
        mips,
        s3,
        bucket,
    }
}

/// Mount the MIPS endpoints; `accounts` is the COA_SEGID list the accounts call returns.
async fn mount_mips(server: &MockServer, accounts: Value, calls: u64) {
    Mock::given(method("POST"))
        .and(path("/api/v1/sso/mipadv/login"))
        .and(body_json(
            json!({"username": "svc", "password": "s3cret-pw", "org": "ORG1"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"AccessToken": "tok-123"})))
        .expect(calls)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/coa/segments"))
        .and(header("Authorization-Token", "tok-123"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"COA_SEGID": [
                {"COA_SEGID": 4, "TITLE": "Fund"}, {"COA_SEGID": 1, "TITLE": "Program"}
            ]})),
        )
        .expect(calls)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/coa/segments/accounts"))
        .and(header("Authorization-Token", "tok-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"COA_SEGID": accounts})))
        .expect(calls)
        .mount(server)
        .await;
    mount_logout(server, calls).await;
}

async fn mount_logout(server: &MockServer, calls: u64) {
    Mock::given(method("POST"))
        .and(path("/api/security/logout"))
        .and(header("Authorization-Token", "tok-123"))
        .respond_with(ResponseTemplate::new(200))
        .expect(calls)
        .mount(server)
        .await;
}

fn accounts() -> Value {
    json!([
        {"COA_SEGID": 1, "COA_CODE": "101300", "COA_STATUS": "A", "COA_TITLE": "Leadership Academy"},
        {"COA_SEGID": 1, "COA_CODE": "200100", "COA_STATUS": "A", "COA_TITLE": "Residency (NYC)"},
        {"COA_SEGID": 4, "COA_CODE": "300300", "COA_STATUS": "A", "COA_TITLE": "A fund"}
    ])
}

fn get(path: &str, query: &[(&str, &str)]) -> Value {
    let q: BTreeMap<&str, &str> = query.iter().copied().collect();
    json!({
        "version": "2.0",
        "routeKey": format!("GET {path}"),
        "rawPath": path,
        "queryStringParameters": q,
        "requestContext": {"http": {"method": "GET", "path": path}}
    })
}

async fn call(app: &App, event: Value) -> (i64, Option<String>, String) {
    let r = app.handle(event).await.unwrap();
    let status = r["statusCode"].as_i64().unwrap();
    let cache = r["headers"]["x-cache"].as_str().map(str::to_string);
    (
        status,
        cache,
        r["body"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn miss_then_hit_calls_mips_once_and_logs_out() {
    let e = env(Duration::from_secs(3600)).await;
    mount_mips(&e.mips, accounts(), 1).await;
    let (status, cache, body) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("MISS")));
    assert_eq!(
        body,
        r#"{"101300":"Leadership Academy","200100":"Residency NYC","000001":"Other","000000":"No Program"}"#,
        "program codes sorted, then Other, then No Program"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    let (status, cache, again) =
        call(&e.app, get("/accounts", &[("show_other_code", "yes")])).await;
    assert_eq!(
        (status, cache.as_deref()),
        (200, Some("HIT")),
        "equal options share the cached object"
    );
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), body);
    e.mips.verify().await;
}

#[tokio::test]
async fn tags_and_balances_routes() {
    let e = env(Duration::from_secs(3600)).await;
    mount_mips(&e.mips, accounts(), 2).await;
    Mock::given(method("POST"))
        .and(path("/api/model/CBODispBal/methods/GetAccountBalances"))
        .and(body_json(json!({"targetDate": "2024-06-30"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "executionResult": "SUCCESS",
            "extraInformation": {"Level1": [
                {"SEGMENT_N0": "101300", "TYPE": 1, "POSTEDAMT": 10.5},
                {"SEGMENT_N0": "101300", "TYPE": 2, "POSTEDAMT": -2.25},
                {"SEGMENT_N0": "101300", "TYPE": 3, "POSTEDAMT": 8.25}
            ]}
        })))
        .expect(1)
        .mount(&e.mips)
        .await;
    let (_, _, tags) = call(
        &e.app,
        get(
            "/tags",
            &[("hide_no_program_code", "true"), ("show_other_code", "off")],
        ),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&tags).unwrap(),
        json!(["Leadership Academy / 101300", "Residency NYC / 200100"])
    );
    let (status, _, csv) = call(
        &e.app,
        get(
            "/balances",
            &[("target_date", "2024-06-30"), ("limit", "1")],
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(csv, "code,name,start_balance,activity,end_balance\n101300,Leadership Academy,10.50,-2.25,8.25\n");
    e.mips.verify().await;
}

#[tokio::test]
async fn stale_result_served_when_mips_fails_and_logout_still_called() {
    let e = env(Duration::from_secs(0)).await;
    mount_mips(&e.mips, accounts(), 1).await;
    let (_, cache, first) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!(cache.as_deref(), Some("MISS"));
    e.mips.reset().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sso/mipadv/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"AccessToken": "tok-123"})))
        .mount(&e.mips)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/coa/segments"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&e.mips)
        .await;
    mount_logout(&e.mips, 1).await;
    let (status, cache, body) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!((status, cache.as_deref()), (200, Some("STALE")));
    assert_eq!(body, first);
    e.mips.verify().await;
}

#[tokio::test]
async fn mips_failing_with_nothing_cached_is_a_502() {
    let e = env(Duration::from_secs(3600)).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/sso/mipadv/login"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&e.mips)
        .await;
    let (status, cache, body) = call(&e.app, get("/tags", &[])).await;
    assert_eq!((status, cache), (502, None));
    assert!(body.contains("MIPS is unavailable"), "{body}");
    assert!(!body.contains("s3cret"), "no credentials in errors");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter_and_never_reach_mips() {
    let e = env(Duration::from_secs(3600)).await;
    for (query, param) in [
        (vec![("limit", "-3")], "limit"),
        (vec![("priority_codes", "12,abc")], "priority_codes"),
        (vec![("sort", "desc")], "sort"),
    ] {
        let (status, _, body) = call(&e.app, get("/accounts", &query)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["parameter"],
            param
        );
    }
    let (status, _, body) = call(&e.app, get("/balances", &[("target_date", "2024-13-01")])).await;
    assert_eq!(status, 400);
    assert!(body.contains("target_date"));
    assert!(e.mips.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn refresh_recomputes_only_changed_content_and_purge_empties_the_cache() {
    let e = env(Duration::from_secs(3600)).await;
    mount_mips(&e.mips, accounts(), 2).await;
    call(&e.app, get("/accounts", &[])).await;
    call(&e.app, get("/tags", &[])).await;
    let etag = |key: &'static str| {
        let s3 = e.s3.clone();
        let bucket = e.bucket.clone();
        async move {
            s3.head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .e_tag()
                .unwrap()
                .to_string()
        }
    };
    let key =
        "cache/accounts?hide_no_program_code=false&show_inactive_codes=false&show_other_code=true";
    let before = etag(key).await;
    e.mips.reset().await;
    let mut changed = accounts();
    changed[0]["COA_TITLE"] = json!("Leadership Academy Renamed");
    mount_mips(&e.mips, changed, 2).await;
    let out = e.app.handle(json!({"action": "refresh"})).await.unwrap();
    assert_eq!(out["refreshed"], 2);
    let (_, cache, body) = call(&e.app, get("/accounts", &[])).await;
    assert_eq!(cache.as_deref(), Some("HIT"));
    assert!(body.contains("Leadership Academy Renamed"));
    assert_eq!(etag(key).await, etag(key).await);
    assert_ne!(before, etag(key).await);
    e.mips.verify().await;
    let out = e.app.handle(json!({"action": "purge"})).await.unwrap();
    assert_eq!(out["deleted"], 2);
    let left =
        e.s3.list_objects_v2()
            .bucket(&e.bucket)
            .prefix("cache/")
            .send()
            .await
            .unwrap();
    assert_eq!(left.key_count(), Some(0));
}

#[tokio::test]
async fn unchanged_content_is_not_rewritten() {
    let e = env(Duration::from_secs(0)).await;
    mount_mips(&e.mips, accounts(), 2).await;
    let key =
        "cache/tags?hide_no_program_code=false&show_inactive_codes=false&show_other_code=true";
    call(&e.app, get("/tags", &[])).await;
    let head = || e.s3.head_object().bucket(&e.bucket).key(key).send();
    let first = head().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, cache, _) = call(&e.app, get("/tags", &[])).await;
    assert_eq!(cache.as_deref(), Some("MISS"));
    let second = head().await.unwrap();
    assert_eq!(first.e_tag(), second.e_tag(), "same content, same object");
    assert_ne!(
        first.metadata().unwrap()["checked-at"],
        second.metadata().unwrap()["checked-at"]
    );
}

#[tokio::test]
async fn unknown_events_and_routes_are_refused() {
    let e = env(Duration::from_secs(3600)).await;
    assert!(e.app.handle(json!({"hello": 1})).await.is_err());
    let (status, _, _) = call(&e.app, get("/nope", &[])).await;
    assert_eq!(status, 404);
}
