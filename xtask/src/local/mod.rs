//! `cargo xtask local up|down|status`: the local stage's AWS emulator, PostgreSQL, seeded
//! parameters and secrets, the local Lambda service, and fakes of third-party APIs.

pub mod events;
pub mod fakes;
pub mod gateway;
pub mod lambda;
mod mariadb;
pub mod messages;
mod moto;
mod postgres;
pub mod runtime;
pub mod seed;
pub mod wiring;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use infra::stage::Stage;

use crate::{project_root, ui};

pub use mariadb::MariaDb;
pub use moto::Moto;
pub use postgres::Postgres;
pub use seed::local_admin;

/// Where the system's PostgreSQL programs are (psql for the benchmark).
pub fn postgres_bin() -> Result<PathBuf> {
    postgres::bin_dir()
}

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

/// The port of a fake served on this host: the one in a local stage's URL.
fn local_port(url: &str) -> Option<u16> {
    url.strip_prefix("http://127.0.0.1:")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// How `local up` runs the stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Fire schedules on their times (`local up --schedules`).
    pub schedules: bool,
}

/// What the background process of `local up` serves: (name, port, flag of `local serve`).
fn served(stage: &Stage) -> Vec<(&'static str, u16, &'static str)> {
    let s = &stage.services;
    let lambda = stage.local.as_ref().map(|l| l.lambda_port);
    [
        ("lambda", lambda, "--lambda-port"),
        (
            "fake MIPS",
            local_port(&s.mips_cache.mips_api_url),
            "--mips-port",
        ),
        (
            "fake DAP",
            local_port(&s.canvas_data.dap_api_url),
            "--dap-port",
        ),
        (
            "fake Airtable",
            local_port(&s.skill_sync.airtable_api_url),
            "--airtable-port",
        ),
        (
            "fake Badgr",
            local_port(&s.skill_sync.badgr_api_url),
            "--badgr-port",
        ),
        (
            "fake GitHub",
            local_port(&s.skill_sync.github_api_url),
            "--github-port",
        ),
        ("fake GraphQL", Some(fakes::GRAPHQL_PORT), "--graphql-port"),
    ]
    .into_iter()
    .filter_map(|(name, port, flag)| Some((name, port?, flag)))
    .collect()
}

const PID_FILE: &str = "serve.pid";

/// Start whatever is not running, and seed the emulator; idempotent.
pub async fn up(stage: &Stage) -> Result<()> {
    up_with(stage, Options::default()).await
}

pub async fn up_with(stage: &Stage, options: Options) -> Result<()> {
    let s = settings(stage)?;
    Moto::new(s.emulator_port)
        .lambda_endpoint(format!("http://127.0.0.1:{}", s.lambda_port))
        .ensure_running()?;
    Postgres::new(s.postgres_port).ensure_running()?;
    MariaDb::new(stage.services.skill_sync.database.port).ensure_running()?;
    // the Lambda service runs the deployed arm64 zips under qemu on other hosts: without it every
    // invocation would be a ServiceException
    crate::system::ensure_qemu()?;
    let already = ensure_served(stage, options)?;
    // every time: cheap, and a new service's secrets reach an emulator that was already running
    seed::seed(stage)
        .await
        .context("seeding the emulator's parameters and secrets")?;
    seed::prepare_database(stage)
        .await
        .context("preparing the canvas-data database")?;
    crate::db_prepare::prepare_skill_sync(
        stage,
        &crate::aws::config(stage).await,
        crate::db_prepare::Reach {
            host: None,
            port: None,
        },
    )
    .await
    .context("preparing the skill-sync database")?;
    if already {
        // a process that was already running may hold the wiring of an older deploy, or of an
        // emulator that restarted empty
        runtime::request_reload(stage).await?;
    }
    Ok(())
}

