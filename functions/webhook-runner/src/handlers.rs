//! The intake and the worker: `intake` (HTTP API → the authorizer's verdict, validated job, sealed
//! on the queue) and `worker` (SQS → runner; continuation messages before the deadline; partial
//! batch failures). The third function, the authorizer, is [`crate::auth`].

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use base64::Engine;
use futures_util::FutureExt;
use serde_json::{json, Value};

use crate::auth::{self, Refusal};
use crate::keys::{self, Keys, REREAD_INTERVAL};
use crate::message::Message;
use crate::metrics::RunMetrics;
use crate::runner::{Checkpoint, Outcome, RunError, Runner};
use crate::seal::{SealError, Sealer};
use crate::{report, Job};

pub struct Env {
    pub http: reqwest::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// Seal and open queue messages (the current and the previous token key).
    pub token_keys: Keys<Sealer>,
    pub allow_http: bool,
    /// Receives before SQS moves a message to the DLQ (the stage's `max_receive_count`).
    pub max_receive_count: u32,
    /// Runs in a row without progress before a job fails (the stage's setting).
    pub max_runs_without_progress: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("reading the secret {name} failed: {message}")]
    Key { name: String, message: String },
}

/// The HTTP client of both functions. No total timeout: a download streams for as long as the
/// run lasts. The runner gives each POST and PUT its own timeout and each read of the data file
/// its own (see [`crate::download`]), and bounds them all by the deadline.
pub fn http_client() -> reqwest::Client {
    support::tls::http_builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("webhook-runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS client builds")
}

pub(crate) async fn load_keys<T>(
    secrets: &aws_sdk_secretsmanager::Client,
    name: String,
    make: fn(&keys::KeyPair) -> T,
) -> Result<Keys<T>, EnvError> {
    Keys::load(secrets.clone(), &name, make)
        .await
        .map_err(|message| EnvError::Key { name, message })
}

impl Env {
    pub async fn from_environment() -> Result<Env, EnvError> {
        let var = |k: &'static str| std::env::var(k).map_err(|_| EnvError::Missing(k));
        let aws = support::aws_config().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let token_keys = load_keys(&secrets, var("TOKEN_KEY_SECRET")?, keys::sealer).await?;
        let number = |k: &str, default: u32| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Ok(Env {
            http: http_client(),
            sqs: aws_sdk_sqs::Client::new(&aws),
            queue_url: var("JOBS_QUEUE_URL")?,
            token_keys,
            allow_http: var("ALLOW_HTTP_URLS").is_ok_and(|v| v == "true"),
            max_receive_count: number("MAX_RECEIVE_COUNT", 3),
            max_runs_without_progress: number("MAX_RUNS_WITHOUT_PROGRESS", 5),
        })
    }

    async fn enqueue(&self, msg: &Message, delay: Duration) -> Result<(), String> {
        let body = serde_json::to_string(msg).expect("messages serialize");
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            // SQS delays a message at most 15 minutes
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }

    async fn seal(&self, job: &Job, cp: Checkpoint) -> Message {
        Message::seal(job, cp, &*self.token_keys.get().await)
    }

    /// Open a message; a key id this copy does not know re-reads the secret (a rotation while
    /// this function was warm) before giving up.
    async fn open(&self, msg: Message) -> Result<(Job, Checkpoint), SealError> {
        match msg.clone().open(&*self.token_keys.get().await) {
            Err(SealError::UnknownKey(_)) if self.token_keys.refresh(REREAD_INTERVAL).await => {
                msg.open(&*self.token_keys.get().await)
            }
            r => r,
        }
    }
}

fn http_response(status: i64, body: Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status;
    r.headers = headers;
    r.body = Some(Body::Text(body.to_string()));
    r.is_base64_encoded = false;
    r
}

/// An HTTP API request carrying a job, after the authorizer ([`crate::auth`]) judged its key.
pub async fn intake(env: &Env, req: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    if let Err(refusal) = auth::verdict(req) {
        let request_id = req
            .request_context
            .request_id
            .as_deref()
            .unwrap_or_default();
        match refusal {
            // the authorizer logged it as a warning already
            Refusal::Refused => tracing::info!(request_id, error = %refusal, "request refused"),
            // no caller can cause these: the API is wired wrong
            Refusal::Missing | Refusal::Unknown => {
                tracing::error!(request_id, error = %refusal, "request refused")
            }
        }
        // the same answer API Gateway gives without a key: nothing tells a caller more
        return http_response(401, json!({"message": "Unauthorized"}));
    }
    let raw = req.body.as_deref().unwrap_or_default();
    let body = if req.is_base64_encoded {
        match base64::engine::general_purpose::STANDARD.decode(raw) {
            Ok(b) => b,
            Err(_) => {
                return http_response(
                    400,
                    json!({"status": "error", "message": "the body is not valid base64"}),
                )
            }
        }
    } else {
        raw.as_bytes().to_vec()
    };
    let (job, warnings) = match Job::parse_with_warnings(&body, env.allow_http) {
        Ok(j) => j,
        Err(e) => return http_response(400, json!({"status": "error", "message": e.0})),
    };
    // warnings reach Amperity with the first `running` report
    let cp = Checkpoint {
        errors: warnings.clone(),
        ..Checkpoint::default()
    };
    match env.enqueue(&env.seal(&job, cp).await, Duration::ZERO).await {
        Ok(()) => {
            tracing::info!(
                webhook_id = job.webhook_id,
                label = job.label_name,
                warnings = warnings.len(),
                "job accepted"
            );
            http_response(
                202,
                json!({"status": "accepted", "message": format!("job {} queued", job.webhook_id), "warnings": warnings}),
            )
        }
        Err(e) => {
            tracing::error!(error = e, "queueing a job failed");
            http_response(
                503,
                json!({"status": "error", "message": "the job could not be queued; try again"}),
            )
        }
    }
}

