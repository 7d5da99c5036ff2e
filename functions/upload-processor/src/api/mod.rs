//! The HTTP API functions: `upload-processor-api` ([`Api`]) and `upload-processor-transfer-api`
//! ([`transfer::TransferApi`]), payload 2.0 events routed by `routeKey`.
//!
//! Each route is a function of the event and its dependencies ([`upload_url::handle`],
//! [`answer::handle`]), so tests call them directly with a GraphQL fake and the emulator; [`Api`]
//! holds what the binary builds once per cold start. Every answer is a [`Response`]; a request
//! without a valid authorizer verdict is 401 before anything else runs.

pub mod answer;
pub mod form;
pub mod media;
pub mod post_policy;
pub mod response;
pub mod transfer;
pub mod upload_url;

use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use crate::auth::{self, Claims};
use crate::graphql::GraphqlClient;

pub use response::Response;

/// The presigned POST's size limit unless `UPLOAD_MAX_BYTES` says otherwise (spec §5.4).
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 104_857_600;
/// How long a presigned POST stays valid (spec §1.5).
pub const UPLOAD_URL_EXPIRY: Duration = Duration::from_secs(3600);
/// A GraphQL call's limit here: four sequential calls must fit API Gateway's 29 s.
pub const GRAPHQL_TIMEOUT: Duration = Duration::from_secs(5);

/// The function's settings (docs/upload-processor.md, "Functions").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `UPLOAD_BUCKET`: raw uploads, `{jwt.id}/{uuid}`.
    pub upload_bucket: String,
    /// `STATE_MACHINE_ARN`: the `process` state machine.
    pub state_machine_arn: String,
    /// `UPLOAD_MAX_BYTES`.
    pub upload_max_bytes: u64,
    /// The region the presigned POST is signed for (the SDK configuration's).
    pub region: String,
    /// The S3 endpoint override (`AWS_ENDPOINT_URL`, the local emulator): the POST then goes to
    /// `{endpoint}/{bucket}`, path style.
    pub s3_endpoint: Option<String>,
}

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("the AWS configuration has no region (set AWS_REGION)")]
    Region,
}

impl Settings {
    /// From the environment and the SDK configuration the binary resolved.
    pub fn from_env(aws: &support::SdkConfig) -> Result<Settings, SettingsError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or(SettingsError::Missing(name))
        };
        let upload_max_bytes = match std::env::var("UPLOAD_MAX_BYTES") {
            Ok(v) if !v.trim().is_empty() => {
                v.trim()
                    .parse()
                    .map_err(|e: std::num::ParseIntError| SettingsError::Invalid {
                        name: "UPLOAD_MAX_BYTES",
                        message: e.to_string(),
                    })?
            }
            _ => DEFAULT_UPLOAD_MAX_BYTES,
        };
        Ok(Settings {
            upload_bucket: var("UPLOAD_BUCKET")?,
            state_machine_arn: var("STATE_MACHINE_ARN")?,
            upload_max_bytes,
            region: aws
                .region()
                .map(|r| r.to_string())
                .ok_or(SettingsError::Region)?,
            s3_endpoint: aws.endpoint_url().map(str::to_string),
        })
    }

    /// Where the client posts the upload form.
    pub fn upload_url(&self) -> String {
        match &self.s3_endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.upload_bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/",
                self.upload_bucket, self.region
            ),
        }
    }
}

/// Everything the routes need, built once per cold start.
pub struct Api {
    pub settings: Settings,
    pub graphql: GraphqlClient,
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// Signs the presigned POST: the credentials the function itself runs with.
    pub credentials: SharedCredentialsProvider,
    /// The image and subtitle routes' settings ([`media`]).
    pub media: media::Media,
}

