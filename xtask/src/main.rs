//! `cargo xtask`: the operator tool. See `cargo xtask --help`.

mod aws;
mod codegen;
mod lint;
mod local;
mod synth;
mod system;
mod test_cmd;
mod ui;
mod venv;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, check, synthesize and test the serverless platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the CloudFormation templates of a stage (or all) to target/cfn/<stage>/, after checks.
    Synth {
        /// Stage: local, dev, qa or prod.
        #[arg(long, required_unless_present = "all_stages")]
        stage: Option<String>,
        /// Every stage.
        #[arg(long, conflicts_with = "stage")]
        all_stages: bool,
        /// Only this service's stack.
        #[arg(long)]
        service: Option<String>,
        /// Directory instead of target/cfn.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run cfn-lint over synthesized templates (run synth first).
    Lint,
    /// Run every test and check CI runs; `--quick` skips what needs local services.
    Test {
        #[arg(long)]
        quick: bool,
    },
    /// The local stage's AWS emulator and PostgreSQL.
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
    /// Regenerate the L1 CloudFormation types from the pinned cfn-lint's resource schemas.
    Codegen {
        /// Fail instead of writing when the committed code is stale.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum LocalAction {
    /// Install (first time) and start the emulator and PostgreSQL; idempotent.
    Up,
    /// Stop both; the emulator's state is lost, the database's is kept.
    Down,
    /// Show what is running and where.
    Status,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Synth {
            stage,
            all_stages,
            service,
            out,
        } => {
            let stages = if all_stages {
                infra::stage::STAGES.iter().map(|s| s.to_string()).collect()
            } else {
                stage.into_iter().collect()
            };
            synth::run(synth::Args {
                stages,
                service: service.as_deref(),
                out,
            })
        }
        Cmd::Lint => lint::run(&project_root().join("target/cfn")),
        Cmd::Test { quick } => test_cmd::run(quick),
        Cmd::Codegen { check } => codegen::run(check),
        Cmd::Local { action } => {
            let stage = synth::load_stage("local")?;
            match action {
                LocalAction::Up => local::up(&stage),
                LocalAction::Down => local::down(&stage),
                LocalAction::Status => local::status(&stage),
            }
        }
    }
}

/// The workspace root, whatever directory cargo was called from.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
