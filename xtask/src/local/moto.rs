//! The AWS emulator: moto's server mode from the project's `.venv`, on 127.0.0.1.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::state_dir;
use crate::{ui, venv};

pub struct Moto {
    port: u16,
}

impl Moto {
    pub fn new(port: u16) -> Moto {
        Moto { port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        state_dir().join("moto.pid")
    }

    /// The emulator answers its own API on the port.
    pub fn healthy(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!(
            "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
    }

    pub fn ensure_running(&self) -> Result<()> {
        if self.healthy() {
            return Ok(());
        }
        if TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_millis(300),
        )
        .is_ok()
        {
            bail!(
                "port {} is taken by something that is not the AWS emulator; free it or set local.emulator_port in environments/local.yaml",
                self.port
            );
        }
        let server = venv::tool("moto_server")?;
        fs::create_dir_all(state_dir())?;
        let log = fs::File::create(state_dir().join("moto.log"))?;
        ui::step(format!("starting the AWS emulator on {}", self.endpoint()));
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?;
        fs::write(self.pid_file(), child.id().to_string())?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.healthy() {
                ui::ok(format!(
                    "AWS emulator ready in {:.1?} (log: target/local/moto.log)",
                    started.elapsed()
                ));
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the AWS emulator did not answer within 30 s; see target/local/moto.log")
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
        while self.healthy() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        ui::ok(format!(
            "AWS emulator stopped (pid {pid}); its state is gone with it"
        ));
        Ok(())
    }
}
