//! What connects a stage's functions, read from the deployed stacks (template + physical ids):
//! HTTP APIs and their routes, SQS event source mappings, schedules and their targets. The local
//! stage serves these itself (the emulator accepts but does not run them); `trigger` reads the
//! same on AWS stages.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use infra::stage::Stage;
use serde_json::Value;

use crate::deployed;

/// One deployed stack: its template and the physical id of each logical resource.
#[derive(Debug, Clone)]
pub struct DeployedStack {
    /// The stack's name.
    pub stack: String,
    pub service: String,
    pub template: Value,
    pub physical: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Wiring {
    pub apis: Vec<Api>,
    pub queues: Vec<QueueSource>,
    pub schedules: Vec<Schedule>,
    /// What the templates wire that the local stage does not run, one line each (stack,
    /// logical id, why), for the runtime to log on every reload.
    pub skipped: Vec<String>,
}

/// An `AWS::ApiGatewayV2::Api` with its routes.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub service: String,
    /// The API's `Name` (e.g. `mips-cache-api-local`).
    pub name: String,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `GET /accounts`, `ANY /items/{id}`, `$default`.
    pub key: String,
    pub auth: RouteAuth,
    /// The integration's function (physical name).
    pub function: String,
    /// The integration's payload format version (`2.0` or `1.0`).
    pub payload_version: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteAuth {
    None,
    Iam,
    Lambda(LambdaAuthorizer),
    Jwt {
        issuer: String,
        audience: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LambdaAuthorizer {
    pub name: String,
    /// The authorizer function (physical name).
    pub function: String,
    /// e.g. `$request.header.Authorization`.
    pub identity_source: Vec<String>,
    pub ttl_seconds: u64,
    pub payload_version: String,
    pub simple_responses: bool,
}

/// An `AWS::Lambda::EventSourceMapping` from an SQS queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSource {
    pub service: String,
    /// The function (physical name).
    pub function: String,
    /// The queue's URL (its physical id).
    pub queue_url: String,
    pub batch_size: u32,
    pub batching_window_seconds: u32,
    pub report_batch_item_failures: bool,
    pub max_concurrency: Option<u32>,
    pub enabled: bool,
}

/// An `AWS::Events::Rule` with a schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub service: String,
    /// The logical id, e.g. `RefreshSchedule`.
    pub logical: String,
    /// The rule's physical name.
    pub rule: String,
    /// `rate(3 hours)` or `cron(0 10 * * ? *)`.
    pub expression: String,
    pub enabled: bool,
    pub targets: Vec<ScheduleTarget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleTarget {
    pub kind: TargetKind,
    /// The target's constant input (JSON text); `None` sends EventBridge's scheduled event.
    pub input: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// A function (physical name).
    Function(String),
    /// A state machine (its ARN, the physical id).
    StateMachine(String),
    /// Something else, by its resolved ARN or logical id.
    Other(String),
}

impl Schedule {
    /// The names a user may give `trigger`: `RefreshSchedule`, `canvas-data-RefreshSchedule`,
    /// `canvas-data/refresh`, or the rule's physical name.
    pub fn matches(&self, name: &str) -> bool {
        let short = self
            .logical
            .strip_suffix("Schedule")
            .unwrap_or(&self.logical);
        name == self.logical
            || name == self.rule
            || name == format!("{}-{}", self.service, self.logical)
            || name.eq_ignore_ascii_case(&format!("{}/{}", self.service, short))
            || name.eq_ignore_ascii_case(&format!("{}-{}", self.service, short))
    }

    /// How `trigger` lists it.
    pub fn display_name(&self) -> String {
        let short = self
            .logical
            .strip_suffix("Schedule")
            .unwrap_or(&self.logical);
        format!("{}-{}", self.service, heck::AsKebabCase(short))
    }
}

/// Every stack of the stage that is deployed (stacks not deployed are left out).
pub async fn deployed_stacks(
    stage: &Stage,
    cfn: &aws_sdk_cloudformation::Client,
) -> Result<Vec<DeployedStack>> {
    let mut out = Vec::new();
    for s in infra::synth_stage(stage, None)? {
        let Some(physical) = deployed::physical_ids(cfn, &s.name).await? else {
            continue;
        };
        let body = deployed::template(cfn, &s.name).await?;
        let template: Value = serde_json::from_str(&body)
            .with_context(|| format!("the deployed template of {} is not JSON", s.name))?;
        out.push(DeployedStack {
            stack: s.name,
            service: s.service,
            template,
            physical,
        });
    }
    Ok(out)
}

/// The wiring of the stage as deployed.
pub async fn read(stage: &Stage, cfn: &aws_sdk_cloudformation::Client) -> Result<Wiring> {
    Ok(from_stacks(&deployed_stacks(stage, cfn).await?))
}

pub fn from_stacks(stacks: &[DeployedStack]) -> Wiring {
    let mut w = Wiring::default();
    for s in stacks {
        w.apis.extend(apis(s));
        let (queues, skipped) = queue_sources(s);
        w.queues.extend(queues);
        w.skipped.extend(skipped);
        w.schedules.extend(schedules(s));
    }
    w
}

fn resources(s: &DeployedStack) -> impl Iterator<Item = (&String, &str, &Value)> {
    s.template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(id, r)| {
            (
                id,
                r.get("Type").and_then(Value::as_str).unwrap_or_default(),
                r.get("Properties").unwrap_or(&Value::Null),
            )
        })
}

/// The logical id a `Ref`, `Fn::GetAtt` or plain string names.
fn logical_of(v: &Value) -> Option<&str> {
    if let Some(id) = v.get("Ref").and_then(Value::as_str) {
        return Some(id);
    }
    match v.get("Fn::GetAtt") {
        Some(Value::Array(a)) => a.first().and_then(Value::as_str),
        Some(Value::String(s)) => s.split('.').next(),
        _ => None,
    }
}

/// The physical id of the resource a value refers to, or the value when it is a plain string.
fn physical_of(s: &DeployedStack, v: &Value) -> Option<String> {
    match v {
        Value::String(x) => Some(x.clone()),
        _ => s.physical.get(logical_of(v)?).cloned(),
    }
}

/// The function a Lambda ARN value names: a reference to a function of the stack, or a plain
/// ARN / name.
fn function_of(s: &DeployedStack, v: &Value) -> Option<String> {
    let p = physical_of(s, v)?;
    Some(match p.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_string(),
        None => p,
    })
}

