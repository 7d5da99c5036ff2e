//! `cargo xtask test`: every check CI runs, in phases with a header, the time each took and a
//! summary. `.ci/run` calls exactly this.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{codegen, lint, project_root, synth, venv};

struct Phase {
    name: &'static str,
    needs_services: bool,
    run: fn() -> Result<()>,
}

const PHASES: &[Phase] = &[
    Phase {
        name: "tools",
        needs_services: false,
        run: tools,
    },
    Phase {
        name: "fmt",
        needs_services: false,
        run: fmt,
    },
    Phase {
        name: "clippy",
        needs_services: false,
        run: clippy,
    },
    Phase {
        name: "unit and integration tests",
        needs_services: false,
        run: tests,
    },
    Phase {
        name: "codegen freshness",
        needs_services: false,
        run: codegen_check,
    },
    Phase {
        name: "synth all stages",
        needs_services: false,
        run: synth_all,
    },
    Phase {
        name: "cfn-lint",
        needs_services: false,
        run: cfn_lint,
    },
];

pub fn run(quick: bool) -> Result<()> {
    QUICK.store(quick, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let mut results: Vec<(&str, Duration, bool)> = Vec::new();
    let mut failed = None;
    for phase in PHASES {
        if quick && phase.needs_services {
            println!("\n== {} (skipped: --quick)", phase.name);
            continue;
        }
        println!("\n== {}", phase.name);
        let t = Instant::now();
        let result = (phase.run)();
        let ok = result.is_ok();
        results.push((phase.name, t.elapsed(), ok));
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
            "{:<28} {:>8.1?} {}",
            name,
            elapsed,
            if *ok { "ok" } else { "FAILED" }
        );
    }
    println!("{:<28} {:>8.1?}", "total", started.elapsed());
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

fn cargo(args: &[&str]) -> Result<()> {
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
    Ok(())
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

fn local_services() -> Result<()> {
    crate::local::up(&synth::load_stage("local")?)
}

fn tests() -> Result<()> {
    cargo(&["test", "--workspace", "--quiet"])
}

/// Without services: every crate's unit tests, and the integration tests that need nothing running.
fn quick_tests() -> Result<()> {
    if !QUICK.load(std::sync::atomic::Ordering::Relaxed) {
        println!("(covered by the full test phase)");
        return Ok(());
    }
    cargo(&["test", "--workspace", "--lib", "--bins", "--quiet"])?;
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

static QUICK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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
