//! `transcribe-start` (spec §6.1 with its fixes): the job reads the stored original itself (no
//! MP3 copy, no input bucket, no literal `$` in a key), and a clip without audio finishes its task
//! at once instead of leaving the state waiting for a job that never runs.

use aws_sdk_transcribe::types::{
    LanguageCode, Media as JobMedia, MediaFormat, SubtitleFormat, Subtitles,
};
use serde_json::{json, Value};

use crate::graphql::{Completion, Media, TaskKind, TaskStatus};
use crate::steps::{s3, Ext, PreparedMedia, Request};
use crate::vtt;

use super::decide::{job_name, output_key, start_decision, JobRef, StartDecision, StartEvent};
use super::sfn::send_success;
use super::{Env, TranscribeError};

/// The parameters of `StartTranscriptionJob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub name: String,
    /// `s3://{static}/{media.video}`.
    pub media_uri: String,
    pub media_format: Ext,
    pub output_bucket: String,
    /// `{m}/{q}/{taskId}/transcribe.json`.
    pub output_key: String,
}

/// The job for the request's transcribe task; `unique` is a fresh uuid.
pub fn job_request(
    request: &Request,
    media: &PreparedMedia,
    static_bucket: &str,
    output_bucket: &str,
    unique: &str,
) -> Result<JobRequest, TranscribeError> {
    let task = request
        .transcribe_task
        .as_ref()
        .ok_or_else(|| TranscribeError::Invalid("the request has no transcribeTask".into()))?;
    let job = JobRef {
        mentor: request.mentor.clone(),
        question: request.question.clone(),
        task_id: task.task_id.clone(),
    };
    let name = job_name(&job, unique).ok_or_else(|| {
        TranscribeError::Invalid(format!(
            "mentor {:?}, question {:?} or task id {:?} cannot be part of a Transcribe job name",
            job.mentor, job.question, job.task_id
        ))
    })?;
    Ok(JobRequest {
        name,
        media_uri: format!("s3://{static_bucket}/{}", media.video),
        media_format: media.container,
        output_bucket: output_bucket.to_string(),
        output_key: output_key(&job),
    })
}

pub fn media_format(ext: Ext) -> MediaFormat {
    match ext {
        Ext::Mp4 => MediaFormat::Mp4,
        Ext::Webm => MediaFormat::Webm,
    }
}

pub async fn start(env: &Env, event: &StartEvent) -> Result<Value, TranscribeError> {
    let request = &event.request;
    let token = &event.task_token;
    tracing::info!(mentor = %request.mentor, question = %request.question, "transcribe-start");
    let current = match request.transcribe_task {
        Some(_) => {
            env.graphql
                .upload_task(&env.credentials, &request.mentor, &request.question)
                .await?
        }
        None => None,
    };
    let mut decision = start_decision(request, current.as_ref(), None);
    if decision == StartDecision::Proceed {
        let name = env
            .graphql
            .question_name(&env.credentials, &request.question)
            .await?;
        decision = start_decision(request, current.as_ref(), name.as_deref());
    }
    match decision {
        StartDecision::Skip(skip) => {
            tracing::info!(%skip, "transcription skipped");
            send_success(&env.sfn, token).await?;
            return Ok(json!({ "skipped": skip.to_string() }));
        }
        StartDecision::Idle => {
            tracing::info!("idle question: nothing to transcribe");
            env.graphql
                .update_task_status(
                    &env.credentials,
                    &request.mentor,
                    &request.question,
                    TaskKind::Transcribe,
                    TaskStatus::Done,
                    None,
                )
                .await?;
            send_success(&env.sfn, token).await?;
            return Ok(json!({ "skipped": "idle question" }));
        }
        StartDecision::Proceed => {}
    }

    // The collect path and the watch find the token here (as the original kept it).
    env.graphql
        .update_task_status(
            &env.credentials,
            &request.mentor,
            &request.question,
            TaskKind::Transcribe,
            TaskStatus::InProgress,
            Some(token),
        )
        .await?;

    if !event.media.has_audio {
        let key = request.vtt_key();
        s3::put_bytes(
            &env.s3,
            &env.static_bucket,
            &key,
            vtt::EMPTY.as_bytes().to_vec(),
            "text/vtt",
        )
        .await?;
        let completion = Completion::Transcript {
            transcript: String::new(),
            vtt: Some(Media::subtitles(key.clone(), Some(vtt::EMPTY.to_string()))),
        };
        env.graphql
            .complete_task(
                &env.credentials,
                &request.mentor,
                &request.question,
                &completion,
            )
            .await?;
        send_success(&env.sfn, token).await?;
        tracing::info!(vtt = %key, "no audio: empty transcript");
        return Ok(json!({ "transcript": "", "vtt": key }));
    }

    let job = job_request(
        request,
        &event.media,
        &env.static_bucket,
        &env.output_bucket,
        &uuid::Uuid::new_v4().to_string(),
    )?;
    env.transcribe
        .start_transcription_job()
        .transcription_job_name(&job.name)
        .language_code(LanguageCode::EnUs)
        .media(JobMedia::builder().media_file_uri(&job.media_uri).build())
        .media_format(media_format(job.media_format))
        .output_bucket_name(&job.output_bucket)
        .output_key(&job.output_key)
        .subtitles(Subtitles::builder().formats(SubtitleFormat::Vtt).build())
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_transcribe::error::ProvideErrorMetadata;
            TranscribeError::Transcribe {
                operation: "StartTranscriptionJob",
                message: match (e.code(), e.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    _ => aws_sdk_transcribe::error::DisplayErrorContext(&e).to_string(),
                },
            }
        })?;
    tracing::info!(job = %job.name, output = %job.output_key, "Transcribe job started");
    Ok(json!({ "job": job.name, "output_key": job.output_key }))
}