/// `${Logical.Arn}` inside an authorizer's `Fn::Sub` URI.
fn sub_reference(v: &Value) -> Option<&str> {
    let text = v.get("Fn::Sub").and_then(Value::as_str)?;
    let start = text.find("functions/${")? + "functions/${".len();
    let rest = &text[start..];
    let end = rest.find(['.', '}'])?;
    Some(&rest[..end])
}

fn str_prop<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

fn apis(s: &DeployedStack) -> Vec<Api> {
    let integrations: BTreeMap<&str, (String, String)> = resources(s)
        .filter(|(_, t, _)| *t == "AWS::ApiGatewayV2::Integration")
        .filter_map(|(id, _, p)| {
            let function = function_of(s, p.get("IntegrationUri")?)?;
            let version = str_prop(p, "PayloadFormatVersion").unwrap_or("2.0");
            Some((id.as_str(), (function, version.to_string())))
        })
        .collect();
    let authorizers: BTreeMap<&str, RouteAuth> = resources(s)
        .filter(|(_, t, _)| *t == "AWS::ApiGatewayV2::Authorizer")
        .filter_map(|(id, _, p)| {
            let auth = match str_prop(p, "AuthorizerType")? {
                "REQUEST" => {
                    let uri = p.get("AuthorizerUri")?;
                    let function = match sub_reference(uri) {
                        Some(logical) => s.physical.get(logical)?.clone(),
                        None => function_of(s, uri)?,
                    };
                    RouteAuth::Lambda(LambdaAuthorizer {
                        name: str_prop(p, "Name").unwrap_or(id).to_string(),
                        function,
                        identity_source: strings(p.get("IdentitySource")),
                        ttl_seconds: p
                            .get("AuthorizerResultTtlInSeconds")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                        payload_version: str_prop(p, "AuthorizerPayloadFormatVersion")
                            .unwrap_or("2.0")
                            .to_string(),
                        simple_responses: p
                            .get("EnableSimpleResponses")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    })
                }
                "JWT" => {
                    let c = p.get("JwtConfiguration")?;
                    RouteAuth::Jwt {
                        issuer: str_prop(c, "Issuer").unwrap_or_default().to_string(),
                        audience: strings(c.get("Audience")),
                    }
                }
                _ => return None,
            };
            Some((id.as_str(), auth))
        })
        .collect();
    resources(s)
        .filter(|(_, t, _)| *t == "AWS::ApiGatewayV2::Api")
        .map(|(api_id, _, p)| {
            let routes = resources(s)
                .filter(|(_, t, rp)| {
                    *t == "AWS::ApiGatewayV2::Route"
                        && rp.get("ApiId").and_then(logical_of) == Some(api_id.as_str())
                })
                .filter_map(|(_, _, rp)| {
                    let target = rp.get("Target")?;
                    let text = target
                        .get("Fn::Sub")
                        .and_then(Value::as_str)
                        .or_else(|| target.as_str())?;
                    let integration = text.strip_prefix("integrations/${")?.trim_end_matches('}');
                    let (function, payload_version) = integrations.get(integration)?.clone();
                    let auth = match str_prop(rp, "AuthorizationType").unwrap_or("NONE") {
                        "AWS_IAM" => RouteAuth::Iam,
                        "CUSTOM" | "JWT" => rp
                            .get("AuthorizerId")
                            .and_then(logical_of)
                            .and_then(|a| authorizers.get(a).cloned())?,
                        _ => RouteAuth::None,
                    };
                    Some(Route {
                        key: str_prop(rp, "RouteKey")?.to_string(),
                        auth,
                        function,
                        payload_version,
                    })
                })
                .collect();
            Api {
                service: s.service.clone(),
                name: str_prop(p, "Name").unwrap_or(api_id).to_string(),
                routes,
            }
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(x)) => x.split(',').map(|s| s.trim().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The SQS event source mappings, and a line for each mapping not run locally.
fn queue_sources(s: &DeployedStack) -> (Vec<QueueSource>, Vec<String>) {
    let mut queues = Vec::new();
    let mut skipped = Vec::new();
    for (id, _, p) in resources(s).filter(|(_, t, _)| *t == "AWS::Lambda::EventSourceMapping") {
        match queue_source(s, p) {
            Ok(Some(q)) => queues.push(q),
            Ok(None) => {}
            Err(why) => skipped.push(format!(
                "{} {id}: event source mapping not polled: {why}",
                s.stack
            )),
        }
    }
    (queues, skipped)
}

/// `Ok(None)` for a mapping of another kind of source (a stream, ...), which is not the local
/// pollers' to run; `Err(why)` for an SQS mapping that cannot be run locally.
fn queue_source(s: &DeployedStack, p: &Value) -> Result<Option<QueueSource>, String> {
    let Some(source) = p.get("EventSourceArn") else {
        return Err("no EventSourceArn".into());
    };
    let queue_logical = match logical_of(source) {
        Some(l) => l,
        None if source
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:sqs:")) =>
        {
            return Err(format!(
                "the queue {} is not a resource of this stack",
                source.as_str().unwrap_or_default()
            ))
        }
        None if source.get("Fn::ImportValue").is_some() || source.get("Fn::Sub").is_some() => {
            return Err(format!(
                "the source {source} is not a resource of this stack (imported or built)"
            ))
        }
        None => return Ok(None),
    };
    let source_type = s
        .template
        .pointer(&format!("/Resources/{queue_logical}/Type"))
        .and_then(Value::as_str);
    match source_type {
        Some("AWS::SQS::Queue") => {}
        Some(_) => return Ok(None),
        None => {
            return Err(format!(
                "the source `{queue_logical}` is not a resource of this stack"
            ))
        }
    }
    if p.get("FilterCriteria")
        .is_some_and(|f| !f.is_null() && f.as_object().is_none_or(|o| !o.is_empty()))
    {
        return Err(
            "filter criteria are not evaluated locally (delivering unfiltered messages would \
             run the function on what AWS never gives it)"
                .into(),
        );
    }
    let function = p
        .get("FunctionName")
        .and_then(|f| function_of(s, f))
        .ok_or_else(|| {
            format!(
                "its FunctionName {} does not resolve to a deployed function",
                p.get("FunctionName").unwrap_or(&Value::Null)
            )
        })?;
    let queue_url =
        s.physical.get(queue_logical).cloned().ok_or_else(|| {
            format!("the queue `{queue_logical}` has no physical id (not deployed)")
        })?;
    Ok(Some(QueueSource {
        service: s.service.clone(),
        function,
        queue_url,
        batch_size: p.get("BatchSize").and_then(Value::as_u64).unwrap_or(10) as u32,
        batching_window_seconds: p
            .get("MaximumBatchingWindowInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32,
        report_batch_item_failures: strings(p.get("FunctionResponseTypes"))
            .iter()
            .any(|t| t == "ReportBatchItemFailures"),
        max_concurrency: p
            .pointer("/ScalingConfig/MaximumConcurrency")
            .and_then(Value::as_u64)
            .map(|n| n as u32),
        enabled: p.get("Enabled").and_then(Value::as_bool).unwrap_or(true),
    }))
}

fn schedules(s: &DeployedStack) -> Vec<Schedule> {
    resources(s)
        .filter(|(_, t, p)| *t == "AWS::Events::Rule" && p.get("ScheduleExpression").is_some())
        .map(|(id, _, p)| {
            let targets = p
                .get("Targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    let arn = t.get("Arn")?;
                    let target_type = logical_of(arn)
                        .and_then(|l| s.template.pointer(&format!("/Resources/{l}/Type")))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let kind = match target_type {
                        "AWS::Lambda::Function" => TargetKind::Function(function_of(s, arn)?),
                        "AWS::StepFunctions::StateMachine" => {
                            TargetKind::StateMachine(physical_of(s, arn)?)
                        }
                        _ => TargetKind::Other(
                            physical_of(s, arn)
                                .unwrap_or_else(|| logical_of(arn).unwrap_or("?").to_string()),
                        ),
                    };
                    Some(ScheduleTarget {
                        kind,
                        input: str_prop(t, "Input").map(str::to_string),
                    })
                })
                .collect();
            Schedule {
                service: s.service.clone(),
                logical: id.clone(),
                rule: s.physical.get(id).cloned().unwrap_or_else(|| id.clone()),
                expression: str_prop(p, "ScheduleExpression")
                    .unwrap_or_default()
                    .to_string(),
                enabled: str_prop(p, "State").unwrap_or("ENABLED") == "ENABLED",
                targets,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
