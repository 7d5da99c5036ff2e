//! One job, from its record to DONE or FAILED (spec §7.2, with its gaps closed).
//!
//! Once the record says IN_PROGRESS, every outcome is written to it: the message is not retried,
//! because an import is not idempotent (the original re-ran whole imports on stream retries,
//! §10.2 #18). A run that dies without writing (a crash, the Lambda's timeout) leaves
//! IN_PROGRESS behind; the message's redelivery finds it and marks the job FAILED, so no job
//! and no import task phase stays IN_PROGRESS forever (the original left the media phase so).

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;

use super::export::TransferRequest;
use super::job::{JobRecord, JobStatus, Phase};
use super::migrate::{copy_all, migration_error, Plan};
use super::model::ImportTaskUpdate;
use super::{RunError, Worker};
use crate::graphql::TaskStatus;

/// Time kept back from the Lambda's deadline to record a job that ran out of time.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(30);

/// What a run did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job was already DONE or FAILED: nothing was done (a redelivered message).
    AlreadyFinal(JobStatus),
    /// The job ended with this status in this run.
    Finished(JobStatus),
}

/// A phase that could not finish: the job fails with `reason`.
struct Failure {
    phase: Phase,
    reason: String,
}

impl Failure {
    fn new(phase: Phase, reason: impl std::fmt::Display) -> Failure {
        Failure {
            phase,
            reason: reason.to_string(),
        }
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub async fn run(
    worker: &Worker,
    id: Uuid,
    deadline: Option<Instant>,
) -> Result<Outcome, RunError> {
    let mut record = worker
        .jobs
        .record(&id)
        .await?
        .ok_or(RunError::UnknownJob(id))?;
    match record.status {
        status if status.is_final() => {
            tracing::info!(%id, status = status.as_str(), "job already finished; nothing to do");
            return Ok(Outcome::AlreadyFinal(status));
        }
        JobStatus::InProgress => {
            let phase = record.phase.unwrap_or(Phase::Import);
            tracing::error!(%id, ?phase, "job found IN_PROGRESS: an earlier run was interrupted");
            let failure = Failure::new(
                phase,
                "an earlier run stopped before finishing (a crash or the Lambda's time limit); \
                 submit the transfer again",
            );
            return fail(worker, &mut record, failure, Vec::new()).await;
        }
        _ => {}
    }

    record.set(JobStatus::InProgress, now());
    record.phase = Some(Phase::Import);
    worker.jobs.put_record(&record).await?;
    tracing::info!(%id, mentor = record.mentor, "transfer started");

    let mut migration_errors = Vec::new();
    let phases = phases(worker, &mut record, &mut migration_errors);
    let result = match deadline.map(|d| d.checked_sub(DEADLINE_RESERVE).unwrap_or(d)) {
        Some(until) => tokio::time::timeout_at(tokio::time::Instant::from_std(until), phases)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::new(
                    Phase::Media,
                    "ran out of time before the transfer finished",
                ))
            }),
        None => phases.await,
    };
    match result {
        Ok(()) => Ok(Outcome::Finished(record.status)),
        Err(mut failure) => {
            // The phase the record was in when time ran out, not the one the timeout guessed.
            failure.phase = record.phase.unwrap_or(failure.phase);
            fail(worker, &mut record, failure, migration_errors).await
        }
    }
}

