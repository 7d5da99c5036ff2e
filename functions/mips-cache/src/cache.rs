//! Results cached in S3 under `cache/`, one object per route and normalized query. Content is
//! written only when it changed; an unchanged result only renews the object's metadata:
//! `checked-at` (last confirmed against MIPS) and `asked-at` (last asked for by a caller), which
//! is what keeps a variant refreshed and alive.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "cache/";

#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} on {key} failed: {message}")]
pub struct CacheError {
    pub operation: &'static str,
    pub key: String,
    pub message: String,
}

fn err<'k, E: std::fmt::Display>(
    operation: &'static str,
    key: &'k str,
) -> impl FnOnce(E) -> CacheError + 'k {
    move |e| CacheError {
        operation,
        key: key.into(),
        message: e.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub body: Vec<u8>,
    pub content_type: String,
    /// Seconds since the epoch when the content was last confirmed against MIPS.
    pub checked_at: u64,
    /// Seconds since the epoch when a caller last asked for it.
    pub asked_at: u64,
    pub sha256: String,
}

#[derive(Clone)]
pub struct Cache {
    s3: aws_sdk_s3::Client,
    bucket: String,
    ttl: Duration,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `bucket/key` for CopyObject, URL-encoded as the header requires (cache keys hold `?`, `&`, `=`).
fn copy_source(bucket: &str, key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!("{bucket}/{}", utf8_percent_encode(key, KEEP))
}

fn seconds(meta: &std::collections::HashMap<String, String>, name: &str) -> u64 {
    meta.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn sha256(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, ttl: Duration) -> Cache {
        Cache {
            s3,
            bucket: bucket.into(),
            ttl,
        }
    }

    pub fn is_fresh(&self, e: &Entry) -> bool {
        now().saturating_sub(e.checked_at) < self.ttl.as_secs()
    }

    pub async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(err("GetObject", key)(
                    aws_sdk_s3::error::DisplayErrorContext(e),
                ))
            }
        };
        let meta = out.metadata().cloned().unwrap_or_default();
        let content_type = out.content_type().unwrap_or("application/json").to_string();
        let body = out
            .body
            .collect()
            .await
            .map_err(err("GetObject", key))?
            .to_vec();
        let sha = meta.get("sha256").cloned().unwrap_or_else(|| sha256(&body));
        Ok(Some(Entry {
            body,
            content_type,
            checked_at: seconds(&meta, "checked-at"),
            asked_at: seconds(&meta, "asked-at"),
            sha256: sha,
        }))
    }

    /// When a caller last asked for `key`, without reading its body; `None` when it is gone.
    pub async fn asked_at(&self, key: &str) -> Result<Option<u64>, CacheError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(seconds(
                &o.metadata().cloned().unwrap_or_default(),
                "asked-at",
            ))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(err("HeadObject", key)(
                aws_sdk_s3::error::DisplayErrorContext(e),
            )),
        }
    }

    /// Record that a caller asked for `entry` now, keeping its content.
    pub async fn touch(&self, key: &str, entry: &Entry) -> Result<(), CacheError> {
        self.copy_in_place(
            key,
            &entry.content_type,
            &entry.sha256,
            entry.checked_at,
            now(),
        )
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| err("DeleteObject", key)(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Replace an object's metadata with a copy onto itself.
    async fn copy_in_place(
        &self,
        key: &str,
        content_type: &str,
        sha: &str,
        checked_at: u64,
        asked_at: u64,
    ) -> Result<(), CacheError> {
        self.s3
            .copy_object()
            .bucket(&self.bucket)
            .key(key)
            .copy_source(copy_source(&self.bucket, key))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .content_type(content_type)
            .metadata("sha256", sha)
            .metadata("checked-at", checked_at.to_string())
            .metadata("asked-at", asked_at.to_string())
            .send()
            .await
            .map_err(|e| err("CopyObject", key)(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Store `body` unless `previous` holds the same content, in which case only the metadata is
    /// renewed. `asked` says whether a caller asked for it now; a refresh keeps the previous
    /// `asked-at`, so refreshing does not keep an unused variant alive. Returns the entry stored.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        previous: Option<&Entry>,
        asked: bool,
    ) -> Result<Entry, CacheError> {
        let sha = sha256(&body);
        let checked_at = now();
        let asked_at = match previous {
            Some(p) if !asked => p.asked_at,
            _ => checked_at,
        };
        if previous.is_some_and(|p| p.sha256 == sha) {
            self.copy_in_place(key, content_type, &sha, checked_at, asked_at)
                .await?;
        } else {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .metadata("sha256", &sha)
                .metadata("checked-at", checked_at.to_string())
                .metadata("asked-at", asked_at.to_string())
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .map_err(|e| err("PutObject", key)(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        }
        Ok(Entry {
            body,
            content_type: content_type.into(),
            checked_at,
            asked_at,
            sha256: sha,
        })
    }

    pub async fn keys(&self) -> Result<Vec<String>, CacheError> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(PREFIX)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                err("ListObjectsV2", PREFIX)(aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    /// Delete every object under `cache/`; returns how many.
    pub async fn purge(&self) -> Result<usize, CacheError> {
        let keys = self.keys().await?;
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(k)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("DeleteObjects", PREFIX))?;
            let delete = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(err("DeleteObjects", PREFIX))?;
            self.s3
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| {
                    err("DeleteObjects", PREFIX)(aws_sdk_s3::error::DisplayErrorContext(e))
                })?;
        }
        Ok(keys.len())
    }
}
