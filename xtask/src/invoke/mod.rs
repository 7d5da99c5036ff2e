//! `cargo xtask invoke <function> --stage S [--event NAME|FILE | --data JSON] [--env K=V] [--local]`.

pub mod local;
pub mod runtime_api;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use base64::Engine;
use infra::constructs::FunctionInfo;
use infra::stage::Stage;
use infra::SynthesizedStack;

use crate::{aws, project_root};

pub struct Args {
    pub function: String,
    pub event: Option<String>,
    pub data: Option<String>,
    pub env: Vec<String>,
    pub local: bool,
}

/// The function, its stack, and the stage, found by binary name.
pub struct Target {
    pub stage: Stage,
    pub stack: SynthesizedStack,
    pub function: FunctionInfo,
}

pub fn find(stage: Stage, binary: &str) -> Result<Target> {
    let stacks = infra::synth_stage(&stage, None)?;
    let mut known = Vec::new();
    for stack in stacks {
        if let Some(f) = stack.functions.iter().find(|f| f.binary == binary).cloned() {
            return Ok(Target {
                stage,
                stack,
                function: f,
            });
        }
        known.extend(stack.functions.iter().map(|f| f.binary.clone()));
    }
    bail!("no function `{binary}`; known: {}", known.join(", "))
}

/// `--event accounts` → `functions/<service>/events/<function>/accounts.json` if the function
/// has its own, else `functions/<service>/events/accounts.json`; a path is read as is.
pub fn load_event(
    service: &str,
    binary: &str,
    event: Option<&str>,
    data: Option<&str>,
) -> Result<Vec<u8>> {
    if let Some(d) = data {
        serde_json::from_str::<serde_json::Value>(d).context("--data is not JSON")?;
        return Ok(d.as_bytes().to_vec());
    }
    let Some(e) = event else {
        return Ok(b"{}".to_vec());
    };
    let dir = project_root()
        .join("functions")
        .join(service)
        .join("events");
    let own = dir
        .join(
            binary
                .strip_prefix(&format!("{service}-"))
                .unwrap_or(binary),
        )
        .join(format!("{e}.json"));
    let path = if PathBuf::from(e).exists() {
        PathBuf::from(e)
    } else if own.exists() {
        own
    } else {
        dir.join(format!("{e}.json"))
    };
    let bytes = std::fs::read(&path).with_context(|| {
        let names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|f| {
                f.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_string)
            })
            .collect();
        format!(
            "no event `{e}` (not a file, nor one of {}: {})",
            dir.display(),
            names.join(", ")
        )
    })?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(bytes)
}

pub async fn run(args: Args, stage: Stage) -> Result<()> {
    let target = find(stage, &args.function)?;
    let payload = load_event(
        &target.stack.service,
        &target.function.binary,
        args.event.as_deref(),
        args.data.as_deref(),
    )?;
    if args.local {
        return local::run(&target, payload, &args.env).await;
    }
    if !args.env.is_empty() {
        bail!("--env applies to --local invocations; a deployed function's environment comes from its stack");
    }
    remote(&target, payload).await
}

/// What Lambda Invoke answered.
pub struct Invoked {
    pub payload: Vec<u8>,
    /// The last 4 KB of the invocation's log.
    pub log: String,
    /// `Unhandled` (or `Handled`) when the function failed.
    pub function_error: Option<String>,
}

/// Lambda Invoke, request-response, with the log tail. In the local stage the call goes to the
/// local Lambda service, which runs the deployed arm64 zip (under qemu on other hosts).
pub async fn remote_invoke(stage: &Stage, name: &str, payload: Vec<u8>) -> Result<Invoked> {
    if stage.is_local() {
        crate::local::up(stage).await?;
        crate::system::ensure_qemu()?;
    }
    let clients = aws::Clients::connect(stage).await?;
    let out = clients
        .lambda
        .invoke()
        .function_name(name)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .log_type(aws_sdk_lambda::types::LogType::Tail)
        .send()
        .await
        .map_err(|e| aws::explain("lambda:Invoke", name, e))?;
    let log = out
        .log_result()
        .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Invoked {
        payload: out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default(),
        log,
        function_error: out.function_error().map(str::to_string),
    })
}

/// The response on stdout, the log tail on stderr, an error when the function failed.
async fn remote(target: &Target, payload: Vec<u8>) -> Result<()> {
    let name = &target.function.physical_name;
    let out = remote_invoke(&target.stage, name, payload).await?;
    eprint!("{}", out.log);
    println!("{}", String::from_utf8_lossy(&out.payload));
    if let Some(err) = out.function_error {
        bail!("{name} returned an error ({err})");
    }
    Ok(())
}

impl crate::flags::Invoke {
    pub async fn run(self) -> Result<i32> {
        let stage = crate::synth::load_stage(&self.stage)?;
        let args = Args {
            function: self.function,
            event: self.event,
            data: self.data,
            env: self.env,
            local: self.local,
        };
        run(args, stage).await?;
        Ok(0)
    }
}
