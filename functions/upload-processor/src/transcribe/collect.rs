//! The S3 notification of a job's `transcribe.vtt`: the VTT copied to `videos/{m}/{q}/en.vtt`, the
//! transcript and subtitles on the answer (G7), the token completed once. The original completed
//! any token, for any job, up to three times (§10.2 #7).

use serde_json::{json, Value};

use crate::graphql::{Completion, Media};
use crate::steps::s3;
use crate::vtt::TranscribeOutput;

use super::decide::{
    collect_decision, json_key_of, parse_vtt_key, CollectDecision, JobRef, S3Object,
};
use super::sfn::{send_failure, send_success, TokenOutcome};
use super::{Env, TranscribeError};

pub async fn collect(env: &Env, objects: &[S3Object]) -> Result<Value, TranscribeError> {
    let mut results = Vec::new();
    for object in objects {
        let outcome = collect_object(env, object).await?;
        tracing::info!(key = %object.key, outcome, "transcribe output");
        results.push(json!({ "key": object.key, "outcome": outcome }));
    }
    Ok(json!({ "objects": results }))
}

async fn collect_object(env: &Env, object: &S3Object) -> Result<&'static str, TranscribeError> {
    if object.bucket != env.output_bucket {
        tracing::warn!(bucket = %object.bucket, "not the transcribe output bucket");
        return Ok("ignored: another bucket");
    }
    let Some(job) = parse_vtt_key(&object.key) else {
        return Ok("ignored: not a job's transcribe.vtt");
    };
    let current = env
        .graphql
        .upload_task(&env.credentials, &job.mentor, &job.question)
        .await?;
    let token = match collect_decision(current.as_ref(), &job) {
        CollectDecision::Ignore(why) => {
            // "stale job" among them: an earlier upload's job must not complete this token.
            tracing::info!(task_id = %job.task_id, why, "stale job or nothing to complete: ignored");
            return Ok(why);
        }
        CollectDecision::Cancelled(token) => {
            send_success(&env.sfn, &token).await?;
            return Ok("cancelled: execution released");
        }
        CollectDecision::Proceed(token) => token,
    };
    match store(env, object, &job).await {
        Ok(()) => match send_success(&env.sfn, &token).await? {
            TokenOutcome::Accepted => Ok("completed"),
            TokenOutcome::Closed => Ok("stored; the token was already closed"),
        },
        Err(e) => {
            tracing::error!(error = %e, "collecting the transcript failed");
            // A retry of this notification cannot help once the token is failed: report and stop.
            send_failure(&env.sfn, &token, "TranscriptCollectFailed", &e.to_string()).await?;
            Ok("failed: reported to the execution")
        }
    }
}

/// Reads the job's JSON and VTT, stores the VTT as the answer's subtitles, records both (G7).
async fn store(env: &Env, object: &S3Object, job: &JobRef) -> Result<(), TranscribeError> {
    let json = s3::get_bytes(&env.s3, &object.bucket, &json_key_of(&object.key)).await?;
    let transcript = TranscribeOutput::parse(&json)?.transcript().to_string();
    let vtt = s3::get_bytes(&env.s3, &object.bucket, &object.key).await?;
    let text = String::from_utf8(vtt)
        .map_err(|_| TranscribeError::Invalid("Transcribe's VTT is not UTF-8".into()))?;
    let key = format!("videos/{}/{}/en.vtt", job.mentor, job.question);
    s3::put_bytes(
        &env.s3,
        &env.static_bucket,
        &key,
        text.clone().into_bytes(),
        "text/vtt",
    )
    .await?;
    let completion = Completion::Transcript {
        transcript,
        vtt: Some(Media::subtitles(key, Some(text))),
    };
    let done = env
        .graphql
        .complete_task(&env.credentials, &job.mentor, &job.question, &completion)
        .await?;
    if !done {
        tracing::warn!("the upload task no longer exists");
    }
    Ok(())
}
