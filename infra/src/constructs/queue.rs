//! SQS queue: encrypted (by default with the AWS-managed `aws/sqs` KMS key), a DLQ with a
//! redrive policy, and an alarm on the DLQ's depth.

use std::time::Duration;

use serde_json::json;

use super::duration::{hours, minutes, seconds, whole};
use super::{grant, pascal, some, Alarm, AlarmProps, Grantee, Key, Stack};
use crate::cfn::sqs::queue::CfnQueue;
use crate::cfn::{get_att, r#ref, Val};

/// A work queue's props: `QueueProps { visibility_timeout: seconds(60), ..Default::default() }`.
pub struct QueueProps {
    /// How long a received message stays hidden from other consumers. Default: 30 s (SQS's).
    /// Range: 0 to 12 hours, whole seconds; AWS asks for six times the consumer function's
    /// timeout.
    pub visibility_timeout: Duration,
    /// Where messages go after failing: the queue's own DLQ by default. Every work queue has
    /// one, so a message that keeps failing is kept and alarmed, never dropped.
    pub dead_letter: DeadLetter,
    /// How the work queue is encrypted at rest. Default: [`QueueEncryption::AwsManagedKey`].
    /// Its own DLQ keeps the AWS-managed key: only SQS's redrive writes to it.
    pub encryption: QueueEncryption,
}

impl Default for QueueProps {
    fn default() -> Self {
        QueueProps {
            visibility_timeout: seconds(30),
            dead_letter: DeadLetter::default(),
            encryption: QueueEncryption::default(),
        }
    }
}

/// A work queue's dead-letter queue and after how many receives a message moves there (CDK's
/// `deadLetterQueue: { queue, maxReceiveCount }`).
pub enum DeadLetter {
    /// A DLQ of its own, `<name>-dlq`: 14 days' retention, alarmed from its first message.
    Own {
        /// Receives before a message moves to the DLQ. Default: 3. Range: 1 to 1,000.
        max_receive_count: u32,
    },
    /// A dead-letter queue declared elsewhere (e.g. one shared by several queues).
    Queue {
        queue: Queue,
        /// Receives before a message moves to the DLQ. Range: 1 to 1,000.
        max_receive_count: u32,
    },
}

impl Default for DeadLetter {
    fn default() -> Self {
        DeadLetter::Own {
            max_receive_count: 3,
        }
    }
}

impl DeadLetter {
    fn max_receive_count(&self) -> u32 {
        match self {
            DeadLetter::Own { max_receive_count }
            | DeadLetter::Queue {
                max_receive_count, ..
            } => *max_receive_count,
        }
    }
}

/// Encryption at rest of a queue (every choice passes PL005).
#[derive(Clone, Default)]
pub enum QueueEncryption {
    /// The AWS-managed `alias/aws/sqs` key: every principal of the account may use it through
    /// SQS, so senders and consumers need no KMS grants and there is no key to pay for. AWS
    /// service principals (S3 notifications, EventBridge) cannot send to such a queue.
    #[default]
    AwsManagedKey,
    /// SQS-managed SSE (SSE-SQS): keys SQS owns, usable by any sender SQS admits, service
    /// principals included. No KMS grants, no cost; CloudTrail records no key use, and checkov
    /// (CKV_AWS_27) asks for a KMS key, so the construct records why with a suppression.
    SqsManaged,
    /// A customer-managed [`Key`] (1 USD a month): its policy can admit a service principal,
    /// which [`super::Bucket::notify_queue`] does for S3. `grant_send` and `grant_consume` also
    /// grant the key's use.
    Key(Key),
}

#[derive(Clone)]
pub struct Queue {
    pub id: String,
    base: String,
    encryption: QueueEncryption,
    /// A work queue's dead-letter queue; `None` for a dead-letter queue itself.
    dlq: Option<Box<Queue>>,
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
        let max_receive_count = props.dead_letter.max_receive_count();
        let dlq = match props.dead_letter {
            DeadLetter::Own { .. } => {
                Queue::dead_letter(stack, &base, &format!("{name}-dlq"), DlqWriter::Account)
            }
            DeadLetter::Queue { queue, .. } => queue,
        };
        let id = format!("{base}Queue");
        let visibility = whole(props.visibility_timeout, seconds(1))
            .filter(|s| Duration::from_secs(u64::from(*s)) <= hours(12));
        if visibility.is_none() {
            stack.error(format!(
                "{id}: visibility_timeout {:?} is not whole seconds up to SQS's 12 hours",
                props.visibility_timeout
            ));
        }
        if !(1..=1_000).contains(&max_receive_count) {
            stack.error(format!(
                "{id}: max_receive_count {max_receive_count} is outside SQS's 1 to 1000"
            ));
        }
        let (kms_master_key_id, sqs_managed_sse_enabled) = match &props.encryption {
            QueueEncryption::AwsManagedKey => (Some(json!(SQS_MANAGED_KEY)), None),
            QueueEncryption::SqsManaged => (None, some(true)),
            QueueEncryption::Key(key) => (Some(key.arn().to_json()), None),
        };
        stack.add(
            &id,
            CfnQueue {
                queue_name: some(stack.physical_name(name)),
                kms_master_key_id,
                sqs_managed_sse_enabled,
                visibility_timeout: some(visibility.unwrap_or(30)),
                redrive_policy: Some(json!({
                    "deadLetterTargetArn": dlq.arn().to_json(),
                    "maxReceiveCount": max_receive_count,
                })),
                ..Default::default()
            },
        );
        if matches!(props.encryption, QueueEncryption::SqsManaged) {
            stack.suppress(
                "CKV_AWS_27",
                &id,
                "encrypted with SQS-managed SSE, chosen in QueueProps so that an AWS service \
                 principal can send to it without a customer-managed key",
            );
        }
        Queue {
            id,
            base,
            encryption: props.encryption,
            dlq: Some(Box::new(dlq)),
        }
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
                period: minutes(5),
            },
        );
        Queue {
            id,
            base: format!("{base}Dlq"),
            encryption: if account {
                QueueEncryption::AwsManagedKey
            } else {
                QueueEncryption::SqsManaged
            },
            dlq: None,
        }
    }

    /// A work queue's dead-letter queue (its own or the one given in its props); `None` for a
    /// dead-letter queue.
    pub fn dead_letter_queue(&self) -> Option<&Queue> {
        self.dlq.as_deref()
    }

    pub(crate) fn base_id(&self) -> &str {
        &self.base
    }

    /// How the queue is encrypted: `notify_queue` refuses the AWS-managed key and admits S3 to a
    /// customer key.
    pub fn encryption(&self) -> &QueueEncryption {
        &self.encryption
    }

    pub fn arn(&self) -> Val<String> {
        get_att(&self.id, "Arn").into()
    }

    pub fn url(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    /// Let `grantee` send; under a customer key also encrypt with it (SQS asks the sender's
    /// credentials for a data key and decrypts it to encrypt the message).
    pub fn grant_send(&self, grantee: &dyn Grantee) {
        grant(grantee, &["sqs:SendMessage"], vec![self.arn()]);
        if let QueueEncryption::Key(key) = &self.encryption {
            grant(
                grantee,
                &["kms:Decrypt", "kms:GenerateDataKey"],
                vec![key.arn()],
            );
        }
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
        if let QueueEncryption::Key(key) = &self.encryption {
            key.grant_decrypt(grantee);
        }
    }
}
