//! Phase 3: per stack, what applying it would change: nothing, a change set (AWS) or a template
//! diff (local). A stack whose first create failed is deleted first (with approval), since it can
//! be nothing but deleted. No stack is changed here otherwise.

use anyhow::{Context, Result};
use infra::stage::Stage;

use super::stack::{self, Method, Plan};
use super::stack_deploy::StackDeploy;
use super::{confirm, Args};
use crate::{aws, ui};

pub async fn run(
    stage: &Stage,
    args: &Args,
    clients: &aws::Clients,
    stacks: &mut [StackDeploy],
) -> Result<()> {
    let method = args.method.unwrap_or(if stage.is_local() {
        Method::Direct
    } else {
        Method::ChangeSet
    });
    for s in stacks.iter() {
        stack::delete_failed_create(&clients.cfn, s.name(), |what| {
            confirm::confirm(&stage.name, args.yes, args.confirm.as_deref(), what)
        })
        .await?;
    }
    for s in stacks.iter_mut() {
        let plan = stack::plan(&clients.cfn, &s.input, method)
            .await
            .with_context(|| {
                format!(
                    "planning {} failed; nothing was deployed: fix the cause and deploy again",
                    s.name()
                )
            })?;
        s.plan = Some(plan);
    }
    Ok(())
}

/// The changes of each stack that has some, before the confirmation.
pub fn print(stacks: &[StackDeploy]) {
    for s in stacks.iter().filter(|s| s.has_changes()) {
        if let Some(plan) = &s.plan {
            print_plan(s.name(), plan);
        }
    }
}

fn print_plan(stack: &str, plan: &Plan) {
    let (verb, changes) = match plan {
        Plan::NoChanges => return,
        Plan::Create { changes, .. } => ("create", changes),
        Plan::Update { changes, .. } => ("update", changes),
    };
    println!(
        "\n{} ({verb}, {} change(s))",
        ui::bold(stack),
        changes.len()
    );
    println!(
        "  {:<8} {:<40} {:<36} replacement",
        "action", "resource", "type"
    );
    for c in changes {
        println!(
            "  {:<8} {:<40} {:<36} {}",
            c.action, c.logical_id, c.type_name, c.replacement
        );
    }
}
