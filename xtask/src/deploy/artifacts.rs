//! `deploy --artifacts DIR`: deploy the zips a release build made and checksummed, not a rebuild.
//! `DIR/SHA256SUMS` is in `sha256sum`'s format (`<hex>  <file>`, one a line), written by
//! `cargo xtask release build` through [`sums_line`]; every zip the stacks need must be listed
//! there, present in `DIR`, and hash to what is listed, or nothing is uploaded.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::build::Asset;
use crate::ui;

/// The checksum file's name in an artifacts directory.
pub const SUMS: &str = "SHA256SUMS";

/// One line of `SHA256SUMS`, as `sha256sum` writes it (text mode: two spaces).
pub fn sums_line(sha256: &str, file: &str) -> String {
    format!("{sha256}  {file}\n")
}

/// `SHA256SUMS` → file name → lowercase hex sha256. Accepts `sha256sum`'s binary marker
/// (`<hex> *<file>`) and blank lines; refuses anything else with its line number, since a file
/// we cannot read entirely is not one we can vouch for.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (hash, rest) = line
            .split_once(' ')
            .with_context(|| format!("{SUMS} line {n}: `{line}` is not `<sha256>  <file>`"))?;
        let file = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .with_context(|| format!("{SUMS} line {n}: `{line}` is not `<sha256>  <file>`"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{SUMS} line {n}: `{hash}` is not a sha256 (64 hex digits)");
        }
        // names are plain file names inside DIR: a path could point anywhere
        if file.is_empty() || file.contains('/') || file.contains('\\') || file.starts_with('.') {
            bail!("{SUMS} line {n}: `{file}` is not a file name inside the artifacts directory");
        }
        if sums
            .insert(file.to_string(), hash.to_ascii_lowercase())
            .is_some()
        {
            bail!("{SUMS} line {n}: `{file}` is listed twice");
        }
    }
    if sums.is_empty() {
        bail!("{SUMS} lists no files");
    }
    Ok(sums)
}

/// Check every needed zip (`file name → what needs it`) against `dir/SHA256SUMS` and return
/// each as an asset at its path in `dir`. Every problem is listed before refusing, so one run
/// says everything that is wrong with the directory.
pub fn verify(dir: &Path, needed: &BTreeMap<String, String>) -> Result<BTreeMap<String, Asset>> {
    let sums_path = dir.join(SUMS);
    let text = fs::read_to_string(&sums_path).with_context(|| {
        format!(
            "reading {}: --artifacts takes the directory `cargo xtask release build` writes \
             (target/release-artifacts/), with its {SUMS}",
            sums_path.display()
        )
    })?;
    let sums = parse(&text).with_context(|| format!("in {}", sums_path.display()))?;
    ui::step(format!(
        "verifying {} zip(s) in {} against {SUMS}",
        needed.len(),
        dir.display()
    ));
    let mut assets = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, what) in needed {
        let Some(expected) = sums.get(file) else {
            problems.push(format!("{file} ({what}): not listed in {SUMS}"));
            continue;
        };
        let path = dir.join(file);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{file} ({what}): listed but not readable: {e}"));
                continue;
            }
        };
        let actual = crate::build::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        if &actual != expected {
            problems.push(format!(
                "{file} ({what}): sha256 {actual}, but {SUMS} says {expected}"
            ));
            continue;
        }
        assets.insert(
            file.clone(),
            Asset {
                path: path.display().to_string(),
                sha256: actual,
                size: bytes.len() as u64,
            },
        );
    }
    if !problems.is_empty() {
        bail!(
            "{} does not hold the zips these stacks need; nothing was uploaded or changed:\n  {}\n  \
             fix: use the directory `cargo xtask release build` wrote for this commit (in CI, the \
             release's downloaded artifacts), or deploy without --artifacts to build here",
            dir.display(),
            problems.join("\n  ")
        );
    }
    ui::ok(format!("{} zip(s) match {SUMS}", assets.len()));
    Ok(assets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a3c0d6e1f2b4a5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0";

    fn sha(bytes: &[u8]) -> String {
        crate::build::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes))
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-artifacts-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn needed(files: &[&str]) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|f| (f.to_string(), "test".to_string()))
            .collect()
    }

    #[test]
    fn parses_what_release_build_writes_and_sha256sum_binary_mode() {
        let text = sums_line(A, "mips-cache-api.zip")
            + &format!("{} *ffmpeg-layer.zip\n\n", A.to_uppercase());
        let sums = parse(&text).unwrap();
        assert_eq!(sums["mips-cache-api.zip"], A);
        assert_eq!(sums["ffmpeg-layer.zip"], A, "hex is compared in lower case");
        assert_eq!(sums.len(), 2);
    }

    #[test]
    fn refuses_malformed_sums_with_the_line() {
        for (text, says) in [
            ("", "lists no files"),
            ("abc  x.zip\n", "line 1: `abc` is not a sha256"),
            (&format!("{A}x.zip\n"), "line 1"),
            (&format!("{A}  ../x.zip\n"), "not a file name"),
            (
                &format!("{A}  x.zip\n{A}  x.zip\n"),
                "line 2: `x.zip` is listed twice",
            ),
        ] {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_good_set_is_accepted_and_unneeded_files_are_ignored() {
        let d = dir("good");
        fs::write(d.join("a.zip"), b"zip a").unwrap();
        fs::write(d.join("b.zip"), b"zip b").unwrap();
        let sums = sums_line(&sha(b"zip a"), "a.zip")
            + &sums_line(&sha(b"zip b"), "b.zip")
            + &sums_line(A, "other.zip");
        fs::write(d.join(SUMS), sums).unwrap();
        let assets = verify(&d, &needed(&["a.zip", "b.zip"])).unwrap();
        assert_eq!(assets["a.zip"].sha256, sha(b"zip a"));
        assert_eq!(
            assets["a.zip"].key(),
            format!("assets/{}.zip", sha(b"zip a"))
        );
        assert_eq!(assets["b.zip"].size, 5);
        assert_eq!(assets["b.zip"].path, d.join("b.zip").display().to_string());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_mismatch_is_refused_naming_the_file() {
        let d = dir("mismatch");
        fs::write(d.join("a.zip"), b"rebuilt since").unwrap();
        fs::write(d.join(SUMS), sums_line(&sha(b"zip a"), "a.zip")).unwrap();
        let err = format!("{:#}", verify(&d, &needed(&["a.zip"])).unwrap_err());
        assert!(
            err.contains(&format!("a.zip (test): sha256 {}", sha(b"rebuilt since"))),
            "{err}"
        );
        assert!(err.contains("nothing was uploaded"), "{err}");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_zips_and_unlisted_zips_are_refused_together() {
        let d = dir("missing");
        fs::write(d.join("unlisted.zip"), b"zip").unwrap();
        fs::write(d.join(SUMS), sums_line(&sha(b"gone"), "gone.zip")).unwrap();
        let err = format!(
            "{:#}",
            verify(&d, &needed(&["gone.zip", "unlisted.zip"])).unwrap_err()
        );
        assert!(
            err.contains("gone.zip (test): listed but not readable"),
            "{err}"
        );
        assert!(
            err.contains("unlisted.zip (test): not listed in SHA256SUMS"),
            "{err}"
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_directory_without_sums_says_what_to_pass() {
        let d = dir("nosums");
        let err = format!("{:#}", verify(&d, &needed(&["a.zip"])).unwrap_err());
        assert!(err.contains("cargo xtask release build"), "{err}");
        fs::remove_dir_all(d).unwrap();
    }
}
