//! SNS topic, encrypted with the AWS-managed key, with an optional e-mail subscription.

use super::{grant, pascal, some, Grantee, Stack};
use crate::cfn::sns::subscription::CfnSubscription;
use crate::cfn::sns::topic::CfnTopic;
use crate::cfn::{r#ref, Val};

#[derive(Clone)]
pub struct Topic {
    pub id: String,
}

impl Topic {
    pub fn new(stack: &Stack, name: &str, email: Option<&str>) -> Topic {
        let id = format!("{}Topic", pascal(name));
        let alarm = name == "Alarms";
        stack.add(
            &id,
            CfnTopic {
                topic_name: some(stack.physical_name(&name.to_lowercase())),
                // The alarm topic stays unencrypted: see the suppression in `alarm_topic`.
                kms_master_key_id: (!alarm).then(|| "alias/aws/sns".into()),
                ..Default::default()
            },
        );
        if let Some(email) = email {
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
        Topic { id }
    }

    pub fn arn(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    pub fn grant_publish(&self, grantee: &dyn Grantee) {
        grant(grantee, &["sns:Publish"], vec![self.arn()]);
    }
}
