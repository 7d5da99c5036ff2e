//! The command line: one args struct per subcommand. Each struct's `run()` lives in the module
//! that does the work (as in rust-analyzer's `xtask/src/flags.rs`), so `main.rs` only dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{bootstrap, canvas_data_cmd, deploy, local, run_cmd, trigger};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, check, synthesize and test the serverless platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Write the CloudFormation templates of a stage (or all) to target/cfn/<stage>/, after checks.
    Synth(Synth),
    /// Build the arm64 Lambda zips (cargo-lambda) and target/assets.json.
    Build(Build),
    /// Synth, build, upload and deploy a stage's stacks, after showing the changes.
    Deploy(Deploy),
    /// Synthesized vs deployed templates; exit 0 when equal, 1 when different.
    Diff(Diff),
    /// CloudFormation drift detection of the deployed stacks, per resource and property; exit 0
    /// when in sync (or drifted only by `deploy --hotswap`), 1 when drifted.
    Drift(Drift),
    /// Invoke a function: deployed (Lambda Invoke) or --local behind a local Runtime API.
    Invoke(Invoke),
    /// Delete a stage's stacks.
    Destroy(Destroy),
    /// Services, functions and stacks; with --stage, whether each is deployed.
    List(List),
    /// A function's CloudWatch logs.
    Logs(Logs),
    /// Set up a service's database idempotently: canvas-data's (application role with the
    /// password from its secret, schema, grants; on AWS the secret is created on first use) or
    /// skill-sync's (login, database, the app's tables).
    DbPrepare(DbPrepare),
    /// canvas-data's tables: their status, or a reset so a table's next run re-inits.
    CanvasData(CanvasData),
    /// Print performance numbers: synth, no-op deploy, rebuild, zip sizes, cold start.
    Bench(Bench),
    /// Release steps the tag workflow runs: check, notes, build, role, smoke.
    Release(Release),
    /// Run cfn-lint and checkov over synthesized templates (run synth first).
    Lint(Lint),
    /// Run every test and check CI runs; `--quick` skips what needs local services.
    Test(Test),
    /// Run one service's end-to-end flow against the deployed local stage (what the end-to-end
    /// phase of `test` runs after its deploy). Deploy as that phase does first:
    /// `XTASK_STAGE_OVERLAY=e2e cargo xtask deploy --stage local` (short timeouts the flows expect).
    Flow(crate::e2e::FlowArgs),
    /// The local stage: AWS emulator, PostgreSQL, local Lambda service, third-party fakes.
    Local(Local),
    /// Create or update the stage's bootstrap stack: asset bucket, GitHub OIDC deploy role,
    /// CloudFormation execution role.
    Bootstrap(bootstrap::Args),
    /// Fire one schedule's target with its input now (EventBridge's schedule, by hand).
    Trigger(trigger::Args),
    /// Start a state machine execution and print its state transitions as they happen.
    Run(run_cmd::Args),
    /// Regenerate the L1 CloudFormation types from the pinned cfn-lint's resource schemas.
    Codegen(Codegen),
}

#[derive(clap::Args)]
pub struct Synth {
    /// Stage: local, dev, qa or prod.
    #[arg(long, required_unless_present = "all_stages")]
    pub stage: Option<String>,
    /// Every stage.
    #[arg(long, conflicts_with = "stage")]
    pub all_stages: bool,
    /// Only this service's stack.
    #[arg(long)]
    pub service: Option<String>,
    /// Directory instead of target/cfn.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct Build {
    /// Only this service's functions.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this function (`<service>-<function>`).
    #[arg(long)]
    pub function: Option<String>,
}

