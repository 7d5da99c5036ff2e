//! The worker's core: the sending loop. Lines come from [`LineSplitter`] over a resumable
//! [`Download`]; full batches go to the destination under the rate limit; progress goes to
//! Amperity. Every wait ends before the point where the run must hand over (the deadline less the
//! reserve), and the run then stops with a checkpoint at the first unacknowledged line.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::batch;
use crate::download::{Download, DownloadError};
use crate::job::Job;
use crate::limiter::TokenBucket;
use crate::lines::{Line, LineSplitter};
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
    /// Invocations so far.
    pub runs: u32,
    /// Runs in a row that ended without moving `offset`.
    #[serde(default)]
    pub runs_without_progress: u32,
    /// Why the last run stopped early, when it was not just the clock.
    #[serde(default)]
    pub last_problem: Option<String>,
    /// Bytes of the data file read over the network, all runs.
    #[serde(default)]
    pub bytes_read: u64,
    /// When the first run started (milliseconds since the epoch).
    #[serde(default)]
    pub started_ms: u64,
}

/// Errors kept for reporting; more are counted. Keeps the continuation message well under SQS's
/// 256 KiB: at most 200 errors of 500 characters.
pub const MAX_ERRORS: usize = 200;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Succeeded(Checkpoint),
    /// Stopped before the deadline; continue from here, after the delay (a destination's
    /// `Retry-After` that outlasts the run).
    Continue(Checkpoint, Duration),
    /// Told Amperity `failed` with this reason.
    Failed(String, Checkpoint),
}

impl Outcome {
    pub fn checkpoint(&self) -> &Checkpoint {
        match self {
            Outcome::Succeeded(cp) | Outcome::Continue(cp, _) | Outcome::Failed(_, cp) => cp,
        }
    }
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
    /// The reserve: stop this long before the deadline (to queue the continuation).
    pub margin: Duration,
    pub report_every: Duration,
    /// Attempts at one batch within a run before the job fails.
    pub max_attempts: u32,
    /// Timeout of each POST to the destination and each PUT to Amperity: one attempt.
    pub request_timeout: Duration,
    /// Longest wait for the next chunk of the data file before reconnecting.
    pub read_timeout: Duration,
    /// Runs in a row without progress before the job fails.
    pub max_runs_without_progress: u32,
}

/// Time kept in reserve before the deadline: enough to finish reporting and queue the rest.
pub fn margin(remaining: Duration) -> Duration {
    (remaining / 5).min(Duration::from_secs(60))
}

/// A continuation after a download that kept failing waits this long.
const UNAVAILABLE_DELAY: Duration = Duration::from_secs(60);

impl Checkpoint {
    pub(crate) fn error(&mut self, e: String) {
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

/// The batch being filled.
struct Pending {
    records: Vec<Value>,
    /// Offset and number of the batch's first line: the resume point while it is unsent.
    start: (u64, u64),
    /// Offset and number of the line after the batch's last: the checkpoint once it is sent.
    end: (u64, u64),
}

/// How one batch went.
enum Sent {
    Delivered,
    /// Refused with a 4xx: recorded in the errors, not sent again.
    Rejected,
    /// The next attempt would not end before the hand-over point.
    Stop {
        delay: Duration,
        problem: String,
    },
    /// Every attempt failed.
    GaveUp(String),
}

/// What ends a run early.
enum Stop {
    Fail(String),
    Continue {
        delay: Duration,
        problem: Option<String>,
    },
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<'a> Runner<'a> {
    /// The runner as the worker runs it: production timeouts and limits. A request may take a
    /// fifth of the run, at most a minute: 60 s in a 900 s run.
    pub fn new(http: &'a reqwest::Client, job: &'a Job, deadline: Instant) -> Runner<'a> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        Runner {
            http,
            job,
            deadline,
            margin: margin(remaining),
            report_every: Duration::from_secs(5),
            max_attempts: 6,
            request_timeout: (remaining / 5).min(Duration::from_secs(60)),
            read_timeout: Duration::from_secs(60),
            max_runs_without_progress: 5,
        }
    }

    /// The point where the run must hand over.
    fn stop_at(&self) -> Instant {
        self.deadline
            .checked_sub(self.margin)
            .unwrap_or(self.deadline)
    }

    /// Whether one more request (and the reserve) fits before the deadline, after `wait`.
    fn fits(&self, wait: Duration) -> bool {
        Instant::now() + wait + self.request_timeout <= self.stop_at()
    }

    /// One request's timeout: the attempt's, never past the deadline.
    fn timeout(&self) -> Duration {
        self.request_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(1))
    }

