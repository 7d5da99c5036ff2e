//! GitHub's calls: `GET /repos/{owner}/{repo}/commits/{ref}` (with `Accept:
//! application/vnd.github.sha`, the bare sha) and `GET /repos/{owner}/{repo}/zipball/{ref}`,
//! which redirects (302) to codeload, where the zip is: one top folder
//! `{owner}-{repo}-{short sha}/` holding the repository's files.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Seen;

#[derive(Clone)]
struct Release {
    commit: String,
    zip: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    org: String,
    /// (repo, ref) → release
    releases: BTreeMap<(String, String), Release>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeGitHub {
    inner: Arc<Mutex<Inner>>,
}

/// A zip as GitHub builds a zipball: every file under `top/`.
pub fn zipball(top: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.add_directory(format!("{top}/"), opts).expect("zip dir");
    for (path, bytes) in files {
        w.start_file(format!("{top}/{path}"), opts)
            .expect("zip entry");
        w.write_all(bytes).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

impl FakeGitHub {
    pub fn new(org: &str) -> FakeGitHub {
        FakeGitHub {
            inner: Arc::new(Mutex::new(Inner {
                org: org.into(),
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake state")
    }

    /// `repo`@`reference` points at `commit` and holds `files`.
    pub fn set_release(&self, repo: &str, reference: &str, commit: &str, files: &[(&str, &[u8])]) {
        let org = self.lock().org.clone();
        let top = format!("{org}-{repo}-{}", &commit[..7]);
        self.set_release_zip(repo, reference, commit, zipball(&top, files));
    }

    /// A release whose zipball is exactly `zip` (a hostile one, say).
    pub fn set_release_zip(&self, repo: &str, reference: &str, commit: &str, zip: Vec<u8>) {
        self.lock().releases.insert(
            (repo.into(), reference.into()),
            Release {
                commit: commit.into(),
                zip,
            },
        );
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/repos/{owner}/{repo}/commits/{*reference}", get(commit))
            .route(
                "/repos/{owner}/{repo}/zipball/{*reference}",
                get(zipball_redirect),
            )
            .route(
                "/codeload/{owner}/{repo}/legacy.zip/{*reference}",
                get(codeload),
            )
            .with_state(self.clone())
    }

    pub async fn start(&self) -> String {
        super::start(self.router()).await
    }

    pub async fn serve(&self, port: u16) -> std::io::Result<()> {
        super::serve(self.router(), port).await
    }

    fn find(&self, owner: &str, repo: &str, reference: &str) -> Option<Release> {
        let inner = self.lock();
        if owner != inner.org {
            return None;
        }
        inner
            .releases
            .get(&(repo.to_string(), reference.to_string()))
            .cloned()
    }

    fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
        self.lock().seen.push(Seen::new(method, uri, headers, body));
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#,
    )
        .into_response()
}

async fn commit(
    State(fake): State<FakeGitHub>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(&method, &uri, &headers, &body);
    let Some(r) = fake.find(&owner, &repo, &reference) else {
        return not_found();
    };
    let wants_sha = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.github.sha"));
    if wants_sha {
        r.commit.into_response()
    } else {
        axum::Json(serde_json::json!({"sha": r.commit})).into_response()
    }
}

async fn zipball_redirect(
    State(fake): State<FakeGitHub>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(&method, &uri, &headers, &body);
    if fake.find(&owner, &repo, &reference).is_none() {
        return not_found();
    }
    let to = format!(
        "{}/codeload/{owner}/{repo}/legacy.zip/{reference}",
        super::origin(&headers)
    );
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn codeload(
    State(fake): State<FakeGitHub>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.record(&method, &uri, &headers, &body);
    match fake.find(&owner, &repo, &reference) {
        Some(r) => ([(header::CONTENT_TYPE, "application/zip")], r.zip).into_response(),
        None => not_found(),
    }
}
