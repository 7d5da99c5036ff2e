//! `cargo xtask local up|down|status`: the local stage's AWS emulator and PostgreSQL.

mod moto;
mod postgres;

use std::path::PathBuf;

use anyhow::Result;
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

/// Start whatever is not running; idempotent.
pub fn up(stage: &Stage) -> Result<()> {
    let s = settings(stage)?;
    Moto::new(s.emulator_port).ensure_running()?;
    Postgres::new(s.postgres_port).ensure_running()?;
    Ok(())
}

pub fn down(stage: &Stage) -> Result<()> {
    let s = settings(stage)?;
    Moto::new(s.emulator_port).stop()?;
    Postgres::new(s.postgres_port).stop()?;
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
    Ok(())
}
