//! The layer zip: `bin/ffmpeg` (0755) and `licenses/…`, fixed timestamps, so the same input gives
//! the same bytes; written as `<name>-<sha256>.zip` with a stamp naming the input it came from.

use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Wheel;
use crate::build::{hex, Asset};
use crate::project_root;

/// Bump when what goes into the zip changes while the pinned wheel does not: the stamp compares
/// this, so layers built by the old code are rebuilt.
const LAYOUT: &str = "ffmpeg layer v2: bin/ffmpeg, licenses/ffmpeg/{COPYING.GPLv3,NOTICE}, \
                      licenses/imageio-ffmpeg/LICENSE; deflate level 6";

/// The GNU GPL v3 text as the FSF publishes it (sha256 3972dc97…36986, the same as
/// gnu.org/licenses/gpl-3.0.txt). The wheel carries no copy: only imageio-ffmpeg's BSD licence.
const GPL3: &str = include_str!("GPL-3.0.txt");

/// Everything the zip's bytes depend on besides the wheel's content, which its sha256 stands for.
pub fn input_key(wheel: &Wheel, member: &str) -> String {
    let mut h = Sha256::new();
    for part in [LAYOUT, wheel.sha256, member, GPL3, &notice(wheel, member)] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

fn notice(wheel: &Wheel, member: &str) -> String {
    format!(
        "bin/ffmpeg is FFmpeg 7.0.2, the static arm64 build by John Van Sickle\n\
         (https://johnvansickle.com/ffmpeg/), configured with --enable-gpl --enable-version3:\n\
         it is licensed under the GNU General Public License version 3 (COPYING.GPLv3 here).\n\
         `/opt/bin/ffmpeg -version` prints its full configuration (the libraries it contains).\n\n\
         It is copied unmodified from {member} in {file}\n\
         (sha256 {sha}, {url}).\n\n\
         Corresponding source: FFmpeg 7.0.2, https://ffmpeg.org/releases/ffmpeg-7.0.2.tar.xz, and\n\
         the libraries named in its configuration; the builder documents the build at the address\n\
         above. imageio-ffmpeg's own licence (BSD-2-Clause) covers its packaging, not ffmpeg:\n\
         ../imageio-ffmpeg/LICENSE.\n",
        file = wheel.file_name,
        sha = wheel.sha256,
        url = wheel.url,
    )
}

/// The `licenses/` entries: the GPL text, the notice, the packaging's licence.
pub fn licenses(wheel: &Wheel, member: &str, packaging: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "licenses/ffmpeg/COPYING.GPLv3".into(),
            GPL3.as_bytes().to_vec(),
        ),
        (
            "licenses/ffmpeg/NOTICE".into(),
            notice(wheel, member).into_bytes(),
        ),
        ("licenses/imageio-ffmpeg/LICENSE".into(), packaging),
    ]
}

/// The zip's bytes. Entries carry 1980-01-01 (the zip epoch) rather than `SOURCE_DATE_EPOCH`:
/// nothing here is built from this repository's commit, so the pin alone decides the bytes.
pub fn layer_zip(ffmpeg: &[u8], licenses: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let base = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        // level 9 saves 0.2 % of 25 MB and doubles the time (30 s in xtask's unoptimised build)
        .compression_level(Some(6))
        .last_modified_time(zip::DateTime::default());
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut dirs: Vec<&str> = vec!["bin/"];
    for (name, _) in licenses {
        let mut end = 0;
        while let Some(i) = name[end..].find('/') {
            end += i + 1;
            if !dirs.contains(&&name[..end]) {
                dirs.push(&name[..end]);
            }
        }
    }
    // explicit directories, so unpacking gives them 0755 whatever the unpacker's umask
    for dir in dirs {
        w.add_directory(dir, base.unix_permissions(0o755))?;
    }
    w.start_file("bin/ffmpeg", base.unix_permissions(0o755))?;
    w.write_all(ffmpeg)?;
    for (name, bytes) in licenses {
        w.start_file(name.as_str(), base.unix_permissions(0o644))?;
        w.write_all(bytes)?;
    }
    Ok(w.finish()?.into_inner())
}

#[derive(Serialize, Deserialize)]
struct Stamp {
    input: String,
    asset: Asset,
}

fn stamp_path(out_dir: &Path, name: &str) -> std::path::PathBuf {
    out_dir.join(format!("{name}.json"))
}

/// The layer built earlier from the same input, when its zip is still there.
pub fn up_to_date(out_dir: &Path, name: &str, input: &str) -> Option<Asset> {
    let stamp: Stamp =
        serde_json::from_str(&fs::read_to_string(stamp_path(out_dir, name)).ok()?).ok()?;
    let on_disk = fs::metadata(project_root().join(&stamp.asset.path)).ok()?;
    (stamp.input == input && on_disk.len() == stamp.asset.size).then_some(stamp.asset)
}

