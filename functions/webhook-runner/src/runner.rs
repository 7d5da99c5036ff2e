//! The worker's core: stream the file from a byte offset, send batches under the rate limit,
//! report progress, and stop cleanly before the deadline with a checkpoint.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::batch;
use crate::job::Job;
use crate::limiter::TokenBucket;
use crate::report::{self, CallbackError, State};
use support::retry;

/// Where a job stands; travels in the continuation message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Byte offset of the first line not yet sent.
    pub offset: u64,
    /// 1-based number of that line.
    pub line: u64,
    pub batches_sent: u64,
    pub records_sent: u64,
    pub errors: Vec<String>,
    /// Errors beyond [`MAX_ERRORS`], counted only.
    pub errors_dropped: u64,
    pub errors_reported: usize,
    /// Invocations so far, for logs.
    pub runs: u32,
}

/// Errors kept for reporting; more are counted. Keeps the continuation message small.
pub const MAX_ERRORS: usize = 500;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Succeeded(Checkpoint),
    /// Stopped before the deadline; continue from here.
    Continue(Checkpoint),
    /// Told Amperity `failed` with this reason.
    Failed(String, Checkpoint),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reporting `running` failed, so nothing was sent: {0}")]
    Start(CallbackError),
}

pub struct Runner<'a> {
    pub http: &'a reqwest::Client,
    pub job: &'a Job,
    pub deadline: Instant,
    /// Stop this long before the deadline.
    pub margin: Duration,
    pub report_every: Duration,
    pub max_attempts: u32,
}

impl Checkpoint {
    fn error(&mut self, e: String) {
        if self.errors.contains(&e) {
            return;
        }
        if self.errors.len() < MAX_ERRORS {
            let e: String = e.chars().take(500).collect();
            self.errors.push(e);
        } else {
            self.errors_dropped += 1;
        }
    }

    fn new_errors(&self) -> &[String] {
        &self.errors[self.errors_reported.min(self.errors.len())..]
    }
}

struct Pending {
    records: Vec<Value>,
    /// Offset and line number of the batch's first line: the resume point while it is unsent.
    start: (u64, u64),
}

