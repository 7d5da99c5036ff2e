//! Lambda layers `cargo xtask build` makes next to the function zips. One today: ffmpeg for
//! upload-processor's arm64 functions, at `/opt/bin/ffmpeg` once Lambda unpacks the layer.
//!
//! The binary is the static arm64 ffmpeg 7 that the `imageio-ffmpeg` wheel carries on PyPI (a
//! registry every machine of the project reaches; GitHub and ffmpeg's own mirrors may not be).
//! The wheel is pinned by version, URL and sha256, cached under `target/downloads/`, and the
//! layer zip is written once per pinned input, named by the sha256 of its bytes.

mod package;
mod verify;
mod wheel;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::build::Asset;
use crate::{project_root, ui};

pub use verify::check_under_qemu;
pub use wheel::Wheel;

/// The layer's name among the assets `build::build` returns (deploy uploads them all).
pub const FFMPEG_LAYER: &str = "ffmpeg-layer";

/// imageio-ffmpeg 0.7.0, the newest release with a `manylinux2014_aarch64` wheel (0.8 moved to
/// manylinux_2_28 and a 61 MB ffmpeg 8 build). sha256 as PyPI lists it for this file.
pub const FFMPEG_WHEEL: Wheel = Wheel {
    file_name: "imageio_ffmpeg-0.7.0-py3-none-manylinux2014_aarch64.whl",
    url: "https://files.pythonhosted.org/packages/9c/68/5c7eac9733c0a35b46f939df7079bbf72463dc347d4ff51fbad138d15ba9/imageio_ffmpeg-0.7.0-py3-none-manylinux2014_aarch64.whl",
    sha256: "588a23c6a1c55a7cb51febfe97d3ef8dd5e7fa0ef7e14c7da8828e2886bdd3a3",
    size: 25_632_882,
};

/// The binary inside the wheel: John Van Sickle's static build of ffmpeg 7.0.2
/// (`--enable-gpl --enable-version3`, libx264, libvpx, libopus, libvorbis, libmp3lame, …).
const FFMPEG_MEMBER: &str = "imageio_ffmpeg/binaries/ffmpeg-linux-aarch64-v7.0.2";
/// The wheel's own licence (BSD-2-Clause): it covers imageio-ffmpeg's packaging, not ffmpeg.
const PACKAGING_LICENSE_MEMBER: &str = "imageio_ffmpeg-0.7.0.dist-info/licenses/LICENSE";

/// Where the layer zips go: beside the function zips in `target/lambda/`.
pub fn layers_dir() -> PathBuf {
    project_root().join("target/lambda/layers")
}

/// Where downloads are cached; `cargo clean` removes them with everything else it built.
pub fn downloads_dir() -> PathBuf {
    project_root().join("target/downloads")
}

/// The ffmpeg layer zip, built when its pinned input changed, downloaded when not cached.
pub fn build_ffmpeg() -> Result<Asset> {
    build_ffmpeg_in(&layers_dir(), &downloads_dir(), wheel::download)
}

fn build_ffmpeg_in(
    out_dir: &Path,
    cache_dir: &Path,
    download: impl FnOnce(&str, &Path) -> Result<String>,
) -> Result<Asset> {
    let input = package::input_key(&FFMPEG_WHEEL, FFMPEG_MEMBER);
    if let Some(asset) = package::up_to_date(out_dir, "ffmpeg", &input) {
        ui::ok(format!(
            "ffmpeg layer up to date ({} bytes, sha256 {})",
            asset.size,
            &asset.sha256[..16]
        ));
        return Ok(asset);
    }
    let wheel_path = wheel::fetch(&FFMPEG_WHEEL, cache_dir, download)?;
    let started = Instant::now();
    ui::step(format!(
        "packaging the ffmpeg layer from {}",
        FFMPEG_WHEEL.file_name
    ));
    let ffmpeg = wheel::read_member(&wheel_path, FFMPEG_MEMBER)?;
    let packaging = wheel::read_member(&wheel_path, PACKAGING_LICENSE_MEMBER)?;
    let licenses = package::licenses(&FFMPEG_WHEEL, FFMPEG_MEMBER, packaging);
    let bytes =
        package::layer_zip(&ffmpeg, &licenses).context("writing the ffmpeg layer zip in memory")?;
    let asset = package::write(out_dir, "ffmpeg", &input, &bytes)?;
    println!(
        "  {FFMPEG_LAYER:<32} {:>9} bytes  sha256 {}  (bin/ffmpeg {} bytes unpacked)",
        asset.size,
        &asset.sha256[..16],
        ffmpeg.len()
    );
    ui::ok(format!(
        "ffmpeg layer packaged in {:.1?}: {}",
        started.elapsed(),
        asset.path
    ));
    Ok(asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one test that talks to PyPI and runs qemu. `cargo xtask test` covers the same path in
    /// its arm64 phase; run this by hand with `cargo test -p xtask layers -- --ignored`.
    #[test]
    #[ignore = "downloads from PyPI and needs qemu; the arm64 phase of cargo xtask test runs it"]
    fn real_wheel_builds_a_layer_whose_ffmpeg_transcodes_under_qemu() {
        crate::system::ensure_qemu().unwrap();
        let asset = build_ffmpeg().unwrap();
        assert!(asset.size > 10_000_000, "{asset:?}");
        check_under_qemu().unwrap();
    }
}
