//! The project-local Python virtualenv (`.venv`) holding the pinned PyPI tools.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::project_root;

const REQUIREMENTS: &str = include_str!("../requirements.txt");
const CHECKOV_REQUIREMENTS: &str = include_str!("../requirements-checkov.txt");

/// A venv of the project and the requirements file pinned into it.
struct Venv {
    dir: &'static str,
    requirements_file: &'static str,
    requirements: &'static str,
}

/// Create `.venv` and install `xtask/requirements.txt` into it unless it already holds exactly
/// those pins. Returns the venv's python.
pub fn ensure() -> Result<PathBuf> {
    Venv {
        dir: ".venv",
        requirements_file: "xtask/requirements.txt",
        requirements: REQUIREMENTS,
    }
    .ensure()
}

/// checkov from its own venv, `.venv-checkov`: checkov pins boto3 exactly, which in `.venv`
/// would decide the botocore under moto (see the requirements file).
pub fn checkov() -> Result<PathBuf> {
    let python = Venv {
        dir: ".venv-checkov",
        requirements_file: "xtask/requirements-checkov.txt",
        requirements: CHECKOV_REQUIREMENTS,
    }
    .ensure()?;
    Ok(python.with_file_name("checkov"))
}

impl Venv {
    fn ensure(&self) -> Result<PathBuf> {
        let dir = project_root().join(self.dir);
        let python = dir.join("bin/python");
        let stamp = dir.join(".requirements.installed");
        if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(self.requirements)
        {
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
        eprintln!(
            "installing pinned Python tools from {}",
            self.requirements_file
        );
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(project_root().join(self.requirements_file))
            .status()
            .context("running pip")?;
        if !status.success() {
            bail!(
                "pip could not install {}; is the package index reachable?",
                self.requirements_file
            );
        }
        fs::write(&stamp, self.requirements)?;
        Ok(python)
    }
}

/// A console script installed in the venv (e.g. `cfn-lint`).
pub fn tool(name: &str) -> Result<PathBuf> {
    let python = ensure()?;
    Ok(python.with_file_name(name))
}
