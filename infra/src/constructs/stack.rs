//! The stack under construction: constructs add resources, grants add statements to roles.
//! Handles share it through `Rc<RefCell<…>>` so `bucket.grant_read(&function)` needs no `&mut`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::{json, Value};

use super::iam::{policy_document, Statement};
use crate::cfn::{CfnResource, Output, Parameter, ResourceEntry, Template, Val};
use crate::stage::Stage;

/// A check suppressed on one resource, with the reason that shows in synth output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Suppression {
    pub rule: String,
    pub resource: String,
    pub reason: String,
}

/// A function the stack deploys: what `cargo xtask` builds, uploads and invokes.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionInfo {
    /// `<service>-<function>`: the binary and the `cargo xtask invoke` argument.
    pub binary: String,
    pub logical_id: String,
    pub physical_name: String,
    /// The stack parameter that receives the zip's content-addressed S3 key.
    pub code_parameter: String,
}

/// A state machine definition, kept next to the template for review and for cfn-lint.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachineInfo {
    pub name: String,
    pub definition: Value,
}

pub(crate) struct Inner {
    pub service: String,
    pub stage: Stage,
    pub template: Template,
    pub role_statements: BTreeMap<String, Vec<Statement>>,
    pub suppressions: Vec<Suppression>,
    pub functions: Vec<FunctionInfo>,
    pub state_machines: Vec<StateMachineInfo>,
    pub errors: Vec<String>,
    pub alarm_topic: Option<Val<String>>,
}

#[derive(Clone)]
pub struct Stack(pub(crate) Rc<RefCell<Inner>>);

impl Stack {
    pub fn new(service: &str, stage: &Stage, description: &str) -> Stack {
        let template = Template {
            description: format!("{description} ({service}, stage {})", stage.name),
            ..Template::default()
        };
        Stack(Rc::new(RefCell::new(Inner {
            service: service.into(),
            stage: stage.clone(),
            template,
            role_statements: BTreeMap::new(),
            suppressions: Vec::new(),
            functions: Vec::new(),
            state_machines: Vec::new(),
            errors: Vec::new(),
            alarm_topic: None,
        })))
    }

    /// `<service>-<stage>`.
    pub fn name(&self) -> String {
        let i = self.0.borrow();
        format!("{}-{}", i.service, i.stage.name)
    }

    pub fn service(&self) -> String {
        self.0.borrow().service.clone()
    }

    pub fn stage(&self) -> Stage {
        self.0.borrow().stage.clone()
    }

    /// Physical name of a resource: `<service>-<name>-<stage>`.
    pub fn physical_name(&self, name: &str) -> String {
        let i = self.0.borrow();
        format!("{}-{}-{}", i.service, name, i.stage.name)
    }

    /// Add an L1 resource. A clashing id is recorded and reported by synth.
    pub fn add<R: CfnResource>(&self, id: &str, resource: R) {
        let mut i = self.0.borrow_mut();
        if let Err(e) = i.template.add(id, resource) {
            i.errors.push(e.to_string());
        }
    }

    /// Edit a resource already added (metadata, dependencies, deletion policy).
    pub fn with_resource(&self, id: &str, f: impl FnOnce(&mut ResourceEntry)) {
        let mut i = self.0.borrow_mut();
        match i.template.resources.get_mut(id) {
            Some(r) => f(r),
            None => i.errors.push(format!("no resource `{id}` to edit")),
        }
    }

    pub fn add_parameter(&self, id: &str, parameter: Parameter) {
        self.0
            .borrow_mut()
            .template
            .parameters
            .insert(id.into(), parameter);
    }

    pub fn add_output(&self, id: &str, value: Val<String>, description: &str) {
        self.0.borrow_mut().template.outputs.insert(
            id.into(),
            Output {
                value,
                description: description.into(),
            },
        );
    }

    pub fn grant(&self, role_id: &str, statement: Statement) {
        self.0
            .borrow_mut()
            .role_statements
            .entry(role_id.into())
            .or_default()
            .push(statement);
    }

