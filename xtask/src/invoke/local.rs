//! `--local`: the host build of the function behind [`RuntimeApi`], with the environment the
//! stage's template gives it (references resolved from the local deployment) and AWS calls sent
//! to the local emulator. No Docker.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

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
    for (k, v) in lambda_variables(
        &f.physical_name,
        memory,
        &local.region.0,
        &endpoint,
        "local",
    ) {
        env.insert(k.into(), v);
    }
    Ok(env)
}

/// What Lambda sets for every function, with AWS calls sent to the local emulator under the
/// credentials it accepts.
pub fn lambda_variables(
    name: &str,
    memory_mb: u64,
    region: &str,
    emulator: &str,
    stream: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_FUNCTION_NAME", name.into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream.into()),
        ("AWS_REGION", region.into()),
        ("AWS_DEFAULT_REGION", region.into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_ENDPOINT_URL", emulator.into()),
    ]
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
    let process = Process {
        arn: format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            target.function.physical_name
        ),
        timeout: timeout(target),
        command: command.to_vec(),
        env,
        capture: false,
    };
    let done = process.run(payload).await?;
    Ok((done.api, done.outcome))
}

/// One sandbox: a function process behind its own Runtime API, for one invocation.
pub struct Process {
    pub arn: String,
    pub timeout: Duration,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Keep the function's output (for a log) instead of passing it to our stderr.
    pub capture: bool,
}

pub struct Finished {
    pub api: RuntimeApi,
    pub request_id: String,
    pub outcome: Outcome,
    /// Start of the process to its first poll for work (Lambda's "Init Duration").
    pub init: Option<Duration>,
    /// The invocation itself.
    pub duration: Duration,
    /// Start of the process to the end of its invocation (a cold start's first answer).
    pub answered: Duration,
    /// The captured output lines and when each was written.
    pub output: Vec<(SystemTime, String)>,
}

type Lines = Arc<Mutex<Vec<(SystemTime, String)>>>;

fn collect_lines(
    from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Lines,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("lock").push((SystemTime::now(), line));
        }
    })
}

impl Process {
    pub async fn run(self, payload: Vec<u8>) -> Result<Finished> {
        let api = RuntimeApi::start(&self.arn).await?;
        // Lambda gives every execution environment a /tmp of its own; here concurrent
        // invocations are processes of one host, so each gets its own TMPDIR (what
        // `std::env::temp_dir` reads), or one would clear the scratch files of another.
        let tmp = crate::project_root()
            .join("target/local/tmp")
            .join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let _remove_tmp = RemoveOnDrop(tmp.clone());
        let mut cmd = tokio::process::Command::new(&self.command[0]);
        cmd.args(&self.command[1..])
            .envs(&self.env)
            .env("TMPDIR", &tmp)
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if self.capture {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            // the function's logs are its stdout; ours carries only the response
            cmd.stdout(Stdio::from(
                std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?,
            ))
            .stderr(Stdio::inherit());
        }
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.command.join(" ")))?;
        let lines: Lines = Arc::default();
        let readers: Vec<_> = [
            child.stdout.take().map(|o| collect_lines(o, lines.clone())),
            child.stderr.take().map(|e| collect_lines(e, lines.clone())),
        ]
        .into_iter()
        .flatten()
        .collect();
        let started = Instant::now();
        let (request_id, outcome) = tokio::select! {
            r = api.invoke(payload.into(), self.timeout) => r?,
            status = child.wait() => {
                let status = status?;
                match api.inner_init_error() {
                    Some(e) => (String::new(), Outcome::InitError(e)),
                    None => (String::new(), Outcome::Exited(status.to_string())),
                }
            }
        };
        let duration = started.elapsed();
        let answered = spawned.elapsed();
        let _ = child.kill().await;
        for r in readers {
            // the pipes close with the process; a grandchild holding them does not stall us
            let _ = tokio::time::timeout(Duration::from_secs(1), r).await;
        }
        let init = api
            .first_poll()
            .map(|t| t.saturating_duration_since(spawned));
        let output = std::mem::take(&mut *lines.lock().expect("lock"));
        Ok(Finished {
            api,
            request_id,
            outcome,
            init,
            duration,
            answered,
            output,
        })
    }
}

/// A directory removed with everything in it when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
        Outcome::TimedOut(after) => bail!(
            "{binary} timed out after {:.2} seconds (the Timeout of its stack)",
            after.as_secs_f64()
        ),
        Outcome::Exited(status) => bail!("{binary} exited ({status}) before answering"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "function" that only prints its TMPDIR after checking it exists, then exits.
    fn tmpdir_printer() -> Process {
        Process {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:tmp".into(),
            timeout: Duration::from_secs(10),
            command: vec![
                "sh".into(),
                "-c".into(),
                r#"test -d "$TMPDIR" && touch "$TMPDIR/x" && echo "$TMPDIR""#.into(),
            ],
            env: BTreeMap::new(),
            capture: true,
        }
    }

    #[tokio::test]
    async fn each_local_invocation_has_a_tmp_of_its_own_removed_after_it() {
        let (a, b) = tokio::join!(
            tmpdir_printer().run(Vec::new()),
            tmpdir_printer().run(Vec::new())
        );
        let dirs: Vec<String> = [a.unwrap(), b.unwrap()]
            .iter()
            .map(|f| {
                f.output
                    .iter()
                    .map(|(_, l)| l.clone())
                    .find(|l| l.contains("target/local/tmp/"))
                    .unwrap_or_else(|| panic!("no TMPDIR printed: {:?}", f.output))
            })
            .collect();
        assert_ne!(dirs[0], dirs[1], "two invocations shared a TMPDIR");
        for d in &dirs {
            assert!(
                !std::path::Path::new(d).exists(),
                "{d} outlived its invocation"
            );
        }
    }
}
