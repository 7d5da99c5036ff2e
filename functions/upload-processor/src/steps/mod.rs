//! `upload-processor-steps`: the state machine's Lambda tasks (docs/upload-processor.md, "State
//! machine"). One binary serves every step; the event names it:
//!
//! - `{"step":"prepare","request"}` → the stored original's [`PreparedMedia`] (`$.media`)
//! - `{"step":"trim","request","media"}` → the (possibly new) media
//! - `{"step":"transcode","rendition":"web"|"mobile","request","media"}`
//! - `{"step":"mark-failed","request","error","cause"}`
//!
//! Errors are typed ([`StepError::kind`] becomes the Lambda error type, which is the state
//! machine's `Error`), so the machine can tell an unusable upload from a passing failure.

mod env;
mod mark_failed;
mod prepare;
mod request;
pub mod s3;
mod transcode;
mod trim;
mod workdir;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::ffmpeg::{CommandError, Ffmpeg, ProbeError, RunError};
use crate::geometry::Rendition;
use crate::graphql::{Credentials, GraphqlClient, GraphqlError};

pub use env::{
    ffmpeg as ffmpeg_from_environment, graphql as graphql_from_environment,
    secret_header as secret_header_from_environment,
};
pub use env::{http_client, required, EnvError};
pub use mark_failed::mark_failed;
pub use prepare::{prepare, rejection_reason};
pub use request::{
    failure_reason, is_running, skip_reason, tasks_started_by_prepare, Ext, PreparedMedia, Request,
    Skip, Trim,
};
pub use transcode::transcode;
pub use trim::trim;
pub use workdir::{lambda_root, WorkDir};

/// What every step needs, built once per cold start.
#[derive(Clone)]
pub struct Env {
    pub s3: aws_sdk_s3::Client,
    pub graphql: GraphqlClient,
    pub credentials: Credentials,
    pub ffmpeg: Ffmpeg,
    /// `UPLOAD_BUCKET`: raw uploads.
    pub upload_bucket: String,
    /// `STATIC_BUCKET`: originals, renditions, subtitles, thumbnails.
    pub static_bucket: String,
    /// Where steps make their scratch directories ([`lambda_root`] in the Lambda).
    pub work_root: PathBuf,
}

impl Env {
    /// `UPLOAD_BUCKET`, `STATIC_BUCKET`, `GRAPHQL_ENDPOINT`, `GRAPHQL_API_KEY_SECRET`,
    /// `FFMPEG_PATH` (optional).
    pub async fn from_environment() -> Result<Env, EnvError> {
        let aws = support::aws_config().await;
        let (graphql, credentials) = env::graphql(&aws).await?;
        Ok(Env {
            s3: support::s3_client(&aws),
            graphql,
            credentials,
            ffmpeg: env::ffmpeg(),
            upload_bucket: env::required("UPLOAD_BUCKET")?,
            static_bucket: env::required("STATIC_BUCKET")?,
            work_root: lambda_root(),
        })
    }
}

/// The step event.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum StepEvent {
    Prepare {
        request: Request,
    },
    Trim {
        request: Request,
        media: PreparedMedia,
    },
    Transcode {
        request: Request,
        media: PreparedMedia,
        rendition: RenditionName,
    },
    MarkFailed {
        request: Request,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        cause: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenditionName {
    Web,
    Mobile,
}

impl From<RenditionName> for Rendition {
    fn from(r: RenditionName) -> Rendition {
        match r {
            RenditionName::Web => Rendition::Web,
            RenditionName::Mobile => Rendition::Mobile,
        }
    }
}

impl StepEvent {
    pub fn parse(event: &Value) -> Result<StepEvent, StepError> {
        StepEvent::deserialize(event).map_err(|e| StepError::Invalid(e.to_string()))
    }

    pub fn name(&self) -> &'static str {
        match self {
            StepEvent::Prepare { .. } => "prepare",
            StepEvent::Trim { .. } => "trim",
            StepEvent::Transcode { .. } => "transcode",
            StepEvent::MarkFailed { .. } => "mark-failed",
        }
    }

    pub fn request(&self) -> &Request {
        match self {
            StepEvent::Prepare { request }
            | StepEvent::Trim { request, .. }
            | StepEvent::Transcode { request, .. }
            | StepEvent::MarkFailed { request, .. } => request,
        }
    }
}

/// Runs the step the event names and answers its result as JSON.
pub async fn handle(env: &Env, event: &Value) -> Result<Value, StepError> {
    let event = StepEvent::parse(event)?;
    let request = event.request();
    tracing::info!(step = event.name(), mentor = %request.mentor, question = %request.question, "step");
    let result = match &event {
        StepEvent::Prepare { request } => to_value(&prepare(env, request).await?),
        StepEvent::Trim { request, media } => to_value(&trim(env, request, media).await?),
        StepEvent::Transcode {
            request,
            media,
            rendition,
        } => transcode(env, request, media, (*rendition).into()).await?,
        StepEvent::MarkFailed {
            request,
            error,
            cause,
        } => mark_failed(env, request, error.as_deref(), cause.as_deref()).await?,
    };
    Ok(result)
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("plain data serializes")
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The upload is not a usable video: no video stream, shorter than a second, unreadable, a
    /// trim outside the clip. Retrying cannot help.
    #[error("{reason}")]
    Rejected { reason: String },
    #[error("invalid step event: {0}")]
    Invalid(String),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Graphql(#[from] GraphqlError),
    #[error(transparent)]
    Probe(ProbeError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Ffmpeg(#[from] RunError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

impl StepError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> StepError {
        StepError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// The Lambda error type, which the state machine sees as `Error` (its Retry can leave
    /// `UploadRejected` and `InvalidEvent` out: a retry cannot fix them).
    pub fn kind(&self) -> &'static str {
        match self {
            StepError::Rejected { .. } => "UploadRejected",
            StepError::Invalid(_) => "InvalidEvent",
            StepError::Env(_) => "Configuration",
            StepError::S3 { .. } => "S3Error",
            StepError::Graphql(_) => "GraphqlError",
            StepError::Probe(_) => "ProbeError",
            StepError::Command(CommandError::Trim { .. }) => "UploadRejected",
            StepError::Command(_) => "CommandError",
            StepError::Ffmpeg(_) => "FfmpegError",
            StepError::Io { .. } => "IoError",
        }
    }
}
