//! One stack's deployment: plan (no changes, change set, or direct create/update), execute,
//! stream events until done, explain failures.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, StackStatus};
use aws_sdk_cloudformation::Client;
use serde_json::Value;

use crate::deployed::{self, Deployed};
use crate::{aws, diff};

/// How CloudFormation is asked to apply a template (CDK's `--method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Create a change set, review it, execute it (real AWS).
    ChangeSet,
    /// CreateStack/UpdateStack directly (the local emulator's change sets are incomplete).
    Direct,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub action: String,
    pub logical_id: String,
    pub type_name: String,
    pub replacement: String,
}

#[derive(Debug)]
pub enum Plan {
    NoChanges,
    Create {
        changes: Vec<Change>,
        change_set: Option<String>,
    },
    Update {
        changes: Vec<Change>,
        change_set: Option<String>,
    },
}

#[derive(Clone)]
pub struct Input {
    pub name: String,
    pub body: String,
    pub template_url: Option<String>,
    pub parameters: BTreeMap<String, String>,
    /// The bootstrap's CloudFormation execution role (AWS stages): the deploy role may only
    /// change stacks through it.
    pub role_arn: Option<String>,
}

/// Name, parameters, IAM capabilities and the template (inline or by URL) on a CreateStack,
/// UpdateStack or CreateChangeSet request: three builder types with the same setters.
macro_rules! stack_request {
    ($req:expr, $input:expr) => {{
        let req = $req
            .stack_name(&$input.name)
            .set_parameters(Some(params(&$input.parameters)))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .set_role_arn($input.role_arn.clone());
        match &$input.template_url {
            Some(url) => req.template_url(url),
            None => req.template_body(&$input.body),
        }
    }};
}