pub fn down(stage: &Stage) -> Result<()> {
    let s = settings(stage)?;
    Moto::new(s.emulator_port).stop()?;
    Postgres::new(s.postgres_port).stop()?;
    MariaDb::new(stage.services.skill_sync.database.port).stop()?;
    if let Ok(pid) = std::fs::read_to_string(state_dir().join(PID_FILE)) {
        let _ = Command::new("kill").arg(pid.trim()).status();
        let _ = std::fs::remove_file(state_dir().join(PID_FILE));
        ui::ok("the local Lambda service and third-party fakes stopped");
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
    let maria = MariaDb::new(stage.services.skill_sync.database.port);
    line("mariadb", maria.running(), maria.url());
    println!(
        "{:<21} canvas-data: role canvas_app, database canvas, schema {}",
        "", stage.services.canvas_data.schema
    );
    for (name, port, _) in served(stage) {
        line(name, listening(port), format!("http://127.0.0.1:{port}"));
    }
    if let Some(w) = runtime::last_reload() {
        for api in &w.apis {
            line(
                &format!("API {}", api.service),
                listening_url(&api.url),
                format!("{} ({})", api.url, api.name),
            );
        }
        for q in &w.queues {
            println!("{:<21} polling {q}", "");
        }
        for s in &w.schedules {
            println!("{:<21} schedule {s}", "");
        }
    }
    Ok(())
}

fn listening_url(url: &str) -> bool {
    local_port(url).is_some_and(listening)
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// `Ok(true)` when everything was already running.
fn ensure_served(stage: &Stage, options: Options) -> Result<bool> {
    let served = served(stage);
    let schedules_file = state_dir().join("schedules");
    // `--schedules` is a property of the running process: asking for it restarts one without
    let schedules_match = !options.schedules || schedules_file.exists();
    if schedules_match && served.iter().all(|(_, port, _)| listening(*port)) {
        return Ok(true);
    }
    // a half-running set (from an older xtask) is replaced as a whole
    if let Ok(pid) = std::fs::read_to_string(state_dir().join(PID_FILE)) {
        let _ = Command::new("kill").arg(pid.trim()).status();
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::create_dir_all(state_dir())?;
    let log = std::fs::File::create(state_dir().join("serve.log"))?;
    let mut args = vec!["local".to_string(), "serve".to_string()];
    for (_, port, flag) in &served {
        args.extend([flag.to_string(), port.to_string()]);
    }
    if options.schedules {
        args.push("--schedules".into());
        std::fs::write(&schedules_file, "")?;
    } else {
        let _ = std::fs::remove_file(&schedules_file);
    }
    let child = Command::new(std::env::current_exe()?)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the local Lambda service and the third-party fakes")?;
    std::fs::write(state_dir().join(PID_FILE), child.id().to_string())?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if served.iter().all(|(_, port, _)| listening(*port)) {
            for (name, port, _) in &served {
                ui::ok(format!("{name} on http://127.0.0.1:{port}"));
            }
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the local Lambda service and fakes did not start; see target/local/serve.log")
}

/// Serve the local Lambda service, the stage's wiring (APIs, queues, schedules) and the fakes
/// in the foreground until killed.
pub async fn serve(
    stage: &Stage,
    lambda: Option<u16>,
    mips: Option<u16>,
    dap: Option<u16>,
    skill_sync: fakes::SkillSyncPorts,
    graphql: Option<u16>,
    schedules: bool,
) -> Result<()> {
    let lambda = async {
        match lambda {
            Some(port) => {
                let rt = std::sync::Arc::new(tokio::sync::Mutex::new(runtime::Runtime::new(
                    stage.clone(),
                    schedules,
                )));
                let control = runtime::control(rt.clone());
                // the wiring of what is already deployed, once the Lambda port answers
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if let Err(e) = rt.lock().await.reload().await {
                        eprintln!("{} loading the deployed wiring: {e:#}", ui::now_utc());
                    }
                });
                lambda::serve(stage.clone(), port, control).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::try_join!(
        lambda,
        fakes::serve(mips, dap),
        fakes::serve_skill_sync(skill_sync.airtable, skill_sync.badgr, skill_sync.github),
        fakes::serve_graphql(stage, graphql)
    )?;
    Ok(())
}

impl crate::flags::Local {
    pub async fn run(self) -> Result<i32> {
        use crate::flags::LocalAction;
        let stage = crate::synth::load_stage("local")?;
        match self.action {
            LocalAction::Up { schedules } => {
                up_with(&stage, Options { schedules }).await?;
                status(&stage)?;
            }
            LocalAction::Down => down(&stage)?,
            LocalAction::Status => status(&stage)?,
            LocalAction::Serve {
                lambda_port,
                mips_port,
                dap_port,
                airtable_port,
                badgr_port,
                github_port,
                graphql_port,
                schedules,
            } => {
                let skill_sync = fakes::SkillSyncPorts {
                    airtable: airtable_port,
                    badgr: badgr_port,
                    github: github_port,
                };
                serve(
                    &stage,
                    lambda_port,
                    mips_port,
                    dap_port,
                    skill_sync,
                    graphql_port,
                    schedules,
                )
                .await?
            }
            LocalAction::Messages(args) => return args.run(&stage).await,
        }
        Ok(0)
    }
}
