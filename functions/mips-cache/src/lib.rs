//! `mips-cache`: MIPS accounting data transformed into program lists and ledger balances, cached
//! in S3. The Lambda binaries (`src/bin/api.rs`, `src/bin/refresh.rs`) only build an [`App`] and
//! hand it events.

pub mod balances;
pub mod cache;
pub mod config;
pub mod handler;
pub mod mips;
pub mod query;
pub mod refresh;
pub mod transform;

pub use handler::{App, CacheStatus, Error, Route};

/// The MIPS client the functions use: each request carries its own timeout (see
/// [`mips::Timeouts`]), so the client has only a connect timeout.
pub fn mips_client(config: &config::Config) -> mips::MipsClient {
    let http = support::tls::http_builder()
        .connect_timeout(config.timeouts.call)
        .build()
        .expect("a TLS client builds");
    mips::MipsClient::new(http, &config.login_url, &config.api_url, config.timeouts)
}

/// The API function's app: it starts refreshes, so it holds a Lambda client.
pub async fn api_from_env() -> Result<App, config::ConfigError> {
    let aws = support::aws_config().await;
    let lambda = aws_sdk_lambda::Client::new(&aws);
    app_from_env(aws, Some(lambda))
}

/// The refresh function's app: no Lambda client, so its binary does not link one (the zip's
/// size, docs/operator.md "Zip size and build time").
pub async fn refresh_from_env() -> Result<App, config::ConfigError> {
    app_from_env(support::aws_config().await, None)
}

fn app_from_env(
    aws: support::SdkConfig,
    lambda: Option<aws_sdk_lambda::Client>,
) -> Result<App, config::ConfigError> {
    let config = config::Config::from_env()?;
    let cache = cache::Cache::new(
        support::s3_client(&aws),
        &config.cache_bucket,
        config.cache_ttl,
    );
    let mips = mips_client(&config);
    Ok(App::new(
        config,
        cache,
        mips,
        aws_sdk_ssm::Client::new(&aws),
        lambda,
    ))
}
