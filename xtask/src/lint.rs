//! Linters over synthesized templates: cfn-lint (it knows every resource schema and the States
//! Language) and checkov (the security scanner our security team runs on CloudFormation).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{project_root, venv};

/// Every `*.template.json` under `dir`, sorted; an error when there is none.
fn templates(dir: &Path) -> Result<Vec<PathBuf>> {
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
    Ok(templates)
}

/// Lint every `*.template.json` under `dir`; fails on any error, prints warnings.
pub fn run(dir: &Path) -> Result<()> {
    let templates = templates(dir)?;
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

/// One failed checkov check.
#[derive(Debug, PartialEq)]
struct Failed {
    check_id: String,
    check_name: String,
    resource: String,
    file: String,
    /// The template keys the check looked at, e.g. `Properties/Environment/Variables/X`.
    keys: Vec<String>,
}

/// checkov over every template under `dir`: zero failed checks, or an error listing each (check
/// id, resource, file). Findings we accept are suppressed in infra with a reason, which synth
/// writes into the resource's Metadata where checkov reads it (docs/checks.md).
pub fn checkov(dir: &Path) -> Result<()> {
    let templates = templates(dir)?;
    let checkov = crate::venv::checkov()?;
    let out = Command::new(&checkov)
        // --skip-download: no calls to the vendor's platform; the checks ship in the package.
        .args([
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ])
        .args(
            templates
                .iter()
                .flat_map(|t| ["--file".as_ref(), t.as_os_str()]),
        )
        .current_dir(project_root())
        .output()
        .with_context(|| format!("running {}", checkov.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (failed, skipped) = parse_checkov(&text).with_context(|| {
        format!(
            "checkov exited with {} and printed no report:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if !failed.is_empty() {
        let mut lines: Vec<String> = failed
            .iter()
            .map(|f| {
                let keys = if f.keys.is_empty() {
                    String::new()
                } else {
                    format!(" (at {})", f.keys.join(", "))
                };
                format!(
                    "  {} {} in {}: {}{keys}",
                    f.check_id, f.resource, f.file, f.check_name
                )
            })
            .collect();
        lines.sort();
        bail!(
            "checkov: {} failed check(s) in {} template(s):\n{}\nfix the construct, or suppress \
             with a reason: stack.suppress(\"CKV_…\", resource, reason) (docs/checks.md)",
            failed.len(),
            templates.len(),
            lines.join("\n")
        );
    }
    println!(
        "checkov: {} templates, 0 failed, {skipped} suppressed with a reason",
        templates.len()
    );
    Ok(())
}

/// Failed checks and the number skipped, from checkov's JSON: one report object, or a list of
/// them (one per framework).
fn parse_checkov(text: &str) -> Result<(Vec<Failed>, usize)> {
    let v: Value = serde_json::from_str(text.trim()).context("checkov's output is not JSON")?;
    let reports = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut failed = Vec::new();
    let mut skipped = 0;
    for r in &reports {
        let results = r.get("results");
        // A run with no resources to check prints only a summary.
        let Some(results) = results else {
            if r.get("summary").is_some() || r.get("passed").is_some() {
                continue;
            }
            bail!("unexpected checkov report: {r}");
        };
        let list = |k: &str| {
            results
                .get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        // --quiet leaves passed and skipped checks out of the lists; the summary counts them.
        skipped += r
            .pointer("/summary/skipped")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        for f in list("failed_checks") {
            let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
            failed.push(Failed {
                check_id: s("check_id"),
                check_name: s("check_name"),
                resource: s("resource"),
                file: file_of(&f),
                keys: f
                    .pointer("/check_result/evaluated_keys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
            });
        }
    }
    Ok((failed, skipped))
}

/// The template a finding is in, relative to the project root when it lies inside it
/// (checkov's `file_path` is relative to its working directory, with a leading `/`).
fn file_of(finding: &Value) -> String {
    let abs = finding.get("file_abs_path").and_then(Value::as_str);
    if let Some(rel) = abs.and_then(|a| Path::new(a).strip_prefix(project_root()).ok()) {
        return rel.display().to_string();
    }
    match abs {
        Some(a) => a.to_string(),
        None => finding
            .get("file_path")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .trim_start_matches('/')
            .to_string(),
    }
}

impl crate::flags::Lint {
    pub fn run(self) -> Result<i32> {
        let dir = project_root().join("target/cfn");
        run(&dir)?;
        checkov(&dir)?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkov_report_lists_each_failed_check_with_resource_and_file() {
        let report = r#"{"check_type":"cloudformation","results":{"passed_checks":[],
            "failed_checks":[{"check_id":"CKV_AWS_27","check_name":"Ensure all data stored in the SQS queue is encrypted",
            "resource":"AWS::SQS::Queue.JobsQueue","file_path":"/target/cfn/dev/webhook-runner-dev.template.json",
            "file_abs_path":"ROOT/target/cfn/dev/webhook-runner-dev.template.json",
            "check_result":{"result":"FAILED","evaluated_keys":["Properties/KmsMasterKeyId"]}}],
            "skipped_checks":[]},
            "summary":{"passed":0,"failed":1,"skipped":2}}"#;
        let root = project_root().display().to_string();
        let (failed, skipped) = parse_checkov(&report.replace("ROOT", &root)).unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(
            failed,
            vec![Failed {
                check_id: "CKV_AWS_27".into(),
                check_name: "Ensure all data stored in the SQS queue is encrypted".into(),
                resource: "AWS::SQS::Queue.JobsQueue".into(),
                file: "target/cfn/dev/webhook-runner-dev.template.json".into(),
                keys: vec!["Properties/KmsMasterKeyId".into()],
            }]
        );
    }

    #[test]
    fn checkov_list_of_reports_and_summary_only_reports_are_read() {
        let report = r#"[{"results":{"failed_checks":[]},"summary":{"skipped":1}},
            {"passed":0,"failed":0,"skipped":0,"parsing_errors":0,"resource_count":0}]"#;
        assert_eq!(parse_checkov(report).unwrap(), (vec![], 1));
        assert!(parse_checkov("Traceback (most recent call last):").is_err());
    }
}
