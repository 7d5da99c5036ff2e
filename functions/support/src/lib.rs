//! Shared by every function: JSON logs, AWS configuration that honours `AWS_ENDPOINT_URL` (the
//! local stage's emulator), and [`Secret`], which never prints its value.

pub mod retry;

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use aws_config::SdkConfig;
use serde::{Deserialize, Deserializer};

/// JSON logs on stdout, level from `RUST_LOG` (set from the stage's log level), no ANSI colors:
/// the shape CloudWatch Logs' JSON log format expects.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// The AWS configuration of the environment. `AWS_ENDPOINT_URL` points every client at the
/// local emulator when set.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The local stage's emulator, for tests: `AWS_ENDPOINT_URL` or moto's default port, fixed
/// test credentials.
pub async fn emulator_config() -> aws_config::SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "emulator");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(emulator_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

pub fn emulator_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// An S3 client; path-style addressing when an endpoint override is set (the emulator cannot
/// resolve bucket subdomains of 127.0.0.1).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A credential: usable through [`Secret::expose`], shown as `***` by `Debug` and `Display`, so
/// it cannot reach a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A Secrets Manager secret's string; the error names the service's code and message, never
/// the value.
pub async fn secret_string(config: &SdkConfig, name: &str) -> Result<Secret, String> {
    let out = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(Secret::new(out.secret_string().unwrap_or_default()))
}

/// An SSM parameter's value, decrypted (SecureString); errors as for [`secret_string`].
pub async fn parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Secret, String> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(Secret::new(
        out.parameter.and_then(|p| p.value).unwrap_or_default(),
    ))
}

/// `Code: message` from the service, or the whole error chain when the call never got an answer.
fn describe<E, R>(e: &aws_sdk_ssm::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
    }
}

/// The Lambda deadline (milliseconds since the epoch, as the Runtime API gives it) as an
/// [`Instant`], so work can be timed against it with a monotonic clock.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
