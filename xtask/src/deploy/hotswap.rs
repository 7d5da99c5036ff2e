//! `--hotswap`: when only function code (the `*CodeKey` parameters) and state machine
//! definitions changed, update them through the Lambda and Step Functions APIs and skip
//! CloudFormation. The stack then drifts until the next full deploy, as with CDK's hotswap.
//!
//! What was hotswapped is recorded in the stage's asset bucket as `hotswap/<stack>.json`
//! ([`Record`]), so that `cargo xtask drift` (on any machine, CI included) names that drift as
//! expected. The bucket exists on every stage before any hotswap (the upload phase makes sure of
//! it), unlike a stack tag or output, which would take a stack update. An entry holds only while
//! CloudFormation still holds what it held at the hotswap (the code key, the definition), so a
//! stale record can never excuse drift; a full deploy that applies the stack drops the entries it
//! overtook ([`prune`]) and deletes the record when none is left.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::stack::Input;
use super::stack_deploy::{Outcome as Deployment, StackDeploy};
use crate::aws::{self, Clients};
use crate::{build, deployed, ui};
use infra::stage::Stage;

/// Phase 4 (with `--hotswap`): each stack with changes is hotswapped when only code and
/// definitions changed, and otherwise left to CloudFormation with the reason said.
pub async fn run(
    clients: &Clients,
    stage: &Stage,
    bucket: &str,
    stacks: &mut [StackDeploy],
) -> Result<()> {
    let mut done: Vec<String> = Vec::new();
    for s in stacks.iter_mut().filter(|s| s.has_changes()) {
        // an API call that fails after others succeeded leaves some functions on the new code
        // while CloudFormation holds the old keys: say so, and how to bring the stack in line
        let outcome = try_hotswap(clients, stage, bucket, &s.input)
            .await
            .with_context(|| {
                format!(
                    "{}: hotswap failed partway; some of its functions or state machines may run \
                     the new version while CloudFormation holds the old one\n  fix: deploy again \
                     without --hotswap, which brings the whole stack in line{}",
                    s.name(),
                    if done.is_empty() {
                        String::new()
                    } else {
                        format!("\n  hotswapped before it: {}", done.join(", "))
                    }
                )
            })?;
        match outcome {
            Outcome::Done(items) => {
                let what = describe(&items);
                ui::ok(format!("{}: hotswapped {what}", s.name()));
                done.push(s.name().to_string());
                s.outcome = Deployment::Hotswapped(what);
                // the hotswap happened; a record that cannot be written only costs `drift` its
                // explanation, so it must not fail the deploy
                if let Err(e) = remember(clients, bucket, s.name(), items).await {
                    ui::warn(format!(
                        "{}: the hotswap is not recorded for `cargo xtask drift` ({e:#}); drift will report it as unexpected",
                        s.name()
                    ));
                }
            }
            Outcome::NotPossible(why) => ui::warn(format!(
                "{}: cannot hotswap ({why}); deploying through CloudFormation",
                s.name()
            )),
        }
    }
    Ok(())
}

pub enum Outcome {
    Done(Vec<Hotswapped>),
    NotPossible(String),
}

