//! `mips-cache`: MIPS accounting data transformed into program lists and cached in S3. The Lambda
//! binary (`src/bin/api.rs`) only builds an [`App`] and hands it events.

pub mod cache;
pub mod config;
pub mod handler;
pub mod mips;
pub mod query;
pub mod transform;

pub use handler::{App, CacheStatus, Error, Route};

/// Build the app from the function's environment and AWS configuration.
pub async fn app_from_env() -> Result<App, config::ConfigError> {
    let config = config::Config::from_env()?;
    let aws = support::aws_config().await;
    let cache = cache::Cache::new(
        support::s3_client(&aws),
        &config.cache_bucket,
        config.cache_ttl,
    );
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("a TLS client builds");
    let mips = mips::MipsClient::new(http, &config.login_url, &config.api_url);
    Ok(App::new(
        config,
        cache,
        mips,
        aws_sdk_ssm::Client::new(&aws),
    ))
}
