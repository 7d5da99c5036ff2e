//! Lambda's SQS event source mapping, run locally: long-poll the queue, gather a batch within
//! the batching window, invoke the function synchronously, delete what it handled. Failed
//! messages are left alone: they come back after the visibility timeout, and the emulator's
//! redrive policy moves them to the dead-letter queue after `maxReceiveCount` receives.
//!
//! A poller is stopped through its stop signal, which it heeds only between receives: a
//! ReceiveMessage in flight is let finish (an aborted one may already have taken messages, which
//! would then stay invisible for the visibility timeout and count toward `maxReceiveCount`), and
//! what it received is made visible again for the next poller. Batches already handed to the
//! function finish and are deleted as usual.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use axum::body::Bytes;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use super::batch_response::{self, Verdict};
use super::log;
use super::sqs_event;
use crate::local::wiring::QueueSource;

/// The words before the oldest message's wait in the poller's invocation line.
pub const INVOKE_MARK: &str = "the oldest sent";

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

/// Poll `source`'s queue and invoke its function until `stop` turns true (or its sender is
/// dropped); returns once nothing it received is left invisible. SQS and Lambda failures are
/// logged to stderr and retried.
pub async fn poll_queue(
    source: QueueSource,
    sqs: aws_sdk_sqs::Client,
    lambda: String,
    mut stop: watch::Receiver<bool>,
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
        http: support::tls::http_client(),
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
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => {
                slot.context("the poller's concurrency slots were closed")?
            }
            _ = stopped(&mut stop) => return Ok(()),
        };
        // the only place the stop is heeded before a receive
        if is_stopped(&stop) {
            return Ok(());
        }
        let (batch, error) = mapping.gather(&stop).await;
        if !batch.is_empty() {
            if is_stopped(&stop) {
                mapping.release(&batch).await;
                return Ok(());
            }
            let m = mapping.clone();
            tokio::spawn(async move {
                m.deliver(batch).await;
                drop(slot);
            });
        }
        match error {
            Some(e) => {
                let delay = trouble.failed(&mapping.label, e);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped(&mut stop) => return Ok(()),
                }
            }
            None => trouble.recovered(&mapping.label),
        }
    }
}

fn is_stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Resolves once the poller is asked to stop (or whoever could ask is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

enum Answer {
    Payload(Bytes),
    /// `X-Amz-Function-Error` and the `errorType` of the error document.
    FunctionError {
        kind: String,
        error_type: Option<String>,
    },
}

impl Mapping {
    /// Up to `batch_size` messages: the first long poll, then more until the batch is full or
    /// the batching window has passed. Messages already received are returned with the error
    /// that ended the gathering, so they are delivered rather than left invisible.
    async fn gather(&self, stop: &watch::Receiver<bool>) -> (Vec<Message>, Option<anyhow::Error>) {
        let want = self.source.batch_size.max(1) as usize;
        let mut batch = match self.receive(LONG_POLL_SECONDS, want).await {
            Ok(first) if first.is_empty() => return (first, None),
            Ok(first) => first,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let deadline =
            Instant::now() + Duration::from_secs(self.source.batching_window_seconds.into());
        while batch.len() < want && !is_stopped(stop) {
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

    /// Received but not delivered (the poller is stopping): visible again at once, for the
    /// poller that replaces this one. Each message keeps the one receive it cost.
    async fn release(&self, batch: &[Message]) {
        for chunk in batch.chunks(MAX_PER_RECEIVE) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.source.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            let failed = match result {
                Ok(out) => out.failed().len(),
                Err(e) => {
                    log(&format!(
                        "{}: {:#}",
                        self.label,
                        crate::aws::explain(
                            "sqs:ChangeMessageVisibilityBatch",
                            &self.source.queue_url,
                            e
                        )
                    ));
                    chunk.len()
                }
            };
            if failed > 0 {
                log(&format!(
                    "{}: stopping, {failed} received message(s) not released, they come back after the visibility timeout",
                    self.label
                ));
            }
        }
        log(&format!(
            "{}: stopping, {} received message(s) left for the next poller",
            self.label,
            batch.len()
        ));
    }

    async fn deliver(&self, batch: Vec<Message>) {
        let n = batch.len();
        let event = sqs_event::event(&batch, &self.queue_arn, &self.region);
        let returned = "they come back after the visibility timeout";
        // how long the oldest message waited for its invocation (`bench local` reads this)
        let oldest = batch
            .iter()
            .filter_map(|m| {
                m.attributes()?
                    .get(&MessageSystemAttributeName::SentTimestamp)?
                    .parse::<i64>()
                    .ok()
            })
            .min();
        if let Some(sent) = oldest {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            log(&format!(
                "{}: invoking with {n} message(s), {INVOKE_MARK} {} ms ago",
                self.label,
                now - sent
            ));
        }
        let verdict = match self.invoke(&event).await {
            Err(e) => {
                log(&format!(
                    "{}: {n} message(s) not delivered, {returned}: {e:#}",
                    self.label
                ));
                return;
            }
            Ok(Answer::FunctionError { kind, error_type }) => {
                // the error document stays out of the log (the function logs its errors, and
                // its message may carry what it was processing): its type is enough here
                log(&format!(
                    "{}: the function failed ({kind}{}) on {n} message(s), {returned}",
                    self.label,
                    error_type.map(|t| format!(", {t}")).unwrap_or_default()
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
        let service_error = resp
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {}", self.invoke_url))?;
        if !status.is_success() {
            bail!(
                "Lambda answered {status}{}",
                error_type(&body, service_error.as_deref())
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            );
        }
        Ok(match function_error {
            Some(kind) => Answer::FunctionError {
                kind,
                error_type: error_type(&body, None),
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

/// The type of an error answer, never its message: a function's `errorType`, or the Lambda
/// service's `x-amzn-ErrorType` / `Type` / `__type`.
pub(crate) fn error_type(body: &[u8], header: Option<&str>) -> Option<String> {
    if let Some(t) = header.filter(|t| !t.is_empty()) {
        return Some(t.split(':').next().unwrap_or(t).to_string());
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    ["errorType", "__type", "Type"].iter().find_map(|k| {
        let t = v.get(*k)?.as_str()?;
        // a type is a short name; anything else is not logged
        (t.len() <= 100 && !t.contains(char::is_whitespace)).then(|| t.to_string())
    })
}

/// Backoff after SQS failures, logging a failure once until it changes or polling recovers,
/// so a queue that stays gone does not fill the log.
#[derive(Default)]
struct Trouble {
    last: Option<String>,
    delay: Duration,
}

impl Trouble {
    /// Logs the failure; how long to wait before the next attempt.
    fn failed(&mut self, label: &str, e: anyhow::Error) -> Duration {
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
        self.delay
    }

    fn recovered(&mut self, label: &str) {
        if self.last.take().is_some() {
            log(&format!("{label}: polling again"));
        }
    }
}
