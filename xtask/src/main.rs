//! `cargo xtask`: the operator tool. See `cargo xtask --help`.

mod aws;
mod bench;
mod bench_local;
mod bootstrap;
mod build;
mod canvas_data_cmd;
mod codegen;
mod db_prepare;
mod deploy;
mod deployed;
mod destroy;
mod diff;
mod e2e;
mod invoke;
mod lint;
mod list;
mod local;
mod logs;
mod release;
mod run_cmd;
mod synth;
mod system;
mod test_cmd;
mod trigger;
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
    /// Build the arm64 Lambda zips (cargo-lambda) and target/assets.json.
    Build {
        /// Only this service's functions.
        #[arg(long)]
        service: Option<String>,
        /// Only this function (`<service>-<function>`).
        #[arg(long)]
        function: Option<String>,
    },
    /// Synth, build, upload and deploy a stage's stacks, after showing the changes.
    Deploy {
        #[command(flatten)]
        target: Target,
        /// Update only function code and state machine definitions when nothing else changed.
        #[arg(long)]
        hotswap: bool,
        /// How CloudFormation applies templates; default: change-set on AWS, direct on local.
        #[arg(long, value_enum)]
        method: Option<deploy::stack::Method>,
    },
    /// Synthesized vs deployed templates; exit 0 when equal, 1 when different.
    Diff {
        #[arg(long)]
        stage: String,
        #[arg(long)]
        service: Option<String>,
    },
    /// Invoke a function: deployed (Lambda Invoke) or --local behind a local Runtime API.
    Invoke {
        /// `<service>-<function>`, e.g. mips-cache-api.
        function: String,
        #[arg(long)]
        stage: String,
        /// A sample event's short name (functions/<service>/events/<name>.json) or a file.
        #[arg(long, conflicts_with = "data")]
        event: Option<String>,
        /// The event as inline JSON.
        #[arg(long)]
        data: Option<String>,
        /// Extra environment for --local, KEY=VALUE (repeatable).
        #[arg(long = "env")]
        env: Vec<String>,
        /// Run the host build locally instead of the deployed function.
        #[arg(long)]
        local: bool,
    },
    /// Delete a stage's stacks.
    Destroy {
        #[command(flatten)]
        target: Target,
    },
    /// Services, functions and stacks; with --stage, whether each is deployed.
    List {
        #[arg(long)]
        stage: Option<String>,
    },
    /// A function's CloudWatch logs.
    Logs {
        function: String,
        #[arg(long)]
        stage: String,
        #[arg(long, default_value = "10m")]
        since: String,
        #[arg(long)]
        follow: bool,
    },
    /// Set up a service's database idempotently: canvas-data's (application role with the
    /// password from its secret, schema, grants; on AWS the secret is created on first use) or
    /// skill-sync's (login, database, the app's tables).
    DbPrepare {
        #[arg(long)]
        stage: String,
        /// canvas-data (default) or skill-sync.
        #[arg(long)]
        service: Option<String>,
        /// Connect through this host instead (a tunnel to a private cluster).
        #[arg(long)]
        host: Option<String>,
        /// Connect through this port instead.
        #[arg(long)]
        port: Option<u16>,
    },
    /// canvas-data's tables: their status, or a reset so a table's next run re-inits.
    CanvasData {
        #[command(subcommand)]
        action: canvas_data_cmd::Action,
    },
    /// Print performance numbers: synth, no-op deploy, rebuild, zip sizes, cold start.
    Bench {
        /// Only this benchmark.
        name: Option<String>,
    },
    /// Release steps the tag workflow runs: check, notes, build, role, smoke.
    Release {
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// Run cfn-lint and checkov over synthesized templates (run synth first).
    Lint,
    /// Run every test and check CI runs; `--quick` skips what needs local services.
    Test {
        /// Skip what needs the local services (emulator, PostgreSQL).
        #[arg(long)]
        quick: bool,
        /// Run only the phases whose name contains this (e.g. `end-to-end`, `clippy`).
        #[arg(long, value_name = "NAME")]
        only: Option<String>,
    },
    /// The local stage: AWS emulator, PostgreSQL, local Lambda service, third-party fakes.
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
    /// Create or update the stage's bootstrap stack: asset bucket, GitHub OIDC deploy role,
    /// CloudFormation execution role.
    Bootstrap(bootstrap::Args),
    /// Fire one schedule's target with its input now (EventBridge's schedule, by hand).
    Trigger(trigger::Args),
    /// Start a state machine execution and print its state transitions as they happen.
    Run(run_cmd::Args),
    /// Regenerate the L1 CloudFormation types from the pinned cfn-lint's resource schemas.
    Codegen {
        /// Fail instead of writing when the committed code is stale.
        #[arg(long)]
        check: bool,
    },
}

