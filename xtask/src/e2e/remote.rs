//! The end-to-end steps that go through the deployed stacks rather than host builds: Lambda
//! Invoke of the deployed arm64 zips (the local Lambda service runs them under qemu) and their
//! logs in CloudWatch Logs.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Result};
use infra::stage::Stage;

use crate::{aws, invoke, logs, ui};

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

pub async fn invoke(stage: &Stage, binary: &str, payload: Vec<u8>) -> Result<invoke::Invoked> {
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
        text.contains(expect) && text.contains(r#""errorType":"BadEvent""#),
        "the error is not a BadEvent naming `{expect}`: {text}"
    );
    ui::ok(format!(
        "Invoke {binary} with a bad event: Unhandled, errorType BadEvent, names `{expect}`"
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
