//! Rules on IAM: no wildcard actions, no wildcard resources without a written reason.

use serde_json::Value;

use super::{Context, Finding, Rule};

pub(crate) const WILDCARD_ACTION: Rule = Rule {
    id: "PL003",
    name: "iam-wildcard-action",
    fix: "grant through a construct's grant_* method, which names exact actions",
    check: wildcard_action,
};

pub(crate) const WILDCARD_RESOURCE: Rule = Rule {
    id: "PL004",
    name: "iam-wildcard-resource",
    fix: "scope the statement to exact ARNs, or use Statement::any_resource with the reason AWS offers nothing narrower",
    check: wildcard_resource,
};

fn as_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

/// (role id, actions, resources) of every Allow statement in inline role policies.
fn allow_statements<'a>(ctx: &'a Context) -> Vec<(&'a String, Vec<&'a str>, Vec<&'a Value>)> {
    let mut out = Vec::new();
    for (id, role) in ctx.template.resources_of("AWS::IAM::Role") {
        for policy in as_list(role.prop("Policies")) {
            for st in as_list(policy.pointer("/PolicyDocument/Statement")) {
                if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
                    continue;
                }
                let actions = as_list(st.get("Action"))
                    .into_iter()
                    .filter_map(Value::as_str)
                    .collect();
                out.push((id, actions, as_list(st.get("Resource"))));
            }
        }
    }
    out
}

fn wildcard_action(ctx: &Context) -> Vec<Finding> {
    allow_statements(ctx)
        .into_iter()
        .flat_map(|(id, actions, _)| {
            actions
                .into_iter()
                .filter(|a| *a == "*" || a.ends_with(":*"))
                .map(move |a| Finding {
                    resource: id.clone(),
                    message: format!("allows every action of `{a}`"),
                })
        })
        .collect()
}

fn wildcard_resource(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, actions, resources) in allow_statements(ctx) {
        if !resources.iter().any(|r| r.as_str() == Some("*")) {
            continue;
        }
        let reasons = ctx.template.resources[id]
            .metadata
            .get("WildcardResourceReasons")
            .and_then(Value::as_array);
        let explained = |action: &str| {
            reasons.into_iter().flatten().any(|r| {
                r.get("Reason")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.trim().is_empty())
                    && as_list(r.get("Actions"))
                        .iter()
                        .any(|a| a.as_str() == Some(action))
            })
        };
        for action in actions.into_iter().filter(|a| !explained(a)) {
            out.push(Finding {
                resource: id.clone(),
                message: format!("`{action}` on resource `*` without a written reason"),
            });
        }
    }
    out
}
