//! The state machine's input (`$.request`, docs/upload-processor.md) and what `prepare` leaves at
//! `$.media`, with the decisions that depend on them alone: where files go, which tasks exist,
//! which container an output uses.

use serde::{Deserialize, Deserializer, Serialize};

use crate::ffmpeg::{Container, TrimRange};
use crate::graphql::{NewTask, TaskKind, TaskStatus, UploadTask};

/// `$.request`: no JWT and no auth headers, only what the steps need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub mentor: String,
    pub question: String,
    /// The raw upload in `UPLOAD_BUCKET`, `{jwt.id}/{uuid}`.
    pub upload_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim: Option<Trim>,
    #[serde(rename = "transcodeWebTask", default)]
    pub transcode_web_task: Option<NewTask>,
    #[serde(rename = "transcodeMobileTask", default)]
    pub transcode_mobile_task: Option<NewTask>,
    #[serde(rename = "transcribeTask", default)]
    pub transcribe_task: Option<NewTask>,
    #[serde(rename = "trimUploadTask", default)]
    pub trim_upload_task: Option<NewTask>,
    /// `null` is `false` here: the original's `is False` test made `null` mean "maintain" (§3.1).
    #[serde(default, deserialize_with = "null_is_false")]
    pub maintain_original_aspect_ratio: bool,
    #[serde(default, deserialize_with = "null_is_false")]
    pub generate_thumbnail: bool,
    #[serde(rename = "isVbgVideo", default, deserialize_with = "null_is_false")]
    pub is_vbg_video: bool,
}

/// `trim` in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trim {
    pub start: f64,
    pub end: f64,
}

impl From<Trim> for TrimRange {
    fn from(t: Trim) -> TrimRange {
        TrimRange {
            start: t.start,
            end: t.end,
        }
    }
}

fn null_is_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

impl Request {
    /// The request's task of `kind`, if the upload has one.
    pub fn task(&self, kind: TaskKind) -> Option<&NewTask> {
        match kind {
            TaskKind::TranscodeWeb => self.transcode_web_task.as_ref(),
            TaskKind::TranscodeMobile => self.transcode_mobile_task.as_ref(),
            TaskKind::Transcribe => self.transcribe_task.as_ref(),
            TaskKind::TrimUpload => self.trim_upload_task.as_ref(),
        }
    }

    /// Every task the upload has, in [`TaskKind::ALL`] order: what `mark-failed` marks.
    pub fn tasks(&self) -> Vec<(TaskKind, &NewTask)> {
        TaskKind::ALL
            .into_iter()
            .filter_map(|k| self.task(k).map(|t| (k, t)))
            .collect()
    }

    /// `videos/{m}/{q}/`: the answer's folder in the static bucket.
    pub fn prefix(&self) -> String {
        format!("videos/{}/{}/", self.mentor, self.question)
    }

    /// `videos/{m}/{q}/{name}`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix())
    }

    /// What `prepare` deletes before writing the new original: every original, rendition and
    /// subtitle a previous upload of the answer may have left (spec §3.2 step 9.2).
    pub fn old_rendition_keys(&self) -> Vec<String> {
        [
            "original.mp4",
            "original.webm",
            "web.mp4",
            "web.webm",
            "mobile.mp4",
            "mobile.webm",
            "en.vtt",
        ]
        .into_iter()
        .map(|n| self.key(n))
        .collect()
    }

    /// `videos/{m}/{q}/en.vtt`.
    pub fn vtt_key(&self) -> String {
        self.key("en.vtt")
    }

    /// The auto thumbnail, `mentor/thumbnails/{m}/{ts}/thumbnail.jpg` (§3.3; JPEG, so `.jpg`
    /// and `image/jpeg`). `ts` is `YYYYMMDDTHHMMSSZ`.
    pub fn thumbnail_key(&self, ts: &str) -> String {
        format!("mentor/thumbnails/{}/{ts}/thumbnail.jpg", self.mentor)
    }

    /// The container a trim or a rendition is written in: VP9 WebM only for a virtual-background
    /// video that arrived as WebM (its alpha is the point), MP4 for everything else (§3.6).
    pub fn output_container(&self, media: &PreparedMedia) -> Container {
        if self.is_vbg_video && media.container == Ext::Webm {
            Container::WebmVp9
        } else {
            Container::Mp4
        }
    }
}

