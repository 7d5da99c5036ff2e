//! SQS queue: encrypted with the AWS-managed `aws/sqs` KMS key, a DLQ with a redrive policy, and
//! an alarm on the DLQ's depth.

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

/// The AWS-managed SQS key: an explicit KMS key (what scanners ask for, and CloudTrail records
/// its use) that every principal of the account may use through SQS, so senders and consumers
/// need no KMS grants and there is no key to pay for or rotate.
const SQS_MANAGED_KEY: &str = "alias/aws/sqs";

/// Who writes to a dead-letter queue, which decides the encryption it can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlqWriter {
    /// SQS redrive or a Lambda on-failure destination (sent with the function's role).
    Account,
    /// EventBridge, a service principal: it cannot use the AWS-managed `aws/sqs` key (only a
    /// customer-managed one), so the queue keeps SQS-managed SSE.
    EventBridge,
}

impl Queue {
    /// A work queue `name` with its DLQ `<name>-dlq`.
    pub fn new(stack: &Stack, name: &str, props: QueueProps) -> Queue {
        let base = pascal(name);
        let dlq = Queue::dead_letter(stack, &base, &format!("{name}-dlq"), DlqWriter::Account);
        let id = format!("{base}Queue");
        stack.add(
            &id,
            CfnQueue {
                queue_name: some(stack.physical_name(name)),
                kms_master_key_id: Some(json!(SQS_MANAGED_KEY)),
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
    pub fn dead_letter(stack: &Stack, base: &str, name: &str, writer: DlqWriter) -> Queue {
        let id = format!("{base}Dlq");
        let physical = stack.physical_name(name);
        let account = writer == DlqWriter::Account;
        stack.add(
            &id,
            CfnQueue {
                queue_name: some(physical.clone()),
                kms_master_key_id: account.then(|| json!(SQS_MANAGED_KEY)),
                sqs_managed_sse_enabled: (!account).then(|| true.into()),
                message_retention_period: some(FOURTEEN_DAYS),
                ..Default::default()
            },
        );
        if !account {
            stack.suppress(
                "CKV_AWS_27",
                &id,
                "encrypted with SQS-managed SSE: EventBridge cannot send to a queue under the \
                 AWS-managed aws/sqs key, and the undeliverable schedule events it holds carry only \
                 the schedule's fixed input",
            );
        }
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
