//! Mentor transfer (spec §7): the job record the API and the worker share, and the worker
//! (`upload-processor-transfer`) that imports the mentor and copies its media.
//!
//! `POST /transfer/mentor` ([`crate::api::transfer`]) validates the export ([`export`]), stores
//! it and a QUEUED record ([`job`]) in the private `TRANSFER_BUCKET`, creates the import task
//! (G14) and sends `{"id"}` to `TRANSFER_QUEUE_URL`. The worker takes one message at a time,
//! runs the job ([`run`]) and answers partial batch failures; messages that keep failing reach
//! the queue's DLQ after two receives.
//!
//! Why this shape rather than the original's DynamoDB table and stream:
//! - **S3, not DynamoDB, holds the job**: an export can exceed DynamoDB's 400 KB item limit,
//!   and a lifecycle rule on `jobs/` expires records as the table's TTL did.
//! - **SQS, not a table stream**: the SQS client is already in the shared arm64 build
//!   (webhook-runner), so the service adds no AWS SDK crate; a DLQ keeps what fails visible.
//! - **The worker calls GraphQL with the service API key** (as the state machine's steps do), so
//!   neither the message nor the record holds the user's JWT; the original stored the user's
//!   auth headers with the job for 180 days (§10.2 #8).
//! - **The record says what happened**: QUEUED → IN_PROGRESS → DONE | FAILED with counts and
//!   errors; the original's record stayed QUEUED forever (§10.1 #10).

pub mod export;
pub mod job;
pub mod media;
pub mod migrate;
pub mod model;
pub mod run;
pub mod schema;
pub mod settings;

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use thiserror::Error;
use uuid::Uuid;

use crate::graphql::{Credentials, GraphqlClient};

pub use job::{JobMessage, JobRecord, JobStatus, JobStore, StoreError};
pub use run::Outcome;
pub use settings::{SettingsError, WorkerSettings};

/// Each GraphQL call's limit in the worker: mentorImport writes a whole mentor, which may take
/// far longer than the API's 5 s or the steps' 20 s.
pub const GRAPHQL_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest id accepted as an S3 key segment.
pub const KEY_SEGMENT_MAX: usize = 64;

/// Whether `s` may be a segment of `videos/{m}/{q}/{tag}.{ext}`: 1 to [`KEY_SEGMENT_MAX`]
/// letters, digits, `-` or `_` (no `/`, no `..`).
pub fn is_key_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= KEY_SEGMENT_MAX
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What the worker holds, built once per cold start.
pub struct Worker {
    pub jobs: JobStore,
    /// Writes the copied media (`STATIC_BUCKET`).
    pub s3: aws_sdk_s3::Client,
    pub graphql: GraphqlClient,
    pub credentials: Credentials,
    pub fetcher: media::Fetcher,
    pub settings: WorkerSettings,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] crate::steps::EnvError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// Why a message is handed back to the queue (retried, then dead-lettered).
#[derive(Debug, Error)]
pub enum RunError {
    #[error("not a transfer message: {0}")]
    BadMessage(String),
    #[error("no transfer job {0} (never stored, or its record expired)")]
    UnknownJob(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Worker {
    /// The binary's worker: GraphQL as the steps build it (`GRAPHQL_ENDPOINT`, the service key
    /// from `GRAPHQL_API_KEY_SECRET`, the optional secret header), [`WorkerSettings::from_env`].
    pub async fn from_env(aws: &support::SdkConfig) -> Result<Worker, ConfigError> {
        let (graphql, credentials) = crate::steps::graphql_from_environment(aws).await?;
        let settings = WorkerSettings::from_env()?;
        Ok(Worker::new(
            support::s3_client(aws),
            graphql.with_timeout(GRAPHQL_TIMEOUT),
            credentials,
            settings,
        ))
    }

    /// The media client is built here from the settings, for the binary and tests alike.
    pub fn new(
        s3: aws_sdk_s3::Client,
        graphql: GraphqlClient,
        credentials: Credentials,
        settings: WorkerSettings,
    ) -> Worker {
        let fetcher = media::Fetcher::new(
            media::UrlPolicy {
                allowed: settings.allowed_hosts.clone(),
                allow_http: settings.allow_http,
            },
            settings.media_max_bytes,
            settings.media_timeout,
            std::env::temp_dir(),
        );
        Worker {
            jobs: JobStore::new(s3.clone(), settings.transfer_bucket.clone()),
            s3,
            graphql,
            credentials,
            fetcher,
            settings,
        }
    }
}

/// The worker's entry: each message's job, one after the other; the messages to retry are
/// answered as batch item failures (the event source mapping reports partial failures).
/// `deadline` is the invocation's (the binary's context), `None` for no limit.
pub async fn handle_sqs_event(
    worker: &Worker,
    event: &SqsEvent,
    deadline: Option<Instant>,
) -> SqsBatchResponse {
    let mut out = SqsBatchResponse::default();
    for message in &event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let result = match parse_message(message.body.as_deref()) {
            Ok(m) => run::run(worker, m.id, deadline).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => tracing::info!(message_id, ?outcome, "message handled"),
            Err(e) => {
                tracing::error!(message_id, error = %e, "message not handled; SQS will retry it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                out.batch_item_failures.push(failure);
            }
        }
    }
    out
}

fn parse_message(body: Option<&str>) -> Result<JobMessage, RunError> {
    serde_json::from_str(body.unwrap_or_default()).map_err(|e| RunError::BadMessage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments() {
        assert!(is_key_segment("6196af5e068d43dc686194f8"));
        assert!(is_key_segment("web"));
        for bad in ["", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(!is_key_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn messages() {
        assert!(parse_message(Some(r#"{"id":"00000000-0000-0000-0000-000000000000"}"#)).is_ok());
        assert!(matches!(parse_message(None), Err(RunError::BadMessage(_))));
    }
}