/// `code of <function>, definition of <StateMachine>`, as the deploy reports it.
fn describe(items: &[Hotswapped]) -> String {
    items
        .iter()
        .map(|h| match h.what {
            What::Code { .. } => format!("code of {}", h.physical_id),
            What::Definition => format!("definition of {}", h.logical_id),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn without_definitions(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(res) = t.get_mut("Resources").and_then(Value::as_object_mut) {
        for r in res.values_mut() {
            if r["Type"] == "AWS::StepFunctions::StateMachine" {
                if let Some(p) = r.get_mut("Properties").and_then(Value::as_object_mut) {
                    p.remove("DefinitionString");
                }
            }
        }
    }
    t
}

pub async fn try_hotswap(
    clients: &Clients,
    stage: &Stage,
    bucket: &str,
    input: &Input,
) -> Result<Outcome> {
    let Some(d) = deployed::describe(&clients.cfn, &input.name).await? else {
        return Ok(Outcome::NotPossible("the stack does not exist yet".into()));
    };
    let old: Value = serde_json::from_str(&deployed::template(&clients.cfn, &input.name).await?)?;
    let new: Value = serde_json::from_str(&input.body)?;
    if without_definitions(&old) != without_definitions(&new) {
        return Ok(Outcome::NotPossible(
            "the template changed beyond code and state machine definitions".into(),
        ));
    }
    if d.parameters.keys().ne(input.parameters.keys()) {
        return Ok(Outcome::NotPossible(
            "the stack's parameters changed".into(),
        ));
    }
    let ids = deployed::physical_ids(&clients.cfn, &input.name)
        .await?
        .unwrap_or_default();
    let at = ui::now_utc();
    let mut done = Vec::new();
    for (key, value) in &input.parameters {
        let held = d.parameters.get(key);
        if held == Some(value) {
            continue;
        }
        let logical = key.trim_end_matches("CodeKey");
        let Some(name) = ids.get(logical) else {
            return Ok(Outcome::NotPossible(format!(
                "parameter {key} changed and is not function code"
            )));
        };
        clients
            .lambda
            .update_function_code()
            .function_name(name)
            .s3_bucket(bucket)
            .s3_key(value)
            .send()
            .await
            .map_err(|e| crate::aws::explain("lambda:UpdateFunctionCode", name, e))?;
        done.push(Hotswapped {
            logical_id: logical.to_string(),
            physical_id: name.clone(),
            what: What::Code {
                parameter: key.clone(),
            },
            stack_held: held.cloned().unwrap_or_default(),
            given: value.clone(),
            at: at.clone(),
        });
    }
    let resources = new["Resources"].as_object().cloned().unwrap_or_default();
    for (id, r) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::StepFunctions::StateMachine")
    {
        let new_def = &r["Properties"]["DefinitionString"];
        if old["Resources"][id]["Properties"]["DefinitionString"] == *new_def {
            continue;
        }
        let mut definition = new_def.as_str().unwrap_or_default().to_string();
        let account = deployed::LOCAL_ACCOUNT;
        if let Some(subs) = r["Properties"]["DefinitionSubstitutions"].as_object() {
            for (name, v) in subs {
                let value = match v.get("Fn::GetAtt").and_then(Value::as_array) {
                    // function ARNs, built from the physical name the stack reports
                    Some(a) if a.get(1) == Some(&Value::from("Arn")) => {
                        let target = a[0].as_str().unwrap_or_default();
                        let Some(fname) = ids.get(target) else {
                            return Ok(Outcome::NotPossible(format!("cannot resolve {target}")));
                        };
                        let account = if stage.is_local() {
                            account.to_string()
                        } else {
                            stage.account_or_pseudo()
                        };
                        format!("arn:aws:lambda:{}:{account}:function:{fname}", stage.region)
                    }
                    _ => match deployed::resolve(v, &ids, &stage.region.0) {
                        Ok(s) => s,
                        Err(e) => return Ok(Outcome::NotPossible(e.to_string())),
                    },
                };
                definition = definition.replace(&format!("${{{name}}}"), &value);
            }
        }
        let Some(arn) = ids.get(id) else {
            return Ok(Outcome::NotPossible(format!(
                "state machine {id} is not deployed"
            )));
        };
        clients
            .sfn
            .update_state_machine()
            .state_machine_arn(arn)
            .definition(definition)
            .send()
            .await
            .map_err(|e| crate::aws::explain("states:UpdateStateMachine", arn, e))?;
        done.push(Hotswapped {
            logical_id: id.clone(),
            physical_id: arn.clone(),
            what: What::Definition,
            stack_held: definition_hash(&old, id),
            given: definition_hash(&new, id),
            at: at.clone(),
        });
    }
    if done.is_empty() {
        return Ok(Outcome::NotPossible("nothing hotswappable changed".into()));
    }
    Ok(Outcome::Done(done))
}

/// Lambda's CodeSha256 (base64) of the zip under one of deploy's content-addressed keys,
/// `assets/<sha256>.zip`.
pub fn code_sha256(key: &str) -> Option<String> {
    use base64::Engine;

    let hex = key.strip_prefix("assets/")?.strip_suffix(".zip")?;
    if hex.len() != 64 {
        return None;
    }
    let bytes = (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The key of a stack's hotswap record in the asset bucket.
pub fn record_key(stack: &str) -> String {
    format!("hotswap/{stack}.json")
}

/// What `deploy --hotswap` changed outside CloudFormation in one stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The stack's id at the hotswap: a stack deleted and created again is another stack.
    pub stack_id: String,
    pub resources: Vec<Hotswapped>,
}

/// One function's code or one state machine's definition, hotswapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotswapped {
    pub logical_id: String,
    /// The function's name or the state machine's ARN.
    pub physical_id: String,
    pub what: What,
    /// What CloudFormation held at the hotswap: the code key, or the sha256 of the template's
    /// definition. While it still holds it, the resource runs what the hotswap gave it.
    pub stack_held: String,
    /// What the hotswap gave it: the code key, or the sha256 of the new definition (empty:
    /// unknown, then any change of its code or definition is taken as the hotswap's).
    #[serde(default)]
    pub given: String,
    /// When, in UTC.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// Function code, whose key the stack parameter `parameter` holds.
    Code { parameter: String },
    /// A state machine's definition.
    Definition,
}

impl Hotswapped {
    /// Whether a difference of the drift report (its property path, and for `/Code` the
    /// CodeSha256 found) is what this hotswap did: code changed again since, by hand, is not.
    pub fn explains(&self, path: &str, actual: &str) -> bool {
        match self.what {
            What::Code { .. } if path == "/Code" => {
                code_sha256(&self.given).is_none_or(|given| given == actual)
            }
            What::Code { .. } => path.starts_with("/Code/"),
            // DefinitionString, Definition, DefinitionSubstitutions, DefinitionS3Location
            What::Definition => path.starts_with("/Definition"),
        }
    }

    /// Whether CloudFormation still holds what it held at the hotswap, so that the resource
    /// still runs the hotswapped version. A deploy that changed the key or the definition has
    /// applied its own version since.
    pub fn holds(&self, stack: &StackState) -> bool {
        match &self.what {
            What::Code { parameter } => stack.parameters.get(parameter) == Some(&self.stack_held),
            What::Definition => {
                definition_hash(&stack.template, &self.logical_id) == self.stack_held
            }
        }
    }
}

impl Record {
    /// The entries that still explain drift in the stack as it is now.
    pub fn holding(&self, stack: &StackState) -> Vec<Hotswapped> {
        if self.stack_id != stack.stack_id {
            return Vec::new();
        }
        self.resources
            .iter()
            .filter(|h| h.holds(stack))
            .cloned()
            .collect()
    }

    /// This record with `items` added: a resource hotswapped again replaces its entry, and
    /// entries that no longer hold are dropped.
    pub fn with(&self, stack: &StackState, items: Vec<Hotswapped>) -> Record {
        let mut kept: BTreeMap<String, Hotswapped> = self
            .holding(stack)
            .into_iter()
            .map(|h| (h.logical_id.clone(), h))
            .collect();
        for h in items {
            kept.insert(h.logical_id.clone(), h);
        }
        Record {
            stack_id: stack.stack_id.clone(),
            resources: kept.into_values().collect(),
        }
    }
}

/// What a record entry is checked against: the stack as CloudFormation holds it now.
#[derive(Debug, Clone, Default)]
pub struct StackState {
    pub stack_id: String,
    pub parameters: BTreeMap<String, String>,
    pub template: Value,
}

/// The stack's id, parameters and template, or `None` when it is not deployed.
pub async fn stack_state(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Option<StackState>> {
    let Some(d) = deployed::describe(cfn, stack).await? else {
        return Ok(None);
    };
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:DescribeStacks", stack, e))?;
    let stack_id = out
        .stacks()
        .first()
        .and_then(|s| s.stack_id())
        .unwrap_or_default()
        .to_string();
    let template = serde_json::from_str(&deployed::template(cfn, stack).await?)
        .with_context(|| format!("{stack}: the deployed template is not JSON"))?;
    Ok(Some(StackState {
        stack_id,
        parameters: d.parameters,
        template,
    }))
}

/// The sha256 of a state machine's definition in a template ("" when it has none).
fn definition_hash(template: &Value, logical_id: &str) -> String {
    match &template["Resources"][logical_id]["Properties"]["DefinitionString"] {
        Value::Null => String::new(),
        d => build::hex(&Sha256::digest(d.to_string().as_bytes())),
    }
}

/// The stack's record, `None` when there is none.
pub async fn read_record(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
) -> Result<Option<Record>> {
    let key = record_key(stack);
    let out = match s3.get_object().bucket(bucket).key(&key).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_key() || s.meta().code() == Some("NoSuchBucket")) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws::explain("s3:GetObject", &format!("{bucket}/{key}"), e)),
    };
    let bytes = out
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?
        .into_bytes();
    let record = serde_json::from_slice(&bytes)
        .with_context(|| format!("s3://{bucket}/{key} is not a hotswap record"))?;
    Ok(Some(record))
}

async fn write_record(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    stack: &str,
    record: &Record,
) -> Result<()> {
    let key = record_key(stack);
    if record.resources.is_empty() {
        s3.delete_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| aws::explain("s3:DeleteObject", &format!("{bucket}/{key}"), e))?;
        return Ok(());
    }
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(serde_json::to_vec_pretty(record)?))
        .send()
        .await
        .map_err(|e| aws::explain("s3:PutObject", &format!("{bucket}/{key}"), e))?;
    Ok(())
}