    async fn report(
        &self,
        cp: &mut Checkpoint,
        state: State,
        progress: f64,
        reason: Option<&str>,
    ) -> Result<(), CallbackError> {
        let new = cp.new_errors().to_vec();
        report::send(
            self.http,
            self.job,
            state,
            progress,
            &new,
            reason,
            self.timeout(),
        )
        .await?;
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

    /// Stop early: a continuation, or `failed` after too many runs without progress.
    async fn stop(&self, mut cp: Checkpoint, from: u64, stop: Stop) -> Outcome {
        let (delay, problem) = match stop {
            Stop::Fail(reason) => return self.fail(cp, reason).await,
            Stop::Continue { delay, problem } => (delay, problem),
        };
        if cp.offset > from {
            cp.runs_without_progress = 0;
            cp.last_problem = None;
        } else {
            cp.runs_without_progress += 1;
        }
        if problem.is_some() {
            cp.last_problem = problem;
        }
        if cp.runs_without_progress >= self.max_runs_without_progress {
            let mut reason = format!(
                "no progress in {} runs in a row at line {}",
                cp.runs_without_progress, cp.line
            );
            if let Some(p) = &cp.last_problem {
                reason.push_str(": ");
                reason.push_str(p);
            }
            return self.fail(cp, reason).await;
        }
        Outcome::Continue(cp, delay)
    }

    /// Run from `cp` until the file ends, the deadline nears, or the job fails.
    pub async fn run(&self, mut cp: Checkpoint) -> Result<Outcome, RunError> {
        cp.runs += 1;
        if cp.started_ms == 0 {
            cp.started_ms = now_ms();
        }
        if cp.line == 0 {
            cp.line = 1;
        }
        if cp.runs == 1 {
            self.report(&mut cp, State::Running, 0.0, None)
                .await
                .map_err(RunError::Start)?;
        }
        let from = cp.offset;
        let mut download = Download::new(self.http, &self.job.data_url, cp.offset);
        download.read_timeout = self.read_timeout;
        download.open_timeout = self.request_timeout;
        let result = self.stream(&mut cp, &mut download).await;
        cp.bytes_read += download.bytes_read;
        Ok(match result {
            Ok(()) => self.finish(cp).await,
            Err(stop) => self.stop(cp, from, stop).await,
        })
    }

    /// The sending loop: `Ok` when every line of the file is delivered (or rejected).
    async fn stream(&self, cp: &mut Checkpoint, download: &mut Download<'_>) -> Result<(), Stop> {
        let mut lines = LineSplitter::new(cp.offset, cp.line);
        let mut bucket = TokenBucket::per_minute(self.job.settings.requests_per_minute);
        let mut pending = Pending {
            records: Vec::new(),
            start: (cp.offset, cp.line),
            end: (cp.offset, cp.line),
        };
        let mut last_report = Instant::now();
        loop {
            loop {
                let line = match lines.next_line() {
                    Ok(Some(l)) => l,
                    Ok(None) => break,
                    Err(e) => return Err(Stop::Fail(e.to_string())),
                };
                self.take_line(cp, &mut pending, line);
                if pending.records.len() >= self.job.settings.batch_size {
                    self.flush(cp, &mut bucket, &mut pending).await?;
                }
                if last_report.elapsed() >= self.report_every && self.fits(Duration::ZERO) {
                    last_report = Instant::now();
                    let progress = download
                        .total
                        .filter(|t| *t > 0)
                        .map_or(0.0, |t| cp.offset as f64 / t as f64);
                    if let Err(e) = self.report(cp, State::Running, progress, None).await {
                        tracing::warn!(error = %e, "progress report failed; continuing");
                    }
                }
            }
            match download.next(self.stop_at()).await {
                Ok(Some(chunk)) => lines.push(&chunk),
                Ok(None) => break,
                Err(DownloadError::Refused(m)) => return Err(Stop::Fail(m)),
                Err(DownloadError::Unavailable(m)) => {
                    return Err(Stop::Continue {
                        delay: UNAVAILABLE_DELAY,
                        problem: Some(m),
                    })
                }
                Err(DownloadError::Deadline) => {
                    return Err(Stop::Continue {
                        delay: Duration::ZERO,
                        problem: None,
                    })
                }
            }
        }
        if let Some(line) = lines.finish() {
            self.take_line(cp, &mut pending, line);
        }
        if !pending.records.is_empty() {
            self.flush(cp, &mut bucket, &mut pending).await?;
        }
        Ok(())
    }

    /// Parse one line into the pending batch (or the errors); moves the checkpoint past it when
    /// no record waits unsent.
    fn take_line(&self, cp: &mut Checkpoint, pending: &mut Pending, line: Line<'_>) {
        let text = String::from_utf8_lossy(line.text);
        let text = text.trim();
        if !text.is_empty() {
            match serde_json::from_str::<Value>(text) {
                Ok(record) => {
                    if pending.records.is_empty() {
                        pending.start = (line.start, line.number);
                    }
                    pending.records.push(batch::map_record(
                        record,
                        self.job.settings.field_mapping.as_ref(),
                    ));
                }
                Err(e) => cp.error(format!("line {}: not JSON ({e})", line.number)),
            }
        }
        if pending.records.is_empty() {
            cp.offset = line.end;
            cp.line = line.number + 1;
        } else {
            pending.end = (line.end, line.number + 1);
        }
    }

    /// Send the pending batch; on success the checkpoint moves past it.
    async fn flush(
        &self,
        cp: &mut Checkpoint,
        bucket: &mut TokenBucket,
        pending: &mut Pending,
    ) -> Result<(), Stop> {
        let (first, end) = (pending.start.1, pending.end);
        let last = end.1 - 1;
        // an unsent batch is read again from the file by the next run, not kept
        let records = std::mem::take(&mut pending.records);
        match self.send(cp, bucket, records, first, last).await {
            Sent::Delivered | Sent::Rejected => {
                (cp.offset, cp.line) = end;
                Ok(())
            }
            Sent::Stop { delay, problem } => {
                (cp.offset, cp.line) = pending.start;
                Err(Stop::Continue {
                    delay,
                    problem: Some(problem),
                })
            }
            Sent::GaveUp(reason) => {
                (cp.offset, cp.line) = pending.start;
                Err(Stop::Fail(reason))
            }
        }
    }

    async fn finish(&self, mut cp: Checkpoint) -> Outcome {
        loop {
            if let Err(e) = self.report(&mut cp, State::Succeeded, 1.0, None).await {
                // every record is delivered; failing the job now would send them again
                tracing::error!(error = %e, "the final `succeeded` report failed");
                break;
            }
            if cp.new_errors().is_empty() || Instant::now() >= self.deadline {
                break;
            }
        }
        Outcome::Succeeded(cp)
    }

    /// POST one batch, retrying what may pass later, never waiting past the hand-over point.
    async fn send(
        &self,
        cp: &mut Checkpoint,
        bucket: &mut TokenBucket,
        records: Vec<Value>,
        first: u64,
        last: u64,
    ) -> Sent {
        let s = &self.job.settings;
        let count = records.len() as u64;
        let body = batch::body(records, s.data_key.as_deref());
        let lines = format!("lines {first}-{last}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            loop {
                let wait = bucket.try_take(Instant::now());
                if wait.is_zero() {
                    break;
                }
                if !self.fits(wait) {
                    return Sent::Stop {
                        delay: Duration::ZERO,
                        problem: format!(
                            "the rate limit of {} requests a minute left no time for {lines}",
                            s.requests_per_minute
                        ),
                    };
                }
                tokio::time::sleep(wait).await;
            }
            if !self.fits(Duration::ZERO) {
                return Sent::Stop {
                    delay: Duration::ZERO,
                    problem: format!("the run's time was up before {lines}"),
                };
            }
            let mut req = self
                .http
                .post(&s.destination_url)
                .timeout(self.request_timeout)
                .json(&body);
            if let Some(v) = &s.auth_header_value {
                req = req.header(&s.auth_header_name, v.expose());
            }
            let (retry_after, problem) = match req.send().await {
                Ok(r) if r.status().is_success() => {
                    cp.batches_sent += 1;
                    cp.records_sent += count;
                    return Sent::Delivered;
                }
                Ok(r) if retry::retryable(r.status().as_u16()) || r.status().as_u16() == 408 => {
                    let ra = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let problem = match &ra {
                        Some(ra) => format!(
                            "the destination answered HTTP {} (Retry-After: {ra}) for {lines}",
                            r.status().as_u16()
                        ),
                        None => format!(
                            "the destination answered HTTP {} for {lines}",
                            r.status().as_u16()
                        ),
                    };
                    (ra, problem)
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = match tokio::time::timeout(self.timeout(), r.text()).await {
                        Ok(Ok(t)) => t,
                        _ => String::new(),
                    };
                    cp.error(format!(
                        "{lines}: destination answered HTTP {status}: {}",
                        text.trim()
                    ));
                    return Sent::Rejected;
                }
                Err(e) => (
                    None,
                    format!(
                        "sending {lines} to the destination failed: {}",
                        e.without_url()
                    ),
                ),
            };
            if attempt >= self.max_attempts {
                return Sent::GaveUp(format!(
                    "the destination kept failing for {lines} after {attempt} attempts: {problem}"
                ));
            }
            let delay = retry::delay(attempt, retry_after.as_deref());
            if !self.fits(delay) {
                tracing::warn!(
                    attempt,
                    problem,
                    ?delay,
                    "destination failed; the wait outlasts the run"
                );
                return Sent::Stop { delay, problem };
            }
            tracing::warn!(attempt, problem, ?delay, "destination failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}
