//! Fakes of Airtable, Badgr and GitHub for the tests and the local stage, built from the wire
//! formats the original relies on (spec §3–§5): the same routes, headers, envelopes and paging,
//! plus switches for what a client must survive (429s, an outage, expired tokens, a hostile
//! zip). Each records the requests it got, so tests can check what the client sent.

pub mod airtable;
pub mod badgr;
pub mod github;
pub mod sample;

use std::collections::BTreeMap;

use axum::http::HeaderMap;

pub use airtable::FakeAirtable;
pub use badgr::FakeBadgr;
pub use github::FakeGitHub;
pub use sample::{sample, Sample};

/// The values the local stage seeds into its secrets and the fakes accept.
pub const AIRTABLE_TOKEN: &str = "local-airtable-token";
pub const AIRTABLE_BASE: &str = "appLocalSkillApp";
pub const BADGR_USERNAME: &str = "sync@example.org";
pub const BADGR_PASSWORD: &str = "local-only-password";
pub const BADGR_ISSUER: &str = "LocalIssuer0000000000A";
pub const GITHUB_ORG: &str = "Bioinformatics-Research-Network";

/// A request as a fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Seen {
    pub(crate) fn new(
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Seen {
        Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A query or form parameter.
    pub fn param(&self, source: &str, name: &str) -> Option<String> {
        source.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| decode(v))
        })
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.param(self.query.as_deref().unwrap_or_default(), name)
    }

    pub fn form_param(&self, name: &str) -> Option<String> {
        self.param(&self.body, name)
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space).
pub(crate) fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Binds an ephemeral port of 127.0.0.1 and serves `app` in the background; the base URL.
pub(crate) async fn start(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding an ephemeral port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

pub(crate) async fn serve(app: axum::Router, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}

/// `http://host:port` of the request, for absolute links (Badgr's `Link`, GitHub's redirect).
pub(crate) fn origin(headers: &HeaderMap) -> String {
    format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
    )
}
