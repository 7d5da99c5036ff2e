//! One fixture per rule that violates it, built from L1 resources the way a careless stack would.

use serde_json::json;

use super::*;
use crate::cfn::cloud_watch::alarm::{CfnAlarm, Dimension};
use crate::cfn::events::rule::{CfnRule, Target};
use crate::cfn::iam::role::CfnRole;
use crate::cfn::lambda::function::{CfnFunction, LoggingConfig};
use crate::cfn::logs::log_group::CfnLogGroup;
use crate::cfn::s3::bucket::CfnBucket;
use crate::cfn::sns::topic::CfnTopic;
use crate::cfn::sqs::queue::CfnQueue;
use crate::cfn::{get_att, r#ref, Template};

fn findings(t: &Template) -> Vec<Violation> {
    findings_sized(t, t.render().len(), true)
}

fn findings_sized(t: &Template, bytes: usize, upload: bool) -> Vec<Violation> {
    let ctx = Context {
        template: t,
        rendered_bytes: bytes,
        can_upload_template: upload,
    };
    run("fixture", &ctx, &[]).violations
}

fn rules_hit(t: &Template) -> Vec<&'static str> {
    let mut r: Vec<_> = findings(t).into_iter().map(|v| v.rule).collect();
    r.dedup();
    r
}

