//! `mark-failed`: the error handler's branch. Every task of the upload becomes FAILED with the
//! reason (the original marked only the web task, whichever failed, §3.6).

use serde_json::{json, Value};
use support::Secret;

use crate::graphql::TaskStatus;

use super::request::{failure_reason, Request};
use super::{Env, StepError};

/// One G8 call per task (the server refuses several per call). The reason goes in the task's
/// `payload`, the one free-text field a task has; on the transcribe task it replaces the task
/// token, which the failed execution no longer honours anyway. A task that no longer exists is
/// not an error; a call that fails is, after the others have been tried.
pub async fn mark_failed(
    env: &Env,
    request: &Request,
    error: Option<&str>,
    cause: Option<&str>,
) -> Result<Value, StepError> {
    let reason = failure_reason(error, cause);
    tracing::warn!(%reason, "marking the upload's tasks FAILED");
    let payload = Secret::new(reason.clone());
    let mut marked = Vec::new();
    let mut gone = Vec::new();
    let mut first_error = None;
    for (kind, _) in request.tasks() {
        match env
            .graphql
            .update_task_status(
                &env.credentials,
                &request.mentor,
                &request.question,
                kind,
                TaskStatus::Failed,
                Some(&payload),
            )
            .await
        {
            Ok(true) => marked.push(kind.field()),
            Ok(false) => {
                tracing::info!(task = kind.field(), "the upload task no longer exists");
                gone.push(kind.field());
            }
            Err(e) => {
                tracing::error!(task = kind.field(), error = %e, "could not mark the task FAILED");
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e.into());
    }
    Ok(json!({ "marked": marked, "gone": gone, "reason": reason }))
}