/// An SQS event (one job per message); answers with the messages to retry.
pub async fn worker(env: &Env, event: &SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let mut out = SqsBatchResponse::default();
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let body = record.body.as_deref().unwrap_or_default();
        if let Err(e) = process(env, body, deadline, receives).await {
            tracing::error!(
                message_id = id,
                receives,
                error = e,
                "job run failed; SQS will retry it"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            out.batch_item_failures.push(failure);
        }
    }
    out
}

async fn process(env: &Env, body: &str, deadline: Instant, receives: u32) -> Result<(), String> {
    let msg: Message = serde_json::from_str(body).map_err(|e| format!("not a job message: {e}"))?;
    let (job, cp) = env.open(msg).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let before = cp.clone();
    let runner = Runner {
        max_runs_without_progress: env.max_runs_without_progress,
        ..Runner::new(&env.http, &job, deadline)
    };
    let run = AssertUnwindSafe(runner.run(cp)).catch_unwind().await;
    let mut metrics = RunMetrics {
        webhook_id: job.webhook_id.clone(),
        runs: before.runs + 1,
        offset: before.offset,
        ..RunMetrics::default()
    };
    let result = match run {
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the run panicked: {what}"))
        }
        Ok(Err(RunError::Start(e))) if e.is_refusal() => {
            // a bad token or an unknown webhook: asking again in an hour gets the same answer
            tracing::error!(
                webhook_id = job.webhook_id,
                error = %e,
                "Amperity refused the `running` report; the job ends here, nothing was sent"
            );
            metrics.outcome = "failed";
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(outcome)) => {
            let cp = outcome.checkpoint();
            metrics.records_sent = cp.records_sent - before.records_sent;
            metrics.batches = cp.batches_sent - before.batches_sent;
            metrics.errors = (cp.errors.len() as u64 + cp.errors_dropped)
                .saturating_sub(before.errors.len() as u64 + before.errors_dropped);
            metrics.bytes = cp.bytes_read - before.bytes_read;
            metrics.offset = cp.offset;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            metrics.job_duration_ms = now_ms.saturating_sub(cp.started_ms);
            match outcome {
                Outcome::Succeeded(cp) => {
                    metrics.outcome = "succeeded";
                    tracing::info!(
                        webhook_id = job.webhook_id,
                        records = cp.records_sent,
                        batches = cp.batches_sent,
                        runs = cp.runs,
                        errors = cp.errors.len(),
                        bytes = cp.bytes_read,
                        "job succeeded"
                    );
                    Ok(())
                }
                Outcome::Continue(cp, delay) => {
                    metrics.outcome = "continued";
                    tracing::info!(
                        webhook_id = job.webhook_id,
                        offset = cp.offset,
                        records = cp.records_sent,
                        runs_without_progress = cp.runs_without_progress,
                        delay_s = delay.as_secs(),
                        problem = cp.last_problem.as_deref().unwrap_or_default(),
                        "continuing in a fresh invocation"
                    );
                    let msg = env.seal(&job, cp).await;
                    env.enqueue(&msg, delay)
                        .await
                        .map_err(|e| format!("queueing the continuation failed: {e}"))
                }
                Outcome::Failed(reason, _) => {
                    metrics.outcome = "failed";
                    tracing::warn!(
                        webhook_id = job.webhook_id,
                        reason,
                        "job failed; Amperity was told"
                    );
                    Ok(())
                }
            }
        }
    };
    if result.is_err() {
        metrics.outcome = "error";
    }
    metrics.duration_ms = started.elapsed().as_millis() as u64;
    metrics.emit();
    if let Err(e) = &result {
        if receives >= env.max_receive_count {
            // the last receive before the DLQ: tell Amperity why
            let reason = format!("the job failed {receives} times and was set aside: {e}");
            let timeout = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(30))
                .max(Duration::from_secs(1));
            if let Err(re) = report::send(
                &env.http,
                &job,
                report::State::Failed,
                0.0,
                &[],
                Some(&reason),
                timeout,
            )
            .await
            {
                tracing::error!(webhook_id = job.webhook_id, error = %re, "reporting `failed` before the DLQ failed");
            }
        }
    }
    result
}
