//! The two functions: `intake` (HTTP API → validated, sealed job on the queue) and `worker`
//! (SQS → runner; continuation messages before the deadline; partial batch failures).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::message::Message;
use crate::runner::{Checkpoint, Outcome, RunError, Runner};
use crate::seal::Sealer;
use crate::{report, Job};

pub struct Env {
    pub http: reqwest::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub sealer: Sealer,
    pub allow_http: bool,
    /// Receives before SQS moves a message to the DLQ (the stage's `max_receive_count`).
    pub max_receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("reading the token key secret {name} failed: {message}")]
    Key { name: String, message: String },
}

impl Env {
    pub async fn from_environment() -> Result<Env, EnvError> {
        let var = |k: &'static str| std::env::var(k).map_err(|_| EnvError::Missing(k));
        let aws = support::aws_config().await;
        let name = var("TOKEN_KEY_SECRET")?;
        let key = support::secret_string(&aws, &name)
            .await
            .map_err(|message| EnvError::Key {
                name: name.clone(),
                message,
            })?;
        Ok(Env {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a TLS client builds"),
            sqs: aws_sdk_sqs::Client::new(&aws),
            queue_url: var("JOBS_QUEUE_URL")?,
            sealer: Sealer::new(&key),
            allow_http: var("ALLOW_HTTP_URLS").is_ok_and(|v| v == "true"),
            max_receive_count: var("MAX_RECEIVE_COUNT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
        })
    }

    async fn enqueue(&self, msg: &Message) -> Result<(), String> {
        let body = serde_json::to_string(msg).expect("messages serialize");
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}

fn http_response(status: u16, body: Value) -> Value {
    json!({ "statusCode": status, "headers": {"content-type": "application/json"}, "body": body.to_string() })
}

/// An HTTP API request carrying a job.
pub async fn intake(env: &Env, event: &Value) -> Value {
    let raw = event
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
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
    let job = match Job::parse(&body, env.allow_http) {
        Ok(j) => j,
        Err(e) => return http_response(400, json!({"status": "error", "message": e.0})),
    };
    match env
        .enqueue(&Message::seal(&job, Checkpoint::default(), &env.sealer))
        .await
    {
        Ok(()) => {
            tracing::info!(
                webhook_id = job.webhook_id,
                label = job.label_name,
                "job accepted"
            );
            http_response(
                202,
                json!({"status": "accepted", "message": format!("job {} queued", job.webhook_id)}),
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

/// Time kept in reserve before the deadline: enough to finish a batch and queue the rest.
pub fn margin(remaining: Duration) -> Duration {
    (remaining / 5).min(Duration::from_secs(60))
}

/// An SQS event (one job per message); answers with the messages to retry.
pub async fn worker(env: &Env, event: &Value, deadline: Instant) -> Value {
    let mut failures = Vec::new();
    for record in event
        .get("Records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = record
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let receives: u32 = record
            .pointer("/attributes/ApproximateReceiveCount")
            .and_then(Value::as_str)
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let body = record
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Err(e) = process(env, body, deadline, receives).await {
            tracing::error!(
                message_id = id,
                receives,
                error = e,
                "job run failed; SQS will retry it"
            );
            failures.push(json!({ "itemIdentifier": id }));
        }
    }
    json!({ "batchItemFailures": failures })
}

async fn process(env: &Env, body: &str, deadline: Instant, receives: u32) -> Result<(), String> {
    let msg: Message = serde_json::from_str(body).map_err(|e| format!("not a job message: {e}"))?;
    let (job, cp) = msg.open(&env.sealer).map_err(|e| e.to_string())?;
    let runner = Runner {
        http: &env.http,
        job: &job,
        deadline,
        margin: margin(deadline.saturating_duration_since(Instant::now())),
        report_every: Duration::from_secs(5),
        max_attempts: 6,
    };
    let result = match runner.run(cp).await {
        Ok(Outcome::Succeeded(cp)) => {
            tracing::info!(
                webhook_id = job.webhook_id,
                records = cp.records_sent,
                batches = cp.batches_sent,
                runs = cp.runs,
                errors = cp.errors.len(),
                "job succeeded"
            );
            Ok(())
        }
        Ok(Outcome::Continue(cp)) => {
            tracing::info!(
                webhook_id = job.webhook_id,
                offset = cp.offset,
                records = cp.records_sent,
                "continuing in a fresh invocation"
            );
            env.enqueue(&Message::seal(&job, cp, &env.sealer))
                .await
                .map_err(|e| format!("queueing the continuation failed: {e}"))
        }
        Ok(Outcome::Failed(reason, _)) => {
            tracing::warn!(
                webhook_id = job.webhook_id,
                reason,
                "job failed; Amperity was told"
            );
            Ok(())
        }
        Err(RunError::Start(e)) => Err(e.to_string()),
    };
    if let Err(e) = &result {
        if receives >= env.max_receive_count {
            // the last receive before the DLQ: tell Amperity why, if it listens
            let reason = format!("the job failed {receives} times and was set aside: {e}");
            let _ = report::send(
                &env.http,
                &job,
                report::State::Failed,
                0.0,
                &[],
                Some(&reason),
            )
            .await;
        }
    }
    result
}
