//! The AWS emulator: moto's server mode from the project's `.venv`, on 127.0.0.1, run through
//! `moto_server.py`, which makes Step Functions executions, S3 notifications and SNS messages
//! work locally (see that file).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::state_dir;
use crate::{project_root, ui, venv};

const LAUNCHER: &str = include_str!("moto_server.py");
/// The launcher's drift detection, which it imports from beside itself.
const LAUNCHER_DRIFT: &str = include_str!("moto_drift.py");

/// What the launcher reports as its version: the sha256 of its source (both files, in the order
/// the launcher hashes them), so any edit of it makes `ensure_running` replace an emulator
/// started with the old one.
pub fn launcher_version() -> String {
    let digest = Sha256::new()
        .chain_update(LAUNCHER.as_bytes())
        .chain_update(LAUNCHER_DRIFT.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Moto {
    port: u16,
    lambda_endpoint: Option<String>,
}

impl Moto {
    pub fn new(port: u16) -> Moto {
        Moto {
            port,
            lambda_endpoint: None,
        }
    }

    /// Where the emulator sends Lambda invocations (state machine tasks, S3 and SNS
    /// notifications): the local Lambda service.
    pub fn lambda_endpoint(mut self, url: String) -> Self {
        self.lambda_endpoint = Some(url);
        self
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        state_dir().join("moto.pid")
    }

    /// The emulator answers its own API on the port.
    pub fn healthy(&self) -> bool {
        get(self.port, "/moto-api/").is_some_and(|(status, _)| status == 200)
    }

    /// What `/_local/health` says, `None` when the emulator has no launcher (an older xtask
    /// started `moto_server` itself).
    fn launcher(&self) -> Option<Value> {
        match get(self.port, "/_local/health")? {
            (200, body) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// Why the running emulator is not the one this xtask would start, if it is not.
    fn outdated(&self) -> Option<String> {
        let Some(health) = self.launcher() else {
            return Some("was started by an older xtask without the launcher".into());
        };
        let version = health["launcher"].as_str().unwrap_or_default();
        if version != launcher_version() {
            return Some(format!(
                "runs launcher {} and this xtask has {}",
                &version[..version.len().min(12)],
                &launcher_version()[..12]
            ));
        }
        let running = health["lambda_endpoint"].as_str();
        match &self.lambda_endpoint {
            Some(wanted) if running != Some(wanted.as_str()) => Some(format!(
                "sends Lambda calls to {} instead of {wanted}",
                running.unwrap_or("nowhere")
            )),
            _ => None,
        }
    }

    /// The launcher run with the venv's python, ready to spawn.
    pub fn command(&self) -> Result<Command> {
        let python = venv::ensure()?;
        let mut cmd = Command::new(python);
        // no __pycache__ beside the launcher in the source tree
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        cmd.arg(project_root().join("xtask/src/local/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            // the launcher sets it from -p; an inherited one would point elsewhere
            .env_remove("MOTO_PORT");
        match &self.lambda_endpoint {
            Some(url) => cmd.env("LOCAL_LAMBDA_ENDPOINT", url),
            None => cmd.env_remove("LOCAL_LAMBDA_ENDPOINT"),
        };
        Ok(cmd)
    }

    pub fn ensure_running(&self) -> Result<()> {
        if self.healthy() {
            let Some(why) = self.outdated() else {
                return Ok(());
            };
            ui::warn(format!(
                "the AWS emulator on {} {why}: restarting it; its state (deployed stacks, queues, objects, messages) is lost, deploy again",
                self.endpoint()
            ));
            self.stop()?;
            if self.healthy() {
                bail!(
                    "the outdated AWS emulator on port {} is still running (no pid in target/local/moto.pid); stop it and run again",
                    self.port
                );
            }
        }
        if port_taken(self.port) {
            bail!(
                "port {} is taken by something that is not the AWS emulator; free it or set local.emulator_port in environments/local.yaml",
                self.port
            );
        }
        fs::create_dir_all(state_dir())?;
        let log = fs::File::create(state_dir().join("moto.log"))?;
        ui::step(format!("starting the AWS emulator on {}", self.endpoint()));
        let child = self
            .command()?
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the AWS emulator (xtask/src/local/moto_server.py)")?;
        fs::write(self.pid_file(), child.id().to_string())?;
        let started = Instant::now();
        if self.wait_healthy(Duration::from_secs(30)) {
            ui::ok(format!(
                "AWS emulator ready in {:.1?} (log: target/local/moto.log)",
                started.elapsed()
            ));
            return Ok(());
        }
        bail!("the AWS emulator did not answer within 30 s; see target/local/moto.log")
    }

    /// Polls until the emulator answers or `limit` passes.
    pub fn wait_healthy(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.healthy() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn stop(&self) -> Result<()> {
        let Ok(pid) = fs::read_to_string(self.pid_file()) else {
            ui::ok("AWS emulator not running (no pid file)");
            return Ok(());
        };
        let pid = pid.trim();
        let _ = Command::new("kill").arg(pid).status();
        let _ = fs::remove_file(self.pid_file());
        let started = Instant::now();
        while port_taken(self.port) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        ui::ok(format!(
            "AWS emulator stopped (pid {pid}); its state is gone with it"
        ));
        Ok(())
    }
}

fn port_taken(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// A plain HTTP GET on 127.0.0.1: status and body. Blocking on purpose: callers are the
/// synchronous `up`/`status` paths, and a dead or foreign port must not hang them.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    // HTTP/1.0: the server closes after the body; a timeout keeps what arrived
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .strip_prefix("HTTP/1.")?
        .get(2..5)?
        .parse::<u16>()
        .ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests;
