//! `cargo xtask bench zips`: each built function zip (`target/lambda/<binary>/bootstrap.zip`),
//! its size, and its cold start as Lambda runs it: the `bootstrap` from the zip (arm64, under
//! qemu on other hosts) against the local Runtime API with the function's `smoke` event, as the
//! arm64 phase of `cargo xtask test` runs it. With `--baseline DIR` (zips as `release build`
//! writes them, `<binary>.zip`) it measures those too and prints before and after side by side.
//! Numbers for people: no size or time fails it, only a function that cannot be run or does not
//! answer.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

use crate::invoke::local::{self, Process};
use crate::invoke::runtime_api::Outcome;
use crate::{build, invoke, project_root, synth, system, ui};

/// The size every zip should stay under (issue 18), in bytes: 4 MB, not MiB.
pub const LIMIT: u64 = 4_000_000;

struct Row {
    binary: String,
    zip: u64,
    unzipped: u64,
    /// Medians: process start → first `GET invocation/next`, and → the smoke event's answer.
    registration: Option<Duration>,
    answered: Option<Duration>,
    /// Why it was not timed.
    note: Option<String>,
    /// Why it could not be run or did not answer.
    error: Option<String>,
}

/// Every zip `target/assets.json` lists (`target/lambda/<binary>/bootstrap.zip`), by binary name.
fn built_zips() -> Result<Vec<(String, PathBuf)>> {
    let manifest = build::read_manifest();
    ensure!(
        manifest.profile != build::TEST_PROFILE,
        "the zips in target/lambda are the `{}` profile's (the test command builds those): \
         run `cargo xtask build` for the ones that ship, then bench them",
        manifest.profile
    );
    // the manifest's, not every zip in target/lambda: a partial build in another profile
    // leaves the others' zips there
    let root = project_root();
    let out: Vec<(String, PathBuf)> = manifest
        .functions
        .iter()
        .map(|(b, a)| (b.clone(), root.join(&a.path)))
        .filter(|(_, p)| p.is_file())
        .collect();
    ensure!(
        !out.is_empty(),
        "no function zips in target/assets.json: run `cargo xtask build` first"
    );
    Ok(out)
}

/// Every `DIR/<binary>.zip` (the layout of `cargo xtask release build`), by binary name.
fn artifact_zips(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .with_context(|| format!("reading the baseline {}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((name.strip_suffix(".zip")?.to_string(), e.path()))
        })
        .collect();
    out.sort();
    ensure!(
        !out.is_empty(),
        "no `<binary>.zip` in {}: keep a `cargo xtask release build` (target/release-artifacts) as the baseline",
        dir.display()
    );
    Ok(out)
}

/// The zip's `bootstrap`, written executable to `into`; its size.
fn extract(zip: &Path, into: &Path) -> Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    let mut archive = zip::ZipArchive::new(fs::File::open(zip)?)
        .with_context(|| format!("reading {}", zip.display()))?;
    let mut entry = archive
        .by_name("bootstrap")
        .with_context(|| format!("{} has no `bootstrap`", zip.display()))?;
    fs::create_dir_all(into.parent().expect("a parent"))?;
    let mut out = fs::File::create(into)?;
    std::io::copy(&mut entry, &mut out)?;
    fs::set_permissions(into, fs::Permissions::from_mode(0o755))?;
    Ok(entry.size())
}

fn median(mut samples: Vec<Duration>) -> Option<Duration> {
    samples.sort();
    samples.get(samples.len() / 2).copied()
}

/// `runs` cold starts of one function; the medians, or why it failed.
async fn cold_starts(
    target: &invoke::Target,
    bootstrap: &Path,
    runs: usize,
) -> Result<(Duration, Duration)> {
    let env = local::environment(target).await?;
    let binary = &target.function.binary;
    let payload = invoke::load_event(&target.stack.service, binary, Some("smoke"), None)?;
    let mut command = Vec::new();
    if std::env::consts::ARCH != "aarch64" {
        command.extend(system::qemu_prefix());
    }
    command.push(bootstrap.display().to_string());
    let (mut registered, mut answered) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let done = Process {
            arn: format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                target.function.physical_name
            ),
            timeout: local::timeout(target),
            command: command.clone(),
            env: env.clone(),
            capture: true,
        }
        .run(payload.clone())
        .await?;
        if !matches!(done.outcome, Outcome::Response(_)) {
            let tail: Vec<&str> = done
                .output
                .iter()
                .rev()
                .take(5)
                .map(|(_, l)| l.as_str())
                .collect();
            bail!(
                "did not answer its smoke event: {:?}; last output: {}",
                done.outcome,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
        registered.push(done.init.context("answered without polling for work")?);
        answered.push(done.answered);
    }
    Ok((
        median(registered).expect("runs ≥ 1"),
        median(answered).expect("runs ≥ 1"),
    ))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0))
}

/// Size and cold starts of each zip in `zips`; `label` names the set in progress lines.
async fn measure(zips: Vec<(String, PathBuf)>, runs: usize, label: &str) -> Result<Vec<Row>> {
    let stage = synth::load_stage("local")?;
    let dir = project_root().join("target/bench/zips").join(label);
    let mut rows = Vec::new();
    for (binary, zip) in zips {
        let bootstrap = dir.join(&binary).join("bootstrap");
        let unzipped = extract(&zip, &bootstrap)?;
        let mut row = Row {
            zip: fs::metadata(&zip)?.len(),
            binary,
            unzipped,
            registration: None,
            answered: None,
            note: None,
            error: None,
        };
        // a zip left from a function the stage no longer declares is listed, not run
        match invoke::find(stage.clone(), &row.binary) {
            Err(_) => row.note = Some("not a function of the local stage: not timed".into()),
            Ok(target) => {
                ui::step(format!("{label} {}: {runs} cold start(s)", row.binary));
                match cold_starts(&target, &bootstrap, runs).await {
                    Ok((r, a)) => (row.registration, row.answered) = (Some(r), Some(a)),
                    Err(e) => row.error = Some(format!("{e:#}")),
                }
            }
        }
        // 10–15 MB each: only the zips stay
        let _ = fs::remove_file(&bootstrap);
        rows.push(row);
    }
    Ok(rows)
}

