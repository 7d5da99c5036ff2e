//! The layer's ffmpeg, run as the Lambda will run it (arm64, under qemu on other hosts): it has
//! the encoders upload-processor's command lines name, and it transcodes a short clip.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{project_root, system, ui};

/// The encoders of spec §5.2: MP4 (libx264, aac), WebM (libvpx-vp9, libopus, libvorbis), the
/// transcript's MP3 (libmp3lame), and the thumbnail's JPEG (mjpeg).
pub const REQUIRED_ENCODERS: &[&str] = &[
    "libx264",
    "libvpx-vp9",
    "aac",
    "libopus",
    "libvorbis",
    "libmp3lame",
    "mjpeg",
];

/// Build (or reuse) the layer, unpack it like Lambda does, and exercise its ffmpeg.
pub fn check_under_qemu() -> Result<()> {
    system::ensure_qemu()?;
    let asset = super::build_ffmpeg()?;
    let dir = project_root().join("target/lambda/layers/check");
    fs::remove_dir_all(&dir).ok();
    let opt = dir.join("opt");
    super::package::unpack(&project_root().join(&asset.path), &opt)
        .with_context(|| format!("unpacking {}", asset.path))?;
    let ffmpeg = opt.join("bin/ffmpeg");

    let started = Instant::now();
    let listing = run(
        &ffmpeg,
        &["-hide_banner", "-encoders"],
        "listing its encoders",
    )?;
    let missing = missing_encoders(&listing);
    if !missing.is_empty() {
        bail!(
            "the layer's ffmpeg lacks the encoder(s) {} that upload-processor uses; pin a build \
             that has them (xtask/src/layers/mod.rs)",
            missing.join(", ")
        );
    }
    ui::ok(format!(
        "layer ffmpeg has {} ({:.1?})",
        REQUIRED_ENCODERS.join(", "),
        started.elapsed()
    ));

    let clip = dir.join("clip.mp4");
    let started = Instant::now();
    run(
        &ffmpeg,
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=0.5",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=0.5",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "-shortest",
            "-y",
            &clip.display().to_string(),
        ],
        "transcoding a 0.5 s test clip to MP4 (libx264 + aac)",
    )?;
    let elapsed = started.elapsed();
    let bytes = fs::read(&clip).with_context(|| format!("reading {}", clip.display()))?;
    check_mp4(&bytes).with_context(|| format!("checking {}", clip.display()))?;
    ui::ok(format!(
        "layer ffmpeg under qemu: 0.5 s testsrc2+sine → MP4 (h264+aac) of {} bytes in {elapsed:.1?}; \
         layer zip {} bytes, bin/ffmpeg {} bytes",
        bytes.len(),
        asset.size,
        fs::metadata(&ffmpeg)?.len()
    ));
    // 51 MB unpacked; kept only when the check fails, to look at
    fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// `ffmpeg args…` under qemu (directly on an arm64 host); its stdout, or an error with stderr.
fn run(ffmpeg: &Path, args: &[&str], what: &str) -> Result<String> {
    let mut command = if std::env::consts::ARCH == "aarch64" {
        Command::new(ffmpeg)
    } else {
        let [qemu, rest @ ..] = system::qemu_prefix();
        let mut c = Command::new(qemu);
        c.args(rest).arg(ffmpeg);
        c
    };
    let out = command
        .args(args)
        .output()
        .with_context(|| format!("running the layer's ffmpeg ({what})"))?;
    if !out.status.success() {
        bail!(
            "the layer's ffmpeg failed {what} ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The required encoders absent from `ffmpeg -encoders` output (lines ` V....D name  text`
/// after the ` ------` separator).
fn missing_encoders(listing: &str) -> Vec<&'static str> {
    let names: Vec<&str> = listing
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("---"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    REQUIRED_ENCODERS
        .iter()
        .copied()
        .filter(|e| !names.contains(e))
        .collect()
}

/// An MP4 starting with `ftyp` that holds an H.264 and an AAC sample entry: enough to know the
/// encoders ran, without needing ffprobe on the host.
fn check_mp4(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 1024 || &bytes[4..8] != b"ftyp" {
        bail!("not an MP4 ({} bytes, no leading ftyp box)", bytes.len());
    }
    for (tag, codec) in [(b"avc1", "H.264"), (b"mp4a", "AAC")] {
        if !bytes.windows(4).any(|w| w == tag) {
            bail!("no {codec} track");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "Encoders:
 V..... = Video
 A..... = Audio
 ------
 V....D a64multi             Multicolor charset for Commodore 64 (codec a64_multi)
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 VFS... mjpeg                MJPEG (Motion JPEG)
 V....D libvpx-vp9           libvpx VP9 (codec vp9)
 A....D aac                  AAC (Advanced Audio Coding)
 A....D libmp3lame           libmp3lame MP3 (MPEG audio layer 3) (codec mp3)
 A....D libvorbis            libvorbis (codec vorbis)
";

    #[test]
    fn encoders_are_read_from_the_listing() {
        assert_eq!(missing_encoders(LISTING), ["libopus"]);
        let full = format!("{LISTING} A....D libopus              libopus Opus (codec opus)\n");
        assert!(missing_encoders(&full).is_empty());
        // the legend above the separator is not an encoder list
        assert_eq!(
            missing_encoders(" V..... = Video\n").len(),
            REQUIRED_ENCODERS.len()
        );
    }

    #[test]
    fn an_mp4_needs_ftyp_and_both_tracks() {
        let mut mp4 = vec![0, 0, 0, 32];
        mp4.extend_from_slice(b"ftypisom");
        mp4.resize(2048, 0);
        assert!(check_mp4(&mp4).is_err());
        mp4.extend_from_slice(b"avc1....mp4a");
        check_mp4(&mp4).unwrap();
        assert!(check_mp4(b"not a video").is_err());
    }
}
