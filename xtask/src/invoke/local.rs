//! `--local`: the host build of the function behind [`RuntimeApi`], with the environment the
//! stage's template gives it (references resolved from the local deployment) and AWS calls sent
//! to the local emulator. No Docker.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::runtime_api::{Outcome, RuntimeApi};
use super::Target;
use crate::{aws, deployed, local as local_stage, project_root, synth, ui};

/// The environment a function gets in Lambda, as far as the local stage can give it.
pub async fn environment(target: &Target) -> Result<BTreeMap<String, String>> {
    let local = synth::load_stage("local")?;
    let endpoint = local
        .aws_endpoint()
        .expect("the local stage has an endpoint");
    local_stage::up(&local).await?;
    let clients = aws::Clients::new(&local).await;
    let stack_name = format!("{}-local", target.stack.service);
    let resources = deployed::physical_ids(&clients.cfn, &stack_name).await?;
    let Some(resources) = resources else {
        bail!(
            "stack {stack_name} is not deployed to the local stage, so its references cannot be resolved; run `cargo xtask deploy --stage local --service {}`",
            target.stack.service
        );
    };
    let fn_props = &target.stack.template.resources[&target.function.logical_id].properties;
    let mut env = BTreeMap::new();
    if let Some(vars) = fn_props
        .pointer("/Environment/Variables")
        .and_then(Value::as_object)
    {
        for (k, v) in vars {
            let value = deployed::resolve(v, &resources, &local.region.0)
                .with_context(|| format!("resolving {k} of {}", target.function.binary))?;
            env.insert(k.clone(), value);
        }
    }
    let f = &target.function;
    let memory = fn_props
        .get("MemorySize")
        .and_then(Value::as_u64)
        .unwrap_or(128);
    for (k, v) in [
        ("AWS_LAMBDA_FUNCTION_NAME", f.physical_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.physical_name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
        ("AWS_REGION", local.region.0.clone()),
        ("AWS_DEFAULT_REGION", local.region.0.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_ENDPOINT_URL", endpoint),
    ] {
        env.insert(k.into(), v);
    }
    Ok(env)
}

pub fn timeout(target: &Target) -> Duration {
    let props = &target.stack.template.resources[&target.function.logical_id].properties;
    Duration::from_secs(props.get("Timeout").and_then(Value::as_u64).unwrap_or(30))
}

pub async fn run(target: &Target, payload: Vec<u8>, overrides: &[String]) -> Result<()> {
    let mut env = environment(target).await?;
    for kv in overrides {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--env `{kv}` is not KEY=VALUE"))?;
        env.insert(k.into(), v.into());
    }
    let binary = &target.function.binary;
    ui::step(format!("building {binary} for this host"));
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "--bin", binary])
            .current_dir(project_root())
            .status()?;
    if !status.success() {
        bail!("building {binary} failed");
    }
    let exe = project_root().join("target/debug").join(binary);
    let (_, outcome) = run_binary(target, &[exe.display().to_string()], env, payload).await?;
    report(binary, outcome)
}

/// Run `command` (a host binary, or qemu and an arm64 bootstrap) against a fresh Runtime API,
/// invoke it once, stop it. The function's own output goes to stderr.
pub async fn run_binary(
    target: &Target,
    command: &[String],
    env: BTreeMap<String, String>,
    payload: Vec<u8>,
) -> Result<(RuntimeApi, Outcome)> {
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        target.function.physical_name
    );
    let api = RuntimeApi::start(&arn).await?;
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .stdin(Stdio::null())
        // the function's logs are its stdout; ours carries only the response
        .stdout(Stdio::from(
            std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?,
        ))
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", command.join(" ")))?;
    let result = tokio::select! {
        r = api.invoke(payload.into(), timeout(target)) => r,
        status = child.wait() => {
            let status = status?;
            match api.inner_init_error() {
                Some(e) => Ok((String::new(), Outcome::InitError(e))),
                None => Err(anyhow::anyhow!("{} exited ({status}) before answering", target.function.binary)),
            }
        }
    };
    let _ = child.kill().await;
    let (_, outcome) = result?;
    Ok((api, outcome))
}

fn report(binary: &str, outcome: Outcome) -> Result<()> {
    match outcome {
        Outcome::Response(body) => {
            println!("{}", String::from_utf8_lossy(&body));
            Ok(())
        }
        Outcome::Error(e) => {
            println!("{e}");
            bail!(
                "{binary} returned an error: {}",
                e.get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
            )
        }
        Outcome::InitError(e) => {
            println!("{e}");
            bail!(
                "{binary} failed to initialise: {}",
                e.get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
            )
        }
    }
}
