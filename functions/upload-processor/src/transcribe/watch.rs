//! The schedule: a heartbeat for each running job of ours, so the state's heartbeat timeout
//! catches a job that stopped being watched, and the failure of each failed one, so the
//! execution fails at once instead of at its timeout (the original waited 900 s, §10.2 #6).

use std::collections::HashMap;

use aws_sdk_transcribe::types::{TranscriptionJobStatus, TranscriptionJobSummary};
use serde_json::{json, Value};
use support::Secret;

use crate::graphql::{TaskKind, TaskStatus, UploadTask};

use super::decide::{parse_job_name, watch_action, JobState, WatchAction};
use super::sfn::{heartbeat, send_failure};
use super::{Env, TranscribeError};

/// Pages of 100 jobs per status; more than this many jobs in one state is not ours to walk.
const MAX_PAGES: usize = 10;

/// Failed jobs older than this are long settled (the state's timeout is far shorter).
const FAILED_LOOKBACK_SECS: i64 = 6 * 3600;

pub async fn watch(env: &Env) -> Result<Value, TranscribeError> {
    let mut tasks: HashMap<(String, String), Option<UploadTask>> = HashMap::new();
    let (mut heartbeats, mut failed, mut ignored) = (0, 0, 0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (status, state) in [
        (TranscriptionJobStatus::Queued, JobState::Running),
        (TranscriptionJobStatus::InProgress, JobState::Running),
        (TranscriptionJobStatus::Failed, JobState::Failed),
    ] {
        for job in list_jobs(env, status).await? {
            let Some(name) = job.transcription_job_name() else {
                continue;
            };
            let Some(job_ref) = parse_job_name(name) else {
                continue; // not a job of ours
            };
            if state == JobState::Failed
                && job
                    .completion_time()
                    .is_some_and(|t| now - t.secs() > FAILED_LOOKBACK_SECS)
            {
                continue;
            }
            let key = (job_ref.mentor.clone(), job_ref.question.clone());
            if !tasks.contains_key(&key) {
                let task = env
                    .graphql
                    .upload_task(&env.credentials, &key.0, &key.1)
                    .await?;
                tasks.insert(key.clone(), task);
            }
            let current = tasks.get(&key).and_then(Option::as_ref);
            match watch_action(state, job.failure_reason(), current, &job_ref) {
                WatchAction::Heartbeat(token) => {
                    heartbeat(&env.sfn, &token).await?;
                    heartbeats += 1;
                }
                WatchAction::Fail { token, reason } => {
                    tracing::warn!(job = name, %reason, "Transcribe job failed");
                    send_failure(&env.sfn, &token, "TranscribeJobFailed", &reason).await?;
                    env.graphql
                        .update_task_status(
                            &env.credentials,
                            &job_ref.mentor,
                            &job_ref.question,
                            TaskKind::Transcribe,
                            TaskStatus::Failed,
                            Some(&Secret::new(reason)),
                        )
                        .await?;
                    // The record changed: read it again if another job of the answer follows.
                    tasks.remove(&key);
                    failed += 1;
                }
                WatchAction::Ignore(why) => {
                    tracing::debug!(job = name, why, "job ignored");
                    ignored += 1;
                }
            }
        }
    }
    tracing::info!(heartbeats, failed, ignored, "watched Transcribe jobs");
    Ok(json!({ "heartbeats": heartbeats, "failed": failed, "ignored": ignored }))
}

async fn list_jobs(
    env: &Env,
    status: TranscriptionJobStatus,
) -> Result<Vec<TranscriptionJobSummary>, TranscribeError> {
    let mut jobs = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = env
            .transcribe
            .list_transcription_jobs()
            .status(status.clone())
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_transcribe::error::ProvideErrorMetadata;
                TranscribeError::Transcribe {
                    operation: "ListTranscriptionJobs",
                    message: match (e.code(), e.message()) {
                        (Some(c), Some(m)) => format!("{c}: {m}"),
                        _ => aws_sdk_transcribe::error::DisplayErrorContext(&e).to_string(),
                    },
                }
            })?;
        jobs.extend(out.transcription_job_summaries().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(jobs)
}
