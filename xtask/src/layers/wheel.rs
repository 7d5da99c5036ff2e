//! A pinned wheel from PyPI: downloaded once into a cache, its sha256 checked on download and on
//! every reuse, members read with the `zip` crate (a wheel is a zip).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::build::hex;
use crate::ui;

/// One file on PyPI, pinned. The URL is the file's own (files.pythonhosted.org paths are
/// content-addressed and permanent), so no index lookup happens at build time.
#[derive(Debug, Clone, Copy)]
pub struct Wheel {
    pub file_name: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
    /// For the progress line only; the sha256 is what is checked.
    pub size: u64,
}

/// The cached wheel, downloaded with `download(url, to) -> sha256` when it is missing or does
/// not match the pin. A download that does not match is deleted and refused.
pub fn fetch(
    wheel: &Wheel,
    cache_dir: &Path,
    download: impl FnOnce(&str, &Path) -> Result<String>,
) -> Result<PathBuf> {
    let path = cache_dir.join(wheel.file_name);
    if path.exists() {
        let found = sha256_file(&path)?;
        if found == wheel.sha256 {
            return Ok(path);
        }
        ui::warn(format!(
            "{} has sha256 {found}, not the pinned {}; downloading it again",
            path.display(),
            wheel.sha256
        ));
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    fs::create_dir_all(cache_dir).with_context(|| format!("creating {}", cache_dir.display()))?;
    // downloaded beside the cache entry and renamed, so an interrupted download is never reused
    let part = cache_dir.join(format!("{}.part", wheel.file_name));
    ui::step(format!(
        "downloading {} ({:.1} MB) from PyPI",
        wheel.file_name,
        wheel.size as f64 / 1e6
    ));
    let started = Instant::now();
    let found = match download(wheel.url, &part) {
        Ok(found) => found,
        Err(e) => {
            fs::remove_file(&part).ok();
            return Err(e.context(format!(
                "downloading {} (check the network; PyPI must be reachable)",
                wheel.url
            )));
        }
    };
    if found != wheel.sha256 {
        fs::remove_file(&part).ok();
        bail!(
            "refusing {}: its sha256 is {found}, the pinned one is {}. If PyPI serves the file \
             through a proxy, check the proxy; if the pin was changed on purpose, update \
             `sha256` in xtask/src/layers/mod.rs",
            wheel.file_name,
            wheel.sha256
        );
    }
    fs::rename(&part, &path)
        .with_context(|| format!("moving the download to {}", path.display()))?;
    ui::ok(format!(
        "downloaded {} in {:.1?}, sha256 verified",
        wheel.file_name,
        started.elapsed()
    ));
    Ok(path)
}

/// GET `url` into `to`, hashing as it streams; returns the sha256. Runs on its own thread with
/// its own runtime: callers are both plain code and code inside the tool's tokio runtime.
pub fn download(url: &str, to: &Path) -> Result<String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting a runtime for the download")?
                .block_on(stream_to_file(url, to))
        })
        .join()
        .map_err(|_| anyhow!("the download thread panicked"))?
    })
}

async fn stream_to_file(url: &str, to: &Path) -> Result<String> {
    let mut response = support::tls::http_client()
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()
        .with_context(|| format!("GET {url}"))?;
    let total = response.content_length().unwrap_or(0);
    let bar = ui::spinner("downloading");
    let mut file = fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading {url}"))?
    {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .with_context(|| format!("writing {}", to.display()))?;
        received += chunk.len() as u64;
        bar.set_message(format!(
            "downloading: {:.1} of {:.1} MB",
            received as f64 / 1e6,
            total as f64 / 1e6
        ));
    }
    bar.finish_and_clear();
    file.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// One member of the wheel, whole.
pub fn read_member(wheel: &Path, member: &str) -> Result<Vec<u8>> {
    let file = fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a readable zip", wheel.display()))?;
    let mut entry = archive.by_name(member).with_context(|| {
        format!(
            "{} has no `{member}`; when changing the pinned version, list the wheel's files and \
             update the member names in xtask/src/layers/mod.rs",
            wheel.display()
        )
    })?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .with_context(|| format!("extracting {member} from {}", wheel.display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-layers-{name}-{}", std::process::id()));
        fs::remove_dir_all(&dir).ok();
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn pinned(content: &[u8]) -> Wheel {
        Wheel {
            file_name: "pretend-1.0-py3-none-any.whl",
            url: "https://example.invalid/pretend.whl",
            sha256: Box::leak(hex(&Sha256::digest(content)).into_boxed_str()),
            size: content.len() as u64,
        }
    }

    fn fake_download(content: &'static [u8]) -> impl FnOnce(&str, &Path) -> Result<String> {
        move |_, to| {
            fs::write(to, content)?;
            Ok(hex(&Sha256::digest(content)))
        }
    }

    #[test]
    fn a_download_with_another_sha256_is_refused_and_not_kept() {
        let dir = temp_dir("mismatch");
        let wheel = pinned(b"the real wheel");
        let err = fetch(&wheel, &dir, fake_download(b"something else")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("refusing"), "{msg}");
        assert!(msg.contains(wheel.sha256), "{msg}");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing left behind"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_verified_cache_entry_is_reused_and_a_corrupt_one_replaced() {
        let dir = temp_dir("cache");
        let wheel = pinned(b"the real wheel");
        let path = fetch(&wheel, &dir, fake_download(b"the real wheel")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"the real wheel");
        // cached: a download now would fail the test
        fetch(&wheel, &dir, |_, _| panic!("downloaded although cached")).unwrap();
        fs::write(&path, b"truncated").unwrap();
        fetch(&wheel, &dir, fake_download(b"the real wheel")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"the real wheel");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_download_names_the_url_and_leaves_no_part_file() {
        let dir = temp_dir("failed");
        let wheel = pinned(b"x");
        let err = fetch(&wheel, &dir, |_, to| {
            fs::write(to, b"half")?;
            bail!("connection reset")
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(wheel.url) && msg.contains("connection reset"),
            "{msg}"
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_member_says_what_to_update() {
        let dir = temp_dir("member");
        let path = dir.join("w.whl");
        let mut w = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        w.start_file("pkg/a", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"A").unwrap();
        w.finish().unwrap();
        assert_eq!(read_member(&path, "pkg/a").unwrap(), b"A");
        let msg = format!("{:#}", read_member(&path, "pkg/b").unwrap_err());
        assert!(msg.contains("xtask/src/layers/mod.rs"), "{msg}");
        fs::remove_dir_all(dir).unwrap();
    }
}