    /// Skip `rule` (one of ours, or a scanner check such as `CKV_AWS_117`) on `resource`; synth
    /// prints the reason and writes it into the resource's Metadata for checkov and cfn-nag.
    /// A later suppression of the same rule on the same resource replaces the earlier reason, so a
    /// construct can refine its default (a function that becomes async says why it has no DLQ).
    pub fn suppress(&self, rule: &str, resource: &str, reason: &str) {
        let mut i = self.0.borrow_mut();
        i.suppressions
            .retain(|s| !(s.rule == rule && s.resource == resource));
        i.suppressions.push(Suppression {
            rule: rule.into(),
            resource: resource.into(),
            reason: reason.into(),
        });
    }

    /// Withdraw a construct's default suppression once the finding no longer applies (a function
    /// moved into a VPC).
    pub(crate) fn unsuppress(&self, rule: &str, resource: &str) {
        self.0
            .borrow_mut()
            .suppressions
            .retain(|s| !(s.rule == rule && s.resource == resource));
    }

    /// Record a construction mistake; synth fails with it.
    pub fn error(&self, message: String) {
        self.0.borrow_mut().errors.push(message);
    }

    pub(crate) fn register_function(&self, info: FunctionInfo) {
        self.0.borrow_mut().functions.push(info);
    }

    pub(crate) fn register_state_machine(&self, info: StateMachineInfo) {
        self.0.borrow_mut().state_machines.push(info);
    }

    /// Render grants into role policies and hand out the finished parts.
    pub fn finish(self) -> Finished {
        let mut i = self.0.borrow_mut();
        let statements = std::mem::take(&mut i.role_statements);
        for (role, statements) in statements {
            let reasons: Vec<Value> = statements
                .iter()
                .filter_map(|s| {
                    s.wildcard_reason
                        .as_ref()
                        .map(|r| json!({ "Actions": s.actions, "Reason": r }))
                })
                .collect();
            // The written reasons PL004 accepts are the scanners' reasons too.
            let scanner_reason: Vec<String> = statements
                .iter()
                .filter_map(|s| {
                    s.wildcard_reason.as_ref().map(|r| {
                        let actions: Vec<&str> = s.actions.iter().map(String::as_str).collect();
                        format!("{}: {r}", actions.join(", "))
                    })
                })
                .collect();
            if !scanner_reason.is_empty() {
                i.suppressions.push(Suppression {
                    rule: "CKV_AWS_111".into(),
                    resource: role.clone(),
                    reason: format!(
                        "no narrower resource exists for these actions; {}",
                        scanner_reason.join("; ")
                    ),
                });
            }
            let Some(entry) = i.template.resources.get_mut(&role) else {
                i.errors.push(format!("grant to unknown role `{role}`"));
                continue;
            };
            entry.properties["Policies"] = json!([{
                "PolicyName": "least-privilege",
                "PolicyDocument": policy_document(&statements),
            }]);
            if !reasons.is_empty() {
                entry
                    .metadata
                    .insert("WildcardResourceReasons".into(), Value::Array(reasons));
            }
        }
        let stage = i.stage.clone();
        for entry in i.template.resources.values_mut() {
            apply_tags(entry, &stage);
        }
        i.suppressions.sort();
        Finished {
            name: format!("{}-{}", i.service, i.stage.name),
            template: std::mem::take(&mut i.template),
            suppressions: std::mem::take(&mut i.suppressions),
            functions: std::mem::take(&mut i.functions),
            state_machines: std::mem::take(&mut i.state_machines),
            errors: std::mem::take(&mut i.errors),
        }
    }
}

/// A stack's parts after construction, before checks.
pub struct Finished {
    pub name: String,
    pub template: Template,
    pub suppressions: Vec<Suppression>,
    pub functions: Vec<FunctionInfo>,
    pub state_machines: Vec<StateMachineInfo>,
    pub errors: Vec<String>,
}

/// Stage tags on every resource whose schema takes a `Tags` list of key/value pairs.
/// `AWS::Lambda::LayerVersion` and `AWS::KMS::Alias` have no `Tags` property.
fn apply_tags(entry: &mut ResourceEntry, stage: &Stage) {
    const TAGGABLE: &[&str] = &[
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::SNS::Topic",
        "AWS::Logs::LogGroup",
        "AWS::RDS::DBCluster",
        "AWS::KMS::Key",
    ];
    if stage.tags.is_empty() || !TAGGABLE.contains(&entry.type_name) {
        return;
    }
    let tags: Vec<Value> = stage
        .tags
        .iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    entry.properties["Tags"] = Value::Array(tags);
}
