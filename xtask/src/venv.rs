//! The project-local Python virtualenv (`.venv`) holding the pinned PyPI tools.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::project_root;

const REQUIREMENTS: &str = include_str!("../requirements.txt");

/// Create `.venv` and install `xtask/requirements.txt` into it unless it already holds exactly
/// those pins. Returns the venv's python.
pub fn ensure() -> Result<PathBuf> {
    let dir = project_root().join(".venv");
    let python = dir.join("bin/python");
    let stamp = dir.join(".requirements.installed");
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(REQUIREMENTS) {
        return Ok(python);
    }
    if !python.exists() {
        eprintln!("setting up the project's Python tools in {}", dir.display());
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .context("running `python3 -m venv` (is Python 3 installed?)")?;
        if !status.success() {
            bail!(
                "`python3 -m venv {}` failed; install python3-venv",
                dir.display()
            );
        }
    }
    eprintln!("installing pinned Python tools from xtask/requirements.txt");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(project_root().join("xtask/requirements.txt"))
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip could not install xtask/requirements.txt; is the package index reachable?");
    }
    fs::write(&stamp, REQUIREMENTS)?;
    Ok(python)
}

/// A console script installed in the venv (e.g. `cfn-lint`).
pub fn tool(name: &str) -> Result<PathBuf> {
    let python = ensure()?;
    Ok(python.with_file_name(name))
}
