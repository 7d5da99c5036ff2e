//! The test command's arm64 build, started right after the tools are in place and run in the
//! background at the lowest CPU priority: it takes the cores the lint and test phases leave idle
//! (Python linters on one core, tests waiting on databases and the emulator), so the end-to-end
//! phase, which needs the zips, waits only for what is left of it.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::build::{self, Job, Started};
use crate::{project_root, ui};

static RUNNING: Mutex<Option<Job>> = Mutex::new(None);

pub fn log_path() -> PathBuf {
    project_root().join("target/e2e/arm64-build.log")
}

/// Starts the build of every function (the ffmpeg layer first, in the foreground: it is a
/// download, with its own progress).
pub fn start() -> Result<()> {
    let binaries = build::stage_binaries(None)?;
    crate::layers::build_ffmpeg()?;
    let log = log_path();
    match Job::start(&binaries, Some(&log))? {
        Started::UpToDate(_) => ui::ok(format!("{} function zips up to date", binaries.len())),
        Started::Running(job) => {
            ui::ok(format!(
                "building {} functions for arm64 in the background (nice 19); log: {}",
                binaries.len(),
                log.display()
            ));
            *RUNNING.lock().expect("not poisoned") = Some(job);
        }
    }
    Ok(())
}

/// Waits for the background build, if one runs, and records its zips; a failure quotes the end
/// of its log.
pub fn finish() -> Result<()> {
    let Some(job) = RUNNING.lock().expect("not poisoned").take() else {
        return Ok(());
    };
    ui::step(format!(
        "waiting for the background arm64 build (running for {:.0?}; log: {})",
        job.started().elapsed(),
        log_path().display()
    ));
    let bar = ui::spinner("building");
    let result = job.finish();
    bar.finish_and_clear();
    result.map(|_| ()).with_context(|| {
        let log = std::fs::read_to_string(log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("the background arm64 build failed; the end of its log:\n{tail}")
    })
}

/// Stops the background build when the run ends before it needs the zips.
pub fn abandon() {
    if let Some(job) = RUNNING.lock().expect("not poisoned").take() {
        ui::warn("stopping the background arm64 build");
        job.kill();
    }
}
