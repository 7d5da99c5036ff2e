//! System packages the project needs (PostgreSQL, qemu-user-static, …), installed through apt
//! when missing, never by hand.

use std::process::Command;
use std::sync::Once;

use anyhow::{bail, Context, Result};

static UPDATE: Once = Once::new();

/// `apt-get install -y <packages>`; runs `apt-get update` once per process first.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    UPDATE.call_once(|| {
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    });
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get (is this a Debian-based machine?)")?;
    if !status.success() {
        bail!("apt-get could not install {}", packages.join(" "));
    }
    Ok(())
}

const QEMU: &str = "/usr/bin/qemu-aarch64-static";
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// Whether this host can run an arm64 `bootstrap` (qemu-user-static and the arm64 C library).
pub fn has_qemu() -> bool {
    std::path::Path::new(QEMU).exists()
        && std::path::Path::new(ARM64_SYSROOT)
            .join("lib/ld-linux-aarch64.so.1")
            .exists()
}

/// What goes before an arm64 binary to run it here.
pub fn qemu_prefix() -> [String; 3] {
    [QEMU.into(), "-L".into(), ARM64_SYSROOT.into()]
}

/// qemu-user-static and the arm64 C library, from the system packages when missing.
pub fn ensure_qemu() -> Result<()> {
    if std::env::consts::ARCH != "aarch64" && !has_qemu() {
        crate::ui::step(
            "installing qemu-user-static and libc6-arm64-cross (apt-get), to run arm64 functions",
        );
        apt_install(&["qemu-user-static", "libc6-arm64-cross"])?;
    }
    Ok(())
}
