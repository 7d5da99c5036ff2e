//! cfn-lint over synthesized templates: it knows every resource schema and the States Language.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::venv;

/// Lint every `*.template.json` under `dir`; fails on any error, prints warnings.
pub fn run(dir: &Path) -> Result<()> {
    let mut templates: Vec<_> = walk(dir)?
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".template.json"))
        .collect();
    templates.sort();
    if templates.is_empty() {
        bail!(
            "no templates under {}; run `cargo xtask synth` first",
            dir.display()
        );
    }
    let cfn_lint = venv::tool("cfn-lint")?;
    let out = Command::new(&cfn_lint)
        .args(["--format", "parseable", "--"])
        .args(&templates)
        .output()
        .with_context(|| format!("running {}", cfn_lint.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(":E")).collect();
    for line in text.lines() {
        println!("  {line}");
    }
    let code = out.status.code().unwrap_or(-1);
    // cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational; 1 a crash.
    if code < 0 || code & 1 == 1 || code & 2 == 2 || !errors.is_empty() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        bail!(
            "cfn-lint found {} error(s) in {} template(s)",
            errors.len().max(1),
            templates.len()
        );
    }
    println!("cfn-lint: {} templates, 0 errors", templates.len());
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}
