//! `trim`: cuts the stored original to the requested range and stores it over the original. A
//! WebM upload that is not a virtual-background video becomes `original.mp4` (and the old
//! `original.webm` goes), so the media it returns is what later steps must read.

use crate::ffmpeg::run;
use crate::graphql::{TaskKind, TaskStatus};

use super::prepare::{media_of, probe_upload};
use super::request::{skip_reason, Ext, PreparedMedia, Request};
use super::{s3, Env, StepError, WorkDir};

pub async fn trim(
    env: &Env,
    request: &Request,
    media: &PreparedMedia,
) -> Result<PreparedMedia, StepError> {
    let range = match (request.trim, request.trim_upload_task.is_some()) {
        (Some(range), true) => range,
        (None, false) | (Some(_), false) => {
            tracing::info!("no trim task: the original stays as it is");
            return Ok(media.clone());
        }
        (None, true) => {
            return Err(StepError::Invalid(
                "the request has a trimUploadTask but no trim range".into(),
            ))
        }
    };
    let current = env
        .graphql
        .upload_task(&env.credentials, &request.mentor, &request.question)
        .await?;
    if let Some(skip) = skip_reason(request, current.as_ref(), TaskKind::TrimUpload) {
        tracing::info!(%skip, "trim skipped");
        return Ok(media.clone());
    }

    let work = WorkDir::fresh(&env.work_root).await?;
    let source = work.file(&format!("source.{}", media.container.as_str()));
    s3::download(&env.s3, &env.static_bucket, &media.video, &source).await?;
    let probe = probe_upload(env, &source).await?;
    let target = request.output_container(media);
    let output = work.file(&format!("trimmed.{}", target.extension()));
    let command = env
        .ffmpeg
        .trim(&source, &probe, range.into(), target, &output)?;
    run(&command).await?;
    // The cut decides what the later steps see: its own duration and size.
    let trimmed = probe_upload(env, &output).await?;

    let ext = Ext::from(target);
    let key = request.key(&format!("original.{}", ext.as_str()));
    s3::put_file(
        &env.s3,
        &env.static_bucket,
        &key,
        &output,
        ext.content_type(),
    )
    .await?;
    if key != media.video {
        s3::delete_key(&env.s3, &env.static_bucket, &media.video).await?;
    }
    let updated = env
        .graphql
        .update_task_status(
            &env.credentials,
            &request.mentor,
            &request.question,
            TaskKind::TrimUpload,
            TaskStatus::Done,
            None,
        )
        .await?;
    if !updated {
        tracing::warn!("the upload task no longer exists");
    }
    let media = media_of(key, ext, &trimmed);
    tracing::info!(video = %media.video, duration_ms = media.duration_ms, "trimmed");
    Ok(media)
}
