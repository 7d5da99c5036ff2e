//! Lambda's SQS event source mapping, run locally: long-poll the queue, gather a batch within
//! the batching window, invoke the function synchronously, delete what it handled. Failed
//! messages are left alone: they come back after the visibility timeout, and the emulator's
//! redrive policy moves them to the dead-letter queue after `maxReceiveCount` receives.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use axum::body::Bytes;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::batch_response::{self, Verdict};
use super::log;
use super::sqs_event;
use crate::local::wiring::QueueSource;

/// The longest long poll SQS allows: an idle queue costs one request per 20 s, and a message
/// sent to it is returned as soon as it arrives.
const LONG_POLL_SECONDS: i32 = 20;
/// The most messages one ReceiveMessage returns.
const MAX_PER_RECEIVE: usize = 10;
/// Batches in flight when the mapping sets no `MaximumConcurrency`. AWS scales pollers up to the
/// function's concurrency; a developer's machine runs each invocation as a process (under qemu
/// for arm64), so the local stage stays at AWS's smallest allowed maximum.
pub(super) const DEFAULT_CONCURRENCY: u32 = 2;
/// Repeated SQS failures (the emulator restarting, the queue deleted by a redeploy) are retried
/// at most this far apart; a reload of the wiring replaces the poller anyway.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

struct Mapping {
    source: QueueSource,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    invoke_url: String,
    queue_arn: String,
    region: String,
    label: String,
}

/// Poll `source`'s queue and invoke its function until the task is aborted. SQS and Lambda
/// failures are logged to stderr and retried; the poller itself never stops.
pub async fn poll_queue(
    source: QueueSource,
    sqs: aws_sdk_sqs::Client,
    lambda: String,
) -> Result<()> {
    let region = sqs
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let queue_name = source.queue_url.rsplit('/').next().unwrap_or_default();
    let mapping = Arc::new(Mapping {
        label: format!("queue {queue_name} → {}", source.function),
        invoke_url: format!(
            "{}/2015-03-31/functions/{}/invocations",
            lambda.trim_end_matches('/'),
            source.function
        ),
        queue_arn: sqs_event::queue_arn(&source.queue_url, &region),
        region,
        http: reqwest::Client::new(),
        sqs,
        source,
    });
    let concurrency = mapping
        .source
        .max_concurrency
        .unwrap_or(DEFAULT_CONCURRENCY)
        .max(1);
    // A slot is taken before receiving, so no message waits invisible for a free slot.
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let mut trouble = Trouble::default();
    loop {
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .context("the poller's concurrency slots were closed")?;
        let (batch, error) = mapping.gather().await;
        if !batch.is_empty() {
            let m = mapping.clone();
            tokio::spawn(async move {
                m.deliver(batch).await;
                drop(slot);
            });
        }
        match error {
            Some(e) => trouble.failed(&mapping.label, e).await,
            None => trouble.recovered(&mapping.label),
        }
    }
}

enum Answer {
    Payload(Bytes),
    FunctionError { kind: String, body: String },
}

impl Mapping {
    /// Up to `batch_size` messages: the first long poll, then more until the batch is full or
    /// the batching window has passed. Messages already received are returned with the error
    /// that ended the gathering, so they are delivered rather than left invisible.
    async fn gather(&self) -> (Vec<Message>, Option<anyhow::Error>) {
        let want = self.source.batch_size.max(1) as usize;
        let mut batch = match self.receive(LONG_POLL_SECONDS, want).await {
            Ok(first) if first.is_empty() => return (first, None),
            Ok(first) => first,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let deadline =
            Instant::now() + Duration::from_secs(self.source.batching_window_seconds.into());
        while batch.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // WaitTimeSeconds is whole seconds: round up, overshooting the window by < 1 s,
            // rather than cut a request short and lose the messages it was returning.
            let wait = (left.as_secs_f64().ceil() as i32).clamp(1, LONG_POLL_SECONDS);
            match self.receive(wait, want - batch.len()).await {
                Ok(more) => batch.extend(more),
                Err(e) => return (batch, Some(e)),
            }
        }
        (batch, None)
    }

