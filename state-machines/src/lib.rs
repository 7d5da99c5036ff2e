//! Typed Amazon States Language. A [`Definition`] can only be obtained through [`Definition::new`],
//! which validates it, so an invalid machine never reaches a template. Task resources are
//! `${Placeholder}`s that `infra` fills through `DefinitionSubstitutions`.

pub mod asl;
pub mod callback;
pub mod machines;
mod validate;

use std::collections::BTreeSet;

pub use asl::*;
pub use callback::Callback;
pub use validate::AslError;

/// A validated state machine definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: String,
    pub comment: String,
    pub graph: Graph,
    pub timeout_seconds: Option<u32>,
}

/// All the problems found in one definition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("state machine `{name}` is invalid:\n  {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
pub struct InvalidDefinition {
    pub name: String,
    pub errors: Vec<AslError>,
}

impl Definition {
    pub fn new(
        name: &str,
        comment: &str,
        graph: Graph,
        timeout_seconds: Option<u32>,
    ) -> Result<Definition, InvalidDefinition> {
        let errors = validate::validate(&graph);
        if !errors.is_empty() {
            return Err(InvalidDefinition {
                name: name.into(),
                errors,
            });
        }
        Ok(Definition {
            name: name.into(),
            comment: comment.into(),
            graph,
            timeout_seconds,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.graph).expect("ASL serializes");
        v["Comment"] = self.comment.clone().into();
        if let Some(t) = self.timeout_seconds {
            v["TimeoutSeconds"] = t.into();
        }
        v
    }

    /// The `${Name}` placeholders the definition expects to be substituted.
    pub fn placeholders(&self) -> BTreeSet<String> {
        let text = self.to_json().to_string();
        let mut found = BTreeSet::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            rest = &rest[start + 2..];
            if let Some(end) = rest.find('}') {
                found.insert(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
        found
    }
}

/// Builders that keep the service machines short.
pub mod build {
    use serde_json::{json, Value};

    use crate::asl::*;

    pub fn next(n: &str) -> Transition {
        Transition::Next(n.into())
    }

    /// Invoke the Lambda function whose ARN is substituted for `${placeholder}`, passing the state
    /// input as the payload and keeping only the function's result.
    pub fn invoke(placeholder: &str, transition: Transition) -> Task {
        Task {
            resource: "arn:aws:states:::lambda:invoke".into(),
            io: Io {
                parameters: Some(json!({
                    "FunctionName": format!("${{{placeholder}}}"),
                    "Payload.$": "$"
                })),
                output_path: Some("$.Payload".into()),
                ..Io::default()
            },
            transition,
            retry: vec![lambda_service_retry()],
            catch: Vec::new(),
            timeout_seconds: None,
            heartbeat_seconds: None,
        }
    }

    /// Retry the transient Lambda service errors, with backoff.
    pub fn lambda_service_retry() -> Retrier {
        Retrier::backoff(
            &[
                "Lambda.ClientExecutionTimeoutException",
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ],
            2,
            6,
        )
    }

    pub fn catch_all(next: &str, result_path: &str) -> Catcher {
        Catcher {
            error_equals: vec!["States.ALL".into()],
            next: next.into(),
            result_path: Some(result_path.into()),
        }
    }

    pub fn pass(parameters: Value, transition: Transition) -> State {
        State::Pass(Pass {
            result: None,
            io: Io {
                parameters: Some(parameters),
                ..Io::default()
            },
            transition,
        })
    }
}
