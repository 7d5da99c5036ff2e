//! `cargo xtask`: the operator tool. See `cargo xtask --help`.

mod aws;
mod bench;
mod bench_local;
mod bench_zips;
mod bootstrap;
mod build;
mod canvas_data_cmd;
mod codegen;
mod db_prepare;
mod deploy;
mod deployed;
mod destroy;
mod diff;
mod drift;
mod e2e;
mod flags;
mod invariants;
mod invoke;
mod layers;
mod lint;
mod list;
mod local;
mod logs;
mod release;
mod run_cmd;
mod synth;
mod system;
mod test_cmd;
mod trigger;
mod ui;
mod venv;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Parser;
use flags::Cmd;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(flags::Cli::parse().command)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Each command's exit code: 0, or 1 for a negative answer (`diff` found changes, `drift`
/// found drift).
async fn run(command: Cmd) -> Result<i32> {
    match command {
        Cmd::Synth(c) => c.run(),
        Cmd::Build(c) => c.run(),
        Cmd::Deploy(c) => c.run().await,
        Cmd::Diff(c) => c.run().await,
        Cmd::Drift(c) => c.run().await,
        Cmd::Invoke(c) => c.run().await,
        Cmd::Destroy(c) => c.run().await,
        Cmd::List(c) => c.run().await,
        Cmd::Logs(c) => c.run().await,
        Cmd::DbPrepare(c) => c.run().await,
        Cmd::CanvasData(c) => c.run().await,
        Cmd::Bench(c) => c.run().await,
        Cmd::Release(c) => c.run().await,
        Cmd::Lint(c) => c.run(),
        Cmd::Test(c) => c.run(),
        Cmd::Flow(c) => c.run().await,
        Cmd::Local(c) => c.run().await,
        Cmd::Bootstrap(c) => c.run().await,
        Cmd::Trigger(c) => c.run().await,
        Cmd::Run(c) => c.run().await,
        Cmd::Codegen(c) => c.run(),
    }
}

/// Run a future to completion from synchronous code inside the runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// The workspace root, whatever directory cargo was called from.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
