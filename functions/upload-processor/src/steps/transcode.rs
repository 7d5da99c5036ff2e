//! `transcode`: the web or mobile rendition of the stored original (G7 when done), and the
//! mentor's thumbnail when asked, on the web branch only.

use std::path::Path;

use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use tokio::io::AsyncReadExt;

use crate::ffmpeg::{run, Container, THUMBNAIL_CONTENT_TYPE};
use crate::geometry::Rendition;
use crate::graphql::{Completion, Media, TaskKind};

use super::prepare::probe_upload;
use super::request::{skip_reason, PreparedMedia, Request};
use super::{s3, Env, StepError, WorkDir};

pub async fn transcode(
    env: &Env,
    request: &Request,
    media: &PreparedMedia,
    rendition: Rendition,
) -> Result<Value, StepError> {
    let kind = match rendition {
        Rendition::Web => TaskKind::TranscodeWeb,
        Rendition::Mobile => TaskKind::TranscodeMobile,
    };
    let name = rendition.to_string();
    let current = env
        .graphql
        .upload_task(&env.credentials, &request.mentor, &request.question)
        .await?;
    if let Some(skip) = skip_reason(request, current.as_ref(), kind) {
        tracing::info!(rendition = %name, %skip, "transcode skipped");
        return Ok(json!({ "rendition": name, "skipped": skip.to_string() }));
    }

    let work = WorkDir::fresh(&env.work_root).await?;
    let source = work.file(&format!("source.{}", media.container.as_str()));
    s3::download(&env.s3, &env.static_bucket, &media.video, &source).await?;
    let probe = probe_upload(env, &source).await?;
    let maintain = request.maintain_original_aspect_ratio;

    // A virtual-background video keeps its alpha in WebM; every answer also gets an MP4, encoded
    // from the source with the same geometry (the original re-encoded the WebM bare, §5.2).
    let mut transparent = String::new();
    if request.output_container(media) == Container::WebmVp9 {
        let webm = work.file(&format!("{name}.webm"));
        let command = env.ffmpeg.transcode(
            &source,
            &probe,
            rendition,
            maintain,
            Container::WebmVp9,
            &webm,
        )?;
        run(&command).await?;
        let key = request.key(&format!("{name}.webm"));
        s3::put_file(
            &env.s3,
            &env.static_bucket,
            &key,
            &webm,
            Container::WebmVp9.content_type(),
        )
        .await?;
        transparent = key;
    }
    let mp4 = work.file(&format!("{name}.mp4"));
    let command =
        env.ffmpeg
            .transcode(&source, &probe, rendition, maintain, Container::Mp4, &mp4)?;
    run(&command).await?;
    let key = request.key(&format!("{name}.mp4"));
    s3::put_file(
        &env.s3,
        &env.static_bucket,
        &key,
        &mp4,
        Container::Mp4.content_type(),
    )
    .await?;

    let mut thumbnail = None;
    if rendition == Rendition::Web && request.generate_thumbnail {
        let jpg = work.file("thumbnail.jpg");
        run(&env.ffmpeg.thumbnail(&source, &probe, &jpg)).await?;
        let key = request.thumbnail_key(&timestamp());
        s3::put_file(
            &env.s3,
            &env.static_bucket,
            &key,
            &jpg,
            THUMBNAIL_CONTENT_TYPE,
        )
        .await?;
        env.graphql
            .update_mentor_thumbnail(&env.credentials, &request.mentor, &key)
            .await?;
        thumbnail = Some(key);
    }

    // G7's duration and hash describe the rendition its URL names (the original described the
    // source, §2.2 G7).
    let encoded = probe_upload(env, &mp4).await?;
    let mut answer_media = Media::video(&name, key.clone());
    answer_media.duration = encoded.duration.map(|d| d.as_millis() as f64);
    answer_media.hash = Some(sha1_hex(&mp4).await?);
    answer_media.transparent_video_url = Some(transparent.clone());
    let completion = match rendition {
        Rendition::Web => Completion::Web(answer_media),
        Rendition::Mobile => Completion::Mobile(answer_media),
    };
    let done = env
        .graphql
        .complete_task(
            &env.credentials,
            &request.mentor,
            &request.question,
            &completion,
        )
        .await?;
    if !done {
        tracing::warn!(rendition = %name, "the upload task no longer exists");
    }
    tracing::info!(rendition = %name, video = %key, "transcoded");
    Ok(json!({
        "rendition": name,
        "video": key,
        "transparent_video": (!transparent.is_empty()).then_some(transparent),
        "thumbnail": thumbnail,
    }))
}

/// `YYYYMMDDTHHMMSSZ`, UTC (spec conventions).
pub(crate) fn timestamp() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .expect("a fixed format")
}

async fn sha1_hex(path: &Path) -> Result<String, StepError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| StepError::io(path, e))?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| StepError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
