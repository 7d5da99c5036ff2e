//! Checks run on every synthesized stack before anything is written or deployed. Each rule has an
//! id; a violation names the stack, the resource, the rule and the fix. A suppression names the
//! rule, the resource and a reason, and synth prints it.

mod iam;
mod lambda;
pub mod scanners;
mod secrets;
mod size;

pub use size::INLINE_LIMIT as INLINE_TEMPLATE_LIMIT;
mod storage;

use std::fmt;

use serde_json::Value;

use crate::cfn::Template;
use crate::constructs::Suppression;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub stack: String,
    pub resource: String,
    pub rule: &'static str,
    pub name: &'static str,
    pub message: String,
    pub fix: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}: {} {}: {}\n    fix: {}",
            self.stack, self.resource, self.rule, self.name, self.message, self.fix
        )
    }
}

/// A rule's finding before the stack name and suppressions are applied.
pub(crate) struct Finding {
    pub resource: String,
    pub message: String,
}

pub(crate) struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub fix: &'static str,
    pub check: fn(&Context) -> Vec<Finding>,
}

/// What a rule sees: the template and how it will be deployed.
pub struct Context<'a> {
    pub template: &'a Template,
    pub rendered_bytes: usize,
    /// Whether deploy can upload templates to a bucket (needed above 51,200 bytes).
    pub can_upload_template: bool,
}

pub(crate) const RULES: &[Rule] = &[
    lambda::ASYNC_DLQ,
    storage::DLQ_ALARM,
    iam::WILDCARD_ACTION,
    iam::WILDCARD_RESOURCE,
    storage::ENCRYPTION,
    storage::PUBLIC_ACCESS,
    lambda::LOG_RETENTION,
    lambda::ARM64,
    size::TEMPLATE_SIZE,
    storage::QUEUE_DLQ,
    secrets::ENV_SECRETS,
];

/// Ids and names of every rule, for docs and `--help`.
pub fn rules() -> Vec<(&'static str, &'static str, &'static str)> {
    RULES.iter().map(|r| (r.id, r.name, r.fix)).collect()
}

/// The outcome for one stack.
#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// Suppressions that matched a finding.
    pub applied: Vec<Suppression>,
}

pub fn run(stack: &str, ctx: &Context, suppressions: &[Suppression]) -> Report {
    let mut report = Report::default();
    for rule in RULES {
        for finding in (rule.check)(ctx) {
            let suppression = suppressions
                .iter()
                .find(|s| s.rule == rule.id && s.resource == finding.resource);
            match suppression {
                Some(s) => {
                    if !report.applied.contains(s) {
                        report.applied.push(s.clone());
                    }
                }
                None => report.violations.push(Violation {
                    stack: stack.into(),
                    resource: finding.resource,
                    rule: rule.id,
                    name: rule.name,
                    message: finding.message,
                    fix: rule.fix,
                }),
            }
        }
    }
    for s in suppressions {
        // Scanner ids (checkov's) are not ours to evaluate: synth writes them into Metadata.
        if !RULES.iter().any(|r| r.id == s.rule) && !scanners::is_scanner_check(&s.rule) {
            report.violations.push(Violation {
                stack: stack.into(),
                resource: s.resource.clone(),
                rule: "PL000",
                name: "unknown-rule",
                message: format!("suppression names unknown rule `{}`", s.rule),
                fix: "name one of the rules or scanner checks listed in docs/checks.md",
            });
        }
    }
    report
}

/// The logical id a `Ref`, `Fn::GetAtt` or `Fn::Sub` of `${Id.Attr}` points at.
pub(crate) fn referenced_id(v: &Value) -> Option<&str> {
    if let Some(id) = v.get("Ref").and_then(Value::as_str) {
        return Some(id);
    }
    if let Some(id) = v
        .get("Fn::GetAtt")
        .and_then(|a| a.get(0))
        .and_then(Value::as_str)
    {
        return Some(id);
    }
    let s = v.get("Fn::Sub").and_then(Value::as_str)?;
    let start = s.find("${")? + 2;
    let end = start + s[start..].find(['.', '}'])?;
    Some(&s[start..end])
}

#[cfg(test)]
mod tests;
