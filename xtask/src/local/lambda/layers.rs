//! A function's Lambda layers on this host: what Lambda puts under `/opt`.
//!
//! Lambda unpacks a function's layers into `/opt` in the order the configuration lists them,
//! a later layer overwriting an earlier one's files. Here they are unpacked once per set of
//! layer hashes into `target/local/lambda/opt-<hash>/root/opt/`, and `root/` also links the
//! arm64 C library, so that it can be qemu's sysroot (`-L root`): qemu-user looks every path
//! the function opens or stats up under the sysroot first, so `/opt/...` reads the layers.
//!
//! Executing is the exception: qemu-user does not look `execve` paths up under the sysroot, and
//! without binfmt_misc (not registered on CI) the host kernel cannot run an arm64 child anyway.
//! So every executable in the layers' `bin/` gets a host shell wrapper in `opt-<hash>/bin/`
//! (`exec qemu-aarch64-static -L root root/opt/bin/<name> "$@"`): the host kernel runs a
//! script with its own /bin/sh even when the parent is an emulated arm64 process. The function
//! finds the wrappers through `<NAME>_PATH` (`FFMPEG_PATH`), `PATH`, or `LAMBDA_OPT_DIR`; a
//! function that spawns `/opt/bin/<name>` literally cannot run locally.

use std::io::{Cursor, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::build::hex;

/// The env variable naming where the layers' `/opt` is on this host.
pub const OPT_DIR_VARIABLE: &str = "LAMBDA_OPT_DIR";

/// A function's layers, ready for its process.
#[derive(Debug, Clone)]
pub struct Opt {
    /// qemu's sysroot: the arm64 C library and `opt/`.
    pub root: PathBuf,
    /// What the process gets on top of its configuration: `LAMBDA_OPT_DIR`, `PATH` with the
    /// wrappers first, and `<NAME>_PATH` per executable.
    pub env: Vec<(String, String)>,
}

/// One layer version as the emulator describes it.
#[derive(Debug, Clone)]
struct Layer {
    arn: String,
    /// base64 SHA-256 of the zip.
    code_sha256: String,
    bucket: String,
    key: String,
}

/// Fetch (once per set of hashes) and unpack the layers `arns`, in order. `qemu` is what runs
/// an arm64 binary here (its sysroot argument is replaced), `None` on an arm64 host.
pub async fn prepare(
    lambda: &aws_sdk_lambda::Client,
    s3: &aws_sdk_s3::Client,
    arns: &[String],
    qemu: Option<&[String]>,
) -> Result<Opt> {
    let mut layers = Vec::new();
    for arn in arns {
        layers.push(describe(lambda, arn).await?);
    }
    let mut digest = Sha256::new();
    for l in &layers {
        digest.update(l.code_sha256.as_bytes());
        digest.update(b"\n");
    }
    let dir = super::super::state_dir()
        .join("lambda")
        .join(format!("opt-{}", &hex(&digest.finalize())[..32]));
    if !dir.join("root/opt").exists() {
        let mut zips = Vec::new();
        for l in &layers {
            zips.push(fetch(s3, l).await?);
        }
        build(&dir, &zips, qemu)?;
    }
    Ok(opt(&dir))
}

/// The layer's zip location and hash from GetLayerVersion (the emulator answers
/// GetLayerVersionByArn with ListLayers).
async fn describe(lambda: &aws_sdk_lambda::Client, arn: &str) -> Result<Layer> {
    let Some((name, version)) = layer_name_and_version(arn) else {
        bail!("`{arn}` is not a layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)");
    };
    let out = lambda
        .get_layer_version()
        .layer_name(name)
        .version_number(version)
        .send()
        .await
        .with_context(|| format!("the emulator's GetLayerVersion {arn}; deploy again"))?;
    let content = out
        .content
        .with_context(|| format!("the emulator has no content for layer {arn}"))?;
    let location = content.location.unwrap_or_default();
    let Some((bucket, key)) = s3_location(&location) else {
        bail!(
            "layer {arn} has no S3 location (`{location}`): the local stage runs layers \
             published from S3 (Content.S3Bucket/S3Key, as deploy does) by an emulator with this \
             launcher; `cargo xtask local up` restarts an outdated one"
        );
    };
    Ok(Layer {
        arn: arn.to_string(),
        code_sha256: content.code_sha256.unwrap_or_default(),
        bucket,
        key,
    })
}

/// `arn:aws:lambda:us-east-1:123456789012:layer:ffmpeg:3` → (`ffmpeg`, 3).
fn layer_name_and_version(arn: &str) -> Option<(&str, i64)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts[..] {
        ["arn", _, "lambda", _, _, "layer", name, version] => Some((name, version.parse().ok()?)),
        _ => None,
    }
}

/// Bucket and key of `https://<bucket>.s3.<region>.amazonaws.com/<key>`, the location the
/// launcher gives a layer published from S3 (AWS gives a presigned URL of that shape).
fn s3_location(location: &str) -> Option<(String, String)> {
    let url = reqwest::Url::parse(location).ok()?;
    let (bucket, _) = url.host_str()?.split_once(".s3.")?;
    let key = percent_decode(url.path().trim_start_matches('/'))?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key))
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

async fn fetch(s3: &aws_sdk_s3::Client, layer: &Layer) -> Result<Vec<u8>> {
    let (bucket, key) = (&layer.bucket, &layer.key);
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("fetching layer {} from s3://{bucket}/{key}", layer.arn))?;
    let zip = object
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?
        .into_bytes()
        .to_vec();
    let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    ensure!(
        sha == layer.code_sha256,
        "s3://{bucket}/{key} is not the zip layer {} was published from (CodeSha256 differs); deploy again",
        layer.arn
    );
    Ok(zip)
}

