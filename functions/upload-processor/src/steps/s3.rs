//! The S3 calls the steps and the transcribe function make, each a small function of a client so
//! tests can point them at the local emulator. Downloads stream to a file: an upload may be
//! 100 MiB and the Lambda's memory is not where it belongs.

use std::path::Path;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::AsyncWriteExt;

use super::StepError;

/// What `CopySource` must encode: everything but the unreserved characters and `/`.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn s3_error<E, R>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    e: &SdkError<E, R>,
) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => DisplayErrorContext(e).to_string(),
    };
    StepError::S3 {
        operation,
        bucket: bucket.into(),
        key: key.into(),
        message,
    }
}

/// Streams `bucket/key` into `path`; the number of bytes written.
pub async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<u64, StepError> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("GetObject", bucket, key, &e))?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| StepError::io(path, e))?;
    let mut body = out.body;
    let mut written = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|e| StepError::S3 {
        operation: "GetObject",
        bucket: bucket.into(),
        key: key.into(),
        message: format!("reading the body: {e}"),
    })? {
        file.write_all(&chunk)
            .await
            .map_err(|e| StepError::io(path, e))?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(|e| StepError::io(path, e))?;
    Ok(written)
}

/// The whole object, for the small ones (Transcribe's JSON and VTT).
pub async fn get_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, StepError> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("GetObject", bucket, key, &e))?;
    let bytes = out.body.collect().await.map_err(|e| StepError::S3 {
        operation: "GetObject",
        bucket: bucket.into(),
        key: key.into(),
        message: format!("reading the body: {e}"),
    })?;
    Ok(bytes.into_bytes().to_vec())
}

/// Uploads the file at `path`, streamed from disk.
pub async fn put_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
) -> Result<(), StepError> {
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| StepError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    put(s3, bucket, key, body, content_type).await
}

pub async fn put_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<(), StepError> {
    put(s3, bucket, key, ByteStream::from(bytes), content_type).await
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: ByteStream,
    content_type: &str,
) -> Result<(), StepError> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| s3_error("PutObject", bucket, key, &e))?;
    Ok(())
}

/// A server-side copy with a new Content-Type (the raw upload's is whatever the browser posted).
pub async fn copy(
    s3: &aws_sdk_s3::Client,
    from_bucket: &str,
    from_key: &str,
    to_bucket: &str,
    to_key: &str,
    content_type: &str,
) -> Result<(), StepError> {
    let source = utf8_percent_encode(&format!("{from_bucket}/{from_key}"), COPY_SOURCE).to_string();
    s3.copy_object()
        .copy_source(source)
        .bucket(to_bucket)
        .key(to_key)
        .content_type(content_type)
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .send()
        .await
        .map_err(|e| s3_error("CopyObject", to_bucket, to_key, &e))?;
    Ok(())
}

/// Deletes `keys` (absent ones are fine: S3 reports them deleted). DeleteObjects answers 200
/// even when single keys fail, so the per-key errors are checked: the original ignored them and
/// left stale renditions behind (§10.2 #4).
pub async fn delete_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
) -> Result<(), StepError> {
    if keys.is_empty() {
        return Ok(());
    }
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StepError::S3 {
            operation: "DeleteObjects",
            bucket: bucket.into(),
            key: keys.join(", "),
            message: e.to_string(),
        })?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| StepError::S3 {
            operation: "DeleteObjects",
            bucket: bucket.into(),
            key: keys.join(", "),
            message: e.to_string(),
        })?;
    let out = s3
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .map_err(|e| s3_error("DeleteObjects", bucket, &keys.join(", "), &e))?;
    let failed: Vec<String> = out
        .errors()
        .iter()
        .map(|e| {
            format!(
                "{}: {} {}",
                e.key().unwrap_or("?"),
                e.code().unwrap_or("?"),
                e.message().unwrap_or_default()
            )
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StepError::S3 {
            operation: "DeleteObjects",
            bucket: bucket.into(),
            key: keys.join(", "),
            message: failed.join("; "),
        })
    }
}

/// Deletes one key (DeleteObject succeeds for an absent key).
pub async fn delete_key(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), StepError> {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("DeleteObject", bucket, key, &e))?;
    Ok(())
}
