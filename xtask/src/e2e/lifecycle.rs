//! The end-to-end steps that change deployed stacks through the command line, as an operator
//! would: `deploy --hotswap` around CloudFormation, `destroy`, and the change-set method that AWS
//! stages use (the emulator's change sets list no changes for updates and drop outputs, so
//! the checks here are on the stack's status, parameters and the functions' code).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use aws_sdk_cloudformation::types::StackStatus;
use base64::Engine;
use infra::stage::Stage;

use super::remote::invoke;
use super::xtask;
use crate::deploy::hotswap;
use crate::{aws, build, deployed, invoke as invoke_cmd, ui};

/// The stack and function that the hotswap step replaces.
const HOTSWAP: (&str, &str) = ("mips-cache", "mips-cache-api");

/// The stack destroyed and re-created through change sets, and the function checked in it.
const CHANGE_SET: (&str, &str) = ("webhook-runner", "webhook-runner-intake");

fn now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

struct Function {
    stack: String,
    parameter: String,
    physical: String,
}

fn function(stage: &Stage, binary: &str) -> Result<Function> {
    let t = invoke_cmd::find(stage.clone(), binary)?;
    Ok(Function {
        stack: t.stack.name,
        parameter: t.function.code_parameter,
        physical: t.function.physical_name,
    })
}

/// The stack's code key for the function, and the stack's status.
async fn deployed_key(clients: &aws::Clients, f: &Function) -> Result<(String, StackStatus)> {
    let d = deployed::describe(&clients.cfn, &f.stack)
        .await?
        .with_context(|| format!("{} is missing", f.stack))?;
    let key = d
        .parameters
        .get(&f.parameter)
        .cloned()
        .with_context(|| format!("{} has no parameter {}", f.stack, f.parameter))?;
    Ok((key, d.status))
}

/// The zip the last build made for `binary`, and whether Lambda runs exactly it.
async fn lambda_runs_latest_zip(
    clients: &aws::Clients,
    binary: &str,
    f: &Function,
) -> Result<(build::Asset, bool)> {
    let asset = build::read_manifest()
        .functions
        .get(binary)
        .cloned()
        .with_context(|| format!("target/assets.json has no {binary}"))?;
    let got = clients
        .lambda
        .get_function()
        .function_name(&f.physical)
        .send()
        .await
        .map_err(|e| aws::explain("lambda:GetFunction", &f.physical, e))?;
    let sha = got
        .configuration()
        .and_then(|c| c.code_sha256())
        .unwrap_or_default();
    let digest = base64::engine::general_purpose::STANDARD.decode(sha)?;
    let same = build::hex(&digest) == asset.sha256;
    Ok((asset, same))
}