/// What `deploy` and `destroy` act on, and the operator's approval.
#[derive(clap::Args)]
struct Target {
    #[arg(long)]
    stage: String,
    /// Only this service's stack.
    #[arg(long)]
    service: Option<String>,
    /// Do not ask (required without a terminal).
    #[arg(long)]
    yes: bool,
    /// The stage's name, required with --yes for prod.
    #[arg(long)]
    confirm: Option<String>,
}

#[derive(Subcommand)]
enum ReleaseAction {
    /// Fail unless the tag equals the workspace version and CHANGELOG.md has its section.
    Check {
        #[arg(long)]
        tag: String,
    },
    /// Print the changelog section of a version (the GitHub release's text).
    Notes { tag: String },
    /// Build every zip twice, require identical bytes, write target/release-artifacts/SHA256SUMS.
    Build,
    /// Print a stage's deploy role ARN (for OIDC in CI).
    Role {
        #[arg(long)]
        stage: String,
    },
    /// Invoke every deployed function of a stage with its smoke event.
    Smoke {
        #[arg(long)]
        stage: String,
    },
}

#[derive(Subcommand)]
enum LocalAction {
    /// Install (first time) and start the emulator and PostgreSQL; idempotent.
    Up {
        /// Also fire every schedule on its rate/cron times while the local stage runs.
        #[arg(long)]
        schedules: bool,
    },
    /// The messages published to a local SNS topic (name, logical id or ARN).
    Messages(local::messages::Args),
    /// Stop both; the emulator's state is lost, the database's is kept.
    Down,
    /// Show what is running and where.
    Status,
    /// Serve the local Lambda service and the third-party fakes in the foreground (`up` runs
    /// this in the background).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        lambda_port: Option<u16>,
        #[arg(long)]
        mips_port: Option<u16>,
        #[arg(long)]
        dap_port: Option<u16>,
        #[arg(long)]
        airtable_port: Option<u16>,
        #[arg(long)]
        badgr_port: Option<u16>,
        #[arg(long)]
        github_port: Option<u16>,
        /// Fire schedules on their times.
        #[arg(long)]
        schedules: bool,
    },
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(Cli::parse())) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    let stage = synth::load_stage;
    match cli.command {
        Cmd::Build { service, function } => {
            let stage = stage("local")?;
            let stacks = infra::synth_stage(&stage, service.as_deref())?;
            let mut binaries: Vec<String> = stacks
                .iter()
                .flat_map(|s| s.functions.iter().map(|f| f.binary.clone()))
                .collect();
            if let Some(f) = function {
                anyhow::ensure!(
                    binaries.contains(&f),
                    "no function `{f}`; known: {}",
                    binaries.join(", ")
                );
                binaries = vec![f];
            }
            build::build(&binaries)?;
            Ok(0)
        }
        Cmd::Deploy {
            target: t,
            hotswap,
            method,
        } => {
            deploy::run(
                stage(&t.stage)?,
                deploy::Args {
                    service: t.service,
                    yes: t.yes,
                    confirm: t.confirm,
                    hotswap,
                    method,
                },
            )
            .await?;
            Ok(0)
        }
        Cmd::Diff { stage: s, service } => {
            Ok(if diff::run(stage(&s)?, service.as_deref()).await? {
                0
            } else {
                1
            })
        }
        Cmd::Invoke {
            function,
            stage: s,
            event,
            data,
            env,
            local,
        } => {
            invoke::run(
                invoke::Args {
                    function,
                    event,
                    data,
                    env,
                    local,
                },
                stage(&s)?,
            )
            .await?;
            Ok(0)
        }
        Cmd::Destroy { target: t } => {
            destroy::run(
                stage(&t.stage)?,
                t.service.as_deref(),
                t.yes,
                t.confirm.as_deref(),
            )
            .await?;
            Ok(0)
        }
        Cmd::List { stage: s } => {
            list::run(s.map(|s| stage(&s)).transpose()?).await?;
            Ok(0)
        }
        Cmd::Release { action } => {
            match action {
                ReleaseAction::Check { tag } => release::check(&tag)?,
                ReleaseAction::Notes { tag } => release::notes(&tag)?,
                ReleaseAction::Build => release::build_artifacts()?,
                ReleaseAction::Role { stage } => release::role(&stage)?,
                ReleaseAction::Smoke { stage: s } => release::smoke(stage(&s)?).await?,
            }
            Ok(0)
        }
        Cmd::DbPrepare {
            stage: s,
            service,
            host,
            port,
        } => {
            db_prepare::run_service(
                &stage(&s)?,
                service.as_deref(),
                db_prepare::Reach { host, port },
            )
            .await?;
            Ok(0)
        }
        Cmd::CanvasData { action } => {
            let s = stage(action.stage())?;
            canvas_data_cmd::run(action, s).await?;
            Ok(0)
        }
        Cmd::Bench { name } => {
            bench::run(name.as_deref()).await?;
            Ok(0)
        }
        Cmd::Logs {
            function,
            stage: s,
            since,
            follow,
        } => {
            logs::run(stage(&s)?, &function, &since, follow).await?;
            Ok(0)
        }
        Cmd::Bootstrap(args) => args.run().await,
        Cmd::Trigger(args) => args.run().await,
        Cmd::Run(args) => args.run().await,
        Cmd::Local { action } => {
            let stage = stage("local")?;
            match action {
                LocalAction::Up { schedules } => {
                    local::up_with(&stage, local::Options { schedules }).await?;
                    local::status(&stage)?;
                }
                LocalAction::Down => local::down(&stage)?,
                LocalAction::Status => local::status(&stage)?,
                LocalAction::Serve {
                    lambda_port,
                    mips_port,
                    dap_port,
                    airtable_port,
                    badgr_port,
                    github_port,
                    schedules,
                } => {
                    let skill_sync = local::fakes::SkillSyncPorts {
                        airtable: airtable_port,
                        badgr: badgr_port,
                        github: github_port,
                    };
                    local::serve(
                        &stage,
                        lambda_port,
                        mips_port,
                        dap_port,
                        skill_sync,
                        schedules,
                    )
                    .await?
                }
                LocalAction::Messages(args) => return args.run(&stage).await,
            }
            Ok(0)
        }
        other => sync_command(other).map(|()| 0),
    }
}

fn sync_command(command: Cmd) -> Result<()> {
    match command {
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
        Cmd::Lint => {
            let dir = project_root().join("target/cfn");
            lint::run(&dir)?;
            lint::checkov(&dir)
        }
        Cmd::Test { quick, only } => test_cmd::run(quick, only.as_deref()),
        Cmd::Codegen { check } => codegen::run(check),
        _ => unreachable!("async commands are handled in run"),
    }
}

/// Run a future to completion from synchronous code inside the runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// The workspace root, whatever directory cargo was called from.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
