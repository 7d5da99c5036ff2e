//! Lambda function: arm64, `provided.al2023`, its own role, a log group with the stage's
//! retention, JSON logs, and an errors alarm. Async use adds an on-failure DLQ with an alarm.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::json;

use super::iam::{assume_role_policy, Statement};
use super::{grant, pascal, some, Alarm, AlarmProps, Grantee, LayerVersion, Queue, Stack};
use crate::cfn::iam::role::CfnRole;
use crate::cfn::lambda::event_invoke_config::{CfnEventInvokeConfig, DestinationConfig, OnFailure};
use crate::cfn::lambda::event_source_mapping::CfnEventSourceMapping;
use crate::cfn::lambda::function::{
    CfnFunction, Code, Environment, EphemeralStorage, LoggingConfig, TracingConfig, VpcConfig,
};
use crate::cfn::logs::log_group::CfnLogGroup;
use crate::cfn::{arn_prefix, get_att, r#ref, sub, Parameter, Val};
use crate::stage::FunctionConfig;

/// The stage's level for the service's own crates; dependencies (the AWS SDK, hyper) stay at
/// `info` when the stage asks for more, or their internals drown the function's logs.
fn rust_log(service: &str, level: crate::stage::LogLevel) -> String {
    use crate::stage::LogLevel::{Debug, Trace};
    let level = level.as_str();
    match level {
        l if l == Debug.as_str() || l == Trace.as_str() => {
            format!("info,{}={level},support={level}", service.replace('-', "_"))
        }
        _ => level.to_string(),
    }
}

/// Why log groups keep CloudWatch Logs' own encryption (checkov CKV_AWS_158, cfn-nag W84).
pub(crate) const LOG_GROUP_KMS_REASON: &str =
    "CloudWatch Logs encrypts log data at rest with service-managed keys; a customer-managed KMS \
     key would need a key policy for the logs service principal and a monthly cost per stage, \
     for logs that carry no secret values";

/// A function's props: `Function::new(&stack, "name", FunctionProps { .., ..Default::default() })`.
pub struct FunctionProps {
    /// What the function does, shown in the console. Required: synth refuses an empty one. At
    /// most 256 characters.
    pub description: String,
    /// Memory, timeout, reserved concurrency and log level. Pass
    /// `stage.function_config(default_memory, default_timeout, overrides)` so the stage can
    /// override them. Default: Lambda's own (128 MB, 3 s), no reserved concurrency (the account's
    /// shared pool), log level `info`. Range: memory 128 to 10,240 MB, timeout 1 to 900 s.
    pub config: FunctionConfig,
    /// Variables besides `STAGE` and `RUST_LOG`, which the construct sets. Default: none.
    pub environment: BTreeMap<String, Val<String>>,
    /// Layers whose zips Lambda extracts under `/opt`, later ones over earlier ones. Default:
    /// none. At most 5, each compatible with arm64.
    pub layers: Vec<LayerVersion>,
    /// Size of `/tmp` in MB. Default: none, Lambda's 512. Range: 512 to 10,240. Billed per GB-s
    /// above 512, so raise it only for work that needs the space (media transcoding).
    pub ephemeral_storage_mb: Option<u32>,
}

impl Default for FunctionProps {
    fn default() -> Self {
        FunctionProps {
            description: String::new(),
            config: FunctionConfig {
                memory: 128,
                timeout: 3,
                reserved_concurrency: None,
                log_level: crate::stage::LogLevel::Info,
            },
            environment: BTreeMap::new(),
            layers: Vec::new(),
            ephemeral_storage_mb: None,
        }
    }
}

/// Lambda's bounds for `/tmp`, in MB.
const EPHEMERAL_STORAGE_MB: std::ops::RangeInclusive<u32> = 512..=10_240;
/// Lambda's limit of layers per function.
const MAX_LAYERS: usize = 5;

/// Subnets and security groups for a function that reaches a private resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Vpc {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// Asynchronous invocation (EventBridge, S3, `lambda:Invoke` with `Event`): retries and the
/// age past which Lambda gives up on an event; either way it then goes to the function's DLQ.
#[derive(Debug, Clone, Copy)]
pub struct AsyncOptions {
    /// Retries after a failed attempt. Default: 2. Range: 0 to 2.
    pub max_retries: u32,
    /// How long Lambda keeps trying to deliver an event. Default: 6 hours. Range: 60 s to
    /// 6 hours, whole seconds.
    pub max_event_age: std::time::Duration,
}

impl Default for AsyncOptions {
    fn default() -> Self {
        AsyncOptions {
            max_retries: 2,
            max_event_age: super::duration::hours(6),
        }
    }
}

#[derive(Clone)]
pub struct Function {
    stack: Stack,
    /// Logical id of the function resource.
    pub id: String,
    /// `<service>-<function>`.
    pub binary: String,
    pub physical_name: String,
    dlq: Rc<RefCell<Option<Queue>>>,
}

impl Grantee for Function {
    fn stack(&self) -> &Stack {
        &self.stack
    }
    fn role_id(&self) -> String {
        format!("{}Role", self.id)
    }
}

impl Function {
    /// `name` is the function's short name (`api`); the binary is `<service>-<name>`.
    pub fn new(stack: &Stack, name: &str, props: FunctionProps) -> Function {
        let stage = stack.stage();
        let id = format!("{}Function", pascal(name));
        let binary = format!("{}-{name}", stack.service());
        let physical_name = stack.physical_name(name);
        let role_id = format!("{id}Role");
        let log_group_id = format!("{id}LogGroup");
        let code_parameter = format!("{id}CodeKey");
        validate_config(stack, &id, &props);

        stack.add(
            &role_id,
            CfnRole {
                assume_role_policy_document: Some(assume_role_policy("lambda.amazonaws.com")),
                description: some(format!("Execution role of {physical_name}")),
                ..Default::default()
            },
        );
        stack.add(
            &log_group_id,
            CfnLogGroup {
                log_group_name: some(format!("/aws/lambda/{physical_name}")),
                retention_in_days: some(stage.log_retention_days.0),
                ..Default::default()
            },
        );
        stack.grant(
            &role_id,
            Statement::new(
                &["logs:CreateLogStream", "logs:PutLogEvents"],
                vec![sub(format!(
                    "{}log-group:/aws/lambda/{physical_name}:*",
                    arn_prefix("logs")
                ))
                .into()],
            ),
        );
        if stage.tracing {
            stack.grant(
                &role_id,
                Statement::any_resource(
                    &["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                    "X-Ray trace submission has no resource-level permissions",
                ),
            );
        }
        stack.add_parameter(
            &code_parameter,
            Parameter {
                type_name: "String".into(),
                description: format!(
                    "S3 key of the {binary} zip in the asset bucket; set by cargo xtask deploy"
                ),
                default: None,
                allowed_pattern: Some("^assets/[0-9a-f]{64}\\.zip$".into()),
            },
        );

        let mut variables: BTreeMap<String, Val<String>> = BTreeMap::new();
        variables.insert("STAGE".into(), stage.name.to_string().into());
        variables.insert(
            "RUST_LOG".into(),
            rust_log(&stack.service(), props.config.log_level).into(),
        );
        variables.extend(props.environment);
        let layers = validated_layers(stack, &id, &props.layers);
        let ephemeral_storage = props.ephemeral_storage_mb.map(|mb| {
            if !EPHEMERAL_STORAGE_MB.contains(&mb) {
                stack.error(format!(
                    "{id}: ephemeral_storage_mb {mb} is outside Lambda's 512 to 10240"
                ));
            }
            EphemeralStorage { size: some(mb) }
        });
        stack.add(
            &id,
            CfnFunction {
                function_name: some(physical_name.clone()),
                description: some(props.description),
                role: some(get_att(&role_id, "Arn")),
                runtime: some("provided.al2023"),
                handler: some("bootstrap"),
                architectures: Some(vec!["arm64".into()]),
                memory_size: some(props.config.memory),
                timeout: some(props.config.timeout),
                reserved_concurrent_executions: props.config.reserved_concurrency.map(Into::into),
                code: Some(Code {
                    s3_bucket: some(stage.asset_bucket()),
                    s3_key: some(r#ref(&code_parameter)),
                    ..Default::default()
                }),
                environment: Some(Environment {
                    variables: Some(
                        variables
                            .into_iter()
                            .map(|(k, v)| (k, v.to_json()))
                            .collect(),
                    ),
                }),
                logging_config: Some(LoggingConfig {
                    log_format: some("JSON"),
                    log_group: some(r#ref(&log_group_id)),
                    ..Default::default()
                }),
                tracing_config: Some(TracingConfig {
                    mode: some(if stage.tracing {
                        "Active"
                    } else {
                        "PassThrough"
                    }),
                }),
                layers,
                ephemeral_storage,
                ..Default::default()
            },
        );
        stack.with_resource(&id, |r| {
            r.metadata.insert("Binary".into(), json!(binary));
        });
        // What the scanners ask of every function, and why the defaults here are right; each
        // reaches checkov and cfn-nag through the resource's Metadata.
        stack.suppress("CKV_AWS_158", &log_group_id, LOG_GROUP_KMS_REASON);
        stack.suppress(
            "CKV_AWS_173",
            &id,
            "Lambda encrypts environment variables at rest with its AWS-managed key; ours hold \
             settings and the names of secrets, never secret values, which are read at run time \
             from Secrets Manager or SSM",
        );
        stack.suppress(
            "CKV_AWS_45",
            &id,
            "PL011 checks every environment value at synth, with the patterns of this check; \
             checkov 3.3.30 failed it in CI on values that hold only names of secrets, where the \
             same templates passed here, so its verdict here is not reproducible",
        );
        stack.suppress(
            "CKV_AWS_116",
            &id,
            "invoked synchronously (HTTP API, SQS event source or state machine task): the caller \
             receives the error and retries; a DeadLetterConfig only applies to async invocations",
        );
        stack.suppress(
            "CKV_AWS_117",
            &id,
            "reaches only public endpoints (AWS APIs and third-party HTTPS APIs); a VPC would need a \
             NAT gateway and isolate nothing. Functions that reach private resources use in_vpc",
        );
        if props.config.reserved_concurrency.is_none() {
            stack.suppress(
                "CKV_AWS_115",
                &id,
                "concurrency is bounded by its trigger (a schedule, the state machine's Map \
                 MaxConcurrency, the HTTP API's throttling); reserving would take capacity from \
                 the account's shared pool. Cap it per stage with \
                 functions.<name>.reserved_concurrency in environments/<stage>.yaml",
            );
        }
        stack.register_function(super::FunctionInfo {
            binary: binary.clone(),
            logical_id: id.clone(),
            physical_name: physical_name.clone(),
            code_parameter,
        });
        Alarm::new(
            stack,
            &format!("{id}ErrorsAlarm"),
            AlarmProps {
                description: format!("{physical_name} returned errors"),
                namespace: "AWS/Lambda",
                metric: "Errors",
                dimensions: vec![("FunctionName", r#ref(&id).into())],
                statistic: "Sum",
                threshold: 1.0,
                periods: 1,
                period: super::duration::minutes(5),
            },
        );
        Function {
            stack: stack.clone(),
            id,
            binary,
            physical_name,
            dlq: Rc::new(RefCell::new(None)),
        }
    }

    /// The function's ARN as CloudFormation resolves it.
    pub fn arn(&self) -> Val<String> {
        get_att(&self.id, "Arn").into()
    }

    /// The ARN built from the physical name: usable in the function's own role without a cycle.
    pub fn arn_by_name(&self) -> Val<String> {
        sub(format!(
            "{}function:{}",
            arn_prefix("lambda"),
            self.physical_name
        ))
        .into()
    }

    pub fn add_environment(&self, key: &str, value: impl Into<Val<String>>) {
        let value = value.into().to_json();
        self.stack.with_resource(&self.id, |r| {
            r.properties["Environment"]["Variables"][key] = value;
        });
    }

    /// Let `grantee` invoke this function (itself included, for continuations).
    pub fn grant_invoke(&self, grantee: &dyn Grantee) {
        let arn = self.arn_by_name();
        let versions: Val<String> = sub(format!(
            "{}function:{}:*",
            arn_prefix("lambda"),
            self.physical_name
        ))
        .into();
        grant(grantee, &["lambda:InvokeFunction"], vec![arn, versions]);
    }

    /// Mark the function as invoked asynchronously: failed events go to an SQS DLQ (with an
    /// alarm) after `max_retries`. Idempotent; returns the DLQ.
    pub fn invoked_async(&self, options: AsyncOptions) -> Queue {
        if let Some(q) = self.dlq.borrow().as_ref() {
            return q.clone();
        }
        let base = self.id.trim_end_matches("Function");
        let short = self
            .physical_name
            .trim_start_matches(&format!("{}-", self.stack.service()))
            .trim_end_matches(&format!("-{}", self.stack.stage().name))
            .to_string();
        let dlq = Queue::dead_letter(
            &self.stack,
            &format!("{base}Async"),
            &format!("{short}-async"),
            super::DlqWriter::Account,
        );
        let config_id = format!("{}EventInvokeConfig", self.id);
        let max_age = super::duration::whole(options.max_event_age, super::duration::seconds(1))
            .filter(|s| (60..=21_600).contains(s));
        if max_age.is_none() || options.max_retries > 2 {
            self.stack.error(format!(
                "{config_id}: max_event_age {:?} must be 60 s to 6 hours in whole seconds and \
                 max_retries {} at most 2",
                options.max_event_age, options.max_retries
            ));
        }
        self.stack.add(
            &config_id,
            CfnEventInvokeConfig {
                function_name: some(r#ref(&self.id)),
                qualifier: some("$LATEST"),
                maximum_retry_attempts: some(options.max_retries),
                maximum_event_age_in_seconds: some(max_age.unwrap_or(21_600)),
                destination_config: Some(DestinationConfig {
                    on_failure: Some(OnFailure {
                        destination: some(dlq.arn()),
                    }),
                    on_success: None,
                }),
            },
        );
        dlq.grant_send(self);
        self.stack.with_resource(&self.id, |r| {
            r.metadata.insert("Invocation".into(), json!("async"));
        });
        self.stack.suppress(
            "CKV_AWS_116",
            &self.id,
            &format!(
                "failed async events go to the on-failure destination {} (EventInvokeConfig), \
                 which keeps the error and request context a DeadLetterConfig drops",
                dlq.id
            ),
        );
        *self.dlq.borrow_mut() = Some(dlq.clone());
        dlq
    }

    /// Consume `queue` (one message at a time by default), with partial batch failure reporting.
    pub fn add_sqs_source(&self, queue: &Queue, batch_size: u32) {
        queue.grant_consume(self);
        self.stack.add(
            &format!("{}{}Source", self.id, queue.base_id()),
            CfnEventSourceMapping {
                function_name: some(r#ref(&self.id)),
                event_source_arn: some(queue.arn()),
                batch_size: some(batch_size),
                function_response_types: Some(vec!["ReportBatchItemFailures".into()]),
                ..Default::default()
            },
        );
    }

    /// Run inside a VPC (to reach a private database).
    pub fn in_vpc(&self, vpc: &Vpc) {
        let config = VpcConfig {
            subnet_ids: Some(vpc.subnet_ids.iter().map(Into::into).collect()),
            security_group_ids: Some(vpc.security_group_ids.iter().map(Into::into).collect()),
            ..Default::default()
        };
        let config = serde_json::to_value(config).expect("serializable");
        self.stack.with_resource(&self.id, |r| {
            r.properties["VpcConfig"] = config;
        });
        self.stack.unsuppress("CKV_AWS_117", &self.id);
        self.stack.grant(
            &self.role_id(),
            Statement::any_resource(
                &[
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                "Lambda manages VPC network interfaces whose ids are not known in advance",
            ),
        );
    }
}

/// Lambda's bounds on the plain settings, so a mistake fails synth instead of the deploy.
fn validate_config(stack: &Stack, id: &str, props: &FunctionProps) {
    if props.description.trim().is_empty() {
        stack.error(format!(
            "{id}: description is empty; say what the function does"
        ));
    }
    if props.description.chars().count() > 256 {
        stack.error(format!(
            "{id}: the description is over Lambda's 256 characters"
        ));
    }
    if !(128..=10_240).contains(&props.config.memory) {
        stack.error(format!(
            "{id}: memory {} MB is outside Lambda's 128 to 10240",
            props.config.memory
        ));
    }
    if !(1..=900).contains(&props.config.timeout) {
        stack.error(format!(
            "{id}: timeout {} s is outside Lambda's 1 to 900",
            props.config.timeout
        ));
    }
}

/// The `Layers` property: none when the function has no layers, so its template is unchanged.
fn validated_layers(stack: &Stack, id: &str, layers: &[LayerVersion]) -> Option<Vec<Val<String>>> {
    if layers.len() > MAX_LAYERS {
        stack.error(format!(
            "{id}: {} layers, Lambda allows at most {MAX_LAYERS}",
            layers.len()
        ));
    }
    for (i, layer) in layers.iter().enumerate() {
        if !layer.arm64 {
            stack.error(format!(
                "{id}: layer {} does not list arm64 in compatible_architectures, and the function is arm64",
                layer.id
            ));
        }
        if layers[..i].iter().any(|l| l.id == layer.id) {
            stack.error(format!("{id}: layer {} is listed twice", layer.id));
        }
    }
    (!layers.is_empty()).then(|| layers.iter().map(LayerVersion::arn).collect())
}
