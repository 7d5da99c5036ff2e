//! Rules on queues, buckets and topics: encryption, public access, DLQs and their alarms.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{referenced_id, Context, Finding, Rule};

pub(crate) const ENCRYPTION: Rule = Rule {
    id: "PL005",
    name: "encryption-at-rest",
    fix: "use the Bucket/Queue/Topic constructs, which turn encryption on",
    check: encryption,
};

fn encryption(ctx: &Context) -> Vec<Finding> {
    let t = ctx.template;
    let mut out = Vec::new();
    let mut flag = |id: &String, what: &str| {
        out.push(Finding {
            resource: id.clone(),
            message: format!("{what} is not encrypted at rest"),
        })
    };
    for (id, r) in t.resources_of("AWS::S3::Bucket") {
        if r.prop("BucketEncryption").is_none() {
            flag(id, "bucket");
        }
    }
    for (id, r) in t.resources_of("AWS::SQS::Queue") {
        let sse = r.prop("SqsManagedSseEnabled") == Some(&Value::Bool(true));
        if !sse && r.prop("KmsMasterKeyId").is_none() {
            flag(id, "queue");
        }
    }
    for (id, r) in t.resources_of("AWS::SNS::Topic") {
        if r.prop("KmsMasterKeyId").is_none() {
            flag(id, "topic");
        }
    }
    out
}

pub(crate) const PUBLIC_ACCESS: Rule = Rule {
    id: "PL006",
    name: "bucket-public-access-block",
    fix: "use the Bucket construct, which blocks all four kinds of public access",
    check: public_access,
};

fn public_access(ctx: &Context) -> Vec<Finding> {
    const FLAGS: &[&str] = &[
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ];
    ctx.template
        .resources_of("AWS::S3::Bucket")
        .filter(|(_, r)| {
            let block = r.prop("PublicAccessBlockConfiguration");
            !FLAGS
                .iter()
                .all(|f| block.and_then(|b| b.get(*f)) == Some(&Value::Bool(true)))
        })
        .map(|(id, _)| Finding {
            resource: id.clone(),
            message: "public access is not fully blocked".into(),
        })
        .collect()
}

/// Queues that receive failures from something else: redrive targets, async on-failure
/// destinations, rule DLQs, function DLQs.
fn dead_letter_queues(ctx: &Context) -> BTreeSet<String> {
    let t = ctx.template;
    let mut ids = BTreeSet::new();
    let mut add = |v: Option<&Value>| {
        if let Some(id) = v.and_then(referenced_id) {
            ids.insert(id.to_string());
        }
    };
    for (_, q) in t.resources_of("AWS::SQS::Queue") {
        add(q.properties.pointer("/RedrivePolicy/deadLetterTargetArn"));
    }
    for (_, c) in t.resources_of("AWS::Lambda::EventInvokeConfig") {
        add(c
            .properties
            .pointer("/DestinationConfig/OnFailure/Destination"));
    }
    for (_, f) in t.resources_of("AWS::Lambda::Function") {
        add(f.properties.pointer("/DeadLetterConfig/TargetArn"));
    }
    for (_, r) in t.resources_of("AWS::Events::Rule") {
        for target in r
            .prop("Targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(target.pointer("/DeadLetterConfig/Arn"));
        }
    }
    ids.retain(|id| {
        t.resources
            .get(id)
            .is_some_and(|r| r.type_name == "AWS::SQS::Queue")
    });
    ids
}

pub(crate) const DLQ_ALARM: Rule = Rule {
    id: "PL002",
    name: "dlq-alarm",
    fix: "create DLQs with Queue::dead_letter (or Queue::new), which adds a depth alarm to the stage's topic",
    check: dlq_alarm,
};

fn dlq_alarm(ctx: &Context) -> Vec<Finding> {
    let t = ctx.template;
    dead_letter_queues(ctx)
        .into_iter()
        .filter(|q| {
            let name = t.resources[q].prop("QueueName");
            !t.resources_of("AWS::CloudWatch::Alarm").any(|(_, a)| {
                let watches = a
                    .prop("Dimensions")
                    .and_then(Value::as_array)
                    .is_some_and(|ds| {
                        ds.iter().any(|d| {
                            d.get("Name").and_then(Value::as_str) == Some("QueueName")
                                && (d.get("Value").and_then(referenced_id) == Some(q.as_str())
                                    || (name.is_some() && d.get("Value") == name))
                        })
                    });
                let notifies = a
                    .prop("AlarmActions")
                    .and_then(Value::as_array)
                    .is_some_and(|acts| !acts.is_empty());
                watches && notifies
            })
        })
        .map(|q| Finding {
            resource: q,
            message: "dead-letter queue has no alarm that notifies anyone".into(),
        })
        .collect()
}

pub(crate) const QUEUE_DLQ: Rule = Rule {
    id: "PL010",
    name: "queue-dlq",
    fix: "use Queue::new, which adds a DLQ with a redrive policy",
    check: queue_dlq,
};

fn queue_dlq(ctx: &Context) -> Vec<Finding> {
    let dlqs = dead_letter_queues(ctx);
    ctx.template
        .resources_of("AWS::SQS::Queue")
        .filter(|(id, q)| !dlqs.contains(*id) && q.prop("RedrivePolicy").is_none())
        .map(|(id, _)| Finding {
            resource: id.clone(),
            message: "messages that keep failing are retried until they expire".into(),
        })
        .collect()
}
