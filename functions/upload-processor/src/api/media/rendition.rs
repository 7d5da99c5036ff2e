//! How long an answer's video is, for `/regen_vtt`: the rendition is copied from the static
//! bucket into a file of its own under the temporary directory (each local invocation has its
//! own `TMPDIR`, as each Lambda instance has its own `/tmp`) and probed with ffmpeg, the only
//! media tool the layer has. The file is removed however the probe ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use uuid::Uuid;

use crate::api::Response;
use crate::ffmpeg::Ffmpeg;
use crate::steps::s3;

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "removing a temporary file failed");
            }
        }
    }
}

/// The duration of `bucket/key`. Every failure is 502: the key came from GraphQL and the file
/// from this service's own pipeline, so neither is the client's to fix.
pub async fn duration(
    s3_client: &aws_sdk_s3::Client,
    ffmpeg: &Ffmpeg,
    bucket: &str,
    key: &str,
) -> Result<Duration, Response> {
    // ffmpeg reads the container from the bytes; the extension only helps a human reading logs.
    let extension = Path::new(key)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("media");
    let file =
        TempFile(std::env::temp_dir().join(format!("regen-vtt-{}.{extension}", Uuid::new_v4())));
    let bytes = s3::download(s3_client, bucket, key, &file.0)
        .await
        .map_err(|e| {
            tracing::error!(key, error = %e, "downloading the answer's video failed");
            Response::error(502, format!("reading the answer's video {key} failed"))
        })?;
    let probe = ffmpeg.probe(&file.0).await.map_err(|e| {
        tracing::error!(key, bytes, error = %e, "probing the answer's video failed");
        Response::error(502, format!("measuring the answer's video {key} failed"))
    })?;
    probe.duration.ok_or_else(|| {
        tracing::error!(key, "the answer's video has no measurable duration");
        Response::error(
            502,
            format!("the answer's video {key} has no measurable duration"),
        )
    })
}
