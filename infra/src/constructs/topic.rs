//! SNS topic, encrypted with the AWS-managed key or a customer [`Key`], with an optional e-mail
//! subscription.

use super::{grant, pascal, some, Grantee, Key, Stack};
use crate::cfn::sns::subscription::CfnSubscription;
use crate::cfn::sns::topic::CfnTopic;
use crate::cfn::{r#ref, Val};

/// The AWS-managed SNS key: no policy to write and nothing to pay, but no AWS service principal
/// (CloudWatch, EventBridge, S3) may publish to a topic under it.
const SNS_MANAGED_KEY: &str = "alias/aws/sns";

/// A topic's props. `Topic::new(stack, name, email)` is `with_props` with only the e-mail.
#[derive(Clone, Default)]
pub struct TopicProps {
    /// Subscribe this address (the owner confirms by e-mail). Default: none.
    pub email: Option<String>,
    /// Encrypt with this customer-managed key, whose policy must admit every AWS service that
    /// publishes (`key.allow_service("cloudwatch.amazonaws.com", ..)` for alarms). Default: none,
    /// the AWS-managed `alias/aws/sns` key, which only principals of the account can use.
    pub key: Option<Key>,
}

#[derive(Clone)]
pub struct Topic {
    pub id: String,
    key: Option<Key>,
}

impl Topic {
    pub fn new(stack: &Stack, name: &str, email: Option<&str>) -> Topic {
        Topic::with_props(
            stack,
            name,
            TopicProps {
                email: email.map(Into::into),
                ..TopicProps::default()
            },
        )
    }

    pub fn with_props(stack: &Stack, name: &str, props: TopicProps) -> Topic {
        let id = format!("{}Topic", pascal(name));
        let key = match &props.key {
            Some(key) => key.arn().to_json(),
            None => SNS_MANAGED_KEY.into(),
        };
        stack.add(
            &id,
            CfnTopic {
                topic_name: some(stack.physical_name(&name.to_lowercase())),
                kms_master_key_id: Some(key),
                ..Default::default()
            },
        );
        if let Some(email) = props.email {
            stack.add(
                &format!("{id}EmailSubscription"),
                CfnSubscription {
                    topic_arn: some(r#ref(&id)),
                    protocol: some("email"),
                    endpoint: some(email),
                    ..Default::default()
                },
            );
        }
        Topic { id, key: props.key }
    }

    pub fn arn(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    /// Let `grantee` publish; under a customer key also encrypt with it.
    pub fn grant_publish(&self, grantee: &dyn Grantee) {
        grant(grantee, &["sns:Publish"], vec![self.arn()]);
        if let Some(key) = &self.key {
            grant(
                grantee,
                &["kms:Decrypt", "kms:GenerateDataKey"],
                vec![key.arn()],
            );
        }
    }
}
