//! Shared by every function: JSON logs, AWS configuration that honours `AWS_ENDPOINT_URL` (the
//! local stage's emulator), and [`Secret`], which never prints its value.

pub mod retry;
pub mod tls;

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use aws_config::SdkConfig;
use serde::{Deserialize, Deserializer};

/// JSON logs on stdout, levels from `RUST_LOG` (set from the stage's log level), no ANSI colors:
/// the shape CloudWatch Logs' JSON log format expects.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, refused) = log_filter(rust_log.as_deref());
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .try_init();
    if let Some(e) = refused {
        tracing::warn!(error = %e, "RUST_LOG is not `level` or `target=level,…`; logging at info");
    }
}

/// `RUST_LOG` as `level` and `target=level` directives, comma-separated (as the stage's
/// `log_level` writes it); `info` when unset or unreadable, with the reason when unreadable.
pub fn log_filter(rust_log: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let info = || Targets::new().with_default(LevelFilter::INFO);
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => (info(), None),
        Some(v) => match v.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(e) => (info(), Some(e.to_string())),
        },
    }
}

/// The AWS configuration of the environment. `AWS_ENDPOINT_URL` points every client at the
/// local emulator when set.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_loader().load().await
}

/// Every AWS configuration starts here: the latest behaviour version and the SDK's HTTP client on
/// this process's TLS stack ([`tls::aws_https_client`]; the SDK crates are built without one).
pub fn aws_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(tls::aws_https_client())
}

/// The local stage's emulator, for tests: `AWS_ENDPOINT_URL` or moto's default port, fixed
/// test credentials.
pub async fn emulator_config() -> aws_config::SdkConfig {
    emulator_config_at(&emulator_endpoint()).await
}

/// An emulator at `endpoint` (a test's own, or the local stage's), fixed test credentials.
pub async fn emulator_config_at(endpoint: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "emulator");
    aws_loader()
        .endpoint_url(endpoint)
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
    use super::{log_filter, Secret};
    use tracing::Level;

    #[test]
    fn rust_log_directives_set_levels_per_target() {
        let (f, refused) = log_filter(Some("warn,mips_cache=debug,support=trace"));
        assert_eq!(refused, None);
        assert!(f.would_enable("mips_cache::api", &Level::DEBUG));
        assert!(!f.would_enable("mips_cache::api", &Level::TRACE));
        assert!(f.would_enable("support::retry", &Level::TRACE));
        assert!(f.would_enable("hyper::proto", &Level::WARN));
        assert!(!f.would_enable("hyper::proto", &Level::INFO));
    }

    #[test]
    fn unset_or_unreadable_rust_log_logs_at_info_and_says_why() {
        for unset in [None, Some(""), Some("  ")] {
            let (f, refused) = log_filter(unset);
            assert_eq!(refused, None, "{unset:?}");
            assert!(f.would_enable("anything", &Level::INFO));
            assert!(!f.would_enable("anything", &Level::DEBUG));
        }
        let (f, refused) = log_filter(Some("mips_cache=loud"));
        assert!(refused.is_some());
        assert!(f.would_enable("mips_cache", &Level::INFO));
        assert!(!f.would_enable("mips_cache", &Level::DEBUG));
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
