//! Phase 1: everything that can refuse the deploy before anything is built or uploaded: certain
//! refusals, synth with its checks, services whose code has not landed, credentials and the
//! bootstrap stack.

use anyhow::{bail, Result};
use infra::stage::Stage;

use super::stack_deploy::StackDeploy;
use super::{confirm, Args};
use crate::{aws, build, local, ui};

pub async fn run(stage: &Stage, args: &Args) -> Result<(aws::Clients, Vec<StackDeploy>)> {
    if args.hotswap && stage.is_prod() {
        bail!("--hotswap is refused for prod: production changes go through CloudFormation only");
    }
    confirm::check_up_front(&stage.name, args.yes, args.confirm.as_deref())?;
    let stacks = infra::synth_stage(stage, args.service.as_deref())?;
    if stacks.is_empty() {
        bail!(
            "no service `{}`; known: {}",
            args.service.clone().unwrap_or_default(),
            infra::services::SERVICES.join(", ")
        );
    }
    let (stacks, missing): (Vec<_>, Vec<_>) = stacks
        .into_iter()
        .partition(|s| s.functions.iter().all(|f| build::has_code(&f.binary)));
    for s in &missing {
        let msg = format!(
            "{}: its function code has not landed yet (no crate under functions/ declares {})",
            s.name,
            s.functions
                .iter()
                .map(|f| f.binary.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if args.service.is_some() {
            bail!(msg);
        }
        ui::warn(format!("{msg}; not deployed"));
    }
    if stage.is_local() {
        local::up(stage).await?;
    }
    // Credentials are checked before the build: a missing login should cost a second, not a build.
    let clients = aws::Clients::connect(stage).await?;
    if stage.is_local() {
        crate::bootstrap::ensure_local(stage).await?;
    } else {
        crate::bootstrap::check(stage, &clients.cfn).await?;
    }
    let role = infra::bootstrap::execution_role_arn(stage);
    let stacks = stacks
        .into_iter()
        .map(|s| StackDeploy::new(s, role.clone()))
        .collect();
    Ok((clients, stacks))
}
