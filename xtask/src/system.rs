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