/// Unpack `zips` into `dir/root/opt` with the sysroot links and the wrappers, built beside and
/// renamed so that concurrent invocations never see half of it.
fn build(dir: &Path, zips: &[Vec<u8>], qemu: Option<&[String]>) -> Result<()> {
    let partial = dir.with_extension(uuid::Uuid::new_v4().simple().to_string());
    let root = partial.join("root");
    std::fs::create_dir_all(root.join("opt"))?;
    unpack(zips, &root.join("opt"))?;
    if let Some(sysroot) = qemu.and_then(|q| q.get(2)) {
        link_sysroot(Path::new(sysroot), &root)?;
    }
    // the wrappers name the final paths: they run only after the rename
    wrappers(
        &root.join("opt/bin"),
        &dir.join("root"),
        &partial.join("bin"),
        qemu,
    )?;
    match std::fs::rename(&partial, dir) {
        Ok(()) => Ok(()),
        // another invocation got there first with the same layers
        Err(_) if dir.join("root/opt").exists() => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("moving the layers into {}", dir.display())),
    }
}

/// What the function's process gets for the layers unpacked in `dir`.
fn opt(dir: &Path) -> Opt {
    let root = dir.join("root");
    let bin = dir.join("bin");
    let mut env = vec![(
        OPT_DIR_VARIABLE.to_string(),
        root.join("opt").display().to_string(),
    )];
    let host_path = std::env::var("PATH").unwrap_or_default();
    env.push(("PATH".into(), format!("{}:{host_path}", bin.display())));
    let mut names: Vec<String> = std::fs::read_dir(&bin)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        if let Some(variable) = path_variable(&name) {
            env.push((variable, bin.join(&name).display().to_string()));
        }
    }
    Opt { root, env }
}

/// `ffmpeg` → `FFMPEG_PATH`; `None` for a name that cannot make a variable.
fn path_variable(name: &str) -> Option<String> {
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    Some(format!("{stem}_PATH"))
}

/// Unpack the layer zips into `opt` in order: a later layer's file replaces an earlier one's,
/// directories merge, modes (and symlinks) are kept, and entries that would leave `opt` are
/// refused.
pub fn unpack(zips: &[Vec<u8>], opt: &Path) -> Result<()> {
    for (n, zip) in zips.iter().enumerate() {
        let mut archive = zip::ZipArchive::new(Cursor::new(zip))
            .with_context(|| format!("layer {} of {} is not a zip", n + 1, zips.len()))?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i)?;
            let Some(relative) = entry.enclosed_name() else {
                bail!(
                    "layer {}: entry `{}` would land outside /opt",
                    n + 1,
                    entry.name()
                );
            };
            let path = opt.join(&relative);
            let mode = entry.unix_mode();
            if entry.is_dir() {
                if path.is_file() || path.is_symlink() {
                    std::fs::remove_file(&path)?;
                }
                std::fs::create_dir_all(&path)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if path.is_symlink() || path.is_file() {
                std::fs::remove_file(&path)?;
            } else if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes)?;
            if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
                let target = String::from_utf8(bytes).with_context(|| {
                    format!(
                        "layer {}: symlink {} is not UTF-8",
                        n + 1,
                        relative.display()
                    )
                })?;
                std::os::unix::fs::symlink(target, &path)?;
                continue;
            }
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            // zips written without Unix modes: Lambda gives such files 0644 too
            let permissions = mode.map_or(0o644, |m| m & 0o777);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(permissions))?;
        }
    }
    Ok(())
}

/// Link each entry of the arm64 sysroot (`lib`, …) into `root`, beside `opt/`.
fn link_sysroot(sysroot: &Path, root: &Path) -> Result<()> {
    let entries = std::fs::read_dir(sysroot)
        .with_context(|| format!("reading the arm64 sysroot {}", sysroot.display()))?;
    for entry in entries.flatten() {
        if entry.file_name() != "opt" {
            std::os::unix::fs::symlink(entry.path(), root.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// A host shell wrapper in `bin` for each executable in `opt_bin`, which will be
/// `root/opt/bin` when the wrappers run: arm64 binaries run under `qemu` (with `root` as
/// sysroot) when given, anything else directly.
pub fn wrappers(opt_bin: &Path, root: &Path, bin: &Path, qemu: Option<&[String]>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(opt_bin) else {
        return Ok(());
    };
    std::fs::create_dir_all(bin)?;
    for entry in entries.flatten() {
        let path = entry.path();
        let executable = std::fs::metadata(&path)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !executable {
            continue;
        }
        let program = root.join("opt/bin").join(&name);
        let mut command = Vec::new();
        if let Some(qemu) = qemu.filter(|_| super::code::is_arm64(&path)) {
            command.push(quote(&qemu[0]));
            command.push("-L".into());
            command.push(quote(&root.display().to_string()));
        }
        command.push(quote(&program.display().to_string()));
        let script = format!(
            "#!/bin/sh\n# /opt/bin/{name} of the function's layers, run by the host's /bin/sh: \
             qemu-user cannot exec an arm64 child itself\nexec {} \"$@\"\n",
            command.join(" ")
        );
        let wrapper = bin.join(&name);
        std::fs::write(&wrapper, script)?;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `s` as one single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The sysroot `-L` argument of a qemu prefix replaced by the layers' root.
pub fn with_sysroot(mut qemu: Vec<String>, root: &Path) -> Vec<String> {
    if let Some(i) = qemu.iter().position(|a| a == "-L") {
        if let Some(arg) = qemu.get_mut(i + 1) {
            *arg = root.display().to_string();
        }
    }
    qemu
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
