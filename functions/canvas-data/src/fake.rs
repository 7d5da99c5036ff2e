//! A fake of the DAP API for tests, the local stage and the benchmark: the documented routes
//! and shapes, gzip JSON Lines objects, expiring tokens, and switches for the failures a client
//! must survive (429s, a download that stalls mid-object, a table whose schema fails).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "local-client";
pub const CLIENT_SECRET: &str = "local-only-secret";

#[derive(Debug, Clone, Default)]
pub struct FakeTable {
    pub version: i64,
    /// The JSON Schema of the table (see [`table_schema`]).
    pub schema: Value,
    /// Snapshot objects, each JSON Lines text.
    pub snapshot: Vec<String>,
    /// What an incremental query returns, whatever its `since`.
    pub changes: Vec<String>,
    pub at: String,
    pub until: String,
}

struct Job {
    objects: Vec<String>,
    until: Option<String>,
    at: Option<String>,
    polls_left: u32,
}

#[derive(Default)]
struct Inner {
    tables: BTreeMap<String, FakeTable>,
    objects: HashMap<String, Vec<u8>>,
    jobs: HashMap<String, Job>,
    tokens: HashMap<String, Instant>,
    next: u64,
    token_ttl: u64,
    polls: u32,
    throttle: u32,
    stall: HashSet<(String, usize)>,
    /// Tables whose every object download waits this long first (a big table, in small).
    slow: HashMap<String, Duration>,
    broken_schema: HashSet<String>,
    expired: HashSet<String>,
    logins: u32,
    queries: Vec<(String, Option<String>)>,
}

#[derive(Clone)]
pub struct FakeDap {
    inner: Arc<Mutex<Inner>>,
}

impl Default for FakeDap {
    fn default() -> Self {
        FakeDap::new()
    }
}

impl FakeDap {
    pub fn new() -> FakeDap {
        FakeDap {
            inner: Arc::new(Mutex::new(Inner {
                token_ttl: 3600,
                polls: 1,
                ..Inner::default()
            })),
        }
    }

    /// Serves on an ephemeral port of 127.0.0.1 in the background; returns the base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding an ephemeral port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let app = self.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Serves on `port` until the process ends (the local stage's fake).
    pub async fn serve(&self, port: u16) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, self.router()).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake state")
    }

    pub fn set_table(&self, name: &str, table: FakeTable) {
        self.lock().tables.insert(name.into(), table);
    }

    pub fn table(&self, name: &str) -> Option<FakeTable> {
        self.lock().tables.get(name).cloned()
    }

    /// Tokens live this long (the client renews before they expire).
    pub fn token_ttl(&self, seconds: u64) {
        self.lock().token_ttl = seconds;
    }

    /// Every token handed out so far stops working (a 401 until the client logs in again).
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Job status polls answered `running` before `complete`.
    pub fn polls_before_complete(&self, n: u32) {
        self.lock().polls = n;
    }

    /// The next `n` API requests get 429 with `Retry-After: 0`.
    pub fn throttle_next(&self, n: u32) {
        self.lock().throttle = n;
    }

    /// The next download of snapshot object `index` of `table` sends half and then hangs.
    /// Every object of `table` is served after `delay`, as a big object takes its time: an init
    /// with a short timeout then needs more than one run.
    pub fn slow_table(&self, table: &str, delay: Duration) {
        self.lock().slow.insert(table.into(), delay);
    }

    pub fn stall_object(&self, table: &str, index: usize) {
        self.lock().stall.insert((table.into(), index));
    }

    /// The table's schema request fails with a 500, every time.
    pub fn break_schema(&self, table: &str) {
        self.lock().broken_schema.insert(table.into());
    }

    /// Every job started so far expires, as DAP's do after about a day: the job and the URLs
    /// of its objects answer 404.
    pub fn expire_jobs(&self) {
        let mut inner = self.lock();
        let ids: Vec<String> = inner.jobs.keys().cloned().collect();
        inner.expired.extend(ids);
    }

    pub fn logins(&self) -> u32 {
        self.lock().logins
    }

    /// `(table, since)` of every query job started.
    pub fn queries(&self) -> Vec<(String, Option<String>)> {
        self.lock().queries.clone()
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/ids/auth/login", post(login))
            .route("/dap/query/canvas/table", get(tables))
            .route("/dap/query/canvas/table/{t}/schema", get(schema))
            .route("/dap/query/canvas/table/{t}/data", post(query))
            .route("/dap/job/{id}", get(job))
            .route("/dap/object/url", post(urls))
            .route("/objects/{*id}", get(object))
            .with_state(self.clone())
    }

    /// 401 without a live token, 429 while throttling; `None` when the request may proceed.
    fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        let mut inner = self.lock();
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let live = token
            .and_then(|t| inner.tokens.get(t))
            .is_some_and(|expires| Instant::now() < *expires);
        if !live {
            return Some((StatusCode::UNAUTHORIZED, "invalid or expired token").into_response());
        }
        if inner.throttle > 0 {
            inner.throttle -= 1;
            return Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0")],
                    "slow down",
                )
                    .into_response(),
            );
        }
        None
    }
}

