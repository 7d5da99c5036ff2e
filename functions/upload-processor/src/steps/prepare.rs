//! `prepare`: the raw upload becomes the answer's original. It is probed first, so an unusable
//! upload is refused before anything of the answer's previous upload is deleted.

use std::path::Path;

use crate::ffmpeg::{Probe, ProbeError};
use crate::graphql::TaskStatus;

use super::request::{tasks_started_by_prepare, Ext, PreparedMedia, Request};
use super::{s3, Env, StepError, WorkDir};

/// Probes the upload, deletes the old renditions, copies the upload to
/// `videos/{m}/{q}/original.{mp4|webm}`, marks the tasks IN_PROGRESS.
pub async fn prepare(env: &Env, request: &Request) -> Result<PreparedMedia, StepError> {
    let work = WorkDir::fresh(&env.work_root).await?;
    let upload = work.file("upload");
    let bytes = s3::download(&env.s3, &env.upload_bucket, &request.upload_key, &upload).await?;
    tracing::info!(bytes, "downloaded the upload");
    let probe = probe_upload(env, &upload).await?;
    let ext = if probe.is_webm() { Ext::Webm } else { Ext::Mp4 };
    let key = request.key(&format!("original.{}", ext.as_str()));

    s3::delete_keys(&env.s3, &env.static_bucket, &request.old_rendition_keys()).await?;
    // Server-side: the bytes were only needed here to probe them.
    s3::copy(
        &env.s3,
        &env.upload_bucket,
        &request.upload_key,
        &env.static_bucket,
        &key,
        ext.content_type(),
    )
    .await?;

    for kind in tasks_started_by_prepare(request) {
        let updated = env
            .graphql
            .update_task_status(
                &env.credentials,
                &request.mentor,
                &request.question,
                kind,
                TaskStatus::InProgress,
                None,
            )
            .await?;
        if !updated {
            tracing::warn!(task = kind.field(), "the upload task no longer exists");
        }
    }
    let media = media_of(key, ext, &probe);
    tracing::info!(video = %media.video, duration_ms = media.duration_ms, has_audio = media.has_audio, width = media.width, height = media.height, "prepared");
    Ok(media)
}

/// Probes a clip and checks its length: the user's fault becomes [`StepError::Rejected`].
pub(crate) async fn probe_upload(env: &Env, file: &Path) -> Result<Probe, StepError> {
    let probe = env.ffmpeg.probe(file).await.map_err(rejected)?;
    probe.ensure_long_enough(file).map_err(rejected)?;
    Ok(probe)
}

fn rejected(e: ProbeError) -> StepError {
    match rejection_reason(&e) {
        Some(reason) => StepError::Rejected { reason },
        None => StepError::Probe(e),
    }
}

/// Why an upload is refused, in words for the task's record (no scratch paths); `None` when the
/// probe failed for a reason of ours (ffmpeg missing).
pub fn rejection_reason(e: &ProbeError) -> Option<String> {
    Some(match e {
        ProbeError::Spawn { .. } => return None,
        ProbeError::NoVideo { .. } => "no video found: the upload has no video stream".into(),
        ProbeError::TooShort { .. } => format!("video too short: {e}"),
        ProbeError::Unreadable { reason, .. } => {
            format!("no video found: the upload is not a readable video ({reason})")
        }
        ProbeError::NoSize { .. } => "the upload's video size cannot be read".into(),
        ProbeError::UnknownDuration { .. } => "the upload's duration cannot be determined".into(),
    })
}

pub(crate) fn media_of(key: String, ext: Ext, probe: &Probe) -> PreparedMedia {
    let size = probe.video.display();
    PreparedMedia {
        video: key,
        container: ext,
        duration_ms: probe.duration.map_or(0, |d| d.as_millis() as u64),
        has_audio: probe.has_audio,
        width: size.width,
        height: size.height,
    }
}
