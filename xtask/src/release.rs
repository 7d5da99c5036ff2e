//! `cargo xtask release …`: what the tag workflow runs, usable locally too.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{bail, ensure, Context, Result};

use crate::{build, project_root, test_cmd, ui};

/// The workspace version, from `[workspace.package]` in Cargo.toml.
pub fn workspace_version(cargo_toml: &str) -> Result<String> {
    let mut in_package = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
            continue;
        }
        if in_package {
            if let Some(v) = line
                .strip_prefix("version")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('='))
            {
                return Ok(v.trim().trim_matches('"').to_string());
            }
        }
    }
    bail!("Cargo.toml has no version in [workspace.package]")
}

/// The body of `## [version]` in a keep-a-changelog file.
pub fn changelog_section(changelog: &str, version: &str) -> Option<String> {
    let header = format!("## [{version}]");
    let start = changelog.find(&header)?;
    let body_start = start + changelog[start..].find('\n')? + 1;
    let end = changelog[body_start..]
        .find("\n## [")
        .map_or(changelog.len(), |e| body_start + e);
    Some(changelog[body_start..end].trim().to_string())
}

/// `vX.Y.Z` → `X.Y.Z`.
pub fn tag_version(tag: &str) -> Result<String> {
    let v = tag
        .strip_prefix('v')
        .with_context(|| format!("tag `{tag}` must look like vX.Y.Z"))?;
    let parts: Vec<&str> = v.split('.').collect();
    ensure!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "tag `{tag}` must look like vX.Y.Z"
    );
    Ok(v.to_string())
}

fn read(name: &str) -> Result<String> {
    fs::read_to_string(project_root().join(name)).with_context(|| format!("reading {name}"))
}

pub fn check(tag: &str) -> Result<()> {
    let tagged = tag_version(tag)?;
    let version = workspace_version(&read("Cargo.toml")?)?;
    ensure!(
        tagged == version,
        "tag {tag} says {tagged} but the workspace version in Cargo.toml is {version}; bump [workspace.package] version or tag v{version}"
    );
    ensure!(
        changelog_section(&read("CHANGELOG.md")?, &version).is_some_and(|s| !s.is_empty()),
        "CHANGELOG.md has no `## [{version}]` section; move the Unreleased entries under it"
    );
    ui::ok(format!(
        "{tag} matches the workspace version and has a changelog section"
    ));
    Ok(())
}

pub fn notes(tag: &str) -> Result<()> {
    let version = tag_version(tag)?;
    let section = changelog_section(&read("CHANGELOG.md")?, &version)
        .with_context(|| format!("CHANGELOG.md has no `## [{version}]` section"))?;
    println!("{section}");
    Ok(())
}

/// Build every function twice (the second time after cleaning the function crates) and require
/// identical zips; then write `target/release-artifacts/SHA256SUMS`.
pub fn build_artifacts() -> Result<()> {
    anyhow::ensure!(
        build::profile()? == build::PROFILE,
        "release build ships the `{}` profile's zips: unset {}",
        build::PROFILE,
        build::PROFILE_VAR
    );
    let binaries = build::stage_binaries(None)?;
    let first = build::build(&binaries)?;
    let crates: Vec<String> = fs::read_dir(project_root().join("functions"))?
        .flatten()
        .filter_map(|e| {
            let t = fs::read_to_string(e.path().join("Cargo.toml")).ok()?;
            t.lines().find_map(|l| {
                l.strip_prefix("name = \"")
                    .map(|n| n.trim_end_matches('"').to_string())
            })
        })
        .collect();
    let mut clean = vec![
        "clean",
        "--profile",
        build::PROFILE,
        "--target",
        build::TARGET,
    ];
    for c in &crates {
        clean.extend(["-p", c.as_str()]);
    }
    test_cmd::cargo(&clean)?;
    fs::remove_file(build::manifest_path()).ok();
    let second = build::build(&binaries)?;
    let mut sums = String::new();
    let mut differ = Vec::new();
    for (b, a) in &first {
        if second[b].sha256 != a.sha256 {
            differ.push(b.clone());
        }
        // the format `deploy --artifacts` verifies
        sums.push_str(&crate::deploy::artifacts::sums_line(
            &a.sha256,
            &format!("{b}.zip"),
        ));
    }
    ensure!(
        differ.is_empty(),
        "not reproducible: {} built differently the second time",
        differ.join(", ")
    );
    let out = project_root().join("target/release-artifacts");
    fs::create_dir_all(&out)?;
    for (b, a) in &first {
        fs::copy(project_root().join(&a.path), out.join(format!("{b}.zip")))?;
    }
    fs::write(out.join("SHA256SUMS"), &sums)?;
    print!("{sums}");
    ui::ok(format!(
        "{} zips reproducible; target/release-artifacts/SHA256SUMS written",
        first.len()
    ));
    Ok(())
}

