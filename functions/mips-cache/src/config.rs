//! Settings from the environment the stack gives the function.

use std::time::Duration;

use crate::transform::Rules;

#[derive(Debug, Clone)]
pub struct Config {
    pub cache_bucket: String,
    pub cache_ttl: Duration,
    pub login_url: String,
    pub api_url: String,
    pub credentials_parameter: String,
    pub rules: Rules,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let var = |name: &'static str| {
            std::env::var(name).map_err(|_| ConfigError {
                name,
                problem: "not set".into(),
            })
        };
        let ttl_hours: u64 = var("CACHE_TTL_HOURS")?.parse().map_err(|_| ConfigError {
            name: "CACHE_TTL_HOURS",
            problem: "not a whole number".into(),
        })?;
        Ok(Config {
            cache_bucket: var("CACHE_BUCKET")?,
            cache_ttl: Duration::from_secs(ttl_hours * 3600),
            login_url: var("MIPS_LOGIN_URL")?,
            api_url: var("MIPS_API_URL")?,
            credentials_parameter: var("MIPS_CREDENTIALS_PARAMETER")?,
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