impl Runner<'_> {
    async fn report(
        &self,
        cp: &mut Checkpoint,
        state: State,
        progress: f64,
        reason: Option<&str>,
    ) -> Result<(), CallbackError> {
        let new = cp.new_errors().to_vec();
        report::send(self.http, self.job, state, progress, &new, reason).await?;
        cp.errors_reported += new.len().min(report::ERRORS_PER_REPORT);
        Ok(())
    }

    async fn fail(&self, mut cp: Checkpoint, reason: String) -> Outcome {
        if let Err(e) = self
            .report(&mut cp, State::Failed, 0.0, Some(&reason))
            .await
        {
            tracing::error!(error = %e, "reporting `failed` to Amperity failed");
        }
        Outcome::Failed(reason, cp)
    }

    /// Run from `cp` until the file ends, the deadline nears, or the job fails.
    pub async fn run(&self, mut cp: Checkpoint) -> Result<Outcome, RunError> {
        cp.runs += 1;
        if cp.offset == 0 && cp.batches_sent == 0 {
            self.report(&mut cp, State::Running, 0.0, None)
                .await
                .map_err(RunError::Start)?;
        }
        let mut req = self.http.get(&self.job.data_url);
        if cp.offset > 0 {
            req = req.header("Range", format!("bytes={}-", cp.offset));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(self
                    .fail(
                        cp,
                        format!("downloading the data file failed: {}", e.without_url()),
                    )
                    .await)
            }
        };
        let status = resp.status().as_u16();
        if status == 416 {
            return Ok(self.finish(cp).await);
        }
        if !(status == 200 || status == 206) {
            return Ok(self
                .fail(
                    cp,
                    format!("downloading the data file failed: HTTP {status}"),
                )
                .await);
        }
        // a server that ignores Range sends the whole file: skip what was already sent
        let mut skip = if status == 200 { cp.offset } else { 0 };
        let total = total_length(&resp, status, cp.offset);
        if cp.line == 0 {
            cp.line = 1;
        }
        let mut bucket = TokenBucket::per_minute(self.job.settings.requests_per_minute);
        let mut last_report = Instant::now();
        let mut buf: Vec<u8> = Vec::new();
        let mut pos = cp.offset;
        let mut line_no = cp.line;
        let mut pending = Pending {
            records: Vec::new(),
            start: (cp.offset, cp.line),
        };
        let mut stream = resp.bytes_stream();
        let mut ended = false;
        while !ended {
            let chunk = match stream.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    return Ok(self
                        .fail(
                            cp,
                            format!("reading the data file failed: {}", e.without_url()),
                        )
                        .await)
                }
                None => {
                    ended = true;
                    bytes::Bytes::new()
                }
            };
            let mut data = &chunk[..];
            if skip > 0 {
                let n = (skip as usize).min(data.len());
                data = &data[n..];
                skip -= n as u64;
            }
            buf.extend_from_slice(data);
            let mut start = 0;
            loop {
                let line_end = match buf[start..].iter().position(|b| *b == b'\n') {
                    Some(i) => start + i,
                    None if ended && start < buf.len() => buf.len(),
                    None => break,
                };
                let consumed = (line_end + 1).min(buf.len()) - start;
                let line = &buf[start..line_end];
                let this_line = line_no;
                line_no += 1;
                pos += consumed as u64;
                start += consumed;
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if !text.is_empty() {
                    match serde_json::from_str::<Value>(text) {
                        Ok(record) => {
                            if pending.records.is_empty() {
                                pending.start = (pos - consumed as u64, this_line);
                            }
                            let mapped =
                                batch::map_record(record, self.job.settings.field_mapping.as_ref());
                            pending.records.push(mapped);
                        }
                        Err(e) => cp.error(format!("line {this_line}: not JSON ({e})")),
                    }
                }
                if pending.records.is_empty() {
                    cp.offset = pos;
                    cp.line = line_no;
                }
                if pending.records.len() >= self.job.settings.batch_size {
                    if Instant::now() + self.margin >= self.deadline {
                        (cp.offset, cp.line) = pending.start;
                        return Ok(Outcome::Continue(cp));
                    }
                    if let Err(reason) = self
                        .send(
                            &mut cp,
                            &mut bucket,
                            std::mem::take(&mut pending.records),
                            pending.start.1,
                            this_line,
                        )
                        .await
                    {
                        return Ok(self.fail(cp, reason).await);
                    }
                    cp.offset = pos;
                    cp.line = line_no;
                }
                if last_report.elapsed() >= self.report_every {
                    last_report = Instant::now();
                    let progress = if total > 0 {
                        pos as f64 / total as f64
                    } else {
                        0.0
                    };
                    if let Err(e) = self.report(&mut cp, State::Running, progress, None).await {
                        tracing::warn!(error = %e, "progress report failed; continuing");
                    }
                }
            }
            buf.drain(..start);
            if pending.records.is_empty() && Instant::now() + self.margin >= self.deadline && !ended
            {
                return Ok(Outcome::Continue(cp));
            }
        }
        if !pending.records.is_empty() {
            if Instant::now() + self.margin >= self.deadline {
                (cp.offset, cp.line) = pending.start;
                return Ok(Outcome::Continue(cp));
            }
            let first = pending.start.1;
            if let Err(reason) = self
                .send(&mut cp, &mut bucket, pending.records, first, line_no - 1)
                .await
            {
                return Ok(self.fail(cp, reason).await);
            }
            cp.offset = pos;
            cp.line = line_no;
        }
        Ok(self.finish(cp).await)
    }

    async fn finish(&self, mut cp: Checkpoint) -> Outcome {
        loop {
            if let Err(e) = self.report(&mut cp, State::Succeeded, 1.0, None).await {
                // every record is delivered; failing the job now would send them again
                tracing::error!(error = %e, "the final `succeeded` report failed");
                break;
            }
            if cp.new_errors().is_empty() {
                break;
            }
        }
        Outcome::Succeeded(cp)
    }

    /// POST one batch; `Err(reason)` when the destination keeps failing.
    async fn send(
        &self,
        cp: &mut Checkpoint,
        bucket: &mut TokenBucket,
        records: Vec<Value>,
        first: u64,
        last: u64,
    ) -> Result<(), String> {
        let s = &self.job.settings;
        let count = records.len() as u64;
        let body = batch::body(records, s.data_key.as_deref());
        let mut attempt = 0;
        loop {
            attempt += 1;
            bucket.take().await;
            let mut req = self.http.post(&s.destination_url).json(&body);
            if let Some(v) = &s.auth_header_value {
                req = req.header(&s.auth_header_name, v.expose());
            }
            let (retry_after, problem) = match req.send().await {
                Ok(r) if r.status().is_success() => {
                    cp.batches_sent += 1;
                    cp.records_sent += count;
                    return Ok(());
                }
                Ok(r) if retry::retryable(r.status().as_u16()) => {
                    let ra = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    (ra, format!("HTTP {}", r.status().as_u16()))
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    cp.error(format!(
                        "lines {first}-{last}: destination answered HTTP {status}: {}",
                        text.trim()
                    ));
                    return Ok(());
                }
                Err(e) => (None, e.without_url().to_string()),
            };
            if attempt >= self.max_attempts {
                return Err(format!("the destination kept failing for lines {first}-{last} after {attempt} attempts: {problem}"));
            }
            tracing::warn!(attempt, problem, "destination failed; retrying");
            tokio::time::sleep(retry::delay(attempt, retry_after.as_deref())).await;
        }
    }
}

/// The file's total size: from `Content-Range` on a 206, else `Content-Length`.
fn total_length(resp: &reqwest::Response, status: u16, offset: u64) -> u64 {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if status == 206 {
        if let Some(total) =
            header("content-range").and_then(|r| r.rsplit('/').next().and_then(|t| t.parse().ok()))
        {
            return total;
        }
        return resp.content_length().map_or(0, |l| l + offset);
    }
    resp.content_length().unwrap_or(0)
}
