//! SQS queue: SSE on, a DLQ with a redrive policy, and an alarm on the DLQ's depth.

use serde_json::json;

use super::{grant, pascal, some, Alarm, AlarmProps, Grantee, Stack};
use crate::cfn::sqs::queue::CfnQueue;
use crate::cfn::{get_att, r#ref, Val};

pub struct QueueProps {
    pub visibility_timeout_seconds: u32,
    /// Receives before a message moves to the DLQ.
    pub max_receive_count: u32,
}

#[derive(Clone)]
pub struct Queue {
    pub id: String,
    base: String,
}

const FOURTEEN_DAYS: u32 = 14 * 24 * 3600;

impl Queue {
    /// A work queue `name` with its DLQ `<name>-dlq`.
    pub fn new(stack: &Stack, name: &str, props: QueueProps) -> Queue {
        let base = pascal(name);
        let dlq = Queue::dead_letter(stack, &base, &format!("{name}-dlq"));
        let id = format!("{base}Queue");
        stack.add(
            &id,
            CfnQueue {
                queue_name: some(stack.physical_name(name)),
                sqs_managed_sse_enabled: some(true),
                visibility_timeout: some(props.visibility_timeout_seconds),
                redrive_policy: Some(json!({
                    "deadLetterTargetArn": dlq.arn().to_json(),
                    "maxReceiveCount": props.max_receive_count,
                })),
                ..Default::default()
            },
        );
        Queue { id, base }
    }

    /// A dead-letter queue `<base>Dlq`: 14 days' retention and an alarm as soon as it holds a message.
    pub fn dead_letter(stack: &Stack, base: &str, name: &str) -> Queue {
        let id = format!("{base}Dlq");
        let physical = stack.physical_name(name);
        stack.add(
            &id,
            CfnQueue {
                queue_name: some(physical.clone()),
                sqs_managed_sse_enabled: some(true),
                message_retention_period: some(FOURTEEN_DAYS),
                ..Default::default()
            },
        );
        Alarm::new(
            stack,
            &format!("{id}Alarm"),
            AlarmProps {
                description: format!("{physical} holds failed messages"),
                namespace: "AWS/SQS",
                metric: "ApproximateNumberOfMessagesVisible",
                dimensions: vec![("QueueName", physical.clone().into())],
                statistic: "Maximum",
                threshold: 1.0,
                periods: 1,
                period_seconds: 300,
            },
        );
        Queue {
            id,
            base: format!("{base}Dlq"),
        }
    }

    pub(crate) fn base_id(&self) -> &str {
        &self.base
    }

    pub fn arn(&self) -> Val<String> {
        get_att(&self.id, "Arn").into()
    }

    pub fn url(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    pub fn grant_send(&self, grantee: &dyn Grantee) {
        grant(grantee, &["sqs:SendMessage"], vec![self.arn()]);
    }

    pub fn grant_consume(&self, grantee: &dyn Grantee) {
        grant(
            grantee,
            &[
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            vec![self.arn()],
        );
    }
}
