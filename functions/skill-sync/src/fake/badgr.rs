//! Badgr's API v2 as the sync uses it: the password-grant token endpoint (`POST /o/token/`,
//! form-encoded, no client secret), and the issuer's badge classes and assertions in the
//! `{"status": …, "result": […]}` envelope, paged with `num`/`after` and a `Link` header as
//! Instructure documents. Revoked assertions are left out unless `include_revoked=true`, as the
//! open-source server does.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Seen;

#[derive(Default)]
struct Inner {
    username: String,
    password: String,
    issuer: String,
    badge_classes: Vec<Value>,
    assertions: Vec<Value>,
    /// Forced page size, as a hosted service may impose; `num` wins when smaller.
    page_size: Option<usize>,
    tokens: HashSet<String>,
    issued: u32,
    down: bool,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeBadgr {
    inner: Arc<Mutex<Inner>>,
}

impl FakeBadgr {
    pub fn new(username: &str, password: &str, issuer: &str) -> FakeBadgr {
        FakeBadgr {
            inner: Arc::new(Mutex::new(Inner {
                username: username.into(),
                password: password.into(),
                issuer: issuer.into(),
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake state")
    }

    pub fn set_badge_classes(&self, v: Vec<Value>) {
        self.lock().badge_classes = v;
    }

    pub fn set_assertions(&self, v: Vec<Value>) {
        self.lock().assertions = v;
    }

    pub fn page_size(&self, n: Option<usize>) {
        self.lock().page_size = n;
    }

    /// Every call answers 503 (an outage) while set.
    pub fn down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Tokens handed out so far stop working.
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Password-grant logins so far.
    pub fn logins(&self) -> u32 {
        self.lock().issued
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/o/token/", post(token))
            .route("/v2/issuers/{issuer}/{what}", get(list))
            .with_state(self.clone())
    }

    pub async fn start(&self) -> String {
        super::start(self.router()).await
    }

    pub async fn serve(&self, port: u16) -> std::io::Result<()> {
        super::serve(self.router(), port).await
    }
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
}

async fn token(
    State(fake): State<FakeBadgr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen::new(&method, &uri, &headers, &body);
    let mut inner = fake.lock();
    inner.seen.push(seen.clone());
    if inner.down {
        return unavailable();
    }
    let form = |k: &str| seen.form_param(k).unwrap_or_default();
    let good = form("username") == inner.username
        && form("password") == inner.password
        && form("grant_type") == "password"
        && !form("client_id").is_empty()
        && !form("scope").is_empty();
    if !good {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_grant", "error_description": "Invalid credentials given."})),
        )
            .into_response();
    }
    inner.issued += 1;
    let t = format!("local-badgr-token-{}", inner.issued);
    inner.tokens.insert(t.clone());
    Json(
        json!({"access_token": t, "token_type": "Bearer", "expires_in": 86400,
        "refresh_token": "local-refresh", "scope": form("scope")}),
    )
    .into_response()
}

async fn list(
    State(fake): State<FakeBadgr>,
    Path((issuer, what)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen::new(&method, &uri, &headers, &body);
    let mut inner = fake.lock();
    inner.seen.push(seen.clone());
    if inner.down {
        return unavailable();
    }
    let token = seen
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !inner.tokens.contains(token) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"detail": "Authentication credentials were not provided."})),
        )
            .into_response();
    }
    if issuer != inner.issuer {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"status": {"success": false, "description": "not found"}})),
        )
            .into_response();
    }
    let all: Vec<Value> = match what.as_str() {
        "badgeclasses" => inner.badge_classes.clone(),
        "assertions" => {
            let revoked_too = seen.query_param("include_revoked").as_deref() == Some("true");
            inner
                .assertions
                .iter()
                .filter(|a| revoked_too || a["revoked"] != json!(true))
                .cloned()
                .collect()
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let num = seen
        .query_param("num")
        .and_then(|n| n.parse::<usize>().ok());
    let size = match (num, inner.page_size) {
        (Some(n), Some(p)) => Some(n.min(p)),
        (n, p) => n.or(p),
    };
    let start: usize = seen
        .query_param("after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let end = size.map_or(all.len(), |s| (start + s).min(all.len()));
    let page = all[start.min(end)..end].to_vec();
    let envelope = json!({
        "status": {"success": true, "description": "ok", "fieldErrors": null, "validationErrors": null},
        "result": page,
    });
    let mut response = Json(envelope).into_response();
    if let Some(s) = size.filter(|_| end < all.len()) {
        // the rest of the query stays: include_revoked must hold on every page
        let kept: Vec<String> = seen
            .query
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("num=") && !kv.starts_with("after="))
            .map(str::to_string)
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        let link = format!(
            "<{}{}?{query}num={s}&after={end}>; rel=\"next\"",
            super::origin(&headers),
            seen.path
        );
        response
            .headers_mut()
            .insert("link", link.parse().expect("a header value"));
    }
    response
}
