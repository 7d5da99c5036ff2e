//! `cargo xtask test`: every check CI runs, in phases with a header, the time each took and a
//! summary. `.ci/run` calls exactly this. `--quick` runs only what needs no local services.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{build, codegen, e2e, lint, project_root, synth, venv};

struct Phase {
    name: &'static str,
    /// Skipped by `--quick`.
    needs_services: bool,
    /// Run only by `--quick` (the full run covers it elsewhere).
    quick_only: bool,
    run: fn() -> Result<()>,
}

const fn phase(name: &'static str, needs_services: bool, run: fn() -> Result<()>) -> Phase {
    Phase {
        name,
        needs_services,
        quick_only: false,
        run,
    }
}

const PHASES: &[Phase] = &[
    phase("tools", false, tools),
    phase("fmt", false, fmt),
    phase("clippy", false, clippy),
    phase("codegen freshness", false, codegen_check),
    phase("synth all stages", false, synth_all),
    phase("cfn-lint", false, cfn_lint),
    phase("checkov", false, checkov),
    phase("workflows (actionlint)", false, actionlint),
    Phase {
        name: "unit tests",
        needs_services: false,
        quick_only: true,
        run: quick_tests,
    },
    phase("local services", true, local_services),
    phase("unit and integration tests", true, tests),
    phase("end-to-end on the local stage", true, e2e::local_stage),
    phase("arm64 artifacts boot under qemu", true, arm64_boot),
];

pub fn run(quick: bool, only: Option<&str>) -> Result<()> {
    if let Some(o) = only {
        if !PHASES.iter().any(|p| p.name.contains(o)) {
            let names: Vec<&str> = PHASES.iter().map(|p| p.name).collect();
            bail!("no phase named like `{o}`; phases: {}", names.join(", "));
        }
    }
    // The end-to-end and boot phases deploy and run the test profile's zips (built in half the
    // time) unless the caller chose; the zips that ship are smoke-tested in qa before prod.
    if std::env::var_os(build::PROFILE_VAR).is_none() {
        std::env::set_var(build::PROFILE_VAR, build::TEST_PROFILE);
    }
    let started = Instant::now();
    let mut results: Vec<(&str, Duration, bool)> = Vec::new();
    let mut failed = None;
    for phase in PHASES {
        if (quick && phase.needs_services)
            || (!quick && phase.quick_only)
            || only.is_some_and(|o| !phase.name.contains(o))
        {
            continue;
        }
        println!("\n== {}", phase.name);
        let t = Instant::now();
        let result = (phase.run)();
        results.push((phase.name, t.elapsed(), result.is_ok()));
        if let Err(e) = result {
            eprintln!("error: {e:#}");
            failed = Some(phase.name);
            break;
        }
        println!("-- {} ok in {:.1?}", phase.name, t.elapsed());
    }
    println!("\n== summary");
    for (name, elapsed, ok) in &results {
        println!(
            "{:<34} {:>8.1?} {}",
            name,
            elapsed,
            if *ok { "ok" } else { "FAILED" }
        );
    }
    println!("{:<34} {:>8.1?}", "total", started.elapsed());
    let passed = results.iter().filter(|r| r.2).count();
    println!(
        "phases: {} passed, {} failed",
        passed,
        results.len() - passed
    );
    if let Some(name) = failed {
        bail!("phase `{name}` failed");
    }
    Ok(())
}

pub fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(project_root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn tools() -> Result<()> {
    venv::ensure()?;
    // [layers] upload-processor's tests run the host's ffmpeg and ffprobe
    crate::system::ensure_ffmpeg()?;
    Ok(())
}

/// [layers] the function zips' smoke events, then the ffmpeg layer's binary on a short clip.
fn arm64_boot() -> Result<()> {
    e2e::arm64_boot()?;
    crate::layers::check_under_qemu()
}

fn fmt() -> Result<()> {
    cargo(&["fmt", "--all", "--check"])
}

fn clippy() -> Result<()> {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ])
}

fn codegen_check() -> Result<()> {
    codegen::run(true)
}

fn synth_all() -> Result<()> {
    synth::run(synth::Args {
        stages: infra::stage::STAGES.iter().map(|s| s.to_string()).collect(),
        service: None,
        out: None,
    })
}

fn cfn_lint() -> Result<()> {
    lint::run(&project_root().join("target/cfn"))
}

fn checkov() -> Result<()> {
    lint::checkov(&project_root().join("target/cfn"))
}

fn actionlint() -> Result<()> {
    let tool = venv::tool("actionlint")?;
    let status = Command::new(&tool)
        .current_dir(project_root())
        .status()
        .with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        bail!("actionlint found problems in .github/workflows");
    }
    println!("actionlint: .github/workflows ok");
    Ok(())
}

fn local_services() -> Result<()> {
    crate::block_on(crate::local::up(&synth::load_stage("local")?))
}

fn tests() -> Result<()> {
    cargo(&["test", "--workspace", "--quiet"])
}

/// Without services: every crate's unit tests, and the integration tests that need nothing running.
fn quick_tests() -> Result<()> {
    // tests named `…_on_the_emulator` need `local up`; the full run has them
    cargo(&[
        "test",
        "--workspace",
        "--lib",
        "--bins",
        "--quiet",
        "--",
        "--skip",
        "on_the_emulator",
    ])?;
    cargo(&[
        "test",
        "-p",
        "infra",
        "-p",
        "state-machines",
        "--tests",
        "--quiet",
    ])
}

impl crate::flags::Test {
    pub fn run(self) -> Result<i32> {
        run(self.quick, self.only.as_deref())?;
        Ok(0)
    }
}