fn params(p: &BTreeMap<String, String>) -> Vec<Parameter> {
    p.iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

/// Compare with what is deployed; with change sets, create one and read its changes.
pub async fn plan(cfn: &Client, input: &Input, method: Method) -> Result<Plan> {
    let existing = deployed::describe(cfn, &input.name).await?;
    if let Some(d) = &existing {
        check_status(&input.name, d)?;
        if d.parameters == input.parameters
            && deployed::template(cfn, &input.name).await? == input.body
        {
            return Ok(Plan::NoChanges);
        }
    }
    let create = existing.is_none();
    if method == Method::Direct {
        let old = match existing {
            Some(_) => serde_json::from_str(&deployed::template(cfn, &input.name).await?)
                .unwrap_or(Value::Null),
            None => Value::Null,
        };
        let new: Value = serde_json::from_str(&input.body)?;
        let mut changes: Vec<Change> = diff::diff(&old, &new)
            .into_iter()
            .filter(|d| d.type_name != "Output")
            .map(|d| Change {
                action: match d.change {
                    diff::Change::Added => "Add",
                    diff::Change::Removed => "Remove",
                    diff::Change::Modified(_) => "Modify",
                }
                .into(),
                logical_id: d.id,
                type_name: d.type_name,
                replacement: "-".into(),
            })
            .collect();
        if changes.is_empty() {
            changes.push(Change {
                action: "Modify".into(),
                logical_id: "(parameters)".into(),
                type_name: "code".into(),
                replacement: "-".into(),
            });
        }
        return Ok(if create {
            Plan::Create {
                changes,
                change_set: None,
            }
        } else {
            Plan::Update {
                changes,
                change_set: None,
            }
        });
    }
    let name = format!(
        "xtask-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let req = stack_request!(
        cfn.create_change_set()
            .change_set_name(&name)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            }),
        input
    );
    req.send()
        .await
        .map_err(|e| aws::explain("cloudformation:CreateChangeSet", &input.name, e))?;
    loop {
        let cs = cfn
            .describe_change_set()
            .stack_name(&input.name)
            .change_set_name(&name)
            .send()
            .await
            .map_err(|e| aws::explain("cloudformation:DescribeChangeSet", &input.name, e))?;
        let status = cs
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        match status.as_str() {
            "CREATE_COMPLETE" => {
                let changes = cs
                    .changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(|r| Change {
                        action: r
                            .action()
                            .map(|a| a.as_str().to_string())
                            .unwrap_or_default(),
                        logical_id: r.logical_resource_id().unwrap_or_default().into(),
                        type_name: r.resource_type().unwrap_or_default().into(),
                        replacement: r
                            .replacement()
                            .map(|x| x.as_str().to_string())
                            .unwrap_or_else(|| "-".into()),
                    })
                    .collect();
                return Ok(if create {
                    Plan::Create {
                        changes,
                        change_set: Some(name),
                    }
                } else {
                    Plan::Update {
                        changes,
                        change_set: Some(name),
                    }
                });
            }
            "FAILED" => {
                let reason = cs.status_reason().unwrap_or_default().to_string();
                let _ = cfn
                    .delete_change_set()
                    .stack_name(&input.name)
                    .change_set_name(&name)
                    .send()
                    .await;
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    return Ok(Plan::NoChanges);
                }
                bail!("change set for {} failed: {reason}", input.name);
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

/// What a stack whose first create failed is, and what can be done with it.
pub fn rollback_complete_error(stack: &str) -> String {
    format!(
        "{stack} is in ROLLBACK_COMPLETE: its first create failed and it can only be deleted.\n  hint: run the deploy in a terminal (or with --yes) to have it deleted and created again, or `cargo xtask destroy --stage <stage> --service <service>` first"
    )
}

/// A stack whose first create failed holds nothing but the record of that failure: delete it
/// (once `approve` agrees) so the deploy can create it afresh, as CDK does. Returns whether it
/// was deleted.
pub async fn delete_failed_create(
    cfn: &Client,
    stack: &str,
    approve: impl FnOnce(&str) -> Result<()>,
) -> Result<bool> {
    let Some(d) = deployed::describe(cfn, stack).await? else {
        return Ok(false);
    };
    if d.status != StackStatus::RollbackComplete {
        return Ok(false);
    }
    crate::ui::warn(format!(
        "{stack} is in ROLLBACK_COMPLETE (its first create failed; it holds no resources)"
    ));
    approve(&format!("delete {stack} and create it again"))
        .map_err(|e| anyhow::anyhow!("{e}\n{}", rollback_complete_error(stack)))?;
    cfn.delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:DeleteStack", stack, e))?;
    let pb = crate::ui::spinner(format!("{stack}: deleting the failed create"));
    let r = wait_deleted(cfn, stack, &pb).await;
    pb.finish_and_clear();
    r?;
    crate::ui::ok(format!("{stack} deleted; it will be created again"));
    Ok(true)
}

fn check_status(stack: &str, d: &Deployed) -> Result<()> {
    let s = d.status.as_str();
    if d.status == StackStatus::RollbackComplete {
        bail!("{}", rollback_complete_error(stack));
    }
    if s.ends_with("_IN_PROGRESS") {
        bail!("{stack} is busy ({s}); wait for it to finish, then deploy again");
    }
    Ok(())
}

/// Apply the plan and wait; prints events as they come. Returns the final outputs.
pub async fn execute(
    cfn: &Client,
    input: &Input,
    plan: &Plan,
    progress: &indicatif::ProgressBar,
) -> Result<BTreeMap<String, String>> {
    let started = aws_smithy_now();
    let clock = Instant::now();
    match plan {
        Plan::NoChanges => {}
        Plan::Create {
            change_set: Some(cs),
            ..
        }
        | Plan::Update {
            change_set: Some(cs),
            ..
        } => {
            cfn.execute_change_set()
                .stack_name(&input.name)
                .change_set_name(cs)
                .send()
                .await
                .map_err(|e| aws::explain("cloudformation:ExecuteChangeSet", &input.name, e))?;
        }
        Plan::Create {
            change_set: None, ..
        } => {
            stack_request!(cfn.create_stack(), input)
                .send()
                .await
                .map_err(|e| aws::explain("cloudformation:CreateStack", &input.name, e))?;
        }
        Plan::Update {
            change_set: None, ..
        } => {
            stack_request!(cfn.update_stack(), input)
                .send()
                .await
                .map_err(|e| aws::explain("cloudformation:UpdateStack", &input.name, e))?;
        }
    }
    let status = wait(cfn, &input.name, started, progress).await?;
    let ok = matches!(
        status,
        StackStatus::CreateComplete | StackStatus::UpdateComplete
    );
    if !ok {
        let failures = failures(cfn, &input.name, started)
            .await
            .unwrap_or_default();
        let mut msg = format!(
            "{} ended in {} after {:.0?}",
            input.name,
            status.as_str(),
            clock.elapsed()
        );
        for (id, reason) in failures {
            msg.push_str(&format!("\n  {id}: {reason}"));
        }
        if status == StackStatus::RollbackComplete {
            msg.push_str("\n  the stack was never created; the next deploy offers to delete it and create it again");
        } else if status == StackStatus::UpdateRollbackComplete {
            msg.push_str(
                "\n  the stack was rolled back to its previous state; nothing is half-deployed",
            );
        }
        bail!(msg);
    }
    let d = deployed::describe(cfn, &input.name).await?;
    Ok(d.map(|d| d.outputs).unwrap_or_default())
}

fn aws_smithy_now() -> aws_sdk_cloudformation::primitives::DateTime {
    // a little slack for clock skew between here and CloudFormation
    let t = std::time::SystemTime::now() - Duration::from_secs(5);
    aws_sdk_cloudformation::primitives::DateTime::from(t)
}

/// Poll until the stack leaves `*_IN_PROGRESS`, printing each new event once.
async fn wait(
    cfn: &Client,
    stack: &str,
    since: aws_sdk_cloudformation::primitives::DateTime,
    progress: &indicatif::ProgressBar,
) -> Result<StackStatus> {
    let mut seen: HashSet<String> = HashSet::new();
    let poll = if stack.ends_with("-local") {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(3)
    };
    loop {
        let events = match cfn.describe_stack_events().stack_name(stack).send().await {
            Ok(events) => events,
            // by name, a deleted stack is gone at once (AWS and the emulator alike)
            Err(_) if deployed::describe(cfn, stack).await?.is_none() => {
                progress.set_message(format!("{stack}: DELETE_COMPLETE"));
                return Ok(StackStatus::DeleteComplete);
            }
            Err(e) => return Err(aws::explain("cloudformation:DescribeStackEvents", stack, e)),
        };
        let mut fresh: Vec<_> = events
            .stack_events()
            .iter()
            .filter(|e| e.timestamp().is_some_and(|t| t.secs() >= since.secs()))
            .filter(|e| e.event_id().is_some_and(|id| seen.insert(id.to_string())))
            .collect();
        fresh.reverse();
        for e in fresh {
            let line = format!(
                "  {stack} {:<36} {:<22} {}{}",
                e.logical_resource_id().unwrap_or_default(),
                e.resource_status().map(|s| s.as_str()).unwrap_or_default(),
                e.resource_type().unwrap_or_default(),
                e.resource_status_reason()
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default()
            );
            if progress.is_hidden() {
                println!("{line}");
            } else {
                progress.println(line);
            }
        }
        let d = deployed::describe(cfn, stack).await?;
        let status = d.map(|d| d.status).unwrap_or(StackStatus::DeleteComplete);
        progress.set_message(format!("{stack}: {}", status.as_str()));
        if !status.as_str().ends_with("_IN_PROGRESS") {
            return Ok(status);
        }
        tokio::time::sleep(poll).await;
    }
}

/// Resources that failed since `since`, with CloudFormation's reasons.
async fn failures(
    cfn: &Client,
    stack: &str,
    since: aws_sdk_cloudformation::primitives::DateTime,
) -> Result<Vec<(String, String)>> {
    let events = cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws::explain("cloudformation:DescribeStackEvents", stack, e))?;
    Ok(events
        .stack_events()
        .iter()
        .filter(|e| e.timestamp().is_some_and(|t| t.secs() >= since.secs()))
        .filter(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .map(|e| {
            (
                e.logical_resource_id().unwrap_or_default().to_string(),
                e.resource_status_reason()
                    .unwrap_or("(no reason given)")
                    .to_string(),
            )
        })
        .collect())
}

/// Wait for a deletion to finish.
pub async fn wait_deleted(
    cfn: &Client,
    stack: &str,
    progress: &indicatif::ProgressBar,
) -> Result<()> {
    let status = wait(cfn, stack, aws_smithy_now(), progress).await?;
    if status != StackStatus::DeleteComplete {
        bail!("deleting {stack} ended in {}", status.as_str());
    }
    Ok(())
}
