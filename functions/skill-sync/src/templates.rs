//! Release bundles in S3. A release's files go to `templates/{template_repo}/{latest_release}/…`,
//! exactly the original's layout: the app's bot copies every object whose key starts with
//! `templates/{template_repo}/{latest_release}` (no trailing slash) into a trainee's repository.
//! So nothing else may live under that prefix — not even a neighbour like `{release}.json` — and
//! the marker that records what was uploaded lives under `skill-sync/releases/` instead.

use std::collections::BTreeSet;
use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// Where the app's bot finds a release's files.
pub fn prefix(repo: &str, release: &str) -> String {
    format!("templates/{repo}/{release}")
}

/// Where the sync records the commit it uploaded for a release.
pub fn marker_key(repo: &str, release: &str) -> String {
    format!("skill-sync/releases/{repo}/{release}.json")
}

/// A repository name as GitHub allows it.
pub fn valid_repo(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A git ref that is safe in a URL path and an S3 key: no `..`, no empty or leading `/` parts.
pub fn valid_ref(r: &str) -> bool {
    !r.is_empty()
        && r.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+'))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub commit: String,
    pub zipball_sha256: String,
    pub files: usize,
}

/// One file of a release: its path inside the repository and its bytes.
pub struct File {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What a zipball unpacks to: its files, and notes on entries left out (symbolic links).
pub struct Unpacked {
    pub files: Vec<File>,
    pub notes: Vec<String>,
}

/// `S_IFMT` and `S_IFLNK` of a Unix mode (a zip entry made from a symbolic link).
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// The zipball's files without GitHub's single top folder (`{owner}-{repo}-{sha}/`). The whole
/// zip is refused when any entry's path is absolute, climbs with `..`, has an empty or `.`
/// segment, or lies outside that folder, or when it unpacks to more than `max_bytes` — counted
/// by the bytes actually read, not by the sizes the zip declares. Symbolic links are left out
/// (their target could be anything) and noted.
pub fn unpack(zip: &[u8], release: &str, max_bytes: u64) -> Result<Unpacked, Error> {
    let fail = |message: String| Error::Zip {
        release: release.into(),
        message,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| fail(format!("not a zip archive ({e})")))?;
    let mut top: Option<String> = None;
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| fail(format!("entry {i}: {e}")))?;
        let name = entry.name().to_string();
        // a directory's name ends with one `/`; every other empty segment is refused
        let segments = name.strip_suffix('/').unwrap_or(&name);
        let unsafe_path = name.starts_with('/')
            || name.contains('\\')
            || name.contains('\0')
            || segments
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            || (name.len() > 1 && name.as_bytes()[1] == b':')
            || entry.enclosed_name().is_none();
        if unsafe_path {
            return Err(fail(format!(
                "refused: the entry `{name}` escapes the archive"
            )));
        }
        let (first, rest) = name.split_once('/').unwrap_or((name.as_str(), ""));
        match &top {
            None => top = Some(first.to_string()),
            Some(t) if t == first => {}
            Some(t) => {
                return Err(fail(format!(
                    "refused: `{name}` is outside the top folder `{t}/`"
                )))
            }
        }
        if entry.is_dir() || rest.is_empty() {
            continue;
        }
        if entry.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK) {
            notes.push(format!("{release}: `{rest}` is a symbolic link; left out"));
            continue;
        }
        // never more than the cap allows, whatever the entry declares
        let left = max_bytes - total;
        let mut bytes = Vec::with_capacity(entry.size().min(left).min(1 << 20) as usize);
        (&mut entry)
            .take(left + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("reading `{name}`: {e}")))?;
        total += bytes.len() as u64;
        if total > max_bytes {
            return Err(fail(format!("unpacks to more than {max_bytes} bytes")));
        }
        files.push(File {
            path: rest.to_string(),
            bytes,
        });
    }
    Ok(Unpacked { files, notes })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct Store {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

impl Store {
    pub async fn marker(&self, repo: &str, release: &str) -> Result<Option<Marker>, Error> {
        let key = marker_key(repo, release);
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => {
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| Error::S3 {
                        operation: "GetObject",
                        key: key.clone(),
                        message: e.to_string(),
                    })?
                    .into_bytes();
                // an unreadable marker is as good as none: the release is uploaded again
                Ok(serde_json::from_slice(&body).ok())
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(Error::s3("GetObject", &key, &e)),
        }
    }

    /// Every file under the release's prefix, then the objects a previous upload left there that
    /// the release no longer has, then the marker (last, so an interrupted upload is redone).
    pub async fn upload(
        &self,
        repo: &str,
        release: &str,
        files: &[File],
        marker: &Marker,
    ) -> Result<usize, Error> {
        let base = prefix(repo, release);
        let mut keys = BTreeSet::new();
        for f in files {
            let key = format!("{base}/{}", f.path);
            let content_type = mime_guess::from_path(&f.path)
                .first_raw()
                .unwrap_or("binary/octet-stream");
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type(content_type)
                .body(f.bytes.clone().into())
                .send()
                .await
                .map_err(|e| Error::s3("PutObject", &key, &e))?;
            keys.insert(key);
        }
        let mut stale = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{base}/"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Error::s3("ListObjectsV2", &base, &e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    if !keys.contains(k) {
                        stale.push(k.to_string());
                    }
                }
            }
        }
        for key in &stale {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| Error::s3("DeleteObject", key, &e))?;
        }
        let key = marker_key(repo, release);
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(serde_json::to_vec(marker).expect("serializable").into())
            .send()
            .await
            .map_err(|e| Error::s3("PutObject", &key, &e))?;
        Ok(stale.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_and_repos_that_could_escape_a_key_are_refused() {
        assert!(valid_repo("Skill-Assessment-Tutorial-Python"));
        assert!(!valid_repo("../x") && !valid_repo("None/x") && !valid_repo(""));
        assert!(valid_ref("v0.0.1a") && valid_ref("release/2024"));
        assert!(!valid_ref("../v1") && !valid_ref("/v1") && !valid_ref("v1//x"));
    }

    use std::io::Write;

    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, bytes) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn refused(zip: &[u8]) -> String {
        match unpack(zip, "R@v1", 1 << 20) {
            Ok(u) => panic!(
                "accepted: {:?}",
                u.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_and_dot_segments_are_refused() {
        for name in ["top/a//b.txt", "top/./b.txt", "top/a/./b.txt", "top//b.txt"] {
            let zip = zip_of(&[("top/ok.txt", b"ok"), (name, b"x")]);
            assert!(refused(&zip).contains("escapes the archive"), "{name}");
        }
        // a directory's own trailing slash is fine
        let zip = zip_of(&[("top/ok.txt", b"ok")]);
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.add_directory("top/dir/", SimpleFileOptions::default())
            .unwrap();
        w.start_file("top/dir/a.txt", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"a").unwrap();
        let with_dir = w.finish().unwrap().into_inner();
        assert_eq!(unpack(&zip, "R@v1", 100).unwrap().files.len(), 1);
        assert_eq!(
            unpack(&with_dir, "R@v1", 100).unwrap().files[0].path,
            "dir/a.txt"
        );
    }

    #[test]
    fn a_symbolic_link_is_left_out_and_noted() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("top/README.md", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"# hi").unwrap();
        w.add_symlink("top/secrets", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let zip = w.finish().unwrap().into_inner();
        let u = unpack(&zip, "R@v1", 1 << 20).unwrap();
        assert_eq!(
            u.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["README.md"]
        );
        assert_eq!(u.notes.len(), 1);
        assert!(
            u.notes[0].contains("`secrets` is a symbolic link"),
            "{:?}",
            u.notes
        );
    }

    /// A zip whose headers declare every entry 1 byte long, whatever it holds.
    fn lying_about_sizes(mut zip: Vec<u8>) -> Vec<u8> {
        let mut i = 0;
        while i + 4 <= zip.len() {
            let at = match &zip[i..i + 4] {
                [0x50, 0x4b, 0x03, 0x04] => Some(i + 22),
                [0x50, 0x4b, 0x01, 0x02] => Some(i + 24),
                _ => None,
            };
            if let Some(at) = at {
                zip[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
            }
            i += 1;
        }
        zip
    }

    #[test]
    fn the_size_cap_counts_the_bytes_read_not_the_sizes_declared() {
        let big = vec![b'a'; 10_000];
        let zip = lying_about_sizes(zip_of(&[("top/a.txt", &big), ("top/b.txt", &big)]));
        let archive = zip::ZipArchive::new(std::io::Cursor::new(&zip[..])).unwrap();
        // the declared size is indeed the lie
        assert_eq!(archive.decompressed_size(), Some(2));
        match unpack(&zip, "R@v1", 5_000) {
            Ok(u) => panic!(
                "unpacked {} bytes past a 5000-byte cap",
                u.files.iter().map(|f| f.bytes.len()).sum::<usize>()
            ),
            Err(e) => assert!(e.to_string().contains("more than 5000 bytes"), "{e}"),
        }
        // honest sizes under the cap still unpack, to the byte
        let ok = zip_of(&[("top/a.txt", &big)]);
        assert_eq!(unpack(&ok, "R@v1", 10_000).unwrap().files[0].bytes, big);
        assert!(unpack(&ok, "R@v1", 9_999).is_err());
    }

    #[test]
    fn the_prefix_has_no_trailing_slash_and_the_marker_lives_outside_it() {
        assert_eq!(
            prefix("R-Programming-II", "v0.0.1a"),
            "templates/R-Programming-II/v0.0.1a"
        );
        assert!(!marker_key("R", "v1").starts_with("templates/"));
    }
}