pub async fn run(runs: usize, baseline: Option<&Path>) -> Result<()> {
    ensure!(runs >= 1, "--runs must be at least 1");
    system::ensure_qemu()?;
    let before = match baseline {
        Some(dir) => Some(measure(artifact_zips(dir)?, runs, "baseline").await?),
        None => None,
    };
    let rows = measure(built_zips()?, runs, "built").await?;
    print(&rows, runs);
    if let Some(before) = &before {
        print_comparison(before, &rows);
    }
    let failed: Vec<String> = before
        .iter()
        .flatten()
        .map(|r| (r, "baseline "))
        .chain(rows.iter().map(|r| (r, "")))
        .filter_map(|(r, set)| Some(format!("{set}{}: {}", r.binary, r.error.as_ref()?)))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} function(s) could not be run or did not answer their smoke event:\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    Ok(())
}

fn print(rows: &[Row], runs: usize) {
    println!(
        "{:<30} {:>10} {:>10} {:>6} {:>9} {:>9}",
        "function", "zip B", "unzip B", "≤4 MB", "reg ms", "answer ms"
    );
    for r in rows {
        println!(
            "{:<30} {:>10} {:>10} {:>6} {:>9} {:>9}{}",
            r.binary,
            r.zip,
            r.unzipped,
            if r.zip <= LIMIT { "yes" } else { "no" },
            ms(r.registration),
            ms(r.answered),
            match (&r.error, &r.note) {
                (Some(_), _) => "  failed (below)".to_string(),
                (None, Some(n)) => format!("  {n}"),
                (None, None) => String::new(),
            }
        );
    }
    let over = rows.iter().filter(|r| r.zip > LIMIT).count();
    println!(
        "{} of {} zip(s) over {LIMIT} bytes; times are medians of {runs} cold start(s) from process start{}",
        over,
        rows.len(),
        if std::env::consts::ARCH == "aarch64" {
            ""
        } else {
            ", under qemu (emulation: compare them with each other, not with Lambda)"
        }
    );
}

/// Before → after per function present in both sets, and the totals.
fn print_comparison(before: &[Row], after: &[Row]) {
    println!(
        "\n{:<30} {:>21} {:>8} {:>15} {:>15}",
        "function", "zip B before → after", "change", "reg ms b → a", "answer ms b → a"
    );
    let (mut total_before, mut total_after) = (0, 0);
    for a in after {
        let Some(b) = before.iter().find(|b| b.binary == a.binary) else {
            continue;
        };
        total_before += b.zip;
        total_after += a.zip;
        println!(
            "{:<30} {:>10} → {:>8} {:>8} {:>15} {:>15}",
            a.binary,
            b.zip,
            a.zip,
            change(b.zip, a.zip),
            format!("{} → {}", ms(b.registration), ms(a.registration)),
            format!("{} → {}", ms(b.answered), ms(a.answered)),
        );
    }
    println!(
        "{:<30} {:>10} → {:>8} {:>8}",
        "total",
        total_before,
        total_after,
        change(total_before, total_after)
    );
}

fn change(before: u64, after: u64) -> String {
    if before == 0 {
        return "-".into();
    }
    format!(
        "{:+.1}%",
        (after as f64 - before as f64) * 100.0 / before as f64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_comes_out_of_the_zip_executable_with_its_size() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xtask-bench-zips-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let binary = b"\x7fELF pretend binary, long enough to be deflated: aaaaaaaaaaaaaaaa";
        fs::write(dir.join("bootstrap"), binary).unwrap();
        crate::build::zip_bootstrap(&dir.join("bootstrap"), &dir.join("bootstrap.zip")).unwrap();
        let out = dir.join("out/bootstrap");
        assert_eq!(
            extract(&dir.join("bootstrap.zip"), &out).unwrap(),
            binary.len() as u64
        );
        assert_eq!(fs::read(&out).unwrap(), binary);
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o755
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_baseline_is_read_as_release_build_writes_it() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-baseline-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for f in ["b-fn.zip", "a-fn.zip", "SHA256SUMS"] {
            fs::write(dir.join(f), b"x").unwrap();
        }
        let names: Vec<String> = artifact_zips(&dir)
            .unwrap()
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        assert_eq!(names, ["a-fn", "b-fn"]);
        fs::remove_dir_all(&dir).unwrap();
        let empty = std::env::temp_dir().join(format!("xtask-bench-empty-{}", std::process::id()));
        fs::create_dir_all(&empty).unwrap();
        let e = artifact_zips(&empty).unwrap_err().to_string();
        assert!(e.contains("no `<binary>.zip`"), "{e}");
        fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn changes_are_signed_percentages() {
        assert_eq!(change(200, 150), "-25.0%");
        assert_eq!(change(100, 101), "+1.0%");
        assert_eq!(change(0, 5), "-");
    }

    #[test]
    fn the_median_of_an_odd_and_an_even_count() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect();
        assert_eq!(median(ms(&[30, 10, 20])), Some(Duration::from_millis(20)));
        assert_eq!(median(ms(&[40, 10])), Some(Duration::from_millis(40)));
        assert_eq!(median(Vec::new()), None);
    }
}
