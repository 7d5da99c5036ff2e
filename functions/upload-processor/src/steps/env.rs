//! What the steps and the transcribe function read from the environment once per cold start:
//! buckets, the GraphQL endpoint and the service key (a Secrets Manager secret, read once, never
//! logged), ffmpeg's path.

use std::time::Duration;

use crate::graphql::{Credentials, GraphqlClient, SecretHeader};

/// The HTTP client GraphQL calls share: rustls, a connect timeout; each call has its own total
/// timeout ([`crate::graphql::DEFAULT_TIMEOUT`]).
pub fn http_client() -> reqwest::Client {
    support::tls::http_builder()
        .user_agent(concat!("upload-processor/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("a TLS backend is compiled in")
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is missing or empty")]
    Missing(&'static str),
    #[error("reading the secret named by {var}: {message}")]
    Secret { var: &'static str, message: String },
}

/// A variable that must be set and non-empty.
pub fn required(name: &'static str) -> Result<String, EnvError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(EnvError::Missing(name)),
    }
}

/// The GraphQL client of `GRAPHQL_ENDPOINT` and the service key read from the secret named by
/// `GRAPHQL_API_KEY_SECRET`: the asynchronous steps never hold a user's JWT.
pub async fn graphql(aws: &support::SdkConfig) -> Result<(GraphqlClient, Credentials), EnvError> {
    let endpoint = required("GRAPHQL_ENDPOINT")?;
    let secret_name = required("GRAPHQL_API_KEY_SECRET")?;
    let key = support::secret_string(aws, &secret_name)
        .await
        .map_err(|message| EnvError::Secret {
            var: "GRAPHQL_API_KEY_SECRET",
            message,
        })?;
    if key.expose().trim().is_empty() {
        return Err(EnvError::Secret {
            var: "GRAPHQL_API_KEY_SECRET",
            message: "the secret string is empty".into(),
        });
    }
    let key = support::Secret::new(key.expose().trim());
    let mut client = GraphqlClient::new(http_client(), endpoint);
    if let Some(header) = secret_header(aws).await? {
        client = client.with_secret_header(header);
    }
    Ok((client, Credentials::ServiceKey(key)))
}

/// The header the stage's GraphQL gateway requires on every call (spec §2.1): its name in
/// `GRAPHQL_SECRET_HEADER_NAME`, its value in the secret named by `GRAPHQL_SECRET_HEADER_SECRET`
/// (read once, never logged). `None` when the stage sets no header name.
pub async fn secret_header(aws: &support::SdkConfig) -> Result<Option<SecretHeader>, EnvError> {
    let Ok(name) = required("GRAPHQL_SECRET_HEADER_NAME") else {
        return Ok(None);
    };
    let var = "GRAPHQL_SECRET_HEADER_SECRET";
    let secret_name = required(var)?;
    let value = support::secret_string(aws, &secret_name)
        .await
        .map_err(|message| EnvError::Secret { var, message })?;
    let value = support::Secret::new(value.expose().trim());
    SecretHeader::new(&name, value)
        .map(Some)
        .map_err(|e| EnvError::Secret {
            var,
            message: e.to_string(),
        })
}

/// `FFMPEG_PATH`, or the layer's binary.
pub fn ffmpeg() -> crate::ffmpeg::Ffmpeg {
    match std::env::var("FFMPEG_PATH") {
        Ok(p) if !p.trim().is_empty() => crate::ffmpeg::Ffmpeg::new(p.trim()),
        _ => crate::ffmpeg::Ffmpeg::lambda(),
    }
}
