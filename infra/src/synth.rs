//! Synthesis: stacks → checked, deterministic templates.

use std::fmt;

use serde_json::Value;

use crate::cfn::{schema_info, Template};
use crate::checks::{self, Context, Violation};
use crate::constructs::{FunctionInfo, Stack, StateMachineInfo, Suppression};
use crate::services;
use crate::stage::Stage;

/// One stack, ready to write or deploy.
#[derive(Debug, Clone)]
pub struct SynthesizedStack {
    /// `<service>-<stage>`.
    pub name: String,
    pub service: String,
    pub template: Template,
    /// The rendered template: compact JSON with sorted keys.
    pub body: String,
    pub functions: Vec<FunctionInfo>,
    pub state_machines: Vec<StateMachineInfo>,
    /// Suppressions that silenced a finding, printed by `cargo xtask synth`.
    pub suppressions: Vec<Suppression>,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("stack {stack} could not be built:\n  {}", .errors.join("\n  "))]
    Construction { stack: String, errors: Vec<String> },
    #[error("{}", Violations(.0))]
    Checks(Vec<Violation>),
}

struct Violations<'a>(&'a [Violation]);

impl fmt::Display for Violations<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} check violation(s):", self.0.len())?;
        for v in self.0 {
            writeln!(f, "  {v}")?;
        }
        write!(
            f,
            "suppress one only with a reason: stack.suppress(rule, resource, reason)"
        )
    }
}

/// Every stack of `stage`, or only `service`'s.
pub fn synth_stage(
    stage: &Stage,
    service: Option<&str>,
) -> Result<Vec<SynthesizedStack>, SynthError> {
    let mut out = Vec::new();
    let mut violations = Vec::new();
    for stack in services::stacks(stage) {
        if service.is_some_and(|s| s != stack.service()) {
            continue;
        }
        match synth_stack(stack) {
            Ok(s) => out.push(s),
            Err(SynthError::Checks(v)) => violations.extend(v),
            Err(e) => return Err(e),
        }
    }
    if !violations.is_empty() {
        return Err(SynthError::Checks(violations));
    }
    Ok(out)
}

pub fn synth_stack(stack: Stack) -> Result<SynthesizedStack, SynthError> {
    let service = stack.service();
    let mut finished = stack.finish();
    let mut errors = std::mem::take(&mut finished.errors);
    errors.extend(reference_errors(&finished.template));
    // Before rendering: the scanners' Metadata is part of the template and of its size.
    errors.extend(checks::scanners::annotate(
        &mut finished.template,
        &finished.suppressions,
    ));
    if !errors.is_empty() {
        return Err(SynthError::Construction {
            stack: finished.name,
            errors,
        });
    }
    let body = finished.template.render();
    let ctx = Context {
        template: &finished.template,
        rendered_bytes: body.len(),
        can_upload_template: true,
    };
    let report = checks::run(&finished.name, &ctx, &finished.suppressions);
    if !report.violations.is_empty() {
        return Err(SynthError::Checks(report.violations));
    }
    Ok(SynthesizedStack {
        name: finished.name,
        service,
        template: finished.template,
        body,
        functions: finished.functions,
        state_machines: finished.state_machines,
        suppressions: report.applied,
    })
}

const PSEUDO: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// Missing required properties, and `Ref`/`GetAtt`/`Sub` that point at nothing.
fn reference_errors(t: &Template) -> Vec<String> {
    let mut errors = Vec::new();
    for (id, r) in &t.resources {
        if let Some((required, _)) = schema_info(r.type_name) {
            for p in required.iter().filter(|p| r.prop(p).is_none()) {
                errors.push(format!(
                    "{id} ({}): required property `{p}` is missing",
                    r.type_name
                ));
            }
        }
        let mut refs = Vec::new();
        collect_refs(&r.properties, &mut refs);
        for (target, attr) in refs {
            let exists = t.parameters.contains_key(&target) || PSEUDO.contains(&target.as_str());
            match t.resources.get(&target) {
                Some(tr) => {
                    if let (Some(attr), Some((_, attrs))) = (&attr, schema_info(tr.type_name)) {
                        if !attrs.contains(&attr.as_str()) {
                            errors.push(format!(
                                "{id}: `{target}.{attr}` is not an attribute of {} (it has: {})",
                                tr.type_name,
                                attrs.join(", ")
                            ));
                        }
                    }
                }
                None if exists && attr.is_none() => {}
                None => errors.push(format!(
                    "{id}: refers to `{target}`, which is not in the stack"
                )),
            }
        }
    }
    errors
}

fn collect_refs(v: &Value, out: &mut Vec<(String, Option<String>)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(id)) = m.get("Ref") {
                out.push((id.clone(), None));
            }
            if let Some(Value::Array(a)) = m.get("Fn::GetAtt") {
                if let (Some(id), Some(attr)) = (
                    a.first().and_then(Value::as_str),
                    a.get(1).and_then(Value::as_str),
                ) {
                    out.push((id.into(), Some(attr.into())));
                }
            }
            let sub = match m.get("Fn::Sub") {
                Some(Value::String(s)) => Some((s.as_str(), None)),
                Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(|s| (s, a.get(1))),
                _ => None,
            };
            if let Some((s, vars)) = sub {
                let mut rest = s;
                while let Some(start) = rest.find("${") {
                    rest = &rest[start + 2..];
                    let Some(end) = rest.find('}') else { break };
                    let name = &rest[..end];
                    let local = vars.and_then(|v| v.get(name)).is_some();
                    if !local && !name.starts_with('!') {
                        match name.split_once('.') {
                            Some((id, attr)) => out.push((id.into(), Some(attr.into()))),
                            None => out.push((name.into(), None)),
                        }
                    }
                    rest = &rest[end..];
                }
            }
            for (k, child) in m {
                if k != "Fn::Sub" {
                    collect_refs(child, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}