/// A function that satisfies every function rule.
fn good_function(t: &mut Template, id: &str) {
    t.add(
        format!("{id}Logs"),
        CfnLogGroup {
            retention_in_days: Some(7.into()),
            ..Default::default()
        },
    )
    .unwrap();
    t.add(
        id,
        CfnFunction {
            architectures: Some(vec!["arm64".into()]),
            logging_config: Some(LoggingConfig {
                log_group: Some(r#ref(format!("{id}Logs")).into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
}

fn role_with(t: &mut Template, statement: serde_json::Value) {
    t.add(
        "Role",
        CfnRole {
            policies: Some(vec![crate::cfn::iam::role::Policy {
                policy_name: Some("p".into()),
                policy_document: Some(json!({"Version": "2012-10-17", "Statement": [statement]})),
            }]),
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn pl001_scheduled_function_without_dlq() {
    let mut t = Template::default();
    good_function(&mut t, "Fn");
    t.add(
        "Rule",
        CfnRule {
            schedule_expression: Some("rate(1 hour)".into()),
            targets: Some(vec![Target {
                id: Some("t".into()),
                arn: Some(get_att("Fn", "Arn").into()),
                ..Default::default()
            }]),
            ..Default::default()
        },
    )
    .unwrap();
    let v = findings(&t);
    assert_eq!(rules_hit(&t), ["PL001"]);
    assert_eq!(v[0].resource, "Fn");
    assert!(
        v[0].to_string()
            .contains("fixture/Fn: PL001 async-function-dlq"),
        "{}",
        v[0]
    );
    assert!(
        v[0].to_string()
            .contains("fix: call `function.invoked_async"),
        "{}",
        v[0]
    );
}

#[test]
fn pl002_dlq_without_alarm() {
    let mut t = Template::default();
    t.add(
        "Dlq",
        CfnQueue {
            sqs_managed_sse_enabled: Some(true.into()),
            ..Default::default()
        },
    )
    .unwrap();
    t.add("Work", CfnQueue {
        sqs_managed_sse_enabled: Some(true.into()),
        redrive_policy: Some(json!({"deadLetterTargetArn": get_att("Dlq", "Arn").to_json(), "maxReceiveCount": 3})),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rules_hit(&t), ["PL002"]);
    // an alarm that watches it but notifies nobody is not enough
    t.add(
        "Alarm",
        CfnAlarm {
            dimensions: Some(vec![Dimension {
                name: Some("QueueName".into()),
                value: Some(get_att("Dlq", "QueueName").into()),
            }]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rules_hit(&t), ["PL002"]);
}

#[test]
fn pl003_wildcard_actions() {
    for action in ["*", "s3:*"] {
        let mut t = Template::default();
        role_with(
            &mut t,
            json!({"Effect": "Allow", "Action": [action], "Resource": "arn:aws:s3:::b"}),
        );
        assert_eq!(rules_hit(&t), ["PL003"], "{action}");
    }
}

#[test]
fn pl004_wildcard_resource_needs_a_reason_per_action() {
    let mut t = Template::default();
    role_with(
        &mut t,
        json!({"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"}),
    );
    assert_eq!(rules_hit(&t), ["PL004"]);
    t.resources.get_mut("Role").unwrap().metadata.insert(
        "WildcardResourceReasons".into(),
        json!([{"Actions": ["xray:PutTraceSegments"], "Reason": "no resource-level permissions"}]),
    );
    assert!(rules_hit(&t).is_empty());
}

#[test]
fn pl005_unencrypted_bucket_queue_and_topic() {
    let mut t = Template::default();
    t.add("Topic", CfnTopic::default()).unwrap();
    t.add(
        "Queue",
        CfnQueue {
            redrive_policy: Some(json!({})),
            ..Default::default()
        },
    )
    .unwrap();
    let v = findings(&t);
    assert!(v.iter().all(|v| v.rule == "PL005"));
    assert_eq!(
        v.iter().map(|v| v.resource.as_str()).collect::<Vec<_>>(),
        ["Queue", "Topic"]
    );
    let mut b = Template::default();
    b.add("Bucket", CfnBucket::default()).unwrap();
    assert!(rules_hit(&b).contains(&"PL005"));
}

#[test]
fn pl006_bucket_without_public_access_block() {
    let mut t = Template::default();
    t.add(
        "Bucket",
        CfnBucket {
            bucket_encryption: Some(Default::default()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rules_hit(&t), ["PL006"]);
}

#[test]
fn pl007_log_group_without_retention_and_function_without_log_group() {
    let mut t = Template::default();
    t.add("Logs", CfnLogGroup::default()).unwrap();
    t.add(
        "Fn",
        CfnFunction {
            architectures: Some(vec!["arm64".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    let v = findings(&t);
    assert!(v.iter().all(|v| v.rule == "PL007"), "{v:?}");
    assert_eq!(v.len(), 2);
}

#[test]
fn pl008_function_not_on_arm64() {
    let mut t = Template::default();
    good_function(&mut t, "Fn");
    t.resources.get_mut("Fn").unwrap().properties["Architectures"] = json!(["x86_64"]);
    assert_eq!(rules_hit(&t), ["PL008"]);
}

#[test]
fn pl009_template_size_limits() {
    let t = Template::default();
    assert!(findings_sized(&t, 60_000, true).is_empty());
    assert_eq!(findings_sized(&t, 60_000, false)[0].rule, "PL009");
    assert!(findings_sized(&t, 1_200_000, true)[0]
        .message
        .contains("1 MB"));
    let mut many = Template::default();
    for i in 0..501 {
        many.add(
            format!("L{i}"),
            CfnLogGroup {
                retention_in_days: Some(1.into()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    assert!(findings(&many)
        .iter()
        .any(|v| v.rule == "PL009" && v.message.contains("501 resources")));
}

#[test]
fn pl010_work_queue_without_dlq() {
    let mut t = Template::default();
    t.add(
        "Queue",
        CfnQueue {
            sqs_managed_sse_enabled: Some(true.into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rules_hit(&t), ["PL010"]);
}

#[test]
fn pl011_secret_value_in_function_environment_names_the_variable_not_the_value() {
    let mut t = Template::default();
    good_function(&mut t, "Fn");
    t.resources.get_mut("Fn").unwrap().properties["Environment"] = json!({"Variables": {
        "TOKEN_SECRET": "prod/app/token",
        "QUEUE_URL": {"Ref": "Queue"},
    }});
    assert!(rules_hit(&t).is_empty());
    t.resources.get_mut("Fn").unwrap().properties["Environment"]["Variables"]["DATABASE_URL"] =
        json!("postgres://app:hunter2@db.example.com/app");
    let ctx = Context {
        template: &t,
        rendered_bytes: 10,
        can_upload_template: true,
    };
    let report = run("fixture", &ctx, &[]);
    assert_eq!(report.violations.len(), 1);
    let v = &report.violations[0];
    assert_eq!((v.rule, v.resource.as_str()), ("PL011", "Fn"));
    assert!(v.message.contains("DATABASE_URL") && v.message.contains("a URL with a password"));
    assert!(!v.to_string().contains("hunter2"), "{v}");
}

#[test]
fn suppressions_silence_one_rule_on_one_resource_and_are_reported() {
    let mut t = Template::default();
    t.add("Topic", CfnTopic::default()).unwrap();
    t.add("Other", CfnTopic::default()).unwrap();
    let ctx = Context {
        template: &t,
        rendered_bytes: 10,
        can_upload_template: true,
    };
    let s = crate::constructs::Suppression {
        rule: "PL005".into(),
        resource: "Topic".into(),
        reason: "why".into(),
    };
    let report = run("fixture", &ctx, std::slice::from_ref(&s));
    assert_eq!(report.applied, [s]);
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].resource, "Other");
    let bogus = crate::constructs::Suppression {
        rule: "PL999".into(),
        resource: "Topic".into(),
        reason: "x".into(),
    };
    let report = run("fixture", &ctx, &[bogus]);
    assert!(report.violations.iter().any(|v| v.rule == "PL000"));
    // A scanner check we know is not ours to evaluate, and not unknown either; a typo is.
    let scanner = |rule: &str| crate::constructs::Suppression {
        rule: rule.into(),
        resource: "Topic".into(),
        reason: "x".into(),
    };
    let pl000 = |rule: &str| {
        run("fixture", &ctx, &[scanner(rule)])
            .violations
            .iter()
            .any(|v| v.rule == "PL000")
    };
    assert!(!pl000("CKV_AWS_26"));
    assert!(pl000("CKV_AWS_26X"));
}

#[test]
fn every_rule_has_a_fixture_above() {
    let ids: Vec<_> = rules().into_iter().map(|r| r.0).collect();
    assert_eq!(
        ids,
        [
            "PL001", "PL002", "PL003", "PL004", "PL005", "PL006", "PL007", "PL008", "PL009",
            "PL010", "PL011"
        ]
    );
}