#[derive(Debug, Error)]
pub enum ApiError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("environment variable GRAPHQL_ENDPOINT is not set")]
    GraphqlEndpoint,
    #[error("the AWS configuration has no credentials provider")]
    Credentials,
    #[error(transparent)]
    Env(#[from] crate::steps::EnvError),
    #[error(transparent)]
    Media(#[from] media::MediaError),
    #[error(transparent)]
    Transfer(#[from] transfer::TransferError),
}

/// The reqwest client of the function: a connect timeout, and each GraphQL call gets
/// [`GRAPHQL_TIMEOUT`] (the original had none, spec §10.2 #22).
pub fn http_client() -> reqwest::Client {
    support::tls::http_builder()
        .user_agent(concat!("upload-processor/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(3))
        .timeout(GRAPHQL_TIMEOUT)
        .build()
        .expect("a TLS backend is compiled in")
}

/// The GraphQL client of both API functions: `GRAPHQL_ENDPOINT`, [`GRAPHQL_TIMEOUT`] per call, and
/// the optional secret header ([`crate::steps::secret_header_from_environment`]).
pub(crate) async fn graphql_from_env(
    aws: &support::SdkConfig,
    http: reqwest::Client,
) -> Result<GraphqlClient, ApiError> {
    let endpoint = std::env::var("GRAPHQL_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ApiError::GraphqlEndpoint)?;
    let mut graphql = GraphqlClient::new(http, endpoint).with_timeout(GRAPHQL_TIMEOUT);
    if let Some(header) = crate::steps::secret_header_from_environment(aws).await? {
        graphql = graphql.with_secret_header(header);
    }
    Ok(graphql)
}

/// Logs the answer and renders it as API Gateway reads it.
pub(crate) fn answered(route: &str, response: Response) -> Value {
    tracing::info!(route, status = response.status, "answered");
    response.to_value()
}

impl Api {
    /// From the environment ([`graphql_from_env`], [`Settings::from_env`], the media settings)
    /// and the SDK configuration; S3 path style when an endpoint override is set.
    pub async fn from_env(
        aws: &support::SdkConfig,
        http: reqwest::Client,
    ) -> Result<Api, ApiError> {
        Ok(Api {
            settings: Settings::from_env(aws)?,
            graphql: graphql_from_env(aws, http).await?,
            s3: support::s3_client(aws),
            sfn: aws_sdk_sfn::Client::new(aws),
            credentials: aws.credentials_provider().ok_or(ApiError::Credentials)?,
            media: media::Media::from_env(aws)?,
        })
    }

    /// One event: the route's response as API Gateway reads it.
    pub async fn handle(&self, event: &Value) -> Value {
        let now = OffsetDateTime::now_utc();
        let route = event.get("routeKey").and_then(Value::as_str).unwrap_or("");
        let response = match route {
            upload_url::ROUTE => {
                upload_url::handle(event, &self.settings, &self.credentials, now).await
            }
            answer::ROUTE => {
                answer::handle(
                    event,
                    &self.graphql,
                    &self.s3,
                    &self.sfn,
                    &self.settings,
                    now,
                )
                .await
            }
            route if media::ROUTES.contains(&route) => media::handle(route, event, self, now).await,
            other => Response::error(404, format!("no route {other:?}")),
        };
        answered(route, response)
    }
}

/// The caller, or the 401 that refuses the request.
pub(crate) fn caller(event: &Value, now: OffsetDateTime) -> Result<Claims, Response> {
    Claims::from_context_at(event, now).map_err(|e| {
        tracing::info!(error = %e, "refused: no valid authorizer verdict");
        Response::error(401, e.to_string())
    })
}

/// The bearer token of the request, forwarded to GraphQL as the user's credentials.
pub(crate) fn bearer_token(event: &Value) -> Option<&str> {
    let header = auth::authorization_header(event)?;
    let (scheme, token) = header.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The request body's bytes (base64-decoded when `isBase64Encoded`); `None` when there is none.
pub(crate) fn body_bytes(event: &Value) -> Result<Option<Vec<u8>>, &'static str> {
    let Some(body) = event.get("body").and_then(Value::as_str) else {
        return Ok(None);
    };
    if event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        STANDARD
            .decode(body)
            .map(Some)
            .map_err(|_| "the body is marked base64 but is not")
    } else {
        Ok(Some(body.as_bytes().to_vec()))
    }
}
