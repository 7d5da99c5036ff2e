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
/// The environment variable naming a stage-file overlay: with `XTASK_STAGE_OVERLAY=e2e`,
/// `environments/<stage>.e2e.yaml` (when it exists) is merged over `environments/<stage>.yaml`.
/// The end-to-end test uses it for short timeouts the everyday local stage should not have.
pub const OVERLAY_VAR: &str = "XTASK_STAGE_OVERLAY";

pub fn load_stage(name: &str) -> Result<Stage> {
    let root = project_root();
    let overlay = std::env::var(OVERLAY_VAR).unwrap_or_default();
    let over_rel = format!("environments/{name}.{overlay}.yaml");
    if overlay.is_empty() || !root.join(&over_rel).exists() {
        return Ok(stage::load(&root, name)?);
    }
    let base_rel = format!("environments/{name}.yaml");
    let read = |rel: &str| -> Result<serde_yaml_ng::Value> {
        let text =
            std::fs::read_to_string(root.join(rel)).with_context(|| format!("reading {rel}"))?;
        serde_yaml_ng::from_str(&text).with_context(|| format!("{rel} is not YAML"))
    };
    let mut merged = read(&base_rel)?;
    merge(&mut merged, read(&over_rel)?);
    let text = serde_yaml_ng::to_string(&merged)?;
    Ok(stage::parse(
        name,
        &format!("{base_rel} with {over_rel}"),
        &text,
    )?)
}

/// Mappings merge key by key; anything else in the overlay replaces the base.
fn merge(base: &mut serde_yaml_ng::Value, over: serde_yaml_ng::Value) {
    match (base, over) {
        (serde_yaml_ng::Value::Mapping(b), serde_yaml_ng::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
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

impl crate::flags::Synth {
    pub fn run(self) -> Result<i32> {
        let stages = if self.all_stages {
            infra::stage::STAGES.iter().map(|s| s.to_string()).collect()
        } else {
            self.stage.into_iter().collect()
        };
        run(Args {
            stages,
            service: self.service.as_deref(),
            out: self.out,
        })?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_merges_over_the_stage_file_key_by_key() {
        let mut base: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("a: {b: 1, c: {d: 2, e: 3}}\nf: [1]").unwrap();
        let over: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("a: {c: {e: 4}, g: 5}\nf: [2]").unwrap();
        merge(&mut base, over);
        let want: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("a: {b: 1, c: {d: 2, e: 4}, g: 5}\nf: [2]").unwrap();
        assert_eq!(base, want);
    }

    #[test]
    fn the_e2e_overlay_shortens_the_local_functions() {
        let stage = |overlay: &str| {
            let root = project_root();
            let mut base: serde_yaml_ng::Value = serde_yaml_ng::from_str(
                &fs::read_to_string(root.join("environments/local.yaml")).unwrap(),
            )
            .unwrap();
            if !overlay.is_empty() {
                let over =
                    serde_yaml_ng::from_str(&fs::read_to_string(root.join(overlay)).unwrap())
                        .unwrap();
                merge(&mut base, over);
            }
            stage::parse("local", "t", &serde_yaml_ng::to_string(&base).unwrap()).unwrap()
        };
        let plain = stage("");
        let e2e = stage("environments/local.e2e.yaml");
        let worker = |s: &Stage| {
            s.services
                .webhook_runner
                .functions
                .worker
                .as_ref()
                .and_then(|w| w.timeout)
        };
        assert_eq!(worker(&plain), None);
        assert_eq!(worker(&e2e).map(|t| t.0), Some(20));
        // the rest of local.yaml is kept
        assert_eq!(e2e.local, plain.local);
    }
}
