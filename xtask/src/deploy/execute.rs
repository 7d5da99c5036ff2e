//! Phase 5: show the plans, confirm, apply them (stacks in parallel, bounded), and record what
//! became of each stack. A failed stack does not stop the others: each runs to its end, so
//! every stack ends in a state the report can name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use indicatif::MultiProgress;
use infra::stage::Stage;
use tokio::sync::Semaphore;

use super::stack;
use super::stack_deploy::{Outcome, StackDeploy};
use super::{confirm, plan, Args};
use crate::{aws, ui};

/// At most this many stacks deploy at once.
const PARALLEL: usize = 4;

pub async fn run(
    stage: &Stage,
    args: &Args,
    clients: &aws::Clients,
    stacks: &mut [StackDeploy],
) -> Result<()> {
    let changed: Vec<usize> = (0..stacks.len())
        .filter(|&i| stacks[i].has_changes())
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    plan::print(stacks);
    let approved = confirm::confirm(
        &stage.name,
        args.yes,
        args.confirm.as_deref(),
        &format!("deploy {} stack(s) to {}", changed.len(), stage.name),
    );
    if let Err(e) = approved {
        let hotswapped: Vec<&str> = stacks
            .iter()
            .filter(|s| s.is_hotswapped())
            .map(|s| s.name())
            .collect();
        if hotswapped.is_empty() {
            return Err(e);
        }
        // "nothing was changed" would not be the whole truth
        return Err(e.context(format!(
            "already hotswapped before this question: {}; CloudFormation still holds their previous code keys",
            hotswapped.join(", ")
        )));
    }

    let multi = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    let mut task_stack = BTreeMap::new();
    for &i in &changed {
        let cfn = clients.cfn.clone();
        let input = stacks[i].input.clone();
        let plan = stacks[i].plan.take().expect("each plan runs once");
        let limit = limit.clone();
        let pb = multi.add(ui::spinner(format!("{}: waiting", input.name)));
        let handle = tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore open");
            let t = Instant::now();
            let r = stack::execute(&cfn, &input, &plan, &pb).await;
            pb.finish_and_clear();
            (t.elapsed(), r)
        });
        task_stack.insert(handle.id(), i);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        let (i, outcome) = match joined {
            Ok((id, (elapsed, result))) => (
                task_stack[&id],
                match result {
                    Ok(outputs) => Outcome::Deployed { outputs, elapsed },
                    Err(e) => Outcome::Failed(format!("{e:#}")),
                },
            ),
            // a panic must not hide which stack it was deploying, nor stop the report
            Err(e) => {
                let i = task_stack[&e.id()];
                (
                    i,
                    Outcome::Failed(format!(
                        "{}: its deploy stopped unexpectedly ({e}); CloudFormation may still be \
                         applying it: see `cargo xtask list --stage {}` before deploying again",
                        stacks[i].name(),
                        stage.name
                    )),
                )
            }
        };
        let name = stacks[i].name().to_string();
        match &outcome {
            Outcome::Deployed { elapsed, .. } => {
                ui::ok(format!("{name} deployed in {elapsed:.1?}"))
            }
            Outcome::Failed(e) => eprintln!("{} {e}", ui::red("failed:")),
            _ => {}
        }
        stacks[i].outcome = outcome;
    }
    Ok(())
}
