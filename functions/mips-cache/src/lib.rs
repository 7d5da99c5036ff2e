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
    let http = reqwest::Client::builder()
        .connect_timeout(config.timeouts.call)
        .build()
        .expect("a TLS client builds");
    mips::MipsClient::new(http, &config.login_url, &config.api_url, config.timeouts)
}

/// Build the app from the function's environment and AWS configuration.
pub async fn app_from_env() -> Result<App, config::ConfigError> {
    let config = config::Config::from_env()?;
    let aws = support::aws_config().await;
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
        aws_sdk_lambda::Client::new(&aws),
    ))
}
