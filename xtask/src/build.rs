//! `cargo xtask build`: arm64 release binaries with cargo-lambda, zipped reproducibly, listed in
//! `target/assets.json` with sha256 and size. Skipped when the sources did not change.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{project_root, ui, venv};

pub const TARGET: &str = "aarch64-unknown-linux-gnu";
/// The Cargo profile of the zips that ship (the workspace's Cargo.toml says why it is its own).
pub const PROFILE: &str = "lambda";
/// The profile of the test command's zips: the same code built in about half the time, larger
/// and slower to start (docs/operator.md, "Zip size and build time"). Never deployed to AWS.
pub const TEST_PROFILE: &str = "lambda-test";
/// Chooses between them for this process and the xtask processes it starts; unset is [`PROFILE`].
pub const PROFILE_VAR: &str = "XTASK_LAMBDA_PROFILE";

/// The profile `build` uses: [`PROFILE_VAR`]'s, or [`PROFILE`].
pub fn profile() -> Result<&'static str> {
    parse_profile(std::env::var(PROFILE_VAR).ok().as_deref())
}

fn parse_profile(value: Option<&str>) -> Result<&'static str> {
    match value {
        None => Ok(PROFILE),
        Some(v) if v == PROFILE => Ok(PROFILE),
        Some(v) if v == TEST_PROFILE => Ok(TEST_PROFILE),
        Some(other) => bail!(
            "{PROFILE_VAR}=`{other}` is not a Lambda profile: use `{PROFILE}` (the zips that ship, \
             the default) or `{TEST_PROFILE}` (the test command's, faster to build)"
        ),
    }
}

/// Refuses a build for `stage` in [`TEST_PROFILE`] unless it is the local stage: AWS stages get
/// the bytes that ship.
pub fn ensure_profile_for(stage: &infra::stage::Stage) -> Result<()> {
    check_profile_for(profile()?, stage)
}

fn check_profile_for(profile: &str, stage: &infra::stage::Stage) -> Result<()> {
    if profile != PROFILE && !stage.is_local() {
        bail!(
            "{PROFILE_VAR}={profile} builds the test command's zips, for the local stage only; \
             stage `{}` gets the `{PROFILE}` profile's: unset {PROFILE_VAR}",
            stage.name
        );
    }
    Ok(())
}

/// Lambda's arm64 functions run on Graviton2 (Neoverse N1) or newer, which AWS's Graviton guide
/// says to target. Knowing the crypto extensions at compile time also drops crc-fast's software
/// fallback (S3's checksums): ~600 KB of CRC tables for every variant, in every zip that links S3.
pub const TARGET_CPU: &str = "neoverse-n1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// Relative to the workspace root.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

