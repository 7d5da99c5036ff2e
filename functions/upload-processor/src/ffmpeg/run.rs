//! Running a built command: no shell, no stdin, stderr kept so a failure says what ffmpeg said.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use thiserror::Error;

use super::command::Command;

/// How much of ffmpeg's stderr an error carries: its last lines hold the reason.
const TAIL_LINES: usize = 12;
const TAIL_BYTES: usize = 2_000;

#[derive(Debug, Error)]
pub enum RunError {
    #[error("could not start {program} for {label}: {source}")]
    Spawn {
        label: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{label} failed ({status}): {stderr_tail}")]
    Failed {
        label: String,
        status: String,
        stderr_tail: String,
    },
}

/// Runs `command` to completion. Dropping the future kills ffmpeg, so a cancelled step does not
/// leave it writing into `/tmp`.
pub async fn run(command: &Command) -> Result<(), RunError> {
    let started = Instant::now();
    tracing::debug!(label = %command.label, argv = ?command.args, "running ffmpeg");
    let output = tokio::process::Command::new(&command.program)
        .args(&command.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| RunError::Spawn {
            label: command.label.clone(),
            program: command.program.clone(),
            source,
        })?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if output.status.success() {
        tracing::info!(label = %command.label, elapsed_ms, "ffmpeg done");
        return Ok(());
    }
    let stderr_tail = tail(&String::from_utf8_lossy(&output.stderr));
    tracing::warn!(label = %command.label, elapsed_ms, status = %output.status, %stderr_tail, "ffmpeg failed");
    Err(RunError::Failed {
        label: command.label.clone(),
        status: output.status.to_string(),
        stderr_tail,
    })
}

/// The last lines of `text`, at most [`TAIL_BYTES`], cut on a character boundary.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let joined = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if joined.len() <= TAIL_BYTES {
        return joined;
    }
    let mut start = joined.len() - TAIL_BYTES;
    while !joined.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &joined[start..])
}
