//! The end-to-end steps that go through the deployed stacks rather than host builds: Lambda
//! Invoke of the deployed arm64 zips (the local Lambda service runs them under qemu), their logs
//! in CloudWatch Logs, and `deploy --hotswap` replacing a function's code around CloudFormation.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use base64::Engine;
use infra::stage::Stage;

use crate::{aws, build, deployed, invoke, logs, ui};

/// (function, event, text the answer must contain): one per service, through Lambda Invoke.
const REMOTE_INVOCATIONS: &[(&str, &str, &str)] = &[
    ("mips-cache-api", "accounts", "Leadership Academy"),
    ("webhook-runner-intake", "job", "\"statusCode\":202"),
    ("canvas-data-list-tables", "all", "\"accounts\""),
];

/// An event the function rejects: Invoke must report a function error, the log must show it.
const FAILING: (&str, &str, &str) = (
    "canvas-data-sync-table",
    r#"{"table": "accounts"}"#,
    "table_name",
);

/// The stack, function and its code parameter that the hotswap step replaces.
const HOTSWAP: (&str, &str) = ("mips-cache", "mips-cache-api");

async fn invoke(stage: &Stage, binary: &str, payload: Vec<u8>) -> Result<invoke::Invoked> {
    let target = invoke::find(stage.clone(), binary)?;
    invoke::remote_invoke(stage, &target.function.physical_name, payload).await
}

pub async fn invocations(stage: &Stage) -> Result<()> {
    let since = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    for (binary, event, expect) in REMOTE_INVOCATIONS {
        let target = invoke::find(stage.clone(), binary)?;
        let payload = invoke::load_event(&target.stack.service, binary, Some(event), None)?;
        let out = invoke(stage, binary, payload).await?;
        let text = String::from_utf8_lossy(&out.payload);
        ensure!(
            out.function_error.is_none(),
            "Invoke {binary} --event {event} failed ({:?}): {text}",
            out.function_error
        );
        ensure!(
            text.contains(expect),
            "Invoke {binary} --event {event} answered without `{expect}`: {text}"
        );
        ensure!(
            out.log.contains("REPORT RequestId:"),
            "Invoke {binary}: the log tail has no REPORT line: {}",
            out.log
        );
        ui::ok(format!(
            "Invoke {binary} --event {event} (deployed arm64 zip): {} bytes, contains `{expect}`",
            out.payload.len()
        ));
    }

    let (binary, data, expect) = FAILING;
    let out = invoke(stage, binary, data.as_bytes().to_vec()).await?;
    let text = String::from_utf8_lossy(&out.payload);
    ensure!(
        out.function_error.as_deref() == Some("Unhandled"),
        "Invoke {binary} with a bad event: expected a function error, got {:?}: {text}",
        out.function_error
    );
    ensure!(
        text.contains(expect),
        "the error does not name `{expect}`: {text}"
    );
    ui::ok(format!(
        "Invoke {binary} with a bad event: Unhandled, names `{expect}`"
    ));

    // what the function wrote reaches CloudWatch Logs, where `cargo xtask logs` reads it
    let target = invoke::find(stage.clone(), binary)?;
    let group = format!("/aws/lambda/{}", target.function.physical_name);
    let clients = aws::Clients::new(stage).await;
    let events = logs::fetch(&clients.logs, &group, since).await?;
    let has = |needle: &str| events.iter().any(|(_, _, m)| m.contains(needle));
    ensure!(
        has("START RequestId:") && has("REPORT RequestId:") && has("\"level\":\"ERROR\""),
        "{group} lacks the START/REPORT lines or the function's error log: {events:?}"
    );
    ui::ok(format!(
        "{group}: {} events with START, the function's ERROR line, REPORT",
        events.len()
    ));
    Ok(())
}

/// Re-zip one function with another timestamp (new bytes, same binary), `deploy --hotswap` it,
/// and check that Lambda has the new code while CloudFormation still has the old key; then a
/// full deploy brings the stack in line.
pub async fn hotswap(stage: &Stage) -> Result<()> {
    let (service, binary) = HOTSWAP;
    let target = invoke::find(stage.clone(), binary)?;
    let stack = &target.stack.name;
    let parameter = &target.function.code_parameter;
    let clients = aws::Clients::new(stage).await;
    let key_of = |d: Option<deployed::Deployed>| -> Result<String> {
        d.with_context(|| format!("{stack} is missing"))?
            .parameters
            .get(parameter)
            .cloned()
            .with_context(|| format!("{stack} has no parameter {parameter}"))
    };
    let before = key_of(deployed::describe(&clients.cfn, stack).await?)?;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_secs()
        .to_string();
    let deploy = |extra: &[&str]| -> Result<String> {
        let out = Command::new(std::env::current_exe()?)
            .args(["deploy", "--stage", "local", "--service", service, "--yes"])
            .args(extra)
            .env("SOURCE_DATE_EPOCH", &epoch)
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(out.status.success(), "deploy {extra:?} failed:\n{text}");
        Ok(text)
    };
    let text = deploy(&["--hotswap"])?;
    ensure!(
        text.contains(&format!(
            "hotswapped code of {}",
            target.function.physical_name
        )),
        "deploy --hotswap did not hotswap:\n{text}"
    );
    let asset = build::read_manifest()
        .functions
        .get(binary)
        .cloned()
        .with_context(|| format!("target/assets.json has no {binary}"))?;
    ensure!(
        before != asset.key(),
        "the re-stamped zip has the old key {before}"
    );
    let config = clients
        .lambda
        .get_function()
        .function_name(&target.function.physical_name)
        .send()
        .await
        .map_err(|e| aws::explain("lambda:GetFunction", binary, e))?;
    let sha = config
        .configuration()
        .and_then(|c| c.code_sha256())
        .unwrap_or_default();
    let digest = base64::engine::general_purpose::STANDARD.decode(sha)?;
    ensure!(
        build::hex(&digest) == asset.sha256,
        "after the hotswap Lambda has code {sha}, not the new zip {}",
        asset.sha256
    );
    ensure!(
        key_of(deployed::describe(&clients.cfn, stack).await?)? == before,
        "the hotswap changed the stack's {parameter}; it should go around CloudFormation"
    );
    let smoke = invoke::load_event(service, binary, Some("smoke"), None)?;
    let out = invoke(stage, binary, smoke.clone()).await?;
    ensure!(
        out.function_error.is_none(),
        "the hotswapped {binary} failed: {}",
        String::from_utf8_lossy(&out.payload)
    );
    ui::ok(format!(
        "deploy --hotswap: {binary} runs the new zip {}; {stack} still has {parameter}={before}",
        &asset.sha256[..16]
    ));

    let text = deploy(&[])?;
    let after = key_of(deployed::describe(&clients.cfn, stack).await?)?;
    ensure!(
        after == asset.key(),
        "the full deploy after the hotswap left {parameter}={after}:\n{text}"
    );
    ui::ok(format!(
        "full deploy after it: {stack} has {parameter}={after}"
    ));
    Ok(())
}
