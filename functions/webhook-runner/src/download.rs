//! The data file as a stream of chunks that survives dropped connections: a cut or stalled
//! connection is reopened with `Range: bytes=<received>-`; a server that ignores Range sends the
//! whole file again and the bytes already received are skipped. Every wait ends at `until`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use support::retry;

/// Why the stream stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// The server refused the file for good (403 on an expired URL, 404, …): the job fails.
    Refused(String),
    /// Connections kept failing; a later run may do better.
    Unavailable(String),
    /// `until` came first.
    Deadline,
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadError::Refused(m) | DownloadError::Unavailable(m) => f.write_str(m),
            DownloadError::Deadline => f.write_str("the run's time was up"),
        }
    }
}

pub struct Download<'a> {
    http: &'a reqwest::Client,
    url: &'a str,
    stream: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    /// Offset of the next byte to hand out.
    received: u64,
    /// Bytes still to drop from the current response (a server that ignored Range).
    skip: u64,
    /// The file's size, when a response said.
    pub total: Option<u64>,
    /// Longest wait for the next chunk before the connection counts as stalled.
    pub read_timeout: Duration,
    /// Longest wait for a response's headers (connecting included).
    pub open_timeout: Duration,
    /// Reconnects in a row without a byte received before giving up.
    pub max_reconnects: u32,
    failures: u32,
    /// Bytes received over the network this run (skipped ones included).
    pub bytes_read: u64,
    /// Connections reopened this run.
    pub reconnects: u32,
}

impl<'a> Download<'a> {
    pub fn new(http: &'a reqwest::Client, url: &'a str, offset: u64) -> Download<'a> {
        Download {
            http,
            url,
            stream: None,
            received: offset,
            skip: 0,
            total: None,
            read_timeout: Duration::from_secs(60),
            open_timeout: Duration::from_secs(30),
            max_reconnects: 5,
            failures: 0,
            bytes_read: 0,
            reconnects: 0,
        }
    }

    /// The next chunk, `None` at the end of the file.
    pub async fn next(&mut self, until: Instant) -> Result<Option<Bytes>, DownloadError> {
        loop {
            if self.stream.is_none() && !self.open(until).await? {
                return Ok(None);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DownloadError::Deadline);
            }
            let stream = self.stream.as_mut().expect("opened");
            let problem =
                match tokio::time::timeout(self.read_timeout.min(left), stream.next()).await {
                    Ok(Some(Ok(mut chunk))) => {
                        self.bytes_read += chunk.len() as u64;
                        if self.skip > 0 {
                            let n = (self.skip as usize).min(chunk.len());
                            self.skip -= n as u64;
                            let _ = chunk.split_to(n);
                        }
                        if chunk.is_empty() {
                            continue;
                        }
                        self.received += chunk.len() as u64;
                        self.failures = 0;
                        return Ok(Some(chunk));
                    }
                    Ok(None) => match self.total {
                        Some(total) if self.received < total => {
                            format!("the connection ended at byte {} of {total}", self.received)
                        }
                        _ => return Ok(None),
                    },
                    Ok(Some(Err(e))) => format!("the connection broke: {}", e.without_url()),
                    Err(_) if Instant::now() >= until => return Err(DownloadError::Deadline),
                    Err(_) => format!("no data for {:?}", self.read_timeout),
                };
            self.stream = None;
            self.reconnects += 1;
            self.failed("reading", problem, until).await?;
        }
    }

    /// Count a failure and back off before the next try; gives up after `max_reconnects` in a
    /// row, or when the wait would pass `until`.
    async fn failed(
        &mut self,
        what: &str,
        problem: String,
        until: Instant,
    ) -> Result<(), DownloadError> {
        self.failures += 1;
        if self.failures > self.max_reconnects {
            return Err(DownloadError::Unavailable(format!(
                "{what} the data file failed {} times in a row at byte {}: {problem}",
                self.failures, self.received
            )));
        }
        tracing::warn!(
            offset = self.received,
            problem,
            "{what} the data file failed; retrying"
        );
        let d = retry::delay(self.failures, None);
        if Instant::now() + d >= until {
            return Err(DownloadError::Deadline);
        }
        tokio::time::sleep(d).await;
        Ok(())
    }

    /// Open a connection at `received`; `false` when the file has nothing more (416).
    async fn open(&mut self, until: Instant) -> Result<bool, DownloadError> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DownloadError::Deadline);
            }
            let mut req = self.http.get(self.url);
            if self.received > 0 {
                req = req.header("Range", format!("bytes={}-", self.received));
            }
            let problem = match tokio::time::timeout(self.open_timeout.min(left), req.send()).await
            {
                Err(_) if Instant::now() >= until => return Err(DownloadError::Deadline),
                Err(_) => format!("no answer in {:?}", self.open_timeout),
                Ok(Err(e)) => e.without_url().to_string(),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    match status {
                        200 => {
                            // the whole file, whatever was asked: skip what was received
                            self.skip = self.received;
                            self.total = resp.content_length();
                            self.stream = Some(resp.bytes_stream().boxed());
                            return Ok(true);
                        }
                        206 => {
                            let (start, total) = content_range(&resp);
                            if start.is_some_and(|s| s != self.received) {
                                return Err(DownloadError::Refused(format!(
                                    "the data file server answered Range bytes={}- with {}",
                                    self.received,
                                    header(&resp, "content-range").unwrap_or_default()
                                )));
                            }
                            self.skip = 0;
                            self.total =
                                total.or_else(|| resp.content_length().map(|l| l + self.received));
                            self.stream = Some(resp.bytes_stream().boxed());
                            return Ok(true);
                        }
                        416 if self.received > 0 => return Ok(false),
                        s if retry::retryable(s) || s == 408 => format!("HTTP {s}"),
                        s => {
                            return Err(DownloadError::Refused(format!(
                                "downloading the data file failed: HTTP {s}"
                            )))
                        }
                    }
                }
            };
            self.failed("downloading", problem, until).await?;
        }
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Content-Range: bytes <start>-<end>/<total>` → (start, total).
fn content_range(resp: &reqwest::Response) -> (Option<u64>, Option<u64>) {
    let Some(v) = header(resp, "content-range") else {
        return (None, None);
    };
    let rest = v.trim().strip_prefix("bytes ").unwrap_or(&v);
    let (range, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let start = range
        .split_once('-')
        .and_then(|(s, _)| s.trim().parse().ok());
    (start, total.trim().parse().ok())
}
