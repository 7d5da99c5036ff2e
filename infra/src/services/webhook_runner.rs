//! `webhook-runner`: Amperity webhook-destination jobs, queued by an HTTP intake and streamed to a
//! destination API by an SQS-triggered worker that continues itself through the same queue.

use serde::Deserialize;

use super::{check, env};
use crate::constructs::*;
use crate::stage::{FunctionOverrides, Stage};

pub const SERVICE: &str = "webhook-runner";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub functions: Functions,
    /// Secrets Manager secret whose value keys the sealing of job secrets in the queue;
    /// default `<stage>/webhook-runner/token-key`. Create it once per stage with a random value.
    pub token_key_secret: Option<String>,
    /// Receives of one job message before it moves to the DLQ.
    pub max_receive_count: u32,
    pub features: Features,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub intake: Option<FunctionOverrides>,
    pub worker: Option<FunctionOverrides>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Features {
    /// Accept plain http:// data and callback URLs (for local fakes only).
    pub allow_http_urls: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            functions: Functions::default(),
            token_key_secret: None,
            max_receive_count: 3,
            features: Features::default(),
        }
    }
}

impl Settings {
    pub(crate) fn validate(&self, local: bool) -> Result<(), (String, String)> {
        check(
            (1..=1000).contains(&self.max_receive_count),
            "max_receive_count",
            || {
                format!(
                    "max_receive_count must be 1-1000, got {}",
                    self.max_receive_count
                )
            },
        )?;
        check(
            local || !self.features.allow_http_urls,
            "features.allow_http_urls",
            || "plain http URLs are allowed only on the local stage".into(),
        )
    }
}

impl Settings {
    pub fn token_key_secret(&self, stage: &Stage) -> String {
        self.token_key_secret
            .clone()
            .unwrap_or_else(|| format!("{}/webhook-runner/token-key", stage.name))
    }
}

pub fn stack(stage: &Stage) -> Stack {
    let s = &stage.services.webhook_runner;
    let stack = Stack::new(
        SERVICE,
        stage,
        "Amperity webhook destination: streams any file size to an API",
    );
    let worker_config = stage.function_config(512, 900, &s.functions.worker);
    // AWS asks for a visibility timeout of six times the consumer's timeout (capped at 12 hours).
    let jobs = Queue::new(
        &stack,
        "jobs",
        QueueProps {
            visibility_timeout_seconds: (worker_config.timeout * 6).min(43_200),
            max_receive_count: s.max_receive_count,
        },
    );
    let allow_http = s.features.allow_http_urls.to_string();
    let key = Secret::from_name(&s.token_key_secret(stage));
    let intake = Function::new(
        &stack,
        "intake",
        FunctionProps {
            description: "Validates Amperity jobs and queues them".into(),
            config: stage.function_config(256, 10, &s.functions.intake),
            environment: env(vec![
                ("JOBS_QUEUE_URL", jobs.url()),
                ("ALLOW_HTTP_URLS", allow_http.clone().into()),
                ("TOKEN_KEY_SECRET", key.name.clone().into()),
            ]),
        },
    );
    let worker = Function::new(
        &stack,
        "worker",
        FunctionProps {
            description:
                "Streams a job's file to the destination, continuing itself before the deadline"
                    .into(),
            config: worker_config,
            environment: env(vec![
                ("JOBS_QUEUE_URL", jobs.url()),
                ("ALLOW_HTTP_URLS", allow_http.into()),
                ("TOKEN_KEY_SECRET", key.name.clone().into()),
                ("MAX_RECEIVE_COUNT", s.max_receive_count.to_string().into()),
            ]),
        },
    );
    key.grant_read(&intake);
    key.grant_read(&worker);
    jobs.grant_send(&intake);
    jobs.grant_send(&worker);
    worker.add_sqs_source(&jobs, 1);
    let http = HttpApi::new(&stack, "api");
    http.add_route("POST /jobs", &intake, RouteAuth::None);
    stack
}
