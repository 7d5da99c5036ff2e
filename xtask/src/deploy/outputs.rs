//! Phase 6: every stack's outputs to `target/outputs/<stage>.json` (and the local runtime's
//! wiring), then the report: which stacks deployed, were up to date, were hotswapped or failed.
//! Outputs are written before a failure is reported, so the file never names stale URLs.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Result};
use infra::stage::Stage;

use super::stack_deploy::{Outcome, StackDeploy};
use super::Summary;
use crate::{aws, project_root, ui};

type Outputs = BTreeMap<String, BTreeMap<String, String>>;

pub async fn run(
    stage: &Stage,
    clients: &aws::Clients,
    stacks: &[StackDeploy],
    started: Instant,
) -> Result<Summary> {
    let mut outputs = read_outputs(stage);
    let any_failed = stacks
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Failed(_)));
    for s in stacks {
        match &s.outcome {
            Outcome::Deployed { outputs: o, .. } => {
                outputs.insert(s.name().to_string(), o.clone());
            }
            // what CloudFormation holds now: unchanged, hotswapped (outputs unchanged) or
            // rolled back
            _ => match crate::deployed::describe(&clients.cfn, s.name()).await {
                Ok(Some(d)) => {
                    outputs.insert(s.name().to_string(), d.outputs);
                }
                Ok(None) => {}
                // the failures are the news: an unreadable output must not hide them
                Err(e) if any_failed => ui::warn(format!("{}: outputs not read: {e:#}", s.name())),
                Err(e) => return Err(e),
            },
        }
    }
    let executed = stacks
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Deployed { .. } | Outcome::Failed(_)))
        .count();
    let wired = local_wiring(stage, &mut outputs).await;
    write_outputs(stage, &outputs)?;
    if executed > 0 {
        print_outputs(&outputs);
    }
    wired?;
    let names = |f: fn(&Outcome) -> bool| -> Vec<String> {
        stacks
            .iter()
            .filter(|s| f(&s.outcome))
            .map(|s| s.name().to_string())
            .collect()
    };
    let failed = names(|o| matches!(o, Outcome::Failed(_)));
    let deployed = names(|o| matches!(o, Outcome::Deployed { .. }));
    let hotswapped: Vec<String> = stacks
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Hotswapped(what) => Some(format!("{} ({what})", s.name())),
            _ => None,
        })
        .collect();
    let up_to_date = stacks.len() - executed - hotswapped.len();
    if !failed.is_empty() {
        bail!(failure_report(
            stage,
            stacks,
            executed,
            &deployed,
            &hotswapped
        ));
    }
    if executed > 0 {
        ui::ok(format!(
            "deployed to {} in {:.1?}; outputs in target/outputs/{}.json",
            stage.name,
            started.elapsed(),
            stage.name
        ));
    } else if hotswapped.is_empty() {
        ui::ok(format!(
            "no changes ({up_to_date} stack(s) up to date) in {:.2?}",
            started.elapsed()
        ));
    } else {
        ui::ok(format!(
            "hotswapped {} stack(s), {up_to_date} up to date, in {:.2?}; CloudFormation still holds the previous code keys until the next full deploy",
            hotswapped.len(),
            started.elapsed()
        ));
    }
    Ok(Summary {
        stacks: stacks.iter().map(|s| s.name().to_string()).collect(),
        changed: executed,
    })
}

/// Which stacks failed, which did not, and the command that retries only the failed ones.
fn failure_report(
    stage: &Stage,
    stacks: &[StackDeploy],
    executed: usize,
    deployed: &[String],
    hotswapped: &[String],
) -> String {
    let failed: Vec<&StackDeploy> = stacks
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed(_)))
        .collect();
    let mut msg = format!(
        "{} of {executed} stack(s) failed: {}",
        failed.len(),
        failed
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !deployed.is_empty() {
        msg.push_str(&format!("\n  deployed: {}", deployed.join(", ")));
    }
    if !hotswapped.is_empty() {
        msg.push_str(&format!(
            "\n  hotswapped (CloudFormation still holds the previous code keys): {}",
            hotswapped.join(", ")
        ));
    }
    msg.push_str(
        "\n  each failure above says the state CloudFormation left its stack in; fix the cause, then",
    );
    for s in failed {
        msg.push_str(&format!(
            "\n    cargo xtask deploy --stage {} --service {}",
            stage.name, s.synth.service
        ));
    }
    msg
}

/// The local runtime re-reads what was deployed: APIs get their localhost URL (written as each
/// stack's `ApiUrl` output, where AWS would have the execute-api one), queues their pollers. A
/// runtime that could not load the wiring fails the deploy (after the outputs are written without
/// stale URLs): the stacks are there, but nothing would answer on the API ports.
async fn local_wiring(stage: &Stage, outputs: &mut Outputs) -> Result<()> {
    if !stage.is_local() {
        return Ok(());
    }
    for values in outputs.values_mut() {
        values.remove("ApiUrl");
    }
    let r = crate::local::runtime::request_reload(stage).await.map_err(|e| {
        anyhow::anyhow!(
            "the stacks are deployed, but the local runtime did not load their wiring (APIs, queues): {e:#}\n  fix: `cargo xtask local up`, then deploy again"
        )
    })?;
    for api in &r.apis {
        outputs
            .entry(format!("{}-{}", api.service, stage.name))
            .or_default()
            .insert("ApiUrl".into(), api.url.clone());
    }
    for q in &r.queues {
        ui::ok(format!("polling {q}"));
    }
    Ok(())
}

fn outputs_path(stage: &Stage) -> std::path::PathBuf {
    project_root()
        .join("target/outputs")
        .join(format!("{}.json", stage.name))
}

pub fn read_outputs(stage: &Stage) -> Outputs {
    std::fs::read_to_string(outputs_path(stage))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_outputs(stage: &Stage, outputs: &Outputs) -> Result<()> {
    let path = outputs_path(stage);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(path, serde_json::to_string_pretty(outputs)? + "\n")?;
    Ok(())
}

fn print_outputs(outputs: &Outputs) {
    for (stack, values) in outputs {
        for (k, v) in values {
            println!("  {stack}.{k} = {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::stack_deploy::tests::demo;

    #[test]
    fn a_failure_report_names_every_stack_and_the_retry() {
        let stage = infra::stage::parse("local", "local.yaml", "").unwrap();
        let mut stacks = vec![demo("alpha"), demo("beta"), demo("gamma")];
        stacks[0].outcome = Outcome::Failed("alpha ended in ROLLBACK_COMPLETE".into());
        stacks[1].outcome = Outcome::Deployed {
            outputs: BTreeMap::new(),
            elapsed: std::time::Duration::from_secs(1),
        };
        stacks[2].outcome = Outcome::Hotswapped("code of gamma-transcode".into());
        let msg = failure_report(
            &stage,
            &stacks,
            2,
            &[stacks[1].name().to_string()],
            &[format!("{} (code of gamma-transcode)", stacks[2].name())],
        );
        let name = |i: usize| stacks[i].name().to_string();
        assert!(
            msg.starts_with(&format!("1 of 2 stack(s) failed: {}", name(0))),
            "{msg}"
        );
        assert!(msg.contains(&format!("deployed: {}", name(1))), "{msg}");
        assert!(msg.contains(&format!("hotswapped (CloudFormation still holds the previous code keys): {} (code of gamma-transcode)", name(2))), "{msg}");
        assert!(
            msg.contains(&format!(
                "cargo xtask deploy --stage {} --service alpha",
                stage.name
            )),
            "{msg}"
        );
        assert!(!msg.contains("--service beta"), "{msg}");
    }
}
