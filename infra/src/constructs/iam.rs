//! Least-privilege policy statements, accumulated per role by grants and rendered at synth.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::cfn::Val;

/// One `Allow` statement: exact actions on exact resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub actions: BTreeSet<String>,
    pub resources: Vec<Val<String>>,
    /// Required when `resources` is `*`: why AWS offers nothing narrower. Rendered into the
    /// role's metadata, where the `PL004` check reads it.
    pub wildcard_reason: Option<String>,
}

impl Statement {
    pub fn new(actions: &[&str], resources: Vec<Val<String>>) -> Self {
        Statement {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources,
            wildcard_reason: None,
        }
    }

    /// `*` resource, for actions AWS does not scope to resources. The reason is mandatory.
    pub fn any_resource(actions: &[&str], reason: &str) -> Self {
        Statement {
            wildcard_reason: Some(reason.into()),
            ..Statement::new(actions, vec!["*".into()])
        }
    }
}

/// The policy document for `statements`: statements on the same resources merged, actions and
/// statements sorted, so the output is stable.
pub fn policy_document(statements: &[Statement]) -> Value {
    let mut by_resources: BTreeMap<String, (Vec<Value>, BTreeSet<String>)> = BTreeMap::new();
    for s in statements {
        let resources: Vec<Value> = s.resources.iter().map(Val::to_json).collect();
        let key = Value::Array(resources.clone()).to_string();
        by_resources
            .entry(key)
            .or_insert_with(|| (resources, BTreeSet::new()))
            .1
            .extend(s.actions.iter().cloned());
    }
    let statements: Vec<Value> = by_resources
        .into_values()
        .map(|(resources, actions)| {
            let resource = if resources.len() == 1 {
                resources[0].clone()
            } else {
                Value::Array(resources)
            };
            json!({ "Effect": "Allow", "Action": actions, "Resource": resource })
        })
        .collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Trust policy letting one AWS service assume a role.
pub fn assume_role_policy(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_statements_on_the_same_resources() {
        let doc = policy_document(&[
            Statement::new(&["s3:GetObject"], vec!["arn:b/*".into()]),
            Statement::new(&["sqs:SendMessage"], vec!["arn:q".into()]),
            Statement::new(&["s3:PutObject", "s3:GetObject"], vec!["arn:b/*".into()]),
        ]);
        assert_eq!(
            doc["Statement"],
            json!([
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:b/*"},
                {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "arn:q"}
            ])
        );
    }
}
