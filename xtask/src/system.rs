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

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// ffmpeg and ffprobe on the host, for upload-processor's tests and `--local` runs (the deployed
/// arm64 functions use the layer from `crate::layers` instead): apt as root, otherwise say how.
pub fn ensure_ffmpeg() -> Result<()> {
    if on_path("ffmpeg") && on_path("ffprobe") {
        return Ok(());
    }
    if !is_root() {
        bail!("ffmpeg is not installed; install the `ffmpeg` package (e.g. sudo apt-get install ffmpeg), which upload-processor's tests run");
    }
    crate::ui::step("installing ffmpeg (apt-get), for upload-processor's tests");
    apt_install(&["ffmpeg"])
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` run as `owner` when we are root (the database servers refuse root), as ourselves
/// otherwise.
pub fn as_owner(owner: &str, program: &std::path::Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", owner, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Install a database server's package through apt; without root, say which package to install.
pub fn install_server(what: &str, package: &str) -> Result<()> {
    if !is_root() {
        bail!("{what} is not installed; install the `{package}` package (e.g. sudo apt-get install {package})");
    }
    crate::ui::step(format!(
        "installing {what} from the system packages (apt-get)"
    ));
    apt_install(&[package])
}

/// Run `cmd`; its failure carries its stderr and stdout.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(())
}
