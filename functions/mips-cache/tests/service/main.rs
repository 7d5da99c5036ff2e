//! The functions against a fake MIPS (wiremock, speaking the protocol in docs/mips-cache.md) and
//! the local emulator's S3, SSM and Lambda. Needs the emulator: `cargo xtask local up`.

mod balances;
mod fake;
mod refresh;
mod routes;
mod sessions;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mips_cache::cache::Cache;
use mips_cache::config::Config;
use mips_cache::mips::Timeouts;
use mips_cache::transform::Rules;
use mips_cache::App;
use serde_json::{json, Value};

use fake::Mips;

pub struct Env {
    pub app: App,
    pub mips: Mips,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{n}")
}

/// The config the stack gives the functions (timeouts as shipped), for a fresh bucket.
pub fn config(bucket: &str, parameter: &str, mips: &str) -> Config {
    Config {
        cache_bucket: bucket.into(),
        cache_ttl: Duration::from_secs(3600),
        cache_expiry: Duration::from_secs(30 * 86400),
        refresh_max_variants: 50,
        refresh_function: None,
        login_url: mips.into(),
        api_url: mips.into(),
        credentials_parameter: parameter.into(),
        timeouts: Timeouts::default(),
        rules: Rules {
            codes_to_omit: vec![],
            other_code: "000001".into(),
            no_program_code: "000000".into(),
        },
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

/// An app built as `api_from_env` builds it (the shipped MIPS client), after `adjust`.
pub async fn env_with(adjust: impl FnOnce(&mut Config)) -> Env {
    let aws = support::emulator_config().await;
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
                support::emulator_endpoint()
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
    let mips = Mips::start().await;
    let mut config = config(&bucket, &parameter, &mips.uri());
    adjust(&mut config);
    let cache = Cache::new(s3.clone(), &config.cache_bucket, config.cache_ttl);
    let client = mips_cache::mips_client(&config);
    let app = App::new(
        config,
        cache,
        client,
        ssm,
        Some(aws_sdk_lambda::Client::new(&aws)),
    );
    Env {
        app,
        mips,
        s3,
        bucket,
    }
}

/// The API function's own limit.
pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

pub fn get(path: &str, query: &[(&str, &str)]) -> Value {
    let q: BTreeMap<&str, &str> = query.iter().copied().collect();
    json!({
        "version": "2.0",
        "routeKey": format!("GET {path}"),
        "rawPath": path,
        "queryStringParameters": q,
        "requestContext": {"http": {"method": "GET", "path": path}}
    })
}

/// Status, `X-Cache` and body of an HTTP API answer.
pub async fn call(app: &App, event: Value) -> (i64, Option<String>, String) {
    let r = app.handle(event, deadline()).await.unwrap();
    let status = r["statusCode"].as_i64().unwrap();
    let cache = r["headers"]["x-cache"].as_str().map(str::to_string);
    (
        status,
        cache,
        r["body"].as_str().unwrap_or_default().to_string(),
    )
}

impl Env {
    pub async fn keys(&self) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("cache/")
            .send()
            .await
            .unwrap();
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    pub async fn metadata(&self, key: &str) -> std::collections::HashMap<String, String> {
        self.s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .metadata()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn body(&self, key: &str) -> String {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        String::from_utf8(out.body.collect().await.unwrap().to_vec()).unwrap()
    }

    /// An object as a request long ago would have left it.
    pub async fn put_asked_at(&self, key: &str, body: &str, asked_at: u64) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .metadata("checked-at", asked_at.to_string())
            .metadata("asked-at", asked_at.to_string())
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
}