/// The import, then the media; the record ends DONE (written) or the failure is returned.
async fn phases(
    worker: &Worker,
    record: &mut JobRecord,
    migration_errors: &mut Vec<String>,
) -> Result<(), Failure> {
    let (graphql, credentials, mentor) =
        (&worker.graphql, &worker.credentials, record.mentor.clone());
    let import = |e: &dyn std::fmt::Display| Failure::new(Phase::Import, e);

    let body = worker
        .jobs
        .export(&record.id)
        .await
        .map_err(|e| import(&e))?;
    let request: TransferRequest = serde_json::from_slice(&body)
        .map_err(|e| import(&format!("the stored export is unreadable: {e}")))?;
    update(
        worker,
        &mentor,
        ImportTaskUpdate::import(TaskStatus::InProgress),
    )
    .await
    .map_err(|e| import(&e))?;
    let answers = graphql
        .mentor_import(
            credentials,
            &mentor,
            &request.export,
            &request.replaced_mentor_data_changes,
        )
        .await
        .map_err(|e| import(&e))?;
    update(worker, &mentor, ImportTaskUpdate::import(TaskStatus::Done))
        .await
        .map_err(|e| import(&e))?;
    tracing::info!(answers = answers.len(), "mentor imported");

    record.counts.answers = answers.len() as u64;
    record.phase = Some(Phase::Media);
    record.updated = super::job::rfc3339(now());
    let media = |e: &dyn std::fmt::Display| Failure::new(Phase::Media, e);
    worker
        .jobs
        .put_record(record)
        .await
        .map_err(|e| media(&e))?;
    update(
        worker,
        &mentor,
        ImportTaskUpdate::migration(TaskStatus::InProgress, Vec::new()),
    )
    .await
    .map_err(|e| media(&e))?;

    let plan = Plan::of(&answers);
    let planned = (plan.items.len() + plan.unusable.len()) as u64;
    let copied = copy_all(worker, &mentor, plan.items).await;
    let mut errors = plan.unusable;
    errors.extend(copied.errors);
    record.counts.media = planned;
    record.counts.transferred = copied.updates.len() as u64;
    record.counts.failed = errors.len() as u64;
    migration_errors.extend(errors.iter().map(migration_error));
    record.errors.extend(errors);

    if !copied.updates.is_empty() {
        let calls = graphql
            .update_answers(credentials, &mentor, &copied.updates)
            .await
            .map_err(|e| media(&e))?;
        tracing::info!(updates = copied.updates.len(), calls, "answers updated");
    }
    update(
        worker,
        &mentor,
        ImportTaskUpdate::migration(TaskStatus::Done, migration_errors.clone()),
    )
    .await
    .map_err(|e| media(&e))?;

    record.set(JobStatus::Done, now());
    worker
        .jobs
        .put_record(record)
        .await
        .map_err(|e| media(&e))?;
    tracing::info!(
        id = %record.id,
        transferred = record.counts.transferred,
        failed = record.counts.failed,
        "transfer done"
    );
    Ok(())
}

/// G15, warning when the server changed nothing (no import task for the mentor).
async fn update(
    worker: &Worker,
    mentor: &str,
    update: ImportTaskUpdate,
) -> Result<(), crate::graphql::GraphqlError> {
    let changed = worker
        .graphql
        .update_import_task(&worker.credentials, mentor, &update)
        .await?;
    if !changed {
        tracing::warn!(mentor, "importTaskUpdate changed nothing: no import task?");
    }
    Ok(())
}

/// Records the failure (the job FAILED; the import task's phase FAILED, best effort).
async fn fail(
    worker: &Worker,
    record: &mut JobRecord,
    failure: Failure,
    migration_errors: Vec<String>,
) -> Result<Outcome, RunError> {
    tracing::error!(id = %record.id, phase = ?failure.phase, reason = failure.reason, "transfer failed");
    let task_update = match failure.phase {
        Phase::Import => ImportTaskUpdate::import(TaskStatus::Failed),
        Phase::Media => ImportTaskUpdate::migration(TaskStatus::Failed, migration_errors),
    };
    let mut reason = failure.reason;
    if let Err(e) = update(worker, &record.mentor, task_update).await {
        tracing::error!(error = %e, "marking the import task FAILED failed too");
        reason = format!("{reason} (marking the import task FAILED failed too: {e})");
    }
    record.fail(reason, now());
    // Not written: the message is retried, finds IN_PROGRESS and comes back here.
    worker.jobs.put_record(record).await?;
    Ok(Outcome::Finished(JobStatus::Failed))
}
