//! The local stage's MariaDB (skill-sync's stand-in for the app's MySQL 8): a server under
//! `target/local/mariadb`, run with the system's `mariadbd` (Debian's `mariadb-server`, installed
//! through apt when missing), on 127.0.0.1 only. As root the data belongs to the `mysql` user and
//! the server runs as it through `runuser`, as PostgreSQL runs as `postgres`. On first start it
//! gets an administrator login for TCP (`skill_sync::schema::LOCAL_ADMIN_USER`), which
//! `db-prepare` and the tests use.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use skill_sync::db::MYSQL8_DEFAULT_SQL_MODE;
use skill_sync::schema::{LOCAL_ADMIN_PASSWORD, LOCAL_ADMIN_USER};

use super::state_dir;
use crate::{system, ui};

/// The system user that owns the data when we are root (created by the Debian package).
const OWNER: &str = "mysql";

pub struct MariaDb {
    port: u16,
}

impl MariaDb {
    pub fn new(port: u16) -> MariaDb {
        MariaDb { port }
    }

    pub fn url(&self) -> String {
        format!("mysql://{LOCAL_ADMIN_USER}@127.0.0.1:{}", self.port)
    }

    fn dir(&self) -> PathBuf {
        state_dir().join("mariadb")
    }

    fn data(&self) -> PathBuf {
        self.dir().join("data")
    }

    fn socket(&self) -> PathBuf {
        self.dir().join("mariadb.sock")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir().join("mariadb.pid")
    }

    fn log(&self) -> PathBuf {
        self.dir().join("mariadb.log")
    }

    /// The server of `target/local/mariadb` answers on its socket.
    pub fn running(&self) -> bool {
        self.socket().exists()
            && Command::new("mariadb-admin")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["--user=root", "--connect-timeout=2", "ping"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    pub fn ensure_running(&self) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        if listening(self.port) {
            bail!(
                "port {} is taken by another server (another checkout's MariaDB or a system MySQL?); stop it or set services.skill-sync.database.port in environments/local.yaml",
                self.port
            );
        }
        if which("mariadbd").is_none() {
            install()?;
        }
        fs::create_dir_all(self.dir())?;
        let root = system::is_root();
        if root {
            run(
                Command::new("chown")
                    .args(["-R", &format!("{OWNER}:{OWNER}")])
                    .arg(self.dir()),
                "chown",
            )?;
            // the mysql user must be able to reach target/local/mariadb
            for dir in [state_dir(), state_dir().parent().unwrap().to_path_buf()] {
                let _ = Command::new("chmod").arg("o+x").arg(dir).status();
            }
        }
        let fresh = !self.data().join("mysql").exists();
        if fresh {
            ui::step(format!(
                "creating a MariaDB data directory in {}",
                self.data().display()
            ));
            let mut install = as_owner("mariadb-install-db");
            install
                .arg(format!("--datadir={}", self.data().display()))
                // root on the socket without a password: the socket lives under target/ and
                // the server listens on 127.0.0.1 only
                .args([
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ]);
            run(&mut install, "mariadb-install-db")?;
        }
        ui::step(format!("starting MariaDB on 127.0.0.1:{}", self.port));
        let mut server = as_owner("mariadbd");
        server
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data().display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", self.pid_file().display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                // the app's tables are utf8mb3 like its MySQL 8; the server's default is utf8mb4
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
            ])
            // MySQL 8's default, as strict as the app's RDS database
            .arg(format!("--sql-mode={MYSQL8_DEFAULT_SQL_MODE}"))
            .args(["--innodb-buffer-pool-size=64M"])
            .arg(format!("--log-error={}", self.log().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // its own process group, so the server outlives this command like pg_ctl's does
        std::os::unix::process::CommandExt::process_group(&mut server, 0);
        server
            .spawn()
            .context("starting mariadbd; see target/local/mariadb/mariadb.log")?;
        let started = Instant::now();
        while !self.running() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("MariaDB did not start within 60 s; see target/local/mariadb/mariadb.log");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.sql(&format!(
            "CREATE USER IF NOT EXISTS '{LOCAL_ADMIN_USER}'@'127.0.0.1' IDENTIFIED BY '{LOCAL_ADMIN_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{LOCAL_ADMIN_USER}'@'127.0.0.1' WITH GRANT OPTION;"
        ))
        .context("creating the local administrator login")?;
        ui::ok(format!("MariaDB ready: {}", self.url()));
        Ok(())
    }

    /// Statements run as root over the socket.
    fn sql(&self, statements: &str) -> Result<()> {
        run(
            Command::new("mariadb")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["--user=root", "-e", statements]),
            "mariadb",
        )
    }

    pub fn stop(&self) -> Result<()> {
        if !self.running() {
            ui::ok("MariaDB not running");
            return Ok(());
        }
        run(
            Command::new("mariadb-admin")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["--user=root", "shutdown"]),
            "mariadb-admin shutdown",
        )?;
        ui::ok("MariaDB stopped (its data stays in target/local/mariadb)");
        Ok(())
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

fn which(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

/// `program` run as the data's owner: `mysql` when we are root, ourselves otherwise.
fn as_owner(program: &str) -> Command {
    let path = which(program).unwrap_or_else(|| PathBuf::from(program));
    system::as_owner(OWNER, &path)
}

fn install() -> Result<()> {
    system::install_server("MariaDB", "mariadb-server")
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    system::run_checked(cmd, what)
}
