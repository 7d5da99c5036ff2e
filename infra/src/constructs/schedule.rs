//! Scheduled invocation through an EventBridge rule, with a DLQ (and its alarm) for events the
//! rule could not deliver, and retries.

use serde_json::{json, Value};

use super::iam::assume_role_policy;
use super::{pascal, some, AsyncOptions, Function, Queue, Stack, StateMachine};
use crate::cfn::events::rule::{CfnRule, DeadLetterConfig, RetryPolicy, Target};
use crate::cfn::iam::role::CfnRole;
use crate::cfn::lambda::permission::CfnPermission;
use crate::cfn::sqs::queue_policy::CfnQueuePolicy;
use crate::cfn::{get_att, r#ref};
use crate::stage::ScheduleExpr;

pub enum ScheduleTarget<'a> {
    Function(&'a Function),
    StateMachine(&'a StateMachine),
}

pub struct Schedule {
    /// Logical id of the EventBridge rule.
    pub id: String,
}

impl Schedule {
    pub fn new(
        stack: &Stack,
        name: &str,
        expr: &ScheduleExpr,
        target: ScheduleTarget,
        input: Value,
    ) -> Schedule {
        let base = pascal(name);
        let rule_id = format!("{base}Schedule");
        let dlq = Queue::dead_letter(
            stack,
            &format!("{base}Schedule"),
            &format!("{name}-schedule-dlq"),
            super::DlqWriter::EventBridge,
        );
        let (arn, role_arn) = match &target {
            ScheduleTarget::Function(f) => {
                // EventBridge invokes Lambda asynchronously: failures need the function's DLQ too.
                f.invoked_async(AsyncOptions::default());
                stack.add(
                    &format!("{rule_id}Permission"),
                    CfnPermission {
                        action: some("lambda:InvokeFunction"),
                        function_name: some(r#ref(&f.id)),
                        principal: some("events.amazonaws.com"),
                        source_arn: some(get_att(&rule_id, "Arn")),
                        ..Default::default()
                    },
                );
                (f.arn(), None)
            }
            ScheduleTarget::StateMachine(sm) => {
                let role_id = format!("{rule_id}Role");
                stack.add(
                    &role_id,
                    CfnRole {
                        assume_role_policy_document: Some(assume_role_policy(
                            "events.amazonaws.com",
                        )),
                        ..Default::default()
                    },
                );
                sm.grant_start(&RoleGrantee {
                    stack: stack.clone(),
                    role_id: role_id.clone(),
                });
                (sm.arn(), Some(get_att(&role_id, "Arn").into()))
            }
        };
        stack.add(
            &rule_id,
            CfnRule {
                description: some(format!("Runs {name} on {}", expr.0)),
                schedule_expression: some(expr.0.clone()),
                state: some("ENABLED"),
                targets: Some(vec![Target {
                    id: some(base.clone()),
                    arn: some(arn),
                    role_arn,
                    input: some(input.to_string()),
                    dead_letter_config: Some(DeadLetterConfig {
                        arn: some(dlq.arn()),
                    }),
                    retry_policy: Some(RetryPolicy {
                        maximum_retry_attempts: some(3),
                        maximum_event_age_in_seconds: some(3600),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        );
        stack.add(
            &format!("{}Policy", dlq.id),
            CfnQueuePolicy {
                queues: Some(vec![dlq.url()]),
                policy_document: Some(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": "events.amazonaws.com" },
                        "Action": "sqs:SendMessage",
                        "Resource": dlq.arn().to_json(),
                        "Condition": { "ArnEquals": { "aws:SourceArn": get_att(&rule_id, "Arn").to_json() } }
                    }]
                })),
                ..Default::default()
            },
        );
        Schedule { id: rule_id }
    }
}

/// A bare role as a grantee (the rule's role for starting a state machine).
struct RoleGrantee {
    stack: Stack,
    role_id: String,
}

impl super::Grantee for RoleGrantee {
    fn stack(&self) -> &Stack {
        &self.stack
    }
    fn role_id(&self) -> String {
        self.role_id.clone()
    }
}