/// Re-zip one function with another timestamp (new bytes, same binary), `deploy --hotswap` it,
/// and check that Lambda has the new code while CloudFormation still has the old key; then a
/// full deploy brings the stack in line.
pub async fn hotswap(stage: &Stage) -> Result<()> {
    let (service, binary) = HOTSWAP;
    let f = function(stage, binary)?;
    let (stack, parameter) = (&f.stack, &f.parameter);
    let clients = aws::Clients::new(stage).await;
    let (before, _) = deployed_key(&clients, &f).await?;
    let epoch = Some(now()?);
    let deploy = ["deploy", "--stage", "local", "--service", service, "--yes"];
    let text = xtask(&[&deploy[..], &["--hotswap"]].concat(), epoch)?;
    ensure!(
        text.contains(&format!("hotswapped code of {}", f.physical)),
        "deploy --hotswap did not hotswap:\n{text}"
    );
    let (asset, runs_it) = lambda_runs_latest_zip(&clients, binary, &f).await?;
    ensure!(
        before != asset.key(),
        "the re-stamped zip has the old key {before}"
    );
    ensure!(
        runs_it,
        "after the hotswap Lambda does not have the new zip {}",
        asset.sha256
    );
    ensure!(
        deployed_key(&clients, &f).await?.0 == before,
        "the hotswap changed the stack's {parameter}; it should go around CloudFormation"
    );
    let smoke = invoke_cmd::load_event(service, binary, Some("smoke"), None)?;
    let out = invoke(stage, binary, smoke).await?;
    ensure!(
        out.function_error.is_none(),
        "the hotswapped {binary} failed: {}",
        String::from_utf8_lossy(&out.payload)
    );
    ui::ok(format!(
        "deploy --hotswap: {binary} runs the new zip {}; {stack} still has {parameter}={before}",
        &asset.sha256[..16]
    ));
    let drift = ["drift", "--stage", "local", "--service", service];
    // exit 0: drift that only the hotswap made is expected
    let text = xtask(&drift, None)?;
    ensure!(
        text.contains(&format!(
            "{stack}: DRIFTED as expected after `deploy --hotswap`"
        )) && text.contains(&format!("{}: MODIFIED", f.physical))
            && text.contains("/Code: expected ")
            && text.contains("expected: hotswapped "),
        "drift after the hotswap does not name {binary}'s code as expected drift:\n{text}"
    );
    ui::ok(format!(
        "drift: {stack} drifted as expected, in {binary}'s code"
    ));

    let text = xtask(&deploy, epoch)?;
    let (after, _) = deployed_key(&clients, &f).await?;
    ensure!(
        after == asset.key(),
        "the full deploy after the hotswap left {parameter}={after}:\n{text}"
    );
    ui::ok(format!(
        "full deploy after it: {stack} has {parameter}={after}"
    ));
    let bucket = stage.asset_bucket();
    ensure!(
        hotswap::read_record(&clients.s3, &bucket, stack)
            .await?
            .is_none(),
        "the full deploy left the hotswap record s3://{bucket}/{}",
        hotswap::record_key(stack)
    );
    let text = xtask(&drift, None)?;
    ensure!(
        text.contains(&format!("{stack}: IN_SYNC")),
        "drift after the full deploy:\n{text}"
    );
    ui::ok(format!(
        "drift after the full deploy: {stack} in sync, its hotswap record gone"
    ));
    Ok(())
}

/// `destroy` one stack, create it again through a change set, then update it through one.
pub async fn destroy_and_change_sets(stage: &Stage) -> Result<()> {
    let (service, binary) = CHANGE_SET;
    let f = function(stage, binary)?;
    let clients = aws::Clients::new(stage).await;
    xtask(
        &["destroy", "--stage", "local", "--service", service, "--yes"],
        None,
    )?;
    ensure!(
        deployed::describe(&clients.cfn, &f.stack).await?.is_none(),
        "{} still exists after destroy",
        f.stack
    );
    ui::ok(format!("destroy: {} is gone", f.stack));

    let deploy = [
        "deploy",
        "--stage",
        "local",
        "--service",
        service,
        "--yes",
        "--method",
        "change-set",
    ];
    let text = xtask(&deploy, None)?;
    let (created, status) = deployed_key(&clients, &f).await?;
    ensure!(
        status == StackStatus::CreateComplete && text.contains(&format!("{} (create", f.stack)),
        "{} after a change-set create: {}\n{text}",
        f.stack,
        status.as_str()
    );
    ui::ok(format!("deploy --method change-set: {} created", f.stack));

    // another stamp, a day back so it cannot equal the hotswap's: new zips, an update
    let epoch = now()? - Duration::from_secs(86_400).as_secs();
    let text = xtask(&deploy, Some(epoch))?;
    let (updated, status) = deployed_key(&clients, &f).await?;
    let (asset, runs_it) = lambda_runs_latest_zip(&clients, binary, &f).await?;
    ensure!(
        status == StackStatus::UpdateComplete
            && updated != created
            && updated == asset.key()
            && runs_it,
        "{} after a change-set update: {}, {}={updated} (was {created}), Lambda has the new zip: {runs_it}\n{text}",
        f.stack,
        status.as_str(),
        f.parameter
    );
    ui::ok(format!(
        "deploy --method change-set: {} updated, {binary} runs {}",
        f.stack,
        &asset.sha256[..16]
    ));
    Ok(())
}
