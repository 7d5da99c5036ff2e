//! The last two phases of `cargo xtask test`: deploy every stack to the local stage, run each
//! service as its users do (through the local APIs, queues, schedules and state machines),
//! invoke a function of each service (host builds with `--local`, and the deployed zips through Lambda
//! Invoke, and `release smoke`), read their logs, hotswap one, destroy one and re-create it through change sets; run the arm64 `bootstrap` of each function in `SMOKE` under
//! qemu against the local Runtime API (every deployed one answers `release smoke` through the local
//! Lambda service, under qemu too). The zips are built in `build::profile()`: the test command
//! chooses the test profile.

pub mod flows;
mod lifecycle;
mod remote;
mod transfer;
mod upload;
mod upload_media;

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_cloudformation::types::StackStatus;

use crate::invoke::runtime_api::Outcome;
use crate::invoke::{self, local};
use crate::{aws, block_on, build, deploy, deployed, project_root, synth, system, ui};

/// One invocation per service that proves its function works: (binary, event, text the
/// response must contain).
const LOCAL_INVOCATIONS: &[(&str, &str, &str)] = &[
    ("mips-cache-api", "accounts", "Leadership Academy"),
    // one MIPS session for the whole cache, against the fake that checks the balances body
    ("mips-cache-refresh", "all", "\"failed\":{}"),
    ("webhook-runner-intake", "job", "\"statusCode\":202"),
    ("canvas-data-list-tables", "all", "\"accounts\""),
    // a full snapshot of the fake's accounts, then an incremental sync on top of it
    (
        "canvas-data-init-table",
        "accounts",
        "\"state\":\"complete\"",
    ),
    (
        "canvas-data-sync-table",
        "accounts",
        "\"state\":\"complete\"",
    ),
];

/// Each function's `smoke` event and what its answer must contain (also the release smoke test).
const SMOKE: &[(&str, &str)] = &[
    ("mips-cache-api", "\"statusCode\":400"),
    ("mips-cache-refresh", "\"dry_run\":true"),
    // the key the local stage seeds: the arm64 binary read the secret and compared the key
    ("webhook-runner-authorizer", "\"verdict\":\"ok\""),
    ("webhook-runner-intake", "\"statusCode\":400"),
    ("webhook-runner-worker", "batchItemFailures"),
    ("canvas-data-list-tables", "\"state\":\"ok\""),
    ("canvas-data-sync-table", "\"state\":\"ok\""),
    ("canvas-data-init-table", "\"state\":\"ok\""),
    ("skill-sync-sync", "\"check\":\"ok\""),
    // an invalid verdict: each API function's cold start, then its 401
    ("upload-processor-api", "\"statusCode\":401"),
    ("upload-processor-transfer-api", "\"statusCode\":401"),
];

/// `cargo xtask <args>` as a child process; zips stamped with `epoch`. Returns its output.
pub(super) fn xtask(args: &[&str], epoch: Option<u64>) -> Result<String> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    if let Some(e) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", e.to_string());
    }
    let out = cmd.output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "xtask {args:?} failed:\n{text}");
    Ok(text)
}

/// Every stack, without asking.
pub fn deploy_args() -> deploy::Args {
    deploy::Args {
        service: None,
        yes: true,
        confirm: None,
        hotswap: false,
        method: None,
    }
}

/// The services whose flow `cargo xtask flow` runs, in the end-to-end phase's order.
const FLOWS: &[&str] = &[
    "mips-cache",
    "webhook-runner",
    "canvas-data",
    "skill-sync",
    "upload-processor",
];

#[derive(clap::Args)]
pub struct FlowArgs {
    /// The service whose flow runs: mips-cache, webhook-runner, canvas-data, skill-sync or
    /// upload-processor.
    pub service: String,
}

impl FlowArgs {
    pub async fn run(self) -> Result<i32> {
        std::env::set_var(synth::OVERLAY_VAR, "e2e");
        let stage = synth::load_stage("local")?;
        flow(&stage, &self.service).await?;
        Ok(0)
    }
}

async fn flow(stage: &infra::stage::Stage, service: &str) -> Result<()> {
    match service {
        "mips-cache" => flows::mips_cache(stage).await,
        "webhook-runner" => flows::webhook_runner(stage).await,
        "canvas-data" => flows::canvas_data(stage).await,
        "skill-sync" => flows::skill_sync(stage).await,
        "upload-processor" => upload::upload_processor(stage).await,
        other => bail!("no flow for `{other}`; flows: {}", FLOWS.join(", ")),
    }
}

