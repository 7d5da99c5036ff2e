use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

/// A zip of (path, mode, contents); a path ending in `/` is a directory.
fn layer(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, mode, bytes) in entries {
        let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        if let Some(dir) = path.strip_suffix('/') {
            zip.add_directory(dir, options).unwrap();
        } else {
            zip.start_file(*path, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// A directory of its own under the system's temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "xtask-layers-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn layers_unpack_in_order_and_a_later_one_overwrites_an_earlier_ones_files() {
    let scratch = Scratch::new("order");
    let opt = scratch.0.join("opt");
    let first = layer(&[
        ("bin/", 0o755, b""),
        ("bin/tool", 0o755, b"#!/bin/sh\necho first\n"),
        ("lib/only-first.txt", 0o644, b"first"),
        ("share/config", 0o644, b"first"),
    ]);
    let second = layer(&[
        ("bin/tool", 0o755, b"#!/bin/sh\necho second\n"),
        ("share/config", 0o600, b"second"),
        ("share/extra", 0o644, b"second"),
    ]);
    unpack(&[first, second], &opt).unwrap();

    let read = |p: &str| std::fs::read_to_string(opt.join(p)).unwrap();
    assert_eq!(read("bin/tool"), "#!/bin/sh\necho second\n");
    assert_eq!(read("share/config"), "second");
    assert_eq!(
        read("lib/only-first.txt"),
        "first",
        "directories merge, files of earlier layers stay"
    );
    assert_eq!(read("share/extra"), "second");
    assert_eq!(
        mode(&opt.join("bin/tool")),
        0o755,
        "executables stay executable"
    );
    assert_eq!(
        mode(&opt.join("share/config")),
        0o600,
        "the later layer's mode"
    );
}

#[test]
fn a_layer_entry_that_would_leave_opt_is_refused() {
    let scratch = Scratch::new("escape");
    let evil = layer(&[("../escaped", 0o644, b"x")]);
    let err = unpack(&[evil], &scratch.0.join("opt")).unwrap_err();
    assert!(err.to_string().contains("outside /opt"), "{err:#}");
    assert!(!scratch.0.join("escaped").exists());
}

#[test]
fn every_executable_in_bin_gets_a_wrapper_that_path_variables_and_path_name() {
    let scratch = Scratch::new("wrappers");
    let dir = scratch.0.join("opt-set");
    let zip = layer(&[
        ("bin/ffmpeg", 0o755, b"#!/bin/sh\necho \"ffmpeg $*\"\n"),
        ("bin/readme.txt", 0o644, b"not a program"),
    ]);
    build(&dir, &[zip], None).unwrap();
    let opt = opt(&dir);

    let env: std::collections::BTreeMap<_, _> = opt.env.iter().cloned().collect();
    let wrapper = dir.join("bin/ffmpeg");
    assert_eq!(env["FFMPEG_PATH"], wrapper.display().to_string());
    assert_eq!(
        env[OPT_DIR_VARIABLE],
        dir.join("root/opt").display().to_string()
    );
    assert!(env["PATH"].starts_with(&format!("{}:", dir.join("bin").display())));
    assert!(!env.contains_key("README_TXT_PATH"), "{env:?}");
    assert!(!dir.join("bin/readme.txt").exists());

    let out = std::process::Command::new(&env["FFMPEG_PATH"])
        .args(["-i", "it's here"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ffmpeg -i it's here\n"
    );
    let left: Vec<_> = std::fs::read_dir(&scratch.0).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "the partial directory was renamed: {left:?}");
}

/// A static arm64 Linux executable of `text` (instructions, then data) loaded at 0x400000:
/// one ELF header and one program header, nothing else.
fn arm64_elf(words: &[u32], data: &[u8]) -> Vec<u8> {
    const HEADERS: u64 = 64 + 56;
    let mut text: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    text.extend_from_slice(data);
    let size = HEADERS + text.len() as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(0x400000 + HEADERS).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0u64, 0x400000, 0x400000, size, size, 0x1000] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(&text);
    elf
}

/// write(1, "arm64 child ran\n", 16); exit(0)
fn child() -> Vec<u8> {
    let words = [
        0xd2800020, // mov x0, #1
        0x100000e1, // adr x1, msg (28 bytes on)
        0xd2800202, // mov x2, #16
        0xd2800808, // mov x8, #64 (write)
        0xd4000001, // svc #0
        0xd2800000, // mov x0, #0
        0xd2800ba8, // mov x8, #93 (exit)
        0xd4000001, // svc #0
    ];
    arm64_elf(&words, b"arm64 child ran\n")
}

/// execve(argv[1], &argv[1], envp); exit(126) when that fails
fn parent() -> Vec<u8> {
    let words = [
        0xf94003e9, // ldr x9, [sp]          argc
        0x910043e1, // add x1, sp, #16       &argv[1]
        0xf9400020, // ldr x0, [x1]          argv[1]
        0x8b296fe2, // add x2, sp, x9, lsl #3
        0x91004042, // add x2, x2, #16       envp
        0xd2801ba8, // mov x8, #221 (execve)
        0xd4000001, // svc #0
        0xd2800fc0, // mov x0, #126
        0xd2800ba8, // mov x8, #93 (exit)
        0xd4000001, // svc #0
    ];
    arm64_elf(&words, b"")
}

#[test]
fn an_emulated_arm64_process_runs_a_layers_arm64_program_only_through_its_wrapper() {
    if std::env::consts::ARCH == "aarch64" || !crate::system::has_qemu() {
        // nothing to prove on an arm64 host; elsewhere qemu-user-static and libc6-arm64-cross
        // are what `cargo xtask invoke` installs
        eprintln!("skipped: this host runs arm64 natively or has no qemu-user-static");
        return;
    }
    let scratch = Scratch::new("qemu");
    let dir = scratch.0.join("opt-set");
    let zip = layer(&[("bin/child", 0o755, &child())]);
    let qemu = crate::system::qemu_prefix().to_vec();
    build(&dir, &[zip], Some(&qemu)).unwrap();
    let opt = opt(&dir);
    let env: std::collections::BTreeMap<_, _> = opt.env.iter().cloned().collect();
    let parent_path = scratch.0.join("parent");
    std::fs::write(&parent_path, parent()).unwrap();
    // qemu-user refuses (exit 1, silently) a program without the execute bit
    std::fs::set_permissions(&parent_path, std::fs::Permissions::from_mode(0o755)).unwrap();

    // as the local Lambda service runs a function with layers
    let run = |program: &str| {
        std::process::Command::new(&qemu[0])
            .args(&with_sysroot(qemu.clone(), &opt.root)[1..])
            .arg(&parent_path)
            .arg(program)
            .output()
            .unwrap()
    };
    let through_wrapper = run(&env["CHILD_PATH"]);
    assert!(through_wrapper.status.success(), "{through_wrapper:?}");
    assert_eq!(
        String::from_utf8_lossy(&through_wrapper.stdout),
        "arm64 child ran\n"
    );
    // why the wrappers exist: qemu-user executes the host's /opt/bin/child, which is not there
    // (or could not run an arm64 binary without binfmt_misc)
    let direct = run("/opt/bin/child");
    assert_eq!(direct.status.code(), Some(126), "{direct:?}");
    // the sysroot still serves the arm64 C library beside /opt
    assert!(opt.root.join("lib").exists() && opt.root.join("opt/bin/child").exists());
}

#[test]
fn the_s3_location_of_a_layer_is_read_from_its_presigned_url_shape() {
    assert_eq!(
        s3_location("https://assets-local.s3.us-east-1.amazonaws.com/assets/ab%2412.zip"),
        Some(("assets-local".into(), "assets/ab$12.zip".into()))
    );
    // moto's own answer for every layer: nothing to fetch
    assert_eq!(s3_location("s3://"), None);
    assert_eq!(s3_location("https://example.com/a.zip"), None);
}

#[test]
fn a_layer_version_arn_names_the_layer_and_its_version() {
    assert_eq!(
        layer_name_and_version("arn:aws:lambda:us-east-1:123456789012:layer:local-ffmpeg:3"),
        Some(("local-ffmpeg", 3))
    );
    assert_eq!(
        layer_name_and_version("arn:aws:lambda:us-east-1:123456789012:layer:local-ffmpeg"),
        None
    );
}

#[test]
fn names_make_path_variables_and_the_sysroot_is_replaced() {
    assert_eq!(path_variable("ffmpeg").as_deref(), Some("FFMPEG_PATH"));
    assert_eq!(path_variable("x264-cli").as_deref(), Some("X264_CLI_PATH"));
    assert_eq!(path_variable("7z"), None);
    let q = vec![
        "/usr/bin/qemu-aarch64-static".to_string(),
        "-L".into(),
        "/usr/aarch64-linux-gnu".into(),
    ];
    assert_eq!(
        with_sysroot(q, Path::new("/tmp/root"))[2],
        "/tmp/root".to_string()
    );
}