/// The stage's deploy role, for the workflow's OIDC step.
pub fn role(stage: &str) -> Result<()> {
    let s = crate::synth::load_stage(stage)?;
    // computed, not read from the bootstrap stack: the workflow asks before it has credentials
    let arn = s
        .deploy_role_arn
        .clone()
        .or_else(|| infra::bootstrap::deploy_role_arn(&s))
        .with_context(|| {
            format!(
                "environments/{stage}.yaml pins no account, so the deploy role's ARN is unknown"
            )
        })?;
    println!("{arn}");
    Ok(())
}

/// Invoke every deployed function with its `smoke` event; all must answer.
pub async fn smoke(stage: infra::stage::Stage) -> Result<()> {
    let stacks = infra::synth_stage(&stage, None)?;
    let mut results = BTreeMap::new();
    for f in stacks
        .iter()
        .flat_map(|s| s.functions.iter())
        .filter(|f| build::has_code(&f.binary))
    {
        let r = crate::invoke::run(
            crate::invoke::Args {
                function: f.binary.clone(),
                event: Some("smoke".into()),
                data: None,
                env: vec![],
                local: false,
            },
            stage.clone(),
        )
        .await;
        results.insert(f.binary.clone(), r);
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(b, r)| format!("{b}: {:#}", r.as_ref().unwrap_err()))
        .collect();
    ensure!(
        failed.is_empty(),
        "smoke test failed:\n  {}",
        failed.join("\n  ")
    );
    ui::ok(format!(
        "{} function(s) answered their smoke event on {}",
        results.len(),
        stage.name
    ));
    Ok(())
}

impl crate::flags::Release {
    pub async fn run(self) -> Result<i32> {
        use crate::flags::ReleaseAction;
        match self.action {
            ReleaseAction::Check { tag } => check(&tag)?,
            ReleaseAction::Notes { tag } => notes(&tag)?,
            ReleaseAction::Build => build_artifacts()?,
            ReleaseAction::Role { stage } => role(&stage)?,
            ReleaseAction::Smoke { stage } => smoke(crate::synth::load_stage(&stage)?).await?,
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_workspace_version() {
        let toml = "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"1.2.3\"\nedition = \"2021\"\n";
        assert_eq!(workspace_version(toml).unwrap(), "1.2.3");
        assert!(workspace_version("[package]\nversion = \"1.0.0\"\n").is_err());
    }

    #[test]
    fn tags_must_be_v_semver() {
        assert_eq!(tag_version("v0.4.10").unwrap(), "0.4.10");
        for bad in ["0.4.1", "v1.2", "v1.2.x", "v1..2"] {
            assert!(tag_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_a_version_section() {
        let log = "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-11-23\n### Added\n- b\n\n## [0.1.0] - 2026-10-01\n- a\n";
        assert_eq!(changelog_section(log, "0.2.0").unwrap(), "### Added\n- b");
        assert_eq!(changelog_section(log, "0.1.0").unwrap(), "- a");
        assert_eq!(changelog_section(log, "0.3.0"), None);
    }
}
