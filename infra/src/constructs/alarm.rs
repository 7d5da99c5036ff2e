//! CloudWatch alarms, all sent to the stage's alarm topic.

use std::time::Duration;

use super::duration::{days, seconds, whole};
use super::{Key, KeyProps, Stack, Topic, TopicProps};
use crate::cfn::cloud_watch::alarm::{CfnAlarm, Dimension};
use crate::cfn::Val;

pub struct AlarmProps {
    pub description: String,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimensions: Vec<(&'static str, Val<String>)>,
    pub statistic: &'static str,
    /// Alarm when the statistic is at or above this.
    pub threshold: f64,
    pub periods: u32,
    /// The length of one evaluation period: 10 s, 30 s or a whole number of minutes
    /// (CloudWatch's choices).
    pub period: Duration,
}

pub struct Alarm {
    pub id: String,
}

impl Alarm {
    pub fn new(stack: &Stack, id: &str, props: AlarmProps) -> Alarm {
        let topic = alarm_topic(stack);
        let period = whole(props.period, seconds(1))
            .filter(|s| [10, 30].contains(s) || (*s >= 60 && s % 60 == 0));
        if period.is_none() {
            stack.error(format!(
                "{id}: period {:?} is not 10 s, 30 s or a whole number of minutes",
                props.period
            ));
        }
        stack.add(
            id,
            CfnAlarm {
                alarm_description: Some(props.description.into()),
                namespace: Some(props.namespace.into()),
                metric_name: Some(props.metric.into()),
                dimensions: Some(
                    props
                        .dimensions
                        .into_iter()
                        .map(|(name, value)| Dimension {
                            name: Some(name.into()),
                            value: Some(value),
                        })
                        .collect(),
                ),
                statistic: Some(props.statistic.into()),
                threshold: Some(props.threshold.into()),
                comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
                evaluation_periods: Some(props.periods.into()),
                period: Some(period.unwrap_or(60).into()),
                treat_missing_data: Some("notBreaching".into()),
                alarm_actions: Some(vec![topic.clone()]),
                ok_actions: Some(vec![topic]),
                ..Default::default()
            },
        );
        Alarm { id: id.into() }
    }
}

/// The stage's alarm topic: an existing one by ARN, or one this stack creates (with the stage's
/// e-mail subscription) on first use.
pub fn alarm_topic(stack: &Stack) -> Val<String> {
    if let Some(t) = stack.0.borrow().alarm_topic.clone() {
        return t;
    }
    let stage = stack.stage();
    let topic = match &stage.alarms.topic_arn {
        Some(arn) => Val::from(arn.as_str()),
        None => {
            // CloudWatch publishes as its service principal, which the AWS-managed SNS key's
            // policy does not admit, so the topic gets a key of its own that does. It protects
            // only alarm messages in flight, so it goes (after 7 days) with the stack.
            // Not `alarms`: a service may well name a key of its own that.
            let key = Key::new(
                stack,
                "alarm-topic",
                KeyProps {
                    description: format!("{} alarm topic", stack.name()),
                    pending_window: days(7),
                    retain: false,
                },
            );
            key.allow_service(
                "cloudwatch.amazonaws.com",
                &["kms:Decrypt", "kms:GenerateDataKey"],
            );
            Topic::with_props(
                stack,
                "Alarms",
                TopicProps {
                    email: stage.alarms.email.clone(),
                    key: Some(key),
                },
            )
            .arn()
        }
    };
    stack.0.borrow_mut().alarm_topic = Some(topic.clone());
    topic
}