async fn login(State(f): State<FakeDap>, headers: HeaderMap, body: String) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let basic_ok = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !basic_ok || body != "grant_type=client_credentials" {
        return (StatusCode::UNAUTHORIZED, "bad client credentials").into_response();
    }
    let mut inner = f.lock();
    inner.logins += 1;
    inner.next += 1;
    let token = format!("fake-token-{}", inner.next);
    let ttl = inner.token_ttl;
    inner
        .tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    Json(json!({ "access_token": token, "expires_in": ttl, "token_type": "Bearer" }))
        .into_response()
}

async fn tables(State(f): State<FakeDap>, headers: HeaderMap) -> Response {
    if let Some(r) = f.gate(&headers) {
        return r;
    }
    let names: Vec<String> = f.lock().tables.keys().cloned().collect();
    Json(json!({ "tables": names })).into_response()
}

fn not_found(table: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": { "message": format!("table {table} not found") } })),
    )
        .into_response()
}

async fn schema(State(f): State<FakeDap>, headers: HeaderMap, Path(t): Path<String>) -> Response {
    if let Some(r) = f.gate(&headers) {
        return r;
    }
    let inner = f.lock();
    if inner.broken_schema.contains(&t) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "schema service unavailable",
        )
            .into_response();
    }
    match inner.tables.get(&t) {
        Some(table) => {
            Json(json!({ "version": table.version, "schema": table.schema })).into_response()
        }
        None => not_found(&t),
    }
}

async fn query(
    State(f): State<FakeDap>,
    headers: HeaderMap,
    Path(t): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = f.gate(&headers) {
        return r;
    }
    if body.get("format").and_then(Value::as_str) != Some("jsonl") {
        return (StatusCode::BAD_REQUEST, "format must be jsonl").into_response();
    }
    let since = body
        .get("since")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut inner = f.lock();
    let Some(table) = inner.tables.get(&t).cloned() else {
        return not_found(&t);
    };
    inner.queries.push((t.clone(), since.clone()));
    inner.next += 1;
    let id = format!("job-{}", inner.next);
    let texts = if since.is_some() {
        &table.changes
    } else {
        &table.snapshot
    };
    let mut objects = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let object = format!("{t}/{id}/{i}");
        inner.objects.insert(object.clone(), gzip(text.as_bytes()));
        objects.push(object);
    }
    let polls = inner.polls;
    let (until, at) = match since {
        Some(_) => (Some(table.until.clone()), None),
        None => (None, Some(table.at.clone())),
    };
    inner.jobs.insert(
        id.clone(),
        Job {
            objects,
            until,
            at,
            polls_left: polls,
        },
    );
    Json(json!({ "id": id, "status": "waiting" })).into_response()
}

async fn job(State(f): State<FakeDap>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = f.gate(&headers) {
        return r;
    }
    let mut inner = f.lock();
    if inner.expired.contains(&id) {
        return (StatusCode::NOT_FOUND, "no such job").into_response();
    }
    let Some(job) = inner.jobs.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, "no such job").into_response();
    };
    if job.polls_left > 0 {
        job.polls_left -= 1;
        return Json(json!({ "id": id, "status": "running" })).into_response();
    }
    let objects: Vec<Value> = job.objects.iter().map(|o| json!({ "id": o })).collect();
    let mut body = json!({ "id": id, "status": "complete", "objects": objects });
    if let Some(u) = &job.until {
        body["until"] = json!(u);
    }
    if let Some(a) = &job.at {
        body["at"] = json!(a);
    }
    Json(body).into_response()
}

async fn urls(State(f): State<FakeDap>, headers: HeaderMap, body: String) -> Response {
    if let Some(r) = f.gate(&headers) {
        return r;
    }
    let Ok(Value::Array(ids)) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected [{\"id\"}...]").into_response();
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut urls = serde_json::Map::new();
    let inner = f.lock();
    for id in ids
        .iter()
        .filter_map(|o| o.get("id").and_then(Value::as_str))
    {
        // ids are <table>/<job>/<index>
        if id
            .split('/')
            .nth(1)
            .is_some_and(|job| inner.expired.contains(job))
        {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": { "message": format!("object {id} not found") } })),
            )
                .into_response();
        }
        // pre-signed in the real API: a query string that must never reach a log
        let url = format!("http://{host}/objects/{id}?X-Amz-Signature=fake-signature");
        urls.insert(id.into(), json!({ "url": url }));
    }
    Json(json!({ "urls": urls })).into_response()
}

async fn object(State(f): State<FakeDap>, Path(id): Path<String>) -> Response {
    let (bytes, stall, delay) = {
        let mut inner = f.lock();
        let Some(bytes) = inner.objects.get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "no such object").into_response();
        };
        // ids are <table>/<job>/<index>
        let mut parts = id.split('/');
        let key = (
            parts.next().unwrap_or_default().to_string(),
            parts
                .nth(1)
                .and_then(|i| i.parse().ok())
                .unwrap_or(usize::MAX),
        );
        let delay = inner.slow.get(&key.0).copied();
        (bytes, inner.stall.remove(&key), delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if stall {
        let half = bytes::Bytes::from(bytes[..bytes.len() / 2].to_vec());
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(half) })
            .chain(futures_util::stream::pending());
        return Body::from_stream(stream).into_response();
    }
    ([("content-type", "application/gzip")], bytes).into_response()
}

