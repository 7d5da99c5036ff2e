//! The transcribe function's decisions, free of I/O: which event arrived, the names and keys of a
//! job, and what to do with a task token given GraphQL's current transcribe task.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;
use support::Secret;

use crate::graphql::{TaskKind, TaskStatus, UploadTask};
use crate::steps::{skip_reason, PreparedMedia, Request, Skip};

/// The question name that marks an idle question (G4): nothing is said, nothing to transcribe.
pub const IDLE_QUESTION: &str = "_IDLE_";

/// The suffix of the output object whose notification completes a job (the single notification
/// rule: Transcribe writes the VTT after the JSON, so both are there by then).
pub const VTT_SUFFIX: &str = "transcribe.vtt";

/// The three events the function receives.
#[derive(Debug)]
pub enum TranscribeEvent {
    /// The state machine's callback task.
    Start(Box<StartEvent>),
    /// An S3 notification: the objects created.
    Collect(Vec<S3Object>),
    /// The schedule.
    Scheduled,
}

/// `{"step":"transcribe-start","request","media","task_token"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct StartEvent {
    pub request: Request,
    pub media: PreparedMedia,
    /// The callback token; a credential, so it never prints.
    pub task_token: Secret,
}

/// One created object of an S3 notification, its key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("unrecognized event: not a transcribe-start step, an S3 notification or a schedule")]
    Unrecognized,
    #[error("invalid {kind} event: {message}")]
    Invalid { kind: &'static str, message: String },
}

/// Tells the events apart by their shape.
pub fn classify(event: &Value) -> Result<TranscribeEvent, EventError> {
    if let Some(step) = event.get("step") {
        if step.as_str() != Some("transcribe-start") {
            return Err(EventError::Invalid {
                kind: "step",
                message: format!("unknown step {step}"),
            });
        }
        // serde's message names fields, never values, so the token cannot leak through it.
        return StartEvent::deserialize(event)
            .map(|e| TranscribeEvent::Start(Box::new(e)))
            .map_err(|e| EventError::Invalid {
                kind: "transcribe-start",
                message: e.to_string(),
            });
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut objects = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let s3 = record.get("s3").ok_or_else(|| EventError::Invalid {
                kind: "S3",
                message: format!("record {i} has no s3"),
            })?;
            let bucket = s3
                .pointer("/bucket/name")
                .and_then(Value::as_str)
                .ok_or_else(|| EventError::Invalid {
                    kind: "S3",
                    message: format!("record {i} has no bucket name"),
                })?;
            let key = s3
                .pointer("/object/key")
                .and_then(Value::as_str)
                .ok_or_else(|| EventError::Invalid {
                    kind: "S3",
                    message: format!("record {i} has no object key"),
                })?;
            objects.push(S3Object {
                bucket: bucket.to_string(),
                key: decode_key(key),
            });
        }
        return Ok(TranscribeEvent::Collect(objects));
    }
    // the stack's schedule sends the constant input `{"watch": true}`; a rule without an input
    // sends EventBridge's own envelope
    let scheduled = event.get("watch").and_then(Value::as_bool) == Some(true)
        || event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        return Ok(TranscribeEvent::Scheduled);
    }
    Err(EventError::Unrecognized)
}

/// S3 notifications URL-encode keys, with `+` for a space.
pub fn decode_key(key: &str) -> String {
    percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A job's identity: the answer and the transcribe task it was started for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub mentor: String,
    pub question: String,
    pub task_id: String,
}

/// Transcribe job names allow `[0-9a-zA-Z._-]` only, and `_` separates the parts.
fn name_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `{m}_{q}_{taskId}_{uuid}`: the uuid keeps a restarted step from colliding with its first job
/// (Transcribe refuses a name twice). `None` when a part cannot be in a job name.
pub fn job_name(job: &JobRef, unique: &str) -> Option<String> {
    let parts = [
        job.mentor.as_str(),
        job.question.as_str(),
        job.task_id.as_str(),
        unique,
    ];
    parts
        .iter()
        .all(|p| name_part(p))
        .then(|| parts.join("_"))
        .filter(|n| n.len() <= 200)
}

/// The inverse of [`job_name`]; `None` for a job that is not ours.
pub fn parse_job_name(name: &str) -> Option<JobRef> {
    let parts: Vec<&str> = name.split('_').collect();
    let [mentor, question, task_id, _unique] = parts.as_slice() else {
        return None;
    };
    if !parts.iter().all(|p| name_part(p)) {
        return None;
    }
    Some(JobRef {
        mentor: mentor.to_string(),
        question: question.to_string(),
        task_id: task_id.to_string(),
    })
}

