//! `webhook-runner`: Amperity webhook-destination jobs, queued by an HTTP intake behind a Lambda
//! authorizer and streamed to a destination API by an SQS-triggered worker that continues itself
//! through the same queue.

use std::time::Duration;

use serde::Deserialize;

use super::{check, env};
use crate::cfn::api_gateway_v2::stage::RouteSettings;
use crate::cfn::lambda::event_source_mapping::ScalingConfig;
use crate::constructs::*;
use crate::stage::{FunctionOverrides, Stage};

pub const SERVICE: &str = "webhook-runner";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub functions: Functions,
    /// Secrets Manager secret whose value keys the sealing of job secrets in the queue;
    /// default `<stage>/webhook-runner/token-key`. Create it once per stage with a random value;
    /// its previous version still opens messages after a rotation.
    pub token_key_secret: Option<String>,
    /// Secrets Manager secret holding the key callers send as `x-api-key` (the previous version
    /// is accepted too, during a rotation); default `<stage>/webhook-runner/intake-key`. Only the
    /// authorizer reads it.
    pub intake_key_secret: Option<String>,
    /// Receives of one job message before it moves to the DLQ.
    pub max_receive_count: u32,
    /// Runs of a job in a row that deliver nothing before the job fails.
    pub max_runs_without_progress: u32,
    /// Jobs streamed at once: the worker's reserved concurrency and the queue trigger's maximum
    /// concurrency. More jobs wait in the queue.
    pub max_concurrent_jobs: u32,
    pub throttle: Throttle,
    pub features: Features,
}

/// The intake API's throttling (API Gateway, per stage).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Throttle {
    /// Steady requests a second.
    pub rate_per_second: f64,
    /// Requests allowed at once above the steady rate.
    pub burst: u32,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            rate_per_second: 10.0,
            burst: 20,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Functions {
    pub authorizer: Option<FunctionOverrides>,
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
            intake_key_secret: None,
            max_receive_count: 3,
            max_runs_without_progress: 5,
            max_concurrent_jobs: 10,
            throttle: Throttle::default(),
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
            (1..=100).contains(&self.max_runs_without_progress),
            "max_runs_without_progress",
            || {
                format!(
                    "max_runs_without_progress must be 1-100, got {}",
                    self.max_runs_without_progress
                )
            },
        )?;
        // the SQS trigger's maximum concurrency starts at 2
        check(
            (2..=1000).contains(&self.max_concurrent_jobs),
            "max_concurrent_jobs",
            || {
                format!(
                    "max_concurrent_jobs must be 2-1000, got {}",
                    self.max_concurrent_jobs
                )
            },
        )?;
        check(
            self.functions
                .worker
                .as_ref()
                .is_none_or(|w| w.reserved_concurrency.is_none()),
            "functions.worker.reserved_concurrency",
            || {
                "the worker's concurrency is max_concurrent_jobs (it also limits the queue trigger)"
                    .into()
            },
        )?;
        check(
            self.throttle.rate_per_second > 0.0 && self.throttle.rate_per_second <= 10_000.0,
            "throttle.rate_per_second",
            || {
                format!(
                    "throttle.rate_per_second must be above 0 and at most 10000, got {}",
                    self.throttle.rate_per_second
                )
            },
        )?;
        check(
            (1..=5000).contains(&self.throttle.burst),
            "throttle.burst",
            || format!("throttle.burst must be 1-5000, got {}", self.throttle.burst),
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

    pub fn intake_key_secret(&self, stage: &Stage) -> String {
        self.intake_key_secret
            .clone()
            .unwrap_or_else(|| format!("{}/webhook-runner/intake-key", stage.name))
    }
}

/// The namespace of the worker's embedded-format metrics (`functions/webhook-runner/src/metrics.rs`).
const METRICS_NAMESPACE: &str = "WebhookRunner";

/// How long API Gateway keeps the authorizer's verdict on one key value. Amperity posts a job now
/// and then, so a longer cache would save few invocations; a short one keeps a revoked key from
/// working much past the authorizer's own re-read of the secret (docs/webhook-runner.md).
pub const AUTHORIZER_RESULT_TTL: Duration = Duration::from_secs(60);