/// Adds a hotswap to the stack's record.
pub(crate) async fn remember(
    clients: &Clients,
    bucket: &str,
    stack: &str,
    items: Vec<Hotswapped>,
) -> Result<()> {
    let state = stack_state(&clients.cfn, stack)
        .await?
        .with_context(|| format!("{stack} is not deployed"))?;
    let old = read_record(&clients.s3, bucket, stack)
        .await?
        .unwrap_or_default();
    write_record(&clients.s3, bucket, stack, &old.with(&state, items)).await
}

/// After the execute phase: each stack CloudFormation applied keeps only the record entries
/// that still hold (a code key the deploy did not change still runs the hotswapped code), and
/// loses its record when none does. Looked up by listing, which the deploy role may do on the
/// whole bucket, so a stack that was never hotswapped costs one request and no error.
pub async fn prune(clients: &Clients, bucket: &str, stacks: &[StackDeploy]) {
    for s in stacks
        .iter()
        .filter(|s| matches!(s.outcome, Deployment::Deployed { .. }))
    {
        if let Err(e) = prune_stack(clients, bucket, s.name()).await {
            ui::warn(format!(
                "{}: its hotswap record (s3://{bucket}/{}) is not updated: {e:#}; `drift` ignores entries the deploy overtook",
                s.name(),
                record_key(s.name())
            ));
        }
    }
}

