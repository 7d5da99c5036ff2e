//! Settings from the environment the stack gives the functions.

use std::time::Duration;

use crate::mips::Timeouts;
use crate::transform::Rules;

#[derive(Debug, Clone)]
pub struct Config {
    pub cache_bucket: String,
    pub cache_ttl: Duration,
    /// A variant nobody asked for in this long is no longer refreshed, and is deleted.
    pub cache_expiry: Duration,
    /// At most this many non-canonical variants per refresh, the most recently asked first.
    pub refresh_max_variants: usize,
    /// The function that refreshes the cache (the API starts it); unset in that function itself.
    pub refresh_function: Option<String>,
    pub login_url: String,
    pub api_url: String,
    pub credentials_parameter: String,
    pub timeouts: Timeouts,
    pub rules: Rules,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError {
        name,
        problem: "not set".into(),
    })
}

fn number(name: &'static str) -> Result<u64, ConfigError> {
    var(name)?.trim().parse().map_err(|_| ConfigError {
        name,
        problem: "not a whole number".into(),
    })
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            cache_bucket: var("CACHE_BUCKET")?,
            cache_ttl: Duration::from_secs(number("CACHE_TTL_HOURS")? * 3600),
            cache_expiry: Duration::from_secs(number("CACHE_EXPIRY_DAYS")? * 86400),
            refresh_max_variants: number("REFRESH_MAX_VARIANTS")? as usize,
            refresh_function: var("REFRESH_FUNCTION").ok().filter(|f| !f.is_empty()),
            login_url: var("MIPS_LOGIN_URL")?,
            api_url: var("MIPS_API_URL")?,
            credentials_parameter: var("MIPS_CREDENTIALS_PARAMETER")?,
            timeouts: Timeouts::default(),
            rules: Rules {
                codes_to_omit: var("CODES_TO_OMIT")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                other_code: var("OTHER_CODE").unwrap_or_else(|_| "000001".into()),
                no_program_code: var("NO_PROGRAM_CODE").unwrap_or_else(|_| "000000".into()),
            },
        })
    }
}