#[derive(clap::Args)]
pub struct Deploy {
    #[command(flatten)]
    pub target: Target,
    /// Update only function code and state machine definitions when nothing else changed.
    #[arg(long)]
    pub hotswap: bool,
    /// How CloudFormation applies templates; default: change-set on AWS, direct on local.
    #[arg(long, value_enum)]
    pub method: Option<deploy::stack::Method>,
    /// Deploy the zips in DIR (what `release build` wrote) instead of building: every zip the
    /// stacks need must match DIR/SHA256SUMS, or nothing is uploaded.
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct Diff {
    #[arg(long)]
    pub stage: String,
    #[arg(long)]
    pub service: Option<String>,
}

#[derive(clap::Args)]
pub struct Drift {
    #[arg(long)]
    pub stage: String,
    /// Only this service's stack.
    #[arg(long)]
    pub service: Option<String>,
}

#[derive(clap::Args)]
pub struct Invoke {
    /// `<service>-<function>`, e.g. mips-cache-api.
    pub function: String,
    #[arg(long)]
    pub stage: String,
    /// A sample event's short name (functions/<service>/events/<name>.json) or a file.
    #[arg(long, conflicts_with = "data")]
    pub event: Option<String>,
    /// The event as inline JSON.
    #[arg(long)]
    pub data: Option<String>,
    /// Extra environment for --local, KEY=VALUE (repeatable).
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// Run the host build locally instead of the deployed function.
    #[arg(long)]
    pub local: bool,
}

#[derive(clap::Args)]
pub struct Destroy {
    #[command(flatten)]
    pub target: Target,
}

#[derive(clap::Args)]
pub struct List {
    #[arg(long)]
    pub stage: Option<String>,
}

#[derive(clap::Args)]
pub struct Logs {
    pub function: String,
    #[arg(long)]
    pub stage: String,
    #[arg(long, default_value = "10m")]
    pub since: String,
    #[arg(long)]
    pub follow: bool,
}

#[derive(clap::Args)]
pub struct DbPrepare {
    #[arg(long)]
    pub stage: String,
    /// canvas-data (default) or skill-sync.
    #[arg(long)]
    pub service: Option<String>,
    /// Connect through this host instead (a tunnel to a private cluster).
    #[arg(long)]
    pub host: Option<String>,
    /// Connect through this port instead.
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(clap::Args)]
pub struct CanvasData {
    #[command(subcommand)]
    pub action: canvas_data_cmd::Action,
}

#[derive(clap::Args)]
pub struct Bench {
    /// Only this benchmark.
    pub name: Option<String>,
    /// Cold starts per function, of which the median is printed (`zips`).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// `zips`: also measure the zips in DIR (`<binary>.zip`, as `release build` writes them) and
    /// print them beside the built ones, before → after.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
pub struct Release {
    #[command(subcommand)]
    pub action: ReleaseAction,
}

#[derive(clap::Args)]
pub struct Lint {}

#[derive(clap::Args)]
pub struct Test {
    /// Skip what needs the local services (emulator, PostgreSQL).
    #[arg(long)]
    pub quick: bool,
    /// Run only the phases whose name contains this (e.g. `end-to-end`, `clippy`).
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
}

#[derive(clap::Args)]
pub struct Local {
    #[command(subcommand)]
    pub action: LocalAction,
}

#[derive(clap::Args)]
pub struct Codegen {
    /// Fail instead of writing when the committed code is stale.
    #[arg(long)]
    pub check: bool,
}

/// What `deploy` and `destroy` act on, and the operator's approval.
#[derive(clap::Args)]
pub struct Target {
    #[arg(long)]
    pub stage: String,
    /// Only this service's stack.
    #[arg(long)]
    pub service: Option<String>,
    /// Do not ask (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// The stage's name, required with --yes for prod.
    #[arg(long)]
    pub confirm: Option<String>,
}

#[derive(Subcommand)]
pub enum ReleaseAction {
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
pub enum LocalAction {
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
        /// The fake mentor GraphQL of upload-processor.
        #[arg(long)]
        graphql_port: Option<u16>,
        /// Fire schedules on their times.
        #[arg(long)]
        schedules: bool,
    },
}
