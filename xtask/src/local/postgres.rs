//! The local stage's PostgreSQL: a cluster under `target/local/pg`, run with the system's
//! `initdb`/`pg_ctl` (installed through apt when missing). PostgreSQL refuses to run as root, so
//! as root the cluster belongs to the `postgres` user and commands run through `runuser`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::state_dir;
use crate::{system, ui};

pub struct Postgres {
    port: u16,
}

/// The local cluster's superuser; trust authentication on 127.0.0.1 only.
pub const SUPERUSER: &str = "postgres";

impl Postgres {
    pub fn new(port: u16) -> Postgres {
        Postgres { port }
    }

    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    fn dir(&self) -> PathBuf {
        state_dir().join("pg")
    }

    fn data(&self) -> PathBuf {
        self.dir().join("data")
    }

    pub fn running(&self) -> bool {
        let Ok(bin) = bin_dir() else { return false };
        self.data().join("PG_VERSION").exists()
            && as_owner(&bin.join("pg_ctl"))
                .args(["status", "-D"])
                .arg(self.data())
                .output()
                .is_ok_and(|o| o.status.success())
    }

    pub fn ensure_running(&self) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let taken = std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            std::time::Duration::from_millis(200),
        )
        .is_ok();
        if taken {
            bail!(
                "port {} is taken by another server (another checkout's PostgreSQL?); stop it or set local.postgres_port in environments/local.yaml",
                self.port
            );
        }
        let bin = match bin_dir() {
            Ok(b) => b,
            Err(_) => {
                install()?;
                bin_dir()?
            }
        };
        fs::create_dir_all(self.dir())?;
        if system::is_root() {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(self.dir()),
                "chown",
            )?;
            // the postgres user must be able to reach target/local/pg
            for dir in [state_dir(), state_dir().parent().unwrap().to_path_buf()] {
                let _ = Command::new("chmod").arg("o+x").arg(dir).status();
            }
        }
        if !self.data().join("PG_VERSION").exists() {
            ui::step(format!(
                "creating a PostgreSQL cluster in {}",
                self.data().display()
            ));
            run(
                as_owner(&bin.join("initdb"))
                    .args(["-D"])
                    .arg(self.data())
                    .args([
                        "-U",
                        SUPERUSER,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--no-instructions",
                    ]),
                "initdb",
            )?;
        }
        ui::step(format!("starting PostgreSQL on 127.0.0.1:{}", self.port));
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir().display()
        );
        run(
            as_owner(&bin.join("pg_ctl"))
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir().join("postgres.log"))
                .args(["-o", &options]),
            "pg_ctl start",
        )
        .context("PostgreSQL did not start; see target/local/pg/postgres.log")?;
        ui::ok(format!("PostgreSQL ready: {}", self.url()));
        Ok(())
    }

    pub fn stop(&self) -> Result<()> {
        if !self.running() {
            ui::ok("PostgreSQL not running");
            return Ok(());
        }
        let bin = bin_dir()?;
        run(
            as_owner(&bin.join("pg_ctl"))
                .args(["stop", "-m", "fast", "-D"])
                .arg(self.data()),
            "pg_ctl stop",
        )?;
        ui::ok("PostgreSQL stopped (its data stays in target/local/pg)");
        Ok(())
    }
}

/// `cmd` run as the cluster's owner: `postgres` when we are root, ourselves otherwise.
fn as_owner(program: &Path) -> Command {
    system::as_owner("postgres", program)
}

/// The newest installed server's bin directory.
pub fn bin_dir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .context("no PostgreSQL server under /usr/lib/postgresql")
}

fn install() -> Result<()> {
    system::install_server("PostgreSQL", "postgresql")
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    system::run_checked(cmd, what)
}