pub fn stack(stage: &Stage) -> Stack {
    let s = &stage.services.webhook_runner;
    let stack = Stack::new(
        SERVICE,
        stage,
        "Amperity webhook destination: streams any file size to an API",
    );
    let mut worker_config = stage.function_config(512, 900, &s.functions.worker);
    worker_config.reserved_concurrency = Some(s.max_concurrent_jobs);
    // AWS asks for a visibility timeout of six times the consumer's timeout (capped at 12 hours).
    let jobs = Queue::new(
        &stack,
        "jobs",
        QueueProps {
            visibility_timeout: duration::seconds(u64::from(worker_config.timeout) * 6)
                .min(duration::hours(12)),
            dead_letter: DeadLetter::Own {
                max_receive_count: s.max_receive_count,
            },
            ..Default::default()
        },
    );
    let allow_http = s.features.allow_http_urls.to_string();
    let key = Secret::from_name(&s.token_key_secret(stage));
    let intake_key = Secret::from_name(&s.intake_key_secret(stage));
    let authorizer = Function::new(
        &stack,
        "authorizer",
        FunctionProps {
            description: "Checks the x-api-key of intake requests".into(),
            config: stage.function_config(256, 5, &s.functions.authorizer),
            environment: env(vec![("INTAKE_KEY_SECRET", intake_key.name.clone().into())]),
            ..Default::default()
        },
    );
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
            ..Default::default()
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
                (
                    "MAX_RUNS_WITHOUT_PROGRESS",
                    s.max_runs_without_progress.to_string().into(),
                ),
            ]),
            ..Default::default()
        },
    );
    key.grant_read(&intake);
    key.grant_read(&worker);
    intake_key.grant_read(&authorizer);
    jobs.grant_send(&intake);
    jobs.grant_send(&worker);
    worker.add_sqs_source(&jobs, 1);
    // Without a trigger limit, SQS would invoke past the reserved concurrency; the throttled
    // receives would count towards max_receive_count and push waiting jobs to the DLQ.
    let scaling = serde_json::to_value(ScalingConfig {
        maximum_concurrency: Some(i64::from(s.max_concurrent_jobs).into()),
    })
    .expect("serializable");
    stack.with_resource(&format!("{}JobsSource", worker.id), |r| {
        r.properties["ScalingConfig"] = scaling;
    });
    // Job failures are not Lambda errors (the worker answers with partial batch failures), so
    // the function's own errors alarm does not see them: alarm on the worker's own metric.
    Alarm::new(
        &stack,
        "WorkerFailuresAlarm",
        AlarmProps {
            description: format!(
                "{} runs failed (returned to the queue) or jobs were reported failed to Amperity",
                worker.physical_name
            ),
            namespace: METRICS_NAMESPACE,
            metric: "Failures",
            dimensions: vec![("Stage", stage.name.to_string().into())],
            statistic: "Sum",
            threshold: 1.0,
            periods: 1,
            period: duration::minutes(5),
        },
    );
    // The authorizer always allows, with its verdict in the context, and the intake answers 401
    // for anything but `ok`: API Gateway would answer a denial with 403 (docs/webhook-runner.md).
    let http = HttpApi::new(&stack, "api");
    let api_key = http.add_lambda_authorizer_with_props(
        "api-key",
        &authorizer,
        LambdaAuthorizerProps {
            identity_source: vec!["$request.header.x-api-key".into()],
            result_ttl: AUTHORIZER_RESULT_TTL,
            simple_responses: true,
        },
    );
    http.add_route("POST /jobs", &intake, RouteAuth::Lambda(&api_key));
    let throttle = serde_json::to_value(RouteSettings {
        throttling_burst_limit: Some(i64::from(s.throttle.burst).into()),
        throttling_rate_limit: Some(s.throttle.rate_per_second.into()),
        ..Default::default()
    })
    .expect("serializable");
    stack.with_resource(&format!("{}DefaultStage", http.id), |r| {
        r.properties["DefaultRouteSettings"] = throttle;
    });
    stack
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::stage;

    fn template(name: &str, yaml: &str) -> Value {
        let stage = stage::parse(name, &format!("{name}.yaml"), yaml).unwrap();
        match crate::synth::synth_stack(super::stack(&stage)) {
            Ok(s) => s.template.to_json(),
            Err(e) => panic!("{e}"),
        }
    }

    fn local() -> Value {
        template("local", "")
    }

    fn statements(t: &Value, role: &str) -> Vec<Value> {
        t["Resources"][role]["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The secrets a role may read, by the resource text of its Secrets Manager statements.
    fn secrets_read(t: &Value, role: &str) -> Vec<String> {
        let mut read: Vec<String> = statements(t, role)
            .iter()
            .filter(|s| s["Action"].to_string().contains("secretsmanager:"))
            .map(|s| s["Resource"].to_string())
            .collect();
        read.sort();
        read
    }

    #[test]
    fn only_the_authorizer_reads_the_intake_key() {
        let t = local();
        let intake_key = "local/webhook-runner/intake-key";
        let token_key = "local/webhook-runner/token-key";
        let authorizer = secrets_read(&t, "AuthorizerFunctionRole");
        assert_eq!(authorizer.len(), 1, "{authorizer:?}");
        assert!(authorizer[0].contains(intake_key), "{authorizer:?}");
        assert!(
            !statements(&t, "AuthorizerFunctionRole")
                .iter()
                .any(|s| s["Action"].to_string().contains("sqs:")),
            "the authorizer queues nothing"
        );
        for role in ["IntakeFunctionRole", "WorkerFunctionRole"] {
            let read = secrets_read(&t, role);
            assert_eq!(read.len(), 1, "{role}: {read:?}");
            assert!(read[0].contains(token_key), "{role}: {read:?}");
        }
        let vars = |f: &str| t["Resources"][f]["Properties"]["Environment"]["Variables"].clone();
        assert_eq!(vars("AuthorizerFunction")["INTAKE_KEY_SECRET"], intake_key);
        assert!(vars("AuthorizerFunction").get("TOKEN_KEY_SECRET").is_none());
        assert!(vars("IntakeFunction").get("INTAKE_KEY_SECRET").is_none());
        assert_eq!(
            t["Resources"]["AuthorizerFunction"]["Metadata"]["Binary"],
            "webhook-runner-authorizer"
        );
    }

    #[test]
    fn the_intake_route_goes_through_the_x_api_key_authorizer() {
        let t = local();
        let resources = t["Resources"].as_object().unwrap();
        let routes: Vec<&Value> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
            .collect();
        assert_eq!(routes.len(), 1);
        let route = &routes[0]["Properties"];
        assert_eq!(route["RouteKey"], "POST /jobs");
        assert_eq!(route["AuthorizationType"], "CUSTOM");
        assert_eq!(
            route["AuthorizerId"],
            json!({"Ref": "ApiHttpApiApiKeyAuthorizer"})
        );
        let authorizer = &t["Resources"]["ApiHttpApiApiKeyAuthorizer"]["Properties"];
        assert_eq!(authorizer["AuthorizerType"], "REQUEST");
        assert_eq!(
            authorizer["IdentitySource"],
            json!(["$request.header.x-api-key"])
        );
        assert_eq!(authorizer["AuthorizerPayloadFormatVersion"], "2.0");
        assert_eq!(authorizer["EnableSimpleResponses"], true);
        assert_eq!(
            authorizer["AuthorizerResultTtlInSeconds"],
            super::AUTHORIZER_RESULT_TTL.as_secs()
        );
        assert!(authorizer["AuthorizerUri"]
            .to_string()
            .contains("${AuthorizerFunction.Arn}"));
    }

    #[test]
    fn throttling_and_the_authorizer_function_are_stage_settings() {
        let t = template(
            "local",
            "services:\n  webhook-runner:\n    throttle: {rate_per_second: 3, burst: 7}\n    functions: {authorizer: {memory: 512, timeout: 3}}\n",
        );
        assert_eq!(
            t["Resources"]["ApiHttpApiDefaultStage"]["Properties"]["DefaultRouteSettings"],
            json!({"ThrottlingBurstLimit": 7, "ThrottlingRateLimit": 3.0})
        );
        let f = &t["Resources"]["AuthorizerFunction"]["Properties"];
        assert_eq!(
            (f["MemorySize"].clone(), f["Timeout"].clone()),
            (json!(512), json!(3))
        );
    }
}
