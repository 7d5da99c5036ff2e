//! The values the operations carry: tasks and their statuses (spec §3.4), media objects (§2.2 G7)
//! and what the queries answer.

use serde::{Deserialize, Serialize};
use support::Secret;

/// A task's status as mentor-graphql's enum spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    None,
    Queued,
    InProgress,
    Done,
    Failed,
    Cancelling,
    Cancelled,
}

impl TaskStatus {
    /// The original skips a step for any status starting with `CANCEL`.
    pub fn is_cancel(self) -> bool {
        matches!(self, TaskStatus::Cancelling | TaskStatus::Cancelled)
    }

    /// Still queued or running: what "an upload in progress" should mean (the original treats
    /// any existing record as in progress, spec §10.2 #16).
    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Queued | TaskStatus::InProgress)
    }
}

/// The four tasks of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskKind {
    TranscodeWeb,
    TranscodeMobile,
    Transcribe,
    TrimUpload,
}

impl TaskKind {
    pub const ALL: [TaskKind; 4] = [
        TaskKind::TranscodeWeb,
        TaskKind::TranscodeMobile,
        TaskKind::Transcribe,
        TaskKind::TrimUpload,
    ];

    /// The field naming the task in the state machine input and in GraphQL.
    pub fn field(self) -> &'static str {
        match self {
            TaskKind::TranscodeWeb => "transcodeWebTask",
            TaskKind::TranscodeMobile => "transcodeMobileTask",
            TaskKind::Transcribe => "transcribeTask",
            TaskKind::TrimUpload => "trimUploadTask",
        }
    }

    /// The task's `task_name`.
    pub fn task_name(self) -> &'static str {
        match self {
            TaskKind::TranscodeWeb => "transcoding-web",
            TaskKind::TranscodeMobile => "transcoding-mobile",
            TaskKind::Transcribe => "transcribing",
            TaskKind::TrimUpload => "trim-upload",
        }
    }
}

/// A task as G6 creates it: `{"task_name", "task_id", "status"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    pub task_name: String,
    pub task_id: String,
    pub status: TaskStatus,
}

impl NewTask {
    pub fn queued(kind: TaskKind, task_id: impl Into<String>) -> NewTask {
        NewTask {
            task_name: kind.task_name().into(),
            task_id: task_id.into(),
            status: TaskStatus::Queued,
        }
    }
}

/// G6's `status`: web and mobile always, transcribe and trim only when asked for. Absent tasks
/// are sent as `null`, as the original does, so an upsert clears a previous upload's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSet {
    pub transcode_web_task: NewTask,
    pub transcode_mobile_task: NewTask,
    pub transcribe_task: Option<NewTask>,
    pub trim_upload_task: Option<NewTask>,
}

/// One task as G2 answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TaskState {
    pub task_id: String,
    pub status: TaskStatus,
    /// The transcribe task's Step Functions token; a credential, so it never prints.
    #[serde(default)]
    pub payload: Option<Secret>,
}

/// G2's `uploadTask`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTask {
    pub transcode_web_task: Option<TaskState>,
    pub transcode_mobile_task: Option<TaskState>,
    pub transcribe_task: Option<TaskState>,
    pub trim_upload_task: Option<TaskState>,
}

impl UploadTask {
    pub fn task(&self, kind: TaskKind) -> Option<&TaskState> {
        match kind {
            TaskKind::TranscodeWeb => self.transcode_web_task.as_ref(),
            TaskKind::TranscodeMobile => self.transcode_mobile_task.as_ref(),
            TaskKind::Transcribe => self.transcribe_task.as_ref(),
            TaskKind::TrimUpload => self.trim_upload_task.as_ref(),
        }
    }

    /// Any task still queued or running.
    pub fn in_progress(&self) -> bool {
        TaskKind::ALL
            .iter()
            .filter_map(|k| self.task(*k))
            .any(|t| t.status.is_active())
    }
}

/// A media object (G5, G7, G18). URLs are relative keys in the static bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    #[serde(rename = "type")]
    pub kind: String,
    pub tag: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// SHA-1 hex of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparent_video_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtt_text: Option<String>,
}

impl Media {
    /// `{"type":"video","tag":tag,"url":url}`; fill the optional fields as needed.
    pub fn video(tag: &str, url: impl Into<String>) -> Media {
        Media {
            kind: "video".into(),
            tag: tag.into(),
            url: url.into(),
            duration: None,
            hash: None,
            string_metadata: None,
            transparent_video_url: None,
            vtt_text: None,
        }
    }

    /// English subtitles: `{"type":"subtitles","tag":"en","url":url}` plus the file's text.
    pub fn subtitles(url: impl Into<String>, vtt_text: Option<String>) -> Media {
        Media {
            kind: "subtitles".into(),
            tag: "en".into(),
            vtt_text,
            ..Media::video("", url)
        }
    }
}

/// What a finished task reports with G7.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// The web rendition: `answer.webMedia` and `transcodeWebTask` DONE.
    Web(Media),
    /// The mobile rendition.
    Mobile(Media),
    /// The transcript, with the subtitles when there are any (none for a clip without speech,
    /// unless the caller stores an empty WebVTT).
    Transcript {
        transcript: String,
        vtt: Option<Media>,
    },
}

/// G18's `answer`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub transcript: String,
    pub web_media: Option<Media>,
    pub mobile_media: Option<Media>,
}

impl Answer {
    /// The web video, else the mobile one (as regen_vtt chooses).
    pub fn video(&self) -> Option<&Media> {
        self.web_media.as_ref().or(self.mobile_media.as_ref())
    }
}