/// `{m}/{q}/{taskId}/transcribe.json`: where Transcribe writes (its VTT lands beside it).
pub fn output_key(job: &JobRef) -> String {
    format!(
        "{}/{}/{}/transcribe.json",
        job.mentor, job.question, job.task_id
    )
}

/// The job of an output key `{m}/{q}/{taskId}/transcribe.vtt`; `None` for any other object.
pub fn parse_vtt_key(key: &str) -> Option<JobRef> {
    let parts: Vec<&str> = key.split('/').collect();
    let [mentor, question, task_id, file] = parts.as_slice() else {
        return None;
    };
    if *file != VTT_SUFFIX || [mentor, question, task_id].iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(JobRef {
        mentor: mentor.to_string(),
        question: question.to_string(),
        task_id: task_id.to_string(),
    })
}

/// The JSON beside a VTT output key.
pub fn json_key_of(vtt_key: &str) -> String {
    let dir = vtt_key.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/transcribe.json")
}

/// What `transcribe-start` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    /// Complete the token at once, touching nothing.
    Skip(Skip),
    /// An idle question: the task DONE, then complete the token.
    Idle,
    /// Store the token and transcribe (or finish at once when there is no audio).
    Proceed,
}

/// The skip rules of spec §6.1 (no task, no upload task, cancelled) plus a superseded task,
/// then G4's idle question. `question_name` is only read when nothing else skipped.
pub fn start_decision(
    request: &Request,
    current: Option<&UploadTask>,
    question_name: Option<&str>,
) -> StartDecision {
    if let Some(skip) = skip_reason(request, current, TaskKind::Transcribe) {
        return StartDecision::Skip(skip);
    }
    if question_name == Some(IDLE_QUESTION) {
        return StartDecision::Idle;
    }
    StartDecision::Proceed
}

/// What the collect path does with a job's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectDecision {
    /// Nothing: said why (a stale job, already completed, …). The current token is not touched.
    Ignore(&'static str),
    /// The task was cancelled while the job ran: release the execution, store nothing.
    Cancelled(Secret),
    /// Store the transcript and complete this token.
    Proceed(Secret),
}

/// Only the current task's own job completes its token, once: the key's task id must be the
/// current transcribe task's (else a stale job of an earlier upload of the answer), and the task
/// must still be IN_PROGRESS (a second notification finds it DONE).
pub fn collect_decision(current: Option<&UploadTask>, job: &JobRef) -> CollectDecision {
    let Some(task) = current.and_then(|u| u.task(TaskKind::Transcribe)) else {
        return CollectDecision::Ignore("no transcribe task for the answer");
    };
    if task.task_id != job.task_id {
        return CollectDecision::Ignore("stale job: not the current transcribe task");
    }
    let Some(token) = task.payload.clone().filter(|t| !t.expose().is_empty()) else {
        return CollectDecision::Ignore("the task has no task token");
    };
    if task.status.is_cancel() {
        return CollectDecision::Cancelled(token);
    }
    if task.status != TaskStatus::InProgress {
        return CollectDecision::Ignore("the task is not in progress (already completed?)");
    }
    CollectDecision::Proceed(token)
}

/// A job as the watch sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Failed,
}

/// What the schedule does for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchAction {
    Heartbeat(Secret),
    /// Fail the token with the reason and mark the task FAILED.
    Fail {
        token: Secret,
        reason: String,
    },
    Ignore(&'static str),
}

/// The same identity rule as [`collect_decision`]: only the current, running task's job.
pub fn watch_action(
    state: JobState,
    failure_reason: Option<&str>,
    current: Option<&UploadTask>,
    job: &JobRef,
) -> WatchAction {
    let token = match collect_decision(current, job) {
        CollectDecision::Proceed(token) => token,
        CollectDecision::Cancelled(_) => return WatchAction::Ignore("the task was cancelled"),
        CollectDecision::Ignore(why) => return WatchAction::Ignore(why),
    };
    match state {
        JobState::Running => WatchAction::Heartbeat(token),
        JobState::Failed => WatchAction::Fail {
            token,
            reason: failure_reason
                .filter(|r| !r.trim().is_empty())
                .unwrap_or("the Transcribe job failed")
                .to_string(),
        },
    }
}

/// Step Functions' answers that mean the token is spent (used, timed out, its execution over):
/// logged, never retried.
pub fn token_closed(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist")
    )
}

/// `s` cut to `max` characters (SendTaskFailure's `error` holds 256, `cause` 32768).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
