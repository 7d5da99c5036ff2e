//! Rules on functions: DLQ for async invocation, log retention, arm64.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{referenced_id, Context, Finding, Rule};

pub(crate) const ASYNC_DLQ: Rule = Rule {
    id: "PL001",
    name: "async-function-dlq",
    fix: "call `function.invoked_async(..)` (schedules do it for you) so failed events land in an alarmed SQS DLQ",
    check: async_dlq,
};

fn async_functions(ctx: &Context) -> BTreeSet<String> {
    let t = ctx.template;
    let mut ids: BTreeSet<String> = t
        .resources_of("AWS::Lambda::Function")
        .filter(|(_, r)| r.metadata.get("Invocation").and_then(Value::as_str) == Some("async"))
        .map(|(id, _)| id.clone())
        .collect();
    for (_, rule) in t.resources_of("AWS::Events::Rule") {
        for target in rule
            .prop("Targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = target.get("Arn").and_then(referenced_id) {
                ids.insert(id.to_string());
            }
        }
    }
    for (_, sub) in t.resources_of("AWS::SNS::Subscription") {
        if sub.prop("Protocol").and_then(Value::as_str) == Some("lambda") {
            if let Some(id) = sub.prop("Endpoint").and_then(referenced_id) {
                ids.insert(id.to_string());
            }
        }
    }
    ids.retain(|id| {
        t.resources
            .get(id)
            .is_some_and(|r| r.type_name == "AWS::Lambda::Function")
    });
    ids
}

fn async_dlq(ctx: &Context) -> Vec<Finding> {
    let t = ctx.template;
    async_functions(ctx)
        .into_iter()
        .filter(|id| {
            let has_dead_letter = t.resources[id].prop("DeadLetterConfig").is_some();
            let has_on_failure = t
                .resources_of("AWS::Lambda::EventInvokeConfig")
                .any(|(_, c)| {
                    c.prop("FunctionName").and_then(referenced_id) == Some(id.as_str())
                        && c.properties
                            .pointer("/DestinationConfig/OnFailure/Destination")
                            .is_some()
                });
            !has_dead_letter && !has_on_failure
        })
        .map(|id| Finding {
            message: "invoked asynchronously but failed events have nowhere to go".into(),
            resource: id,
        })
        .collect()
}

pub(crate) const LOG_RETENTION: Rule = Rule {
    id: "PL007",
    name: "log-retention",
    fix: "set RetentionInDays (the Function construct uses the stage's log_retention_days)",
    check: log_retention,
};

fn log_retention(ctx: &Context) -> Vec<Finding> {
    let t = ctx.template;
    let mut out: Vec<Finding> = t
        .resources_of("AWS::Logs::LogGroup")
        .filter(|(_, r)| r.prop("RetentionInDays").is_none())
        .map(|(id, _)| Finding {
            resource: id.clone(),
            message: "log group keeps logs forever".into(),
        })
        .collect();
    for (id, f) in t.resources_of("AWS::Lambda::Function") {
        let explicit = f
            .properties
            .pointer("/LoggingConfig/LogGroup")
            .and_then(referenced_id)
            .is_some_and(|g| t.resources.contains_key(g));
        if !explicit {
            out.push(Finding {
                resource: id.clone(),
                message: "Lambda would create its own log group, without retention".into(),
            });
        }
    }
    out
}

pub(crate) const ARM64: Rule = Rule {
    id: "PL008",
    name: "function-arm64",
    fix: "use the Function construct, which builds for arm64 (Graviton: cheaper per GB-second)",
    check: arm64,
};

fn arm64(ctx: &Context) -> Vec<Finding> {
    ctx.template
        .resources_of("AWS::Lambda::Function")
        .filter(|(_, f)| f.prop("Architectures") != Some(&serde_json::json!(["arm64"])))
        .map(|(id, _)| Finding {
            resource: id.clone(),
            message: "function is not built for arm64".into(),
        })
        .collect()
}
