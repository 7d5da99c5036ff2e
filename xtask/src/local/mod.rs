//! `cargo xtask local up|down|status`: the local stage's AWS emulator, PostgreSQL, seeded
//! parameters and secrets, and fakes of third-party APIs.

pub mod fakes;
mod moto;
mod postgres;
mod seed;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use infra::stage::Stage;

use crate::{project_root, ui};

pub use moto::Moto;
pub use postgres::Postgres;

/// Where the local stage keeps its pid files, logs and database cluster.
pub fn state_dir() -> PathBuf {
    project_root().join("target/local")
}

fn settings(stage: &Stage) -> Result<&infra::stage::LocalSettings> {
    stage.local.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "stage `{}` is not local; the local services belong to `--stage local`",
            stage.name
        )
    })
}

/// The port of the fake MIPS: the one in the local stage's `mips_api_url`.
pub fn mips_port(stage: &Stage) -> Option<u16> {
    stage
        .services
        .mips_cache
        .mips_api_url
        .strip_prefix("http://127.0.0.1:")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// Start whatever is not running, and seed the emulator; idempotent.
pub async fn up(stage: &Stage) -> Result<()> {
    let s = settings(stage)?;
    Moto::new(s.emulator_port).ensure_running()?;
    Postgres::new(s.postgres_port).ensure_running()?;
    if let Some(port) = mips_port(stage) {
        ensure_fakes(port)?;
    }
    // every time: cheap, and a new service's secrets reach an emulator that was already running
    seed::seed(stage)
        .await
        .context("seeding the emulator's parameters and secrets")?;
    Ok(())
}

pub fn down(stage: &Stage) -> Result<()> {
    let s = settings(stage)?;
    Moto::new(s.emulator_port).stop()?;
    Postgres::new(s.postgres_port).stop()?;
    if let Ok(pid) = std::fs::read_to_string(state_dir().join("fakes.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
        let _ = std::fs::remove_file(state_dir().join("fakes.pid"));
        ui::ok("third-party fakes stopped");
    }
    Ok(())
}

pub fn status(stage: &Stage) -> Result<()> {
    let s = settings(stage)?;
    let moto = Moto::new(s.emulator_port);
    let pg = Postgres::new(s.postgres_port);
    let line = |name: &str, running: bool, where_: String| {
        let state = if running {
            ui::green("running")
        } else {
            ui::red("stopped")
        };
        println!("{name:<12} {state:<8} {where_}");
    };
    line("emulator", moto.healthy(), moto.endpoint());
    line("postgres", pg.running(), pg.url());
    if let Some(port) = mips_port(stage) {
        line(
            "fake MIPS",
            listening(port),
            format!("http://127.0.0.1:{port}"),
        );
    }
    Ok(())
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

fn ensure_fakes(mips: u16) -> Result<()> {
    if listening(mips) {
        return Ok(());
    }
    std::fs::create_dir_all(state_dir())?;
    let log = std::fs::File::create(state_dir().join("fakes.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .args(["local", "fakes", "--mips-port", &mips.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the third-party fakes")?;
    std::fs::write(state_dir().join("fakes.pid"), child.id().to_string())?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if listening(mips) {
            ui::ok(format!("fake MIPS on http://127.0.0.1:{mips}"));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the fake MIPS did not start; see target/local/fakes.log")
}
