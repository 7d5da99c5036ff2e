//! Step Functions state machine from a validated `state_machines::Definition`: its own role granted
//! exactly the tasks the definition names, error-level logging without execution data, alarms
//! on failed, timed-out and aborted executions.

use std::collections::BTreeMap;

use state_machines::Definition;

use super::iam::{assume_role_policy, Statement};
use super::{grant, pascal, some, Alarm, AlarmProps, Function, Grantee, Queue, Stack, Topic};
use crate::cfn::iam::role::CfnRole;
use crate::cfn::logs::log_group::CfnLogGroup;
use crate::cfn::step_functions::state_machine::{
    CfnStateMachine, CloudWatchLogsLogGroup, LogDestination, LoggingConfiguration,
    TracingConfiguration,
};
use crate::cfn::{get_att, r#ref, Val};

/// What a `${Placeholder}` in the definition stands for; each binding also grants the one action
/// the state machine needs on it.
pub enum Binding<'a> {
    /// `lambda:InvokeFunction`; substitutes the function ARN.
    Invoke(&'a Function),
    /// `sns:Publish`; substitutes the topic ARN.
    Publish(&'a Topic),
    /// `sqs:SendMessage`; substitutes the queue URL.
    SendMessage(&'a Queue),
}

#[derive(Clone)]
pub struct StateMachine {
    stack: Stack,
    pub id: String,
    pub physical_name: String,
}

impl Grantee for StateMachine {
    fn stack(&self) -> &Stack {
        &self.stack
    }
    fn role_id(&self) -> String {
        format!("{}Role", self.id)
    }
}

impl StateMachine {
    pub fn new(
        stack: &Stack,
        definition: &Definition,
        bindings: &[(&str, Binding)],
    ) -> StateMachine {
        let short = definition
            .name
            .strip_prefix(&format!("{}-", stack.service()))
            .unwrap_or(&definition.name)
            .to_string();
        let id = format!("{}StateMachine", pascal(&short));
        let physical_name = stack.physical_name(&short);
        let sm = StateMachine {
            stack: stack.clone(),
            id: id.clone(),
            physical_name: physical_name.clone(),
        };
        let role_id = sm.role_id();
        stack.add(
            &role_id,
            CfnRole {
                assume_role_policy_document: Some(assume_role_policy("states.amazonaws.com")),
                description: some(format!("Execution role of {physical_name}")),
                ..Default::default()
            },
        );

        let wanted = definition.placeholders();
        let mut substitutions: BTreeMap<String, Val<String>> = BTreeMap::new();
        for (name, binding) in bindings {
            if !wanted.contains(*name) {
                stack.error(format!(
                    "{}: binding `{name}` matches no `${{{name}}}` in the definition",
                    definition.name
                ));
            }
            let value = match binding {
                Binding::Invoke(f) => {
                    f.grant_invoke(&sm);
                    f.arn()
                }
                Binding::Publish(t) => {
                    t.grant_publish(&sm);
                    t.arn()
                }
                Binding::SendMessage(q) => {
                    q.grant_send(&sm);
                    q.url()
                }
            };
            substitutions.insert(name.to_string(), value);
        }
        for name in wanted.iter().filter(|w| !substitutions.contains_key(*w)) {
            stack.error(format!(
                "{}: `${{{name}}}` in the definition has no binding",
                definition.name
            ));
        }

        let stage = stack.stage();
        let log_group_id = format!("{id}LogGroup");
        stack.add(
            &log_group_id,
            CfnLogGroup {
                log_group_name: some(format!("/aws/vendedlogs/states/{physical_name}")),
                retention_in_days: some(stage.log_retention_days.0),
                ..Default::default()
            },
        );
        stack.suppress(
            "CKV_AWS_158",
            &log_group_id,
            super::function::LOG_GROUP_KMS_REASON,
        );
        stack.grant(
            &role_id,
            Statement::any_resource(
                &[
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:DescribeLogGroups",
                    "logs:DescribeResourcePolicies",
                    "logs:GetLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:UpdateLogDelivery",
                ],
                "CloudWatch Logs delivery APIs used by Step Functions logging have no resource-level permissions",
            ),
        );
        if stage.tracing {
            stack.grant(
                &role_id,
                Statement::any_resource(
                    &[
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                        "xray:PutTelemetryRecords",
                        "xray:PutTraceSegments",
                    ],
                    "X-Ray trace submission has no resource-level permissions",
                ),
            );
        }
        let definition_json = definition.to_json();
        stack.add(
            &id,
            CfnStateMachine {
                state_machine_name: some(physical_name.clone()),
                state_machine_type: some("STANDARD"),
                role_arn: some(get_att(&role_id, "Arn")),
                definition_string: some(definition_json.to_string()),
                definition_substitutions: Some(
                    substitutions
                        .into_iter()
                        .map(|(k, v)| (k, v.to_json()))
                        .collect(),
                ),
                logging_configuration: Some(LoggingConfiguration {
                    level: some("ERROR"),
                    // Execution data can hold table names, tokens and payloads: keep it out of logs.
                    include_execution_data: some(false),
                    destinations: Some(vec![LogDestination {
                        cloud_watch_logs_log_group: Some(CloudWatchLogsLogGroup {
                            log_group_arn: some(get_att(&log_group_id, "Arn")),
                        }),
                    }]),
                }),
                tracing_configuration: Some(TracingConfiguration {
                    enabled: some(stage.tracing),
                }),
                ..Default::default()
            },
        );
        stack.register_state_machine(super::StateMachineInfo {
            name: definition.name.clone(),
            definition: definition_json,
        });
        // a timed-out or aborted execution never reaches its own reporting states
        for (kind, metric, what) in [
            ("Failed", "ExecutionsFailed", "failed"),
            ("TimedOut", "ExecutionsTimedOut", "timed out"),
            ("Aborted", "ExecutionsAborted", "were aborted"),
        ] {
            Alarm::new(
                stack,
                &format!("{id}{kind}Alarm"),
                AlarmProps {
                    description: format!("{physical_name} executions {what}"),
                    namespace: "AWS/States",
                    metric,
                    dimensions: vec![("StateMachineArn", r#ref(&id).into())],
                    statistic: "Sum",
                    threshold: 1.0,
                    periods: 1,
                    period: super::duration::minutes(5),
                },
            );
        }
        stack.add_output(
            &format!("{id}Arn"),
            r#ref(&id).into(),
            &format!("ARN of {physical_name}"),
        );
        sm
    }

    pub fn arn(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    pub fn grant_start(&self, grantee: &dyn Grantee) {
        grant(grantee, &["states:StartExecution"], vec![self.arn()]);
    }
}
