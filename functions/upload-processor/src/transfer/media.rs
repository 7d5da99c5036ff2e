//! Fetching one media file of an imported answer, within limits the original did not have: its
//! `urlretrieve` followed any URL mentorImport echoed, `file://` included (spec §10.2 #18).
//! Here a URL must be https (http only where `TRANSFER_ALLOW_HTTP` says so) on an allowed host,
//! a redirect may only stay on that host, the download has a size and a time limit, and it
//! streams to a temporary file, never into memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use thiserror::Error;
use tokio::io::AsyncWriteExt;

use super::settings::AllowedHost;

/// Redirects followed at most (each must pass the same checks).
pub const MAX_REDIRECTS: usize = 5;

/// Which URLs may be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allowed: Vec<AllowedHost>,
    pub allow_http: bool,
}

impl UrlPolicy {
    /// `Err` says why the URL is refused.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err("refused: only https URLs are fetched".into()),
            other => return Err(format!("refused: the scheme {other:?} is not fetched")),
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err("refused: the URL has no host".into());
        };
        let default = if url.scheme() == "https" { 443 } else { 80 };
        if self.allowed.iter().any(|h| h.admits(host, port, default)) {
            Ok(())
        } else {
            Err(format!(
                "refused: {} is not an allowed host",
                host_port(host, url.port())
            ))
        }
    }
}

fn host_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The URL as errors and logs may show it: no user info, query string or fragment, which is
/// where signed URLs keep their credentials. Unparseable text is cut at the first `?` or `#`.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
    }
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("{0}")]
    Refused(String),
    #[error("not a URL: {0}")]
    BadUrl(String),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no complete answer within {0} s")]
    Timeout(u64),
    #[error("redirect refused: {0}")]
    Redirect(String),
    #[error("download failed: {0}")]
    Http(String),
    #[error("temporary file: {0}")]
    Io(String),
}

/// A downloaded file, removed when dropped.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    len: u64,
}

impl TempFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Downloads media under a [`UrlPolicy`], with its own HTTP client: the redirect policy and the
/// timeouts belong to this client, not to the GraphQL one.
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    policy: Arc<UrlPolicy>,
    max_bytes: u64,
    timeout: Duration,
    dir: PathBuf,
}

impl Fetcher {
    /// Temporary files go to `dir` (the Lambda's `/tmp` through `std::env::temp_dir()`).
    pub fn new(policy: UrlPolicy, max_bytes: u64, timeout: Duration, dir: PathBuf) -> Fetcher {
        let policy = Arc::new(policy);
        let checked = Arc::clone(&policy);
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let to = attempt.url();
            let same_host = attempt.previous().first().is_some_and(|from| {
                from.host_str() == to.host_str()
                    && from.port_or_known_default() == to.port_or_known_default()
            });
            if !same_host {
                let host = host_port(to.host_str().unwrap_or("?"), to.port());
                return attempt.error(format!("to another host ({host})"));
            }
            match checked.check(to) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(why),
            }
        });
        let http = support::tls::http_builder()
            .user_agent(concat!("upload-processor/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .build()
            .expect("a TLS backend is compiled in");
        Fetcher {
            http,
            policy,
            max_bytes,
            timeout,
            dir,
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Downloads `url` into a temporary file.
    pub async fn fetch(&self, url: &str) -> Result<TempFile, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        self.policy.check(&parsed).map_err(FetchError::Refused)?;
        let mut response = self
            .http
            .get(parsed)
            // From connecting to the last byte of the body, redirects included.
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.http_error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let mut file = TempFile {
            path: self
                .dir
                .join(format!("transfer-{}.part", uuid::Uuid::new_v4())),
            len: 0,
        };
        let io = |e: std::io::Error| FetchError::Io(e.to_string());
        let mut out = tokio::fs::File::create(&file.path).await.map_err(io)?;
        // A missing or lying Content-Length is caught here, chunk by chunk.
        while let Some(chunk) = response.chunk().await.map_err(|e| self.http_error(e))? {
            file.len += chunk.len() as u64;
            if file.len > self.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.flush().await.map_err(io)?;
        Ok(file)
    }

    fn http_error(&self, e: reqwest::Error) -> FetchError {
        // `without_url`: the URL may carry a signature in its query string.
        let e = e.without_url();
        if e.is_timeout() {
            FetchError::Timeout(self.timeout.as_secs())
        } else if e.is_redirect() {
            FetchError::Redirect(innermost(&e))
        } else {
            FetchError::Http(chain(&e))
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

fn innermost(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], allow_http: bool) -> UrlPolicy {
        UrlPolicy {
            allowed: hosts
                .iter()
                .map(|h| AllowedHost::parse(h).unwrap())
                .collect(),
            allow_http,
        }
    }

    fn check(p: &UrlPolicy, url: &str) -> Result<(), String> {
        p.check(&Url::parse(url).unwrap())
    }

    #[test]
    fn https_on_an_allowed_host_only() {
        let p = policy(&["static.mentorpal.org", "127.0.0.1:5106"], false);
        assert_eq!(
            check(&p, "https://static.mentorpal.org/videos/a/web.mp4"),
            Ok(())
        );
        assert_eq!(check(&p, "https://STATIC.mentorpal.org:443/a"), Ok(()));
        assert!(check(&p, "http://static.mentorpal.org/a")
            .unwrap_err()
            .contains("only https"));
        assert!(check(&p, "https://static.mentorpal.org:8443/a")
            .unwrap_err()
            .contains("not an allowed host"));
        assert!(check(&p, "https://evil.org/a")
            .unwrap_err()
            .contains("evil.org"));
        assert!(check(&p, "file:///etc/passwd")
            .unwrap_err()
            .contains("\"file\""));
        assert!(check(&p, "http://127.0.0.1:5106/a").is_err());
        let p = policy(&["127.0.0.1:5106"], true);
        assert_eq!(check(&p, "http://127.0.0.1:5106/_fake/media/a"), Ok(()));
        assert!(check(&p, "http://localhost:5106/a").is_err());
    }

    #[test]
    fn redaction_drops_what_may_be_a_credential() {
        assert_eq!(
            redact("https://user:pw@host.org/videos/web.mp4?X-Amz-Signature=abc#t=1"),
            "https://host.org/videos/web.mp4"
        );
        assert_eq!(redact("not a url?secret=1"), "not a url");
    }
}