impl Asset {
    /// Content-addressed key in the stage's asset bucket.
    pub fn key(&self) -> String {
        format!("assets/{}.zip", self.sha256)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Hash of everything the binaries are built from; equal means nothing to rebuild.
    pub fingerprint: String,
    /// The Cargo profile they were built in ([`PROFILE`] or [`TEST_PROFILE`]).
    #[serde(default)]
    pub profile: String,
    pub functions: BTreeMap<String, Asset>,
}

pub fn manifest_path() -> PathBuf {
    project_root().join("target/assets.json")
}

pub fn read_manifest() -> Manifest {
    fs::read_to_string(manifest_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Build `binaries` (all when empty is not allowed: callers name them). Returns their assets,
/// plus the ffmpeg layer under `layers::FFMPEG_LAYER`.
pub fn build(binaries: &[String]) -> Result<BTreeMap<String, Asset>> {
    // [layers] the ffmpeg layer zip goes beside the function zips (cached after the first
    // build); returning it with them is what makes deploy upload it to assets/<sha256>.zip
    let layer = crate::layers::build_ffmpeg()?;
    let mut assets = build_functions(binaries)?;
    assets.insert(crate::layers::FFMPEG_LAYER.into(), layer);
    Ok(assets)
}

fn build_functions(binaries: &[String]) -> Result<BTreeMap<String, Asset>> {
    let profile = profile()?;
    let fingerprint = fingerprint(profile)?;
    let mut manifest = read_manifest();
    let up_to_date = manifest.fingerprint == fingerprint
        && binaries.iter().all(|b| {
            manifest
                .functions
                .get(b)
                .is_some_and(|a| project_root().join(&a.path).exists())
        });
    if up_to_date {
        ui::ok(format!("{} function zip(s) up to date", binaries.len()));
        return Ok(binaries
            .iter()
            .map(|b| (b.clone(), manifest.functions[b].clone()))
            .collect());
    }
    if manifest.fingerprint != fingerprint {
        manifest.functions.clear();
    }
    ensure_toolchain()?;
    let started = Instant::now();
    ui::step(format!(
        "building {} for arm64 with cargo-lambda (profile {profile})",
        binaries.join(", ")
    ));
    let root = project_root();
    let path = format!(
        "{}:{}",
        root.join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(root.join(".venv/bin/cargo-lambda"));
    cmd.args([
        "lambda",
        "build",
        "--profile",
        profile,
        "--arm64",
        "--output-format",
        "binary",
    ])
    .current_dir(&root)
    .env("PATH", path)
    // it stamps our zips only; crates that read it would be rebuilt, and differ, for each value
    .env_remove("SOURCE_DATE_EPOCH")
    .env("RUSTFLAGS", rustflags());
    for b in binaries {
        cmd.args(["--bin", b]);
    }
    let status = cmd.status().context("running cargo-lambda")?;
    if !status.success() {
        bail!("cargo lambda build failed ({status})");
    }
    for b in binaries {
        let dir = root.join("target/lambda").join(b);
        let zip = dir.join("bootstrap.zip");
        zip_bootstrap(&dir.join("bootstrap"), &zip)?;
        let bytes = fs::read(&zip)?;
        let asset = Asset {
            path: zip.strip_prefix(&root)?.display().to_string(),
            sha256: hex(&Sha256::digest(&bytes)),
            size: bytes.len() as u64,
        };
        println!(
            "  {b:<32} {:>9} bytes  sha256 {}",
            asset.size,
            &asset.sha256[..16]
        );
        manifest.functions.insert(b.clone(), asset);
    }
    manifest.fingerprint = fingerprint;
    manifest.profile = profile.to_string();
    fs::write(
        manifest_path(),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    ui::ok(format!(
        "built in {:.1?}; manifest: target/assets.json",
        started.elapsed()
    ));
    Ok(binaries
        .iter()
        .map(|b| (b.clone(), manifest.functions[b].clone()))
        .collect())
}

/// The compiler flags of the Lambda binaries, part of the build's fingerprint: the same commit
/// builds the same bytes wherever it is checked out (paths remapped), for the CPU Lambda runs on.
fn rustflags() -> String {
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    format!(
        "-C target-cpu={TARGET_CPU} --remap-path-prefix={}=/build \
         --remap-path-prefix={cargo_home}=/cargo",
        project_root().display()
    )
}

/// Every function binary of the local stage's stacks (it has them all), or of one service.
pub fn stage_binaries(service: Option<&str>) -> Result<Vec<String>> {
    let stage = crate::synth::load_stage("local")?;
    Ok(infra::synth_stage(&stage, service)?
        .iter()
        .flat_map(|s| s.functions.iter().map(|f| f.binary.clone()))
        .filter(|b| has_code(b))
        .collect())
}

/// Whether a crate under `functions/` declares the binary (services land one by one).
pub fn has_code(binary: &str) -> bool {
    let needle = format!("name = \"{binary}\"");
    std::fs::read_dir(project_root().join("functions"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| fs::read_to_string(e.path().join("Cargo.toml")).is_ok_and(|t| t.contains(&needle)))
}

/// The zip entries' timestamp: `SOURCE_DATE_EPOCH` when set (the reproducible-builds
/// convention, e.g. the commit's time), else 1980-01-01, the earliest a zip can hold.
fn zip_time() -> Result<zip::DateTime> {
    let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") else {
        return Ok(zip::DateTime::default());
    };
    let bad =
        || format!("SOURCE_DATE_EPOCH=`{epoch}` is not seconds since 1970 between 1980 and 2107");
    let secs: i64 = epoch.trim().parse().with_context(bad)?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).with_context(bad)?;
    zip::DateTime::from_date_and_time(
        u16::try_from(t.year()).with_context(bad)?,
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .ok()
    .with_context(bad)
}

/// A zip with one entry, `bootstrap`, executable, with a fixed timestamp: same binary, same bytes.
pub fn zip_bootstrap(binary: &Path, out: &Path) -> Result<()> {
    let data = fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let modified = zip_time()?;
    let mut w = zip::ZipWriter::new(fs::File::create(out)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(modified);
    w.start_file("bootstrap", options)?;
    w.write_all(&data)?;
    w.finish()?;
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything the function binaries are built from.
fn fingerprint(profile: &str) -> Result<String> {
    let root = project_root();
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    collect(&root.join("functions"), &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.strip_prefix(&root)?.to_string_lossy().as_bytes());
        h.update(fs::read(&f).unwrap_or_default());
    }
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    h.update(rustc);
    // how they are compiled: a new flag or profile means new binaries
    h.update(format!("{profile} {TARGET} {}", rustflags()));
    // it stamps the zips, so zips built under another value are not up to date
    h.update(std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default());
    Ok(hex(&h.finalize()))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if !p.components().any(|c| c.as_os_str() == "events") {
            // sample events do not change the binaries
            out.push(p);
        }
    }
    Ok(())
}

/// cargo-lambda and Zig (from PyPI, into .venv) and the aarch64 target (rustup).
pub fn ensure_toolchain() -> Result<()> {
    venv::ensure()?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l == TARGET)
    {
        ui::step(format!("adding the {TARGET} target (rustup target add)"));
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()?;
        if !status.success() {
            bail!("`rustup target add {TARGET}` failed");
        }
    }
    Ok(())
}

impl crate::flags::Build {
    /// Every function of the stage's stacks (the local stage's, which has them all), or those
    /// of one service or one function.
    pub fn run(self) -> Result<i32> {
        let mut binaries = stage_binaries(self.service.as_deref())?;
        if let Some(f) = self.function {
            anyhow::ensure!(
                binaries.contains(&f),
                "no function `{f}`; known: {}",
                binaries.join(", ")
            );
            binaries = vec![f];
        }
        build(&binaries)?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_lambda_unless_the_test_one_is_named() {
        assert_eq!(parse_profile(None).unwrap(), PROFILE);
        assert_eq!(parse_profile(Some("lambda-test")).unwrap(), TEST_PROFILE);
        let e = parse_profile(Some("release")).unwrap_err().to_string();
        assert!(e.contains("`release`") && e.contains(PROFILE_VAR), "{e}");
    }

    #[test]
    fn only_the_local_stage_takes_the_test_profiles_zips() {
        let local = crate::synth::load_stage("local").unwrap();
        assert!(check_profile_for(TEST_PROFILE, &local).is_ok());
        let dev = crate::synth::load_stage("dev").unwrap();
        let e = check_profile_for(TEST_PROFILE, &dev)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stage `dev`") && e.contains(PROFILE_VAR), "{e}");
        assert!(check_profile_for(PROFILE, &dev).is_ok());
    }

    #[test]
    fn zips_are_byte_identical_for_the_same_binary() {
        let dir = std::env::temp_dir().join(format!("xtask-zip-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("bootstrap"), b"\x7fELF pretend binary").unwrap();
        zip_bootstrap(&dir.join("bootstrap"), &dir.join("a.zip")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        zip_bootstrap(&dir.join("bootstrap"), &dir.join("b.zip")).unwrap();
        assert_eq!(
            fs::read(dir.join("a.zip")).unwrap(),
            fs::read(dir.join("b.zip")).unwrap()
        );
        let mut z = zip::ZipArchive::new(fs::File::open(dir.join("a.zip")).unwrap()).unwrap();
        let entry = z.by_index(0).unwrap();
        assert_eq!(entry.name(), "bootstrap");
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        fs::remove_dir_all(dir).unwrap();
    }
}