pub fn local_stage() -> Result<()> {
    // short function timeouts (environments/local.e2e.yaml) for this process and every xtask
    // it starts, so continuations happen within the test
    std::env::set_var(synth::OVERLAY_VAR, "e2e");
    block_on(async {
        let stage = synth::load_stage("local")?;
        let first = deploy::run(stage.clone(), deploy_args()).await?;
        ensure!(!first.stacks.is_empty(), "nothing was deployed");
        let conf = aws::config(&stage).await;
        let clients = aws::Clients::from_config(&stage, &conf);
        // The account check of AWS stages, on the emulator's STS: its answer must be the account
        // in the deployed stacks' ARNs.
        let account = aws::caller_account(&conf).await?;
        let stack_id = clients
            .cfn
            .describe_stacks()
            .stack_name(&first.stacks[0])
            .send()
            .await?
            .stacks()
            .first()
            .and_then(|s| s.stack_id())
            .unwrap_or_default()
            .to_string();
        ensure!(
            stack_id.split(':').nth(4) == Some(account.as_str()),
            "sts:GetCallerIdentity answered account {account:?}; the stack is {stack_id}"
        );
        ui::ok(format!(
            "sts:GetCallerIdentity: account {account}, as in {stack_id}"
        ));
        for name in &first.stacks {
            let d = deployed::describe(&clients.cfn, name)
                .await?
                .with_context(|| format!("{name} is missing"))?;
            ensure!(
                matches!(
                    d.status,
                    StackStatus::CreateComplete | StackStatus::UpdateComplete
                ),
                "{name} is {}",
                d.status.as_str()
            );
            ui::ok(format!("{name}: {}", d.status.as_str()));
        }
        let t = Instant::now();
        let again = deploy::run(stage.clone(), deploy_args()).await?;
        ensure!(
            again.changed == 0,
            "a redeploy without changes changed {} stack(s)",
            again.changed
        );
        ui::ok(format!("redeploy: no changes, in {:.2?}", t.elapsed()));
        // the services as users run them: HTTP APIs, queues, a schedule, a state machine
        for service in FLOWS {
            flow(&stage, service).await?;
        }
        for (binary, event, expect) in LOCAL_INVOCATIONS {
            let target = invoke::find(stage.clone(), binary)?;
            if !first.stacks.contains(&target.stack.name) {
                continue;
            }
            let env = local::environment(&target).await?;
            let payload = invoke::load_event(&target.stack.service, binary, Some(event), None)?;
            let exe = project_root().join("target/debug").join(binary);
            crate::test_cmd::cargo(&["build", "--quiet", "--bin", binary])?;
            let (_, outcome) =
                local::run_binary(&target, &[exe.display().to_string()], env, payload).await?;
            check(binary, event, &outcome, expect)?;
        }
        remote::invocations(&stage).await?;
        // what the release workflow runs against qa and prod, here through the local Lambda service
        xtask(&["release", "smoke", "--stage", "local"], None)?;
        ui::ok("release smoke --stage local: every function answered its smoke event");
        lifecycle::hotswap(&stage).await?;
        lifecycle::destroy_and_change_sets(&stage).await?;
        Ok(())
    })
}

fn check(binary: &str, event: &str, outcome: &Outcome, expect: &str) -> Result<()> {
    match outcome {
        Outcome::Response(body) => {
            let text = String::from_utf8_lossy(body);
            ensure!(
                text.contains(expect),
                "{binary} --event {event} answered without `{expect}`: {text}"
            );
            ui::ok(format!(
                "{binary} --event {event}: {} bytes, contains `{expect}`",
                body.len()
            ));
            Ok(())
        }
        other => bail!("{binary} --event {event} failed: {other:?}"),
    }
}

pub fn arm64_boot() -> Result<()> {
    system::ensure_qemu()?;
    block_on(async {
        let stage = synth::load_stage("local")?;
        let binaries: Vec<String> = SMOKE
            .iter()
            .map(|(b, _)| b.to_string())
            .filter(|b| build::has_code(b))
            .collect();
        let assets = build::build(&binaries)?;
        for (binary, expect) in SMOKE {
            let Some(asset) = assets.get(*binary) else {
                continue;
            };
            let target = invoke::find(stage.clone(), binary)?;
            let env = local::environment(&target).await?;
            let payload = invoke::load_event(&target.stack.service, binary, Some("smoke"), None)?;
            let bootstrap = project_root()
                .join("target/lambda")
                .join(binary)
                .join("bootstrap");
            let mut command = system::qemu_prefix().to_vec();
            command.push(bootstrap.display().to_string());
            let (_, outcome) = local::run_binary(&target, &command, env, payload).await?;
            check(binary, "smoke (arm64 under qemu)", &outcome, expect)?;
            ui::ok(format!(
                "{binary}: zip ({}) {} bytes, sha256 {}",
                build::profile()?,
                asset.size,
                &asset.sha256[..16]
            ));
        }
        Ok(())
    })
}
