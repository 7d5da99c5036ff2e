//! `cargo xtask bench local`: how fast the local stage's wiring reacts, with the deployed arm64
//! zips under qemu: a job's message to the start of the worker that takes it, and
//! StartExecution to the start of the state machine's first Lambda task. "Start" is the `START`
//! line the local Lambda service logs when it begins an invocation.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::e2e::flows::{self, now_ms, FakeAmperity};
use crate::{aws, deploy, synth};

const SAMPLES: usize = 3;

pub async fn run() -> Result<()> {
    let stage = synth::load_stage("local")?;
    deploy::run(stage.clone(), crate::e2e::deploy_args()).await?;
    let clients = aws::Clients::new(&stage).await;
    let api = flows::api_url(&stage, "webhook-runner")?;
    let worker = function_name(&stage, "webhook-runner-worker")?;
    let mut samples = Vec::new();
    for i in 0..SAMPLES {
        let fake = FakeAmperity::start(1).await?;
        let sent = now_ms();
        // the intake's SendMessage is the last thing it does before answering 202
        flows::post_job(&api, &fake.job(&format!("wh-bench-{i}"), 600)).await?;
        let queued = now_ms();
        let start = first_start(&clients.logs, &worker, sent).await?;
        samples.push(latency(start, queued)?);
        // let the job finish, so the next sample finds the worker idle
        wait(|| fake.finished().is_some(), 120).await?;
    }
    crate::bench::stats("local: SendMessage (intake's 202) → worker START", samples);
    let machine = state_machine_arn(&clients.sfn, "canvas-data-refresh").await?;
    let first_task = function_name(&stage, "canvas-data-list-tables")?;
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        let t0 = now_ms();
        let exec = clients
            .sfn
            .start_execution()
            .state_machine_arn(&machine)
            .input("{}")
            .send()
            .await
            .context("StartExecution")?;
        let start = first_start(&clients.logs, &first_task, t0).await;
        // only the first task matters here
        let _ = clients
            .sfn
            .stop_execution()
            .execution_arn(exec.execution_arn())
            .send()
            .await;
        samples.push(latency(start?, t0)?);
    }
    crate::bench::stats("local: StartExecution → first Lambda task START", samples);
    Ok(())
}

fn function_name(stage: &infra::stage::Stage, binary: &str) -> Result<String> {
    let target = crate::invoke::find(stage.clone(), binary)?;
    Ok(target.function.physical_name.clone())
}

/// A start before the request means the clocks disagree: say so rather than print a 0.
fn latency(start_ms: i64, from_ms: i64) -> Result<Duration> {
    anyhow::ensure!(
        start_ms >= from_ms,
        "a START logged {} ms before its request: the log's clock and this one disagree",
        from_ms - start_ms
    );
    Ok(Duration::from_millis((start_ms - from_ms) as u64))
}

async fn state_machine_arn(sfn: &aws_sdk_sfn::Client, prefix: &str) -> Result<String> {
    let list = sfn.list_state_machines().send().await?;
    list.state_machines()
        .iter()
        .find(|m| m.name().starts_with(prefix))
        .map(|m| m.state_machine_arn().to_string())
        .with_context(|| format!("no state machine {prefix}* on the local stage: deploy first"))
}

/// The time of the first `START` line the function logged at or after `after_ms`. The local
/// Lambda service writes an invocation's log when it ends, so this waits for that.
async fn first_start(
    logs: &aws_sdk_cloudwatchlogs::Client,
    function: &str,
    after_ms: i64,
) -> Result<i64> {
    let group = format!("/aws/lambda/{function}");
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(out) = logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(after_ms)
            .filter_pattern("START")
            .send()
            .await
        {
            let start = out
                .events()
                .iter()
                .filter(|e| e.message().is_some_and(|m| m.starts_with("START ")))
                .filter_map(|e| e.timestamp())
                .filter(|t| *t >= after_ms)
                .min();
            if let Some(t) = start {
                return Ok(t);
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("{function} logged no START within 180 s; see target/local/serve.log");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait(done: impl Fn() -> bool, seconds: u64) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        if std::time::Instant::now() > deadline {
            bail!("the bench job did not finish within {seconds} s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
