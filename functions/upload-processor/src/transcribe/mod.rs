//! `upload-processor-transcribe` (docs/upload-processor.md, "Transcription"): one function for
//! three events, told apart by shape ([`classify`]):
//!
//! - the state machine's `transcribe-start` callback task ([`start`]): stores the task token in
//!   GraphQL and starts the Transcribe job on the stored original, or completes at once;
//! - the S3 notification of Transcribe's `transcribe.vtt` ([`collect`]): subtitles and transcript
//!   to the answer, the token completed exactly once, and only by the current task's job;
//! - the schedule ([`watch`]): heartbeats for running jobs, failure for failed ones.

mod collect;
mod decide;
mod sfn;
mod start;
mod watch;

use serde_json::Value;

use crate::graphql::{Credentials, GraphqlClient, GraphqlError};
use crate::steps::{EnvError, StepError};
use crate::vtt::VttError;

pub use collect::collect;
pub use decide::{
    classify, collect_decision, decode_key, job_name, json_key_of, output_key, parse_job_name,
    parse_vtt_key, start_decision, token_closed, truncate, watch_action, CollectDecision,
    EventError, JobRef, JobState, S3Object, StartDecision, StartEvent, TranscribeEvent,
    WatchAction, IDLE_QUESTION, VTT_SUFFIX,
};
pub use sfn::{heartbeat, send_failure, send_success, TokenOutcome};
pub use start::{job_request, media_format, start, JobRequest};
pub use watch::watch;

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Env {
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub transcribe: aws_sdk_transcribe::Client,
    pub graphql: GraphqlClient,
    pub credentials: Credentials,
    /// `STATIC_BUCKET`: the original Transcribe reads, where `en.vtt` goes.
    pub static_bucket: String,
    /// `TRANSCRIBE_OUTPUT_BUCKET`: where Transcribe writes; its notification invokes us.
    pub output_bucket: String,
}

impl Env {
    /// `STATIC_BUCKET`, `TRANSCRIBE_OUTPUT_BUCKET`, `GRAPHQL_ENDPOINT`, `GRAPHQL_API_KEY_SECRET`.
    pub async fn from_environment() -> Result<Env, EnvError> {
        let aws = support::aws_config().await;
        let (graphql, credentials) = crate::steps::graphql_from_environment(&aws).await?;
        Ok(Env {
            s3: support::s3_client(&aws),
            sfn: aws_sdk_sfn::Client::new(&aws),
            transcribe: aws_sdk_transcribe::Client::new(&aws),
            graphql,
            credentials,
            static_bucket: crate::steps::required("STATIC_BUCKET")?,
            output_bucket: crate::steps::required("TRANSCRIBE_OUTPUT_BUCKET")?,
        })
    }
}

/// Handles one event of any of the three shapes.
pub async fn handle(env: &Env, event: &Value) -> Result<Value, TranscribeError> {
    match classify(event)? {
        TranscribeEvent::Start(start_event) => start(env, &start_event).await,
        TranscribeEvent::Collect(objects) => collect(env, &objects).await,
        TranscribeEvent::Scheduled => watch(env).await,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(transparent)]
    Graphql(#[from] GraphqlError),
    #[error("Step Functions {operation}: {message}")]
    Sfn {
        operation: &'static str,
        message: String,
    },
    #[error("Transcribe {operation}: {message}")]
    Transcribe {
        operation: &'static str,
        message: String,
    },
    #[error(transparent)]
    Vtt(#[from] VttError),
    #[error("{0}")]
    Invalid(String),
}

impl TranscribeError {
    /// The Lambda error type (the state machine's `Error` for `transcribe-start`).
    pub fn kind(&self) -> &'static str {
        match self {
            TranscribeError::Event(_) | TranscribeError::Invalid(_) => "InvalidEvent",
            TranscribeError::Step(e) => e.kind(),
            TranscribeError::Graphql(_) => "GraphqlError",
            TranscribeError::Sfn { .. } => "StepFunctionsError",
            TranscribeError::Transcribe { .. } => "TranscribeError",
            TranscribeError::Vtt(_) => "TranscriptError",
        }
    }
}

/// `Code: message` of an AWS error, or its whole chain when there was no answer.
pub(crate) fn describe<E, R>(e: &aws_sdk_sfn::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sfn::error::ProvideErrorMetadata;
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => aws_sdk_sfn::error::DisplayErrorContext(e).to_string(),
    }
}
