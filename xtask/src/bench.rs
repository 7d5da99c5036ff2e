//! `cargo xtask bench [NAME]`: numbers, printed; nothing asserted.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::invoke::runtime_api::RuntimeApi;
use crate::invoke::{self, local};
use crate::{build, deploy, project_root, synth, test_cmd};

pub const NAMES: &[&str] = &[
    "synth",
    "noop-deploy",
    "rebuild",
    "zips",
    "cold-start",
    "webhook-runner",
    "canvas-init",
    "upload-processor",
    "local",
];

pub fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "{name:<44} n={:<3} min {:>9.2?}  median {:>9.2?}  max {:>9.2?}",
        samples.len(),
        samples[0],
        median,
        samples[samples.len() - 1]
    );
}

/// A crate's `examples/bench.rs`, built in release (a debug build would measure the compiler's
/// settings, not the code).
fn bench_example(package: &str, features: Option<&str>) -> Result<()> {
    let mut args = vec!["run", "--quiet", "--release", "-p", package];
    if let Some(f) = features {
        args.extend(["--features", f]);
    }
    args.extend(["--example", "bench"]);
    test_cmd::cargo(&args)
}

pub async fn run(only: Option<&str>, runs: usize, baseline: Option<&Path>) -> Result<()> {
    if let Some(n) = only {
        if !NAMES.contains(&n) {
            bail!("no benchmark `{n}`; known: {}", NAMES.join(", "));
        }
    }
    let want = |n: &str| only.is_none_or(|o| o == n);
    if want("synth") {
        let stages: Vec<_> = infra::stage::STAGES
            .iter()
            .map(|s| synth::load_stage(s))
            .collect::<Result<_>>()?;
        let mut samples = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            for s in &stages {
                infra::synth_stage(s, None)?;
            }
            samples.push(t.elapsed());
        }
        stats("synth: every stack of every stage (with checks)", samples);
    }
    if want("noop-deploy") {
        let stage = synth::load_stage("local")?;
        let args = || deploy::Args {
            service: None,
            yes: true,
            confirm: None,
            hotswap: false,
            method: None,
        };
        deploy::run(stage.clone(), args()).await?;
        let mut samples = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let s = deploy::run(stage.clone(), args()).await?;
            samples.push(t.elapsed());
            assert_eq!(s.changed, 0);
        }
        stats("deploy to local without changes", samples);
    }
    if want("rebuild") {
        let file = project_root().join("functions/mips-cache/src/lib.rs");
        let original = std::fs::read_to_string(&file)?;
        build::build(&["mips-cache-api".to_string()])?;
        let mut samples = Vec::new();
        for i in 0..2 {
            std::fs::write(&file, format!("{original}\n// bench edit {i}\n"))?;
            let t = Instant::now();
            let r = build::build(&["mips-cache-api".to_string()]);
            samples.push(t.elapsed());
            std::fs::write(&file, &original)?;
            r?;
        }
        build::build(&["mips-cache-api".to_string()])?;
        stats("arm64 release build after a one-line change", samples);
    }
    if want("zips") {
        crate::bench_zips::run(runs, baseline).await?;
    }
    if want("webhook-runner") {
        // the Python runner it is compared with needs `requests`, which the project's venv has
        // (moto depends on it)
        match crate::venv::ensure() {
            Ok(python) => std::env::set_var("BENCH_PYTHON", python),
            Err(e) => eprintln!("no project venv ({e:#}); the Python comparison uses python3"),
        }
        bench_example("webhook-runner", None)?;
    }
    if want("canvas-init") {
        let stage = synth::load_stage("local")?;
        crate::local::up(&stage).await?;
        let port = stage
            .local
            .as_ref()
            .map(|l| l.postgres_port)
            .unwrap_or(54329);
        let psql = crate::local::postgres_bin()?.join("psql");
        std::env::set_var("BENCH_PG_PORT", port.to_string());
        std::env::set_var("BENCH_PSQL", &psql);
        std::env::set_var("BENCH_DIR", project_root().join("target/bench"));
        bench_example("canvas-data", Some("fake"))?;
    }
    if want("upload-processor") {
        // the example's pipeline side reads and writes the emulator's S3
        let stage = synth::load_stage("local")?;
        crate::local::up(&stage).await?;
        std::env::set_var("BENCH_DIR", project_root().join("target/bench"));
        // release build, as the Lambda's: the step's own work around ffmpeg is what is measured
        bench_example("upload-processor", Some("fake"))?;
    }
    if want("cold-start") {
        let stage = synth::load_stage("local")?;
        let target = invoke::find(stage, "mips-cache-api")?;
        let env = local::environment(&target).await?;
        test_cmd::cargo(&["build", "--quiet", "--release", "--bin", "mips-cache-api"])?;
        let exe = project_root().join("target/release/mips-cache-api");
        let mut samples = Vec::new();
        for _ in 0..10 {
            let api = RuntimeApi::start("arn:bench").await?;
            let started = Instant::now();
            let mut child = tokio::process::Command::new(&exe)
                .envs(env.clone())
                .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            while api.first_poll().is_none() && started.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            let Some(first) = api.first_poll() else {
                bail!("mips-cache-api never polled")
            };
            samples.push(first - started);
            let _ = child.kill().await;
        }
        stats(
            "host release binary start → first Runtime API poll",
            samples,
        );
    }
    if want("local") {
        crate::bench_local::run().await?;
    }
    Ok(())
}

impl crate::flags::Bench {
    pub async fn run(self) -> Result<i32> {
        run(self.name.as_deref(), self.runs, self.baseline.as_deref()).await?;
        Ok(0)
    }
}
