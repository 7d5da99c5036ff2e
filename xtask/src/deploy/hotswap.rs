//! `--hotswap`: when only function code (the `*CodeKey` parameters) and state machine
//! definitions changed, update them through the Lambda and Step Functions APIs and skip
//! CloudFormation. The stack then drifts until the next full deploy, as with CDK's hotswap.

use anyhow::{Context, Result};
use serde_json::Value;

use super::stack::Input;
use super::stack_deploy::{Outcome as Deployment, StackDeploy};
use crate::aws::Clients;
use crate::{deployed, ui};
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
            Outcome::Done(what) => {
                ui::ok(format!("{}: hotswapped {what}", s.name()));
                done.push(s.name().to_string());
                s.outcome = Deployment::Hotswapped(what);
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
    Done(String),
    NotPossible(String),
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
    let mut done = Vec::new();
    for (key, value) in &input.parameters {
        if d.parameters.get(key) == Some(value) {
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
        done.push(format!("code of {name}"));
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
        done.push(format!("definition of {id}"));
    }
    if done.is_empty() {
        return Ok(Outcome::NotPossible("nothing hotswappable changed".into()));
    }
    Ok(Outcome::Done(done.join(", ")))
}
