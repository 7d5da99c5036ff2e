//! Completing a state machine's `.waitForTaskToken` tasks from a function.
//!
//! Kept beside `state_machine.rs` rather than in it: it only adds a grant, and the state machine's
//! own role already gets `lambda:InvokeFunction` on a callback task's function through
//! `Binding::Invoke`.

use super::{grant, Grantee, StateMachine};
use crate::cfn::{arn_prefix, sub, Val};

impl StateMachine {
    /// The ARN built from the physical name. A function that completes this machine's tokens is
    /// usually also one it invokes, so the machine depends on the function; a `Ref` here would
    /// make the function's role depend on the machine, a cycle.
    pub fn arn_by_name(&self) -> Val<String> {
        sub(format!(
            "{}stateMachine:{}",
            arn_prefix("states"),
            self.physical_name
        ))
        .into()
    }

    /// Let `grantee` return this machine's task tokens: `SendTaskSuccess`, `SendTaskFailure` and
    /// `SendTaskHeartbeat`, on this state machine only, as aws-cdk's `grantTaskResponse` does
    /// (its authors found it honoured for Lambda callback tasks, aws/aws-cdk#8486). The service
    /// authorization reference lists no resource type for these actions; should AWS refuse the
    /// scoped statement, the fallback is `Statement::any_resource` with that reason.
    pub fn grant_task_response(&self, grantee: &dyn Grantee) {
        grant(
            grantee,
            &[
                "states:SendTaskFailure",
                "states:SendTaskHeartbeat",
                "states:SendTaskSuccess",
            ],
            vec![self.arn_by_name()],
        );
    }
}