use futures_util::StreamExt;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// A DAP-style JSON Schema from the properties of `key` and `value`.
pub fn table_schema(key: Value, value: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "key": { "type": "object", "properties": key },
            "value": { "type": "object", "properties": value },
            "meta": { "type": "object" }
        }
    })
}

/// JSON Lines text of `lines`, cut into objects of at most `per_object` lines.
pub fn objects(lines: &[String], per_object: usize) -> Vec<String> {
    lines
        .chunks(per_object.max(1))
        .map(|c| {
            let mut s = c.join("\n");
            s.push('\n');
            s
        })
        .collect()
}

/// What the local stage's fake serves: three small tables with changes to sync.
pub fn sample() -> FakeDap {
    let dap = FakeDap::new();
    let accounts: Vec<String> = (1..=25)
        .map(|i| {
            json!({"key": {"id": i}, "value": {
                "name": format!("Account {i}"),
                "workflow_state": if i % 7 == 0 { "deleted" } else { "active" },
                "parent_account_id": if i == 1 { Value::Null } else { json!(1) },
                "created_at": format!("2024-01-{:02}T08:00:00Z", i % 28 + 1),
                "settings": {"restrict_student_future_view": i % 2 == 0}
            }})
            .to_string()
        })
        .collect();
    dap.set_table(
        "accounts",
        FakeTable {
            version: 1,
            schema: table_schema(
                json!({"id": {"type": "integer", "format": "int64"}}),
                json!({
                    "name": {"type": "string"},
                    "workflow_state": {"type": "string", "enum": ["active", "deleted"]},
                    "parent_account_id": {"type": "integer", "format": "int64"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "settings": {"type": "object"}
                }),
            ),
            snapshot: objects(&accounts, 10),
            changes: vec![[
                json!({"key": {"id": 2}, "value": {"name": "Account 2 (renamed)", "workflow_state": "active"}, "meta": {"action": "U"}}),
                json!({"key": {"id": 26}, "value": {"name": "Account 26", "workflow_state": "active"}, "meta": {"action": "U"}}),
                json!({"key": {"id": 7}, "meta": {"action": "D"}}),
            ]
            .map(|l| l.to_string())
            .join("\n")],
            at: "2026-11-01T00:00:00Z".into(),
            until: "2026-11-02T00:00:00Z".into(),
        },
    );
    let courses: Vec<String> = (1..=40)
        .map(|i| {
            json!({"key": {"id": 100 + i}, "value": {
                "name": format!("Course {i}"), "account_id": i % 25 + 1,
                "is_public": i % 3 == 0, "start_at": "2026-09-01T00:00:00Z"
            }})
            .to_string()
        })
        .collect();
    dap.set_table(
        "courses",
        FakeTable {
            version: 2,
            schema: table_schema(
                json!({"id": {"type": "integer", "format": "int64"}}),
                json!({
                    "name": {"type": "string"},
                    "account_id": {"type": "integer", "format": "int64"},
                    "is_public": {"type": "boolean"},
                    "start_at": {"type": "string", "format": "date-time"}
                }),
            ),
            snapshot: objects(&courses, 15),
            changes: Vec::new(),
            at: "2026-11-01T00:00:00Z".into(),
            until: "2026-11-02T00:00:00Z".into(),
        },
    );
    dap
}

/// What the local stage's fake DAP serves: [`sample`] and a table of six slow objects, whose
/// snapshot does not fit one run of a short-lived init function (the local stage's), so the
/// state machine's `needs_init_continue` round runs there too.
pub fn local_stage() -> FakeDap {
    let dap = sample();
    let enrollments: Vec<String> = (1..=60)
        .map(|i| {
            json!({"key": {"id": 1000 + i}, "value": {
                "course_id": 100 + i % 40 + 1, "user_id": 5000 + i,
                "type": if i % 10 == 0 { "TeacherEnrollment" } else { "StudentEnrollment" }
            }})
            .to_string()
        })
        .collect();
    dap.set_table(
        "enrollments",
        FakeTable {
            version: 1,
            schema: table_schema(
                json!({"id": {"type": "integer", "format": "int64"}}),
                json!({
                    "course_id": {"type": "integer", "format": "int64"},
                    "user_id": {"type": "integer", "format": "int64"},
                    "type": {"type": "string"}
                }),
            ),
            snapshot: objects(&enrollments, 10),
            changes: Vec::new(),
            at: "2026-11-01T00:00:00Z".into(),
            until: "2026-11-02T00:00:00Z".into(),
        },
    );
    dap.slow_table("enrollments", Duration::from_secs(2));
    dap
}
