//! Callback tasks (`.waitForTaskToken`): the state hands a task token to a worker and waits until
//! someone calls `SendTaskSuccess`/`SendTaskFailure` with it, or the heartbeat or timeout runs out.
//!
//! A token the worker never receives can never be returned, so validation checks that the task's
//! Parameters pass `$$.Task.Token` where the worker reads it (a Lambda's `Payload`), and that
//! the wait is bounded: without `TimeoutSeconds` Step Functions waits a year.

use serde_json::{Map, Value};

use crate::asl::{Io, Task, Transition};
use crate::build::lambda_service_retry;

/// The context path of the task token.
pub const TASK_TOKEN: &str = "$$.Task.Token";

/// The resource of a Lambda invoke that waits for its token.
pub const LAMBDA_INVOKE_WAIT: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

/// A Lambda invoke that waits for a task token; [`Callback::task`] builds the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// The `${Placeholder}` the function's ARN is substituted for (bound with `Binding::Invoke`,
    /// which grants the state machine `lambda:InvokeFunction` on it). Required.
    pub function: String,
    /// The payload besides the token, as Parameters fields (`{"request.$": "$.request"}`).
    /// Default: empty, the function receives only the token.
    pub payload: Map<String, Value>,
    /// The payload field that carries the token. Default: `task_token`.
    pub token_field: String,
    /// Fail with `States.HeartbeatTimeout` when no `SendTaskHeartbeat` arrives for this long.
    /// Default: none, no heartbeat is required. Range: 1 to `timeout_seconds - 1`. Set it only
    /// when a worker does send heartbeats while it runs; it then bounds how long a dead worker
    /// is waited for.
    pub heartbeat_seconds: Option<u32>,
    /// Fail with `States.Timeout` when the token is not returned within this time. Required (a
    /// callback without it waits a year). Range: 1 to 31,536,000.
    pub timeout_seconds: u32,
}

impl Callback {
    /// A callback to the function bound to `${function}`, token in `task_token`, waiting at most
    /// `timeout_seconds`.
    pub fn lambda(function: &str, timeout_seconds: u32) -> Callback {
        Callback {
            function: function.into(),
            payload: Map::new(),
            token_field: "task_token".into(),
            heartbeat_seconds: None,
            timeout_seconds,
        }
    }

    /// Add a payload field (`"request.$"`, `"$.request"`).
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Callback {
        self.payload.insert(field.into(), value.into());
        self
    }

    pub fn heartbeat(mut self, seconds: u32) -> Callback {
        self.heartbeat_seconds = Some(seconds);
        self
    }

    /// The Task state. Its result is the output of `SendTaskSuccess` (not wrapped in `Payload`
    /// as a plain invoke's is); transient Lambda service errors of the invoke itself are retried.
    pub fn task(self, transition: Transition) -> Task {
        let mut payload = self.payload;
        payload.insert(
            format!("{}.$", self.token_field),
            Value::String(TASK_TOKEN.into()),
        );
        let mut parameters = Map::new();
        parameters.insert(
            "FunctionName".into(),
            Value::String(format!("${{{}}}", self.function)),
        );
        parameters.insert("Payload".into(), Value::Object(payload));
        Task {
            resource: LAMBDA_INVOKE_WAIT.into(),
            io: Io {
                parameters: Some(Value::Object(parameters)),
                ..Io::default()
            },
            transition,
            retry: vec![lambda_service_retry()],
            catch: Vec::new(),
            timeout_seconds: Some(self.timeout_seconds),
            heartbeat_seconds: self.heartbeat_seconds,
        }
    }
}

/// Where Parameters pass the token: the paths (`Payload.task_token.$`) of fields whose key ends
/// in `.$` (so the value is evaluated) and whose value reads `$$.Task.Token`, directly or inside
/// an intrinsic such as `States.Format`.
pub(crate) fn token_paths(parameters: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(parameters, "", &mut found, &mut Vec::new());
    found
}

/// Fields whose value is the literal text `$$.Task.Token` because the key lacks `.$`.
pub(crate) fn literal_token_paths(parameters: &Value) -> Vec<String> {
    let mut literal = Vec::new();
    walk(parameters, "", &mut Vec::new(), &mut literal);
    literal
}

fn walk(v: &Value, path: &str, found: &mut Vec<String>, literal: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match v {
                    Value::String(s) if s.contains(TASK_TOKEN) => {
                        if k.ends_with(".$") {
                            found.push(here);
                        } else {
                            literal.push(here);
                        }
                    }
                    _ => walk(v, &here, found, literal),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), found, literal);
            }
        }
        _ => {}
    }
}
