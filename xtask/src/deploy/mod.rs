//! `cargo xtask deploy --stage S [--service S] [--yes] [--confirm prod] [--hotswap]
//! [--artifacts DIR]`, in phases over one [`StackDeploy`] per stack:
//!
//! 1. [`preflight`]: certain refusals, synth with checks, credentials, bootstrap;
//! 2. [`upload`]: zips built here (or verified from `--artifacts`) to the asset bucket, each
//!    stack's parameters set to their keys;
//! 3. [`plan`]: per stack, no changes, a change set or a template diff;
//! 4. [`hotswap`] (with `--hotswap`): code and definitions outside CloudFormation;
//! 5. [`execute`]: review, confirm, apply (stacks in parallel, bounded);
//! 6. [`outputs`]: outputs written, then what became of every stack.
//!
//! Nothing changes in CloudFormation before phase 5 (bar deleting a stack whose first create
//! failed, with approval), and phase 6 names every stack that failed or was hotswapped, so no
//! stack is left half-deployed without the deploy saying so.

pub mod artifacts;
mod assets;
pub mod confirm;
mod execute;
pub mod hotswap;
mod outputs;
mod plan;
mod preflight;
pub mod stack;
mod stack_deploy;
mod upload;
mod zips;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use infra::stage::Stage;

pub use outputs::read_outputs;
use stack::Method;
pub use zips::Source;

pub struct Args {
    pub service: Option<String>,
    pub yes: bool,
    pub confirm: Option<String>,
    pub hotswap: bool,
    /// `None`: change sets on AWS, direct on the local stage.
    pub method: Option<Method>,
}

/// What a deploy did.
pub struct Summary {
    /// Stacks deployed, hotswapped or already up to date.
    pub stacks: Vec<String>,
    /// Stacks CloudFormation applied.
    pub changed: usize,
}

/// Deploy with zips built here.
pub async fn run(stage: Stage, args: Args) -> Result<Summary> {
    run_from(stage, args, Source::Build).await
}

/// Deploy with the zips from `source`.
pub async fn run_from(stage: Stage, args: Args, source: Source) -> Result<Summary> {
    let started = Instant::now();
    if matches!(source, Source::Build) {
        crate::build::ensure_profile_for(&stage)?;
    }
    let (clients, mut stacks) = preflight::run(&stage, &args).await?;
    let bucket = upload::run(&stage, &clients, &source, &mut stacks).await?;
    plan::run(&stage, &args, &clients, &mut stacks).await?;
    if args.hotswap {
        hotswap::run(&clients, &stage, &bucket, &mut stacks).await?;
    }
    execute::run(&stage, &args, &clients, &mut stacks).await?;
    hotswap::prune(&clients, &bucket, &stacks).await;
    outputs::run(&stage, &clients, &stacks, started).await
}

/// `--artifacts DIR` relative to where the command runs, as the operator typed it.
fn artifacts_dir(dir: PathBuf) -> Result<PathBuf> {
    dir.canonicalize().with_context(|| {
        format!(
            "--artifacts {}: no such directory; pass the one `cargo xtask release build` wrote \
             (target/release-artifacts/)",
            dir.display()
        )
    })
}

impl crate::flags::Deploy {
    pub async fn run(self) -> Result<i32> {
        let t = self.target;
        let args = Args {
            service: t.service,
            yes: t.yes,
            confirm: t.confirm,
            hotswap: self.hotswap,
            method: self.method,
        };
        let source = match self.artifacts {
            Some(dir) => Source::Artifacts(artifacts_dir(dir)?),
            None => Source::Build,
        };
        run_from(crate::synth::load_stage(&t.stage)?, args, source).await?;
        Ok(0)
    }
}