/// Write `<name>-<sha256>.zip` and its stamp; remove the zips of earlier inputs (each is tens of
/// MB, and deploy uploads what the stamp names, never a directory listing).
pub fn write(out_dir: &Path, name: &str, input: &str, bytes: &[u8]) -> Result<Asset> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let sha256 = hex(&Sha256::digest(bytes));
    let file_name = format!("{name}-{sha256}.zip");
    let path = out_dir.join(&file_name);
    let part = out_dir.join(format!("{file_name}.part"));
    fs::write(&part, bytes).with_context(|| format!("writing {}", part.display()))?;
    fs::rename(&part, &path).with_context(|| format!("writing {}", path.display()))?;
    for entry in fs::read_dir(out_dir)?.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n != file_name && n.starts_with(&format!("{name}-")) && n.ends_with(".zip") {
            fs::remove_file(entry.path()).ok();
        }
    }
    let root = project_root();
    let asset = Asset {
        // relative to the workspace like the function zips; absolute when elsewhere (tests)
        path: path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string(),
        sha256,
        size: bytes.len() as u64,
    };
    let stamp = Stamp {
        input: input.into(),
        asset: asset.clone(),
    };
    fs::write(
        stamp_path(out_dir, name),
        serde_json::to_string_pretty(&stamp)? + "\n",
    )?;
    Ok(asset)
}

/// Unpack a layer zip as Lambda does under `/opt`: paths kept, unix modes applied.
pub fn unpack(zip_path: &Path, dest: &Path) -> Result<()> {
    let file =
        fs::File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a readable zip", zip_path.display()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(rel) = entry.enclosed_name() else {
            bail!(
                "{} holds an unsafe path `{}`",
                zip_path.display(),
                entry.name()
            );
        };
        let out = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&out)?;
        } else {
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes)?;
            fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
        }
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&out, fs::Permissions::from_mode(mode & 0o777))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::layers::FFMPEG_WHEEL;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-layers-{name}-{}", std::process::id()));
        fs::remove_dir_all(&dir).ok();
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sample() -> Vec<u8> {
        let licenses = licenses(&FFMPEG_WHEEL, "m/ffmpeg", b"BSD".to_vec());
        layer_zip(b"\x7fELF pretend ffmpeg", &licenses).unwrap()
    }

    #[test]
    fn the_layer_holds_bin_ffmpeg_executable_and_the_licences() {
        let dir = temp_dir("layout");
        fs::write(dir.join("l.zip"), sample()).unwrap();
        let mut z = zip::ZipArchive::new(fs::File::open(dir.join("l.zip")).unwrap()).unwrap();
        let files: Vec<(String, u32)> = (0..z.len())
            .filter_map(|i| {
                let e = z.by_index(i).unwrap();
                e.is_file()
                    .then(|| (e.name().to_string(), e.unix_mode().unwrap() & 0o777))
            })
            .collect();
        assert_eq!(
            files,
            [
                ("bin/ffmpeg".to_string(), 0o755),
                ("licenses/ffmpeg/COPYING.GPLv3".into(), 0o644),
                ("licenses/ffmpeg/NOTICE".into(), 0o644),
                ("licenses/imageio-ffmpeg/LICENSE".into(), 0o644),
            ]
        );
        let opt = dir.join("opt");
        unpack(&dir.join("l.zip"), &opt).unwrap();
        let ffmpeg = opt.join("bin/ffmpeg");
        assert_eq!(fs::read(&ffmpeg).unwrap(), b"\x7fELF pretend ffmpeg");
        assert_eq!(
            fs::metadata(&ffmpeg).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let gpl = fs::read_to_string(opt.join("licenses/ffmpeg/COPYING.GPLv3")).unwrap();
        assert!(gpl.contains("GNU GENERAL PUBLIC LICENSE") && gpl.contains("Version 3"));
        let notice = fs::read_to_string(opt.join("licenses/ffmpeg/NOTICE")).unwrap();
        assert!(notice.contains(FFMPEG_WHEEL.sha256) && notice.contains("m/ffmpeg"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_gpl_text_is_the_fsf_one() {
        assert_eq!(
            hex(&Sha256::digest(GPL3.as_bytes())),
            "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"
        );
    }

    #[test]
    fn same_input_same_bytes_same_name_and_the_stamp_skips_the_work() {
        let a = sample();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(a, sample(), "no wall-clock time in the zip");
        let dir = temp_dir("address");
        let input = input_key(&FFMPEG_WHEEL, "m/ffmpeg");
        assert_eq!(input, input_key(&FFMPEG_WHEEL, "m/ffmpeg"));
        assert_ne!(input, input_key(&FFMPEG_WHEEL, "m/other"));
        assert!(up_to_date(&dir, "ffmpeg", &input).is_none());
        let asset = write(&dir, "ffmpeg", &input, &a).unwrap();
        assert_eq!(asset.sha256, hex(&Sha256::digest(&a)));
        assert!(asset
            .path
            .ends_with(&format!("ffmpeg-{}.zip", asset.sha256)));
        assert_eq!(asset.key(), format!("assets/{}.zip", asset.sha256));
        assert_eq!(up_to_date(&dir, "ffmpeg", &input), Some(asset.clone()));
        assert!(up_to_date(&dir, "ffmpeg", "another input").is_none());
        // a new input replaces the old zip rather than piling up next to it
        let other = write(&dir, "ffmpeg", "another input", b"other bytes").unwrap();
        assert!(!Path::new(&asset.path).exists());
        assert!(Path::new(&other.path).exists());
        // a zip removed by hand is rebuilt
        fs::remove_file(&other.path).unwrap();
        assert!(up_to_date(&dir, "ffmpeg", "another input").is_none());
        fs::remove_dir_all(dir).unwrap();
    }
}
