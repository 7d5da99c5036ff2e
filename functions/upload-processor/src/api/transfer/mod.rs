//! The transfer API function (`upload-processor-transfer-api`), as the original had its own
//! `http_transfer_*` functions (spec §7): `POST /transfer/mentor` ([`start`]) queues a job for the
//! `upload-processor-transfer` worker, `GET /transfer/status/{id}` ([`status`]) reports it. The
//! job record and the worker are [`crate::transfer`]; its module doc says why S3 and SQS.
//!
//! A function of its own, not routes of [`super::Api`]: the export's JSON Schema validator and the
//! SQS client are then linked only here, which keeps `upload-processor-api`'s zip under 4 MB
//! (docs/operator.md, "Zip size and build time").

pub mod start;
pub mod status;

use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use super::{answered, bearer_token, caller, graphql_from_env, ApiError, Response};
use crate::auth::Claims;
use crate::graphql::{Credentials, GraphqlClient, GraphqlError};
use crate::transfer::JobStore;

pub const ROUTES: [&str; 2] = [start::ROUTE, status::ROUTE];

/// The largest request body accepted. A Lambda's synchronous request is at most 6 MB, so
/// larger ones never arrive; below that, the cap bounds what is parsed and validated in memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// The job bucket and queue, read once per cold start. `Default` is an unconfigured value, for
/// tests: the routes answer 500 with it.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// `TRANSFER_BUCKET`: the job records (`jobs/{id}/export.json.gz`, `jobs/{id}/status.json`).
    pub bucket: String,
    /// `TRANSFER_QUEUE_URL`: the worker's queue.
    pub queue_url: String,
    pub sqs: Option<aws_sdk_sqs::Client>,
    /// Bodies over this are 413.
    pub max_body_bytes: usize,
}

impl Default for Transfer {
    fn default() -> Transfer {
        Transfer {
            bucket: String::new(),
            queue_url: String::new(),
            sqs: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Error)]
pub enum TransferError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
}

impl Transfer {
    /// `TRANSFER_BUCKET` and `TRANSFER_QUEUE_URL`, both required.
    pub fn from_env(aws: &support::SdkConfig) -> Result<Transfer, TransferError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or(TransferError::Missing(name))
        };
        Ok(Transfer {
            bucket: var("TRANSFER_BUCKET")?,
            queue_url: var("TRANSFER_QUEUE_URL")?,
            sqs: Some(aws_sdk_sqs::Client::new(aws)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    fn configured(&self) -> Option<&aws_sdk_sqs::Client> {
        self.sqs
            .as_ref()
            .filter(|_| !self.bucket.is_empty() && !self.queue_url.is_empty())
    }
}

/// Everything the transfer routes need, built once per cold start.
pub struct TransferApi {
    pub graphql: GraphqlClient,
    pub s3: aws_sdk_s3::Client,
    pub transfer: Transfer,
}

impl TransferApi {
    /// From the environment (`GRAPHQL_ENDPOINT` and the optional secret header, as
    /// [`super::Api::from_env`] reads them, and [`Transfer::from_env`]) and the SDK configuration.
    pub async fn from_env(
        aws: &support::SdkConfig,
        http: reqwest::Client,
    ) -> Result<TransferApi, ApiError> {
        Ok(TransferApi {
            graphql: graphql_from_env(aws, http).await?,
            s3: support::s3_client(aws),
            transfer: Transfer::from_env(aws)?,
        })
    }

    /// One event: the route's response as API Gateway reads it.
    pub async fn handle(&self, event: &Value) -> Value {
        let now = OffsetDateTime::now_utc();
        let route = event.get("routeKey").and_then(Value::as_str).unwrap_or("");
        let response = if ROUTES.contains(&route) {
            handle(route, event, self, now).await
        } else {
            Response::error(404, format!("no route {route:?}"))
        };
        answered(route, response)
    }
}

async fn handle(route: &str, event: &Value, api: &TransferApi, now: OffsetDateTime) -> Response {
    let claims = match caller(event, now) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(token) = bearer_token(event) else {
        // The authorizer allowed a request whose header is gone: nothing to call GraphQL with.
        return Response::error(401, "the request has no bearer token");
    };
    let Some(sqs) = api.transfer.configured() else {
        tracing::error!("the transfer routes have no bucket or queue configured");
        return Response::error(500, "the transfer routes are not configured");
    };
    let caller = Caller {
        claims,
        user: Credentials::user(token),
    };
    let jobs = JobStore::new(api.s3.clone(), api.transfer.bucket.clone());
    match route {
        start::ROUTE => start::handle(event, api, &caller, &jobs, sqs, now).await,
        _ => status::handle(event, api, &caller, &jobs).await,
    }
}

/// Who is asking, once the verdict is checked.
pub struct Caller {
    pub claims: Claims,
    /// Their bearer token, for G1 and G14.
    pub user: Credentials,
}

/// G1 with the caller's token: `Err` is the response refusing the request.
async fn may_edit(api: &TransferApi, user: &Credentials, mentor: &str) -> Result<(), Response> {
    match api.graphql.mentor_can_edit(user, mentor).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::info!(mentor, "refused: mentorCanEdit is false");
            Err(Response::error(403, "not authorized to edit this mentor"))
        }
        Err(e) if e.is_unauthorized() => {
            tracing::info!(error = %e, "refused: GraphQL refused the caller's token");
            Err(Response::error(403, "not authorized to edit this mentor"))
        }
        Err(e) => Err(upstream(&e)),
    }
}

fn upstream(e: &GraphqlError) -> Response {
    tracing::error!(error = %e, "GraphQL call failed");
    Response::error(
        502,
        format!("the mentor GraphQL call {} failed", e.operation().name),
    )
}
