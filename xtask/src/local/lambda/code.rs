//! A function's deployed code: the zip in the stage's asset bucket, checked against the
//! `CodeSha256` the emulator reports and unpacked once per hash under `target/local/lambda/`.

use std::io::{Cursor, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::build::hex;

/// The S3 key in the code location the emulator reports (its URL's path).
pub fn key_from_location(location: &str) -> Option<String> {
    let url = reqwest::Url::parse(location).ok()?;
    let key = url.path().trim_start_matches('/');
    (!key.is_empty()).then(|| key.to_string())
}

/// The path of the function's `bootstrap`, fetched and unpacked if this hash is new.
pub async fn bootstrap(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    code_sha256: &str,
) -> Result<PathBuf> {
    let digest = base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .with_context(|| format!("CodeSha256 `{code_sha256}` is not base64"))?;
    let dir = super::super::state_dir().join("lambda").join(hex(&digest));
    let path = dir.join("bootstrap");
    if path.exists() {
        return Ok(path);
    }
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("fetching s3://{bucket}/{key}"))?;
    let zip = object
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?
        .into_bytes();
    ensure!(
        Sha256::digest(&zip).as_slice() == digest.as_slice(),
        "s3://{bucket}/{key} is not the code the function was given (CodeSha256 differs); deploy again"
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))
        .with_context(|| format!("s3://{bucket}/{key} is not a zip"))?;
    let mut entry = match archive.by_name("bootstrap") {
        Ok(e) => e,
        Err(_) => bail!("s3://{bucket}/{key} has no `bootstrap` at its root"),
    };
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes)?;
    std::fs::create_dir_all(&dir)?;
    // unpack beside and rename, so a concurrent invocation never runs a half-written file; the
    // name is unique per call, as invocations of one function start at once (a Map state)
    let partial = dir.join(format!("bootstrap.{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&partial, &bytes)?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Whether the file is an arm64 ELF executable (`e_machine` 183).
pub fn is_arm64(path: &std::path::Path) -> bool {
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header.starts_with(b"\x7fELF") && header[18..20] == [183, 0])
}

#[cfg(test)]
mod tests {
    use super::{is_arm64, key_from_location};

    #[test]
    fn arm64_is_told_from_the_elf_header() {
        let dir = std::env::temp_dir().join(format!("xtask-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[18] = 183;
        std::fs::write(dir.join("arm"), &header).unwrap();
        header[18] = 62; // x86-64
        std::fs::write(dir.join("x86"), &header).unwrap();
        std::fs::write(dir.join("script"), b"#!/bin/sh\necho hi\n").unwrap();
        assert!(is_arm64(&dir.join("arm")));
        assert!(!is_arm64(&dir.join("x86")));
        assert!(!is_arm64(&dir.join("script")));
        assert!(!is_arm64(&dir.join("missing")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    // as in the local Lambda service, whose invocations run on several threads at once
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn invocations_that_start_at_once_unpack_the_same_code_on_the_emulator() {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        use std::io::Write;

        let conf = crate::aws::config(&crate::synth::load_stage("local").unwrap()).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let bucket = format!("xtask-unpack-{}", uuid::Uuid::new_v4().simple());
        s3.create_bucket().bucket(&bucket).send().await.expect(
            "the AWS emulator is not running at http://127.0.0.1:5000: run `cargo xtask local up` first",
        );
        // unique content, so its hash directory is new and every call unpacks
        let script = format!("#!/bin/sh\necho {}\n", uuid::Uuid::new_v4());
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("bootstrap", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(script.as_bytes()).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
        s3.put_object()
            .bucket(&bucket)
            .key("code.zip")
            .body(bytes.into())
            .send()
            .await
            .unwrap();
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let (s3, bucket, sha) = (s3.clone(), bucket.clone(), sha.clone());
                tokio::spawn(async move { super::bootstrap(&s3, &bucket, "code.zip", &sha).await })
            })
            .collect();
        let mut paths = Vec::new();
        for c in calls {
            paths.push(c.await.unwrap());
        }
        for p in &paths {
            let p = p.as_ref().expect("every concurrent call gets the code");
            assert_eq!(std::fs::read_to_string(p).unwrap(), script);
        }
        let dir = paths[0].as_ref().unwrap().parent().unwrap().to_path_buf();
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "partial files left: {left:?}");
        std::fs::remove_dir_all(dir).unwrap();
        s3.delete_object()
            .bucket(&bucket)
            .key("code.zip")
            .send()
            .await
            .unwrap();
        s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    }

    #[test]
    fn the_key_is_the_path_of_the_code_location() {
        assert_eq!(
            key_from_location(
                "https://awslambda-us-east-1-tasks.s3.us-east-1.amazonaws.com/assets/ab12.zip"
            )
            .as_deref(),
            Some("assets/ab12.zip")
        );
        assert_eq!(key_from_location("s3://"), None);
    }
}
