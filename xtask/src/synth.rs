//! `cargo xtask synth`: stage → checked templates under `target/cfn/<stage>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use infra::stage::{self, Stage};
use infra::SynthesizedStack;

use crate::project_root;

pub struct Args<'a> {
    pub stages: Vec<String>,
    pub service: Option<&'a str>,
    pub out: Option<PathBuf>,
}

/// Load and validate a stage by name.
pub fn load_stage(name: &str) -> Result<Stage> {
    Ok(stage::load(&project_root(), name)?)
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let mut stacks = 0;
    for name in &args.stages {
        let stage = load_stage(name)?;
        let synthesized = infra::synth_stage(&stage, args.service)?;
        if let Some(service) = args.service {
            anyhow::ensure!(
                !synthesized.is_empty(),
                "no service `{service}`; known: {}",
                infra::services::SERVICES.join(", ")
            );
        }
        let dir = args
            .out
            .clone()
            .unwrap_or_else(|| project_root().join("target/cfn"))
            .join(name);
        write(&dir, &synthesized)?;
        // the bootstrap stack is linted and scanned with the stage's stacks
        if args.service.is_none() {
            let b = infra::bootstrap::synth(&stage)?;
            std::fs::write(
                dir.join(format!("{}.template.json", infra::bootstrap::STACK_NAME)),
                &b.body,
            )?;
        }
        for s in &synthesized {
            println!(
                "{:<24} {:>3} resources {:>7} bytes {:>2} suppressed",
                s.name,
                s.template.resources.len(),
                s.body.len(),
                s.suppressions.len()
            );
            for sup in &s.suppressions {
                println!(
                    "    suppressed {} on {}: {}",
                    sup.rule, sup.resource, sup.reason
                );
            }
        }
        stacks += synthesized.len();
    }
    println!(
        "synthesized {stacks} stacks for {} stage(s) in {:.0?} → target/cfn/",
        args.stages.len(),
        started.elapsed()
    );
    Ok(())
}

/// Templates, state machine definitions and a manifest of the functions per stack.
fn write(dir: &Path, stacks: &[SynthesizedStack]) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for s in stacks {
        fs::write(dir.join(format!("{}.template.json", s.name)), &s.body)?;
        for sm in &s.state_machines {
            let text = serde_json::to_string_pretty(&sm.definition)?;
            fs::write(dir.join(format!("{}.asl.json", sm.name)), text + "\n")?;
        }
    }
    Ok(())
}