    async fn receive(&self, wait_seconds: i32, max: usize) -> Result<Vec<Message>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.source.queue_url)
            .wait_time_seconds(wait_seconds)
            .max_number_of_messages(max.min(MAX_PER_RECEIVE) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| crate::aws::explain("sqs:ReceiveMessage", &self.source.queue_url, e))?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn deliver(&self, batch: Vec<Message>) {
        let n = batch.len();
        let event = sqs_event::event(&batch, &self.queue_arn, &self.region);
        let returned = "they come back after the visibility timeout";
        let verdict = match self.invoke(&event).await {
            Err(e) => {
                log(&format!(
                    "{}: {n} message(s) not delivered, {returned}: {e:#}",
                    self.label
                ));
                return;
            }
            Ok(Answer::FunctionError { kind, body }) => {
                log(&format!(
                    "{}: the function failed ({kind}) on {n} message(s), {returned}: {}",
                    self.label,
                    one_line(&body)
                ));
                return;
            }
            Ok(Answer::Payload(body)) if self.source.report_batch_item_failures => {
                let ids: Vec<&str> = batch.iter().filter_map(Message::message_id).collect();
                batch_response::judge(&body, &ids)
            }
            Ok(Answer::Payload(_)) => Verdict::DeleteAll,
        };
        let failed = match verdict {
            Verdict::DeleteAll => Default::default(),
            Verdict::KeepFailed(ids) => ids,
            Verdict::FailBatch(why) => {
                log(&format!(
                    "{}: invalid partial batch response, all {n} message(s) failed, {returned}: {why}",
                    self.label
                ));
                return;
            }
        };
        let done: Vec<&Message> = batch
            .iter()
            .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
            .collect();
        self.delete(&done).await;
        if failed.is_empty() {
            log(&format!("{}: {n} message(s) handled", self.label));
        } else {
            log(&format!(
                "{}: {} of {n} message(s) handled, {} reported failed, {returned}",
                self.label,
                done.len(),
                failed.len()
            ));
        }
    }

    async fn invoke(&self, event: &Value) -> Result<Answer> {
        let resp = self
            .http
            .post(&self.invoke_url)
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .json(event)
            .send()
            .await
            .with_context(|| format!("invoking {}", self.invoke_url))?;
        let status = resp.status();
        let function_error = resp
            .headers()
            .get("X-Amz-Function-Error")
            .map(|v| v.to_str().unwrap_or("Unhandled").to_string());
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {}", self.invoke_url))?;
        if !status.is_success() {
            bail!(
                "Lambda answered {status}: {}",
                one_line(&String::from_utf8_lossy(&body))
            );
        }
        Ok(match function_error {
            Some(kind) => Answer::FunctionError {
                kind,
                body: String::from_utf8_lossy(&body).into_owned(),
            },
            None => Answer::Payload(body),
        })
    }

    async fn delete(&self, messages: &[&Message]) {
        for chunk in messages.chunks(MAX_PER_RECEIVE) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.source.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(out) if out.failed().is_empty() => {}
                Ok(out) => {
                    let why: Vec<String> = out
                        .failed()
                        .iter()
                        .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                        .collect();
                    log(&format!(
                        "{}: {} handled message(s) not deleted, they will be delivered again: {}",
                        self.label,
                        why.len(),
                        why.join("; ")
                    ));
                }
                Err(e) => log(&format!(
                    "{}: {} handled message(s) not deleted, they will be delivered again: {:#}",
                    self.label,
                    chunk.len(),
                    crate::aws::explain("sqs:DeleteMessageBatch", &self.source.queue_url, e)
                )),
            }
        }
    }
}

fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// Backoff after SQS failures, logging a failure once until it changes or polling recovers,
/// so a queue that stays gone does not fill the log.
#[derive(Default)]
struct Trouble {
    last: Option<String>,
    delay: Duration,
}

impl Trouble {
    async fn failed(&mut self, label: &str, e: anyhow::Error) {
        let text = format!("{e:#}");
        self.delay = match self.last {
            None => Duration::from_secs(1),
            Some(_) => (self.delay * 2).min(MAX_BACKOFF),
        };
        if self.last.as_deref() != Some(text.as_str()) {
            log(&format!(
                "{label}: polling failed, retrying every {}s at most: {text}",
                MAX_BACKOFF.as_secs()
            ));
        }
        self.last = Some(text);
        tokio::time::sleep(self.delay).await;
    }

    fn recovered(&mut self, label: &str) {
        if self.last.take().is_some() {
            log(&format!("{label}: polling again"));
        }
    }
}