/// The stored original's container, as the probe decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ext {
    Mp4,
    Webm,
}

impl Ext {
    pub fn as_str(self) -> &'static str {
        match self {
            Ext::Mp4 => "mp4",
            Ext::Webm => "webm",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Ext::Mp4 => "video/mp4",
            Ext::Webm => "video/webm",
        }
    }
}

impl From<Container> for Ext {
    fn from(c: Container) -> Ext {
        match c {
            Container::Mp4 => Ext::Mp4,
            Container::WebmVp9 => Ext::Webm,
        }
    }
}

/// `$.media`: the stored original as `prepare` (or `trim`) left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedMedia {
    /// Key in the static bucket, `videos/{m}/{q}/original.{ext}`.
    pub video: String,
    pub container: Ext,
    pub duration_ms: u64,
    pub has_audio: bool,
    /// Display size (rotation and pixel aspect applied).
    pub width: u32,
    pub height: u32,
}

/// Why a step leaves a task alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The request has no such task (no trim asked, an edited transcript…).
    NotRequested,
    /// GraphQL has no upload task for the answer any more (the client deleted it).
    NoUploadTask,
    /// GraphQL's task is not this request's: a newer upload of the answer replaced it.
    Superseded,
    /// The task was cancelled (`CANCEL*`).
    Cancelled,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skip::NotRequested => "the request has no such task",
            Skip::NoUploadTask => "the upload task no longer exists",
            Skip::Superseded => "a newer upload replaced the task",
            Skip::Cancelled => "the task was cancelled",
        })
    }
}

/// Whether a step runs its task: only when the request has it and GraphQL's current record is
/// the same task (same `task_id`) and not cancelled.
pub fn skip_reason(
    request: &Request,
    current: Option<&UploadTask>,
    kind: TaskKind,
) -> Option<Skip> {
    let Some(asked) = request.task(kind) else {
        return Some(Skip::NotRequested);
    };
    let Some(current) = current else {
        return Some(Skip::NoUploadTask);
    };
    let Some(task) = current.task(kind) else {
        return Some(Skip::NoUploadTask);
    };
    if task.task_id != asked.task_id {
        return Some(Skip::Superseded);
    }
    if task.status.is_cancel() {
        return Some(Skip::Cancelled);
    }
    None
}

/// The tasks `prepare` marks IN_PROGRESS: all of the request's but transcription, which
/// `transcribe-start` marks together with its task token (one IN_PROGRESS per task).
pub fn tasks_started_by_prepare(request: &Request) -> Vec<TaskKind> {
    request
        .tasks()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k != TaskKind::Transcribe)
        .collect()
}

/// The reason `mark-failed` reports: the state machine's `Error`, and its `Cause`, which for a
/// Lambda error is the JSON `{"errorMessage","errorType",…}` whose message is what matters.
pub fn failure_reason(error: Option<&str>, cause: Option<&str>) -> String {
    const MAX: usize = 1_000;
    let message = cause.map(str::trim).filter(|c| !c.is_empty()).map(|c| {
        serde_json::from_str::<serde_json::Value>(c)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| c.to_string())
    });
    let error = error.map(str::trim).filter(|e| !e.is_empty());
    let reason = match (error, message) {
        (Some(e), Some(m)) => format!("{e}: {m}"),
        (Some(e), None) => e.to_string(),
        (None, Some(m)) => m,
        (None, None) => "the upload failed".to_string(),
    };
    if reason.chars().count() <= MAX {
        return reason;
    }
    let cut: String = reason.chars().take(MAX).collect();
    format!("{cut}…")
}

/// What a task's status must be for the transcribe collect and watch to act on it.
pub fn is_running(status: TaskStatus) -> bool {
    status == TaskStatus::InProgress
}
