//! `cargo xtask bench local`: how fast the local stage's wiring reacts, with the deployed arm64
//! zips under qemu: a job's message to the start of the worker that takes it, and
//! StartExecution to the start of the state machine's first Lambda task. "Start" is the `START`
//! line the local Lambda service logs when it begins an invocation.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::e2e::flows::{self, now_ms, FakeAmperity};
use crate::local::events::INVOKE_MARK;
use crate::{aws, deploy, synth};
use aws_sdk_sfn::types::HistoryEventType;

const SAMPLES: usize = 3;

pub async fn run() -> Result<()> {
    let stage = synth::load_stage("local")?;
    deploy::run(stage.clone(), crate::e2e::deploy_args()).await?;
    let clients = aws::Clients::new(&stage).await;
    let api = flows::api_url(&stage, "webhook-runner")?;
    let mut samples = Vec::new();
    for i in 0..SAMPLES {
        let fake = FakeAmperity::start(1).await?;
        let log_from = serve_log().len();
        flows::post_job(&api, &fake.job(&format!("wh-bench-{}-{i}", now_ms()), 600)).await?;
        samples.push(poller_wait(log_from).await?);
        // let the job finish, so the next sample finds the worker idle
        wait(|| fake.finished().is_some(), 120).await?;
    }
    crate::bench::stats(
        "local: SendMessage → the poller's invocation of the worker",
        samples,
    );
    let machine = state_machine_arn(&clients.sfn, "canvas-data-refresh").await?;
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
        let start = first_task_started(&clients.sfn, exec.execution_arn()).await;
        // only the first task matters here
        let _ = clients
            .sfn
            .stop_execution()
            .execution_arn(exec.execution_arn())
            .send()
            .await;
        samples.push(latency(start?, t0)?);
    }
    crate::bench::stats("local: StartExecution → first Lambda task started", samples);
    Ok(())
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

/// When the execution's first task started (its `TaskStarted` history event: the interpreter
/// calls the local Lambda service right after it).
async fn first_task_started(sfn: &aws_sdk_sfn::Client, execution: &str) -> Result<i64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let history = sfn
            .get_execution_history()
            .execution_arn(execution)
            .send()
            .await
            .context("GetExecutionHistory")?;
        let started = history.events().iter().find(|e| {
            matches!(
                e.r#type(),
                HistoryEventType::TaskStarted | HistoryEventType::LambdaFunctionStarted
            )
        });
        if let Some(e) = started {
            let t = e.timestamp();
            return Ok(t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000));
        }
        if std::time::Instant::now() > deadline {
            bail!("{execution} started no task within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn serve_log() -> String {
    std::fs::read_to_string(crate::local::state_dir().join("serve.log")).unwrap_or_default()
}

/// The wait of the jobs queue's next message as the poller logs it when it invokes the worker:
/// from the message's `SentTimestamp` (the emulator's clock at SendMessage) to the invocation.
async fn poller_wait(log_from: usize) -> Result<Duration> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let log = serve_log();
        let wait = log
            .get(log_from..)
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let rest = l.split_once("webhook-runner-jobs")?.1;
                let ms = rest.split_once(INVOKE_MARK)?.1.trim().split(' ').next()?;
                ms.parse::<u64>().ok()
            });
        if let Some(ms) = wait {
            return Ok(Duration::from_millis(ms));
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the jobs queue's poller logged no invocation within 60 s (target/local/serve.log)"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