/// One stack's part of [`prune`].
pub(crate) async fn prune_stack(clients: &Clients, bucket: &str, stack: &str) -> Result<()> {
    let key = record_key(stack);
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&key)
        .send()
        .await
        .map_err(|e| aws::explain("s3:ListObjectsV2", &format!("{bucket}/{key}"), e))?;
    if !listed
        .contents()
        .iter()
        .any(|o| o.key() == Some(key.as_str()))
    {
        return Ok(());
    }
    let Some(record) = read_record(&clients.s3, bucket, stack).await? else {
        return Ok(());
    };
    let state = stack_state(&clients.cfn, stack).await?.unwrap_or_default();
    let pruned = record.with(&state, Vec::new());
    if pruned != record {
        write_record(&clients.s3, bucket, stack, &pruned).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(id: &str, key: &str, definition: &str) -> StackState {
        StackState {
            stack_id: id.into(),
            parameters: [("ApiFunctionCodeKey".to_string(), key.to_string())].into(),
            template: json!({"Resources": {"Machine": {"Properties": {"DefinitionString": definition}}}}),
        }
    }

    fn code(key: &str) -> Hotswapped {
        Hotswapped {
            logical_id: "ApiFunction".into(),
            physical_id: "demo-api-local".into(),
            what: What::Code {
                parameter: "ApiFunctionCodeKey".into(),
            },
            stack_held: key.into(),
            given: "assets/new.zip".into(),
            at: "2025-01-02T03:04:05Z".into(),
        }
    }

    fn definition(held: &StackState) -> Hotswapped {
        Hotswapped {
            logical_id: "Machine".into(),
            physical_id: "arn:aws:states:us-east-1:123456789012:stateMachine:demo".into(),
            what: What::Definition,
            stack_held: definition_hash(&held.template, "Machine"),
            given: "0".repeat(64),
            at: "2025-01-02T03:04:05Z".into(),
        }
    }

    #[test]
    fn an_entry_holds_while_cloudformation_holds_what_it_held_at_the_hotswap() {
        let then = state("stack/1", "assets/old.zip", "{\"StartAt\":\"A\"}");
        let record = Record::default().with(&then, vec![code("assets/old.zip"), definition(&then)]);
        assert_eq!(record.stack_id, "stack/1");
        assert_eq!(record.holding(&then).len(), 2);
        // a deploy that keeps the key (no changes, or other resources only) keeps the code
        // the hotswap put there
        let other_change = state("stack/1", "assets/old.zip", "{\"StartAt\":\"B\"}");
        assert_eq!(record.holding(&other_change), vec![code("assets/old.zip")]);
        // a deploy that changed the key replaced the code
        let deployed = state("stack/1", "assets/new.zip", "{\"StartAt\":\"B\"}");
        assert!(record.holding(&deployed).is_empty());
        assert!(record.with(&deployed, vec![]).resources.is_empty());
        // a stack deleted and created again is another stack
        assert!(record
            .holding(&state("stack/2", "assets/old.zip", "{\"StartAt\":\"A\"}"))
            .is_empty());
    }

    #[test]
    fn a_second_hotswap_replaces_the_entry_of_the_same_resource_and_keeps_the_others() {
        let now = state("stack/1", "assets/old.zip", "{}");
        let first = Record::default().with(&now, vec![code("assets/old.zip"), definition(&now)]);
        let mut again = code("assets/old.zip");
        again.at = "2025-02-03T04:05:06Z".into();
        let second = first.with(&now, vec![again.clone()]);
        assert_eq!(second.resources.len(), 2);
        assert!(second.resources.contains(&again));
        let text = serde_json::to_string(&second).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), second);
        assert!(
            text.contains("\"kind\":\"code\"") && text.contains("\"kind\":\"definition\""),
            "{text}"
        );
    }

    #[test]
    fn the_deploy_names_what_it_hotswapped() {
        let now = state("stack/1", "assets/old.zip", "{}");
        assert_eq!(
            describe(&[code("assets/old.zip"), definition(&now)]),
            "code of demo-api-local, definition of Machine"
        );
    }
}
