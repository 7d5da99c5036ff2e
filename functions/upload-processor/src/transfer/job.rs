//! The job record both sides share: in the private `TRANSFER_BUCKET`, per job,
//! `jobs/{id}/export.json.gz` (the request body as received, gzipped) and `jobs/{id}/status.json`
//! (a [`JobRecord`]). The API writes the export, then the QUEUED record; from then on only the
//! worker writes the record, one invocation at a time (the queue delivers a job's one message to
//! one consumer), so plain overwrites need no conditional writes.

use std::io::{Read, Write};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// The unpacked export may not exceed this; the API refuses bodies far smaller, so only a
/// corrupted or foreign object reaches it.
pub const EXPORT_UNPACKED_MAX: u64 = 256 * 1024 * 1024;

/// A job's status. DONE and FAILED are final: a redelivered message finds them and stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    InProgress,
    Done,
    Failed,
}

impl JobStatus {
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Done => "DONE",
            JobStatus::Failed => "FAILED",
        }
    }
}

/// Where an IN_PROGRESS job is, so that a run that finds it interrupted knows which of the
/// import task's phases to mark FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// G16 (`graphQLUpdate`).
    Import,
    /// Copying media and G17 (`s3VideoMigrate`).
    Media,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Answers mentorImport returned.
    pub answers: u64,
    /// Media items that needed a transfer.
    pub media: u64,
    pub transferred: u64,
    pub failed: u64,
}

/// One recorded error: a media file's (its URL without query string, fragment or user info)
/// or the job's own (no `url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub reason: String,
}

impl JobError {
    pub fn job(reason: impl Into<String>) -> JobError {
        JobError {
            url: None,
            reason: reason.into(),
        }
    }
}

/// `jobs/{id}/status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: Uuid,
    pub mentor: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// RFC 3339, UTC.
    pub created: String,
    pub updated: String,
    #[serde(default)]
    pub counts: Counts,
    #[serde(default)]
    pub errors: Vec<JobError>,
}

impl JobRecord {
    pub fn queued(id: Uuid, mentor: impl Into<String>, now: OffsetDateTime) -> JobRecord {
        let now = rfc3339(now);
        JobRecord {
            id,
            mentor: mentor.into(),
            status: JobStatus::Queued,
            phase: None,
            created: now.clone(),
            updated: now,
            counts: Counts::default(),
            errors: Vec::new(),
        }
    }

    /// Sets the status and `updated`; a final status clears the phase.
    pub fn set(&mut self, status: JobStatus, now: OffsetDateTime) {
        self.status = status;
        if status.is_final() {
            self.phase = None;
        }
        self.updated = rfc3339(now);
    }

    /// FAILED with `reason` as the job's error.
    pub fn fail(&mut self, reason: impl Into<String>, now: OffsetDateTime) {
        self.errors.push(JobError::job(reason));
        self.set(JobStatus::Failed, now);
    }

    /// The route a client polls.
    pub fn status_url(&self) -> String {
        status_url(&self.id)
    }
}

pub fn status_url(id: &Uuid) -> String {
    format!("/transfer/status/{id}")
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

/// The queue message: the job's id, nothing else (no token, no export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub id: Uuid,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
    },
    #[error("s3://{bucket}/{key} is unreadable: {message}")]
    Decode {
        bucket: String,
        key: String,
        message: String,
    },
}

/// The job records in `TRANSFER_BUCKET`.
#[derive(Debug, Clone)]
pub struct JobStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

pub fn status_key(id: &Uuid) -> String {
    format!("jobs/{id}/status.json")
}

pub fn export_key(id: &Uuid) -> String {
    format!("jobs/{id}/export.json.gz")
}

impl JobStore {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> JobStore {
        JobStore {
            s3,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stores the request body, gzipped.
    pub async fn put_export(&self, id: &Uuid, body: &[u8]) -> Result<(), StoreError> {
        let key = export_key(id);
        let packed = gzip(body).map_err(|e| self.decode(&key, e))?;
        self.put(&key, packed, "application/gzip").await
    }

    /// The request body as stored.
    pub async fn export(&self, id: &Uuid) -> Result<Vec<u8>, StoreError> {
        let key = export_key(id);
        let packed = self
            .get(&key)
            .await?
            .ok_or_else(|| self.decode(&key, "the export is missing"))?;
        gunzip(&packed, EXPORT_UNPACKED_MAX).map_err(|e| self.decode(&key, e))
    }

    pub async fn put_record(&self, record: &JobRecord) -> Result<(), StoreError> {
        let key = status_key(&record.id);
        let body = serde_json::to_vec(record).map_err(|e| self.decode(&key, e))?;
        self.put(&key, body, "application/json").await
    }

    /// `None` when there is no such job (or its record has expired).
    pub async fn record(&self, id: &Uuid) -> Result<Option<JobRecord>, StoreError> {
        let key = status_key(id);
        match self.get(&key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.decode(&key, e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.s3_error("PutObject", key, &e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(self.s3_error("GetObject", key, &e)),
        };
        let bytes = out.body.collect().await.map_err(|e| StoreError::S3 {
            operation: "GetObject",
            bucket: self.bucket.clone(),
            key: key.into(),
            message: e.to_string(),
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    fn s3_error<E, R>(&self, operation: &'static str, key: &str, e: &SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => DisplayErrorContext(e).to_string(),
        };
        StoreError::S3 {
            operation,
            bucket: self.bucket.clone(),
            key: key.into(),
            message,
        }
    }

    fn decode(&self, key: &str, message: impl ToString) -> StoreError {
        StoreError::Decode {
            bucket: self.bucket.clone(),
            key: key.into(),
            message: message.to_string(),
        }
    }
}

pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Refuses to unpack more than `limit` bytes (a gzip bomb must not exhaust the memory).
pub fn gunzip(bytes: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "unpacks to more than {limit} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn gzip_round_trip_and_limit() {
        let body = br#"{"mentor":"m"}"#.repeat(100);
        let packed = gzip(&body).unwrap();
        assert!(packed.len() < body.len());
        assert_eq!(gunzip(&packed, 10_000).unwrap(), body);
        assert!(gunzip(&packed, 100).is_err());
        assert!(gunzip(b"not gzip", 100).is_err());
    }

    #[test]
    fn record_shape() {
        let id = Uuid::nil();
        let mut r = JobRecord::queued(id, "m", datetime!(2026-11-27 10:00:00 +1));
        assert_eq!(r.created, "2026-11-27T09:00:00Z");
        r.phase = Some(Phase::Media);
        r.fail("boom", datetime!(2026-11-27 09:05:00 UTC));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "00000000-0000-0000-0000-000000000000", "mentor": "m", "status": "FAILED",
                "created": "2026-11-27T09:00:00Z", "updated": "2026-11-27T09:05:00Z",
                "counts": {"answers": 0, "media": 0, "transferred": 0, "failed": 0},
                "errors": [{"reason": "boom"}]
            })
        );
        assert_eq!(status_key(&id), format!("jobs/{id}/status.json"));
        assert_eq!(r.status_url(), format!("/transfer/status/{id}"));
    }

    #[test]
    fn the_message_is_only_the_id() {
        let m: JobMessage =
            serde_json::from_str(r#"{"id":"00000000-0000-0000-0000-000000000000"}"#).unwrap();
        assert_eq!(m.id, Uuid::nil());
        assert!(serde_json::from_str::<JobMessage>(r#"{"id":"x"}"#).is_err());
        assert!(serde_json::from_str::<JobMessage>(
            r#"{"id":"00000000-0000-0000-0000-000000000000","token":"t"}"#
        )
        .is_err());
    }
}
