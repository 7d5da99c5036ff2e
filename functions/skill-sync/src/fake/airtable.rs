//! Airtable's list-records call: `GET /v0/{baseId}/{table}` with a bearer token, pages of up to
//! 100 records (`pageSize`), `offset` for the next page, 429 when asked to throttle.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::Seen;

#[derive(Default)]
struct Inner {
    base: String,
    token: String,
    records: Vec<Map<String, Value>>,
    page_size: usize,
    throttle: u32,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeAirtable {
    inner: Arc<Mutex<Inner>>,
}

impl FakeAirtable {
    pub fn new(base: &str, token: &str) -> FakeAirtable {
        FakeAirtable {
            inner: Arc::new(Mutex::new(Inner {
                base: base.into(),
                token: token.into(),
                page_size: 100,
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake state")
    }

    /// The records' `fields`, in order; Airtable leaves empty fields out, so should callers.
    pub fn set_records(&self, records: Vec<Value>) {
        self.lock().records = records
            .into_iter()
            .map(|r| r.as_object().cloned().unwrap_or_default())
            .collect();
    }

    /// Change one record's fields (found by `fields.id`).
    pub fn update(&self, id: i64, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut inner = self.lock();
        if let Some(r) = inner.records.iter_mut().find(|r| r["id"] == json!(id)) {
            f(r);
        }
    }

    /// Records per page when the client names no `pageSize`.
    pub fn page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// The next `n` requests get 429.
    pub fn throttle(&self, n: u32) {
        self.lock().throttle = n;
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/v0/{base}/{table}", get(list))
            .with_state(self.clone())
    }

    pub async fn start(&self) -> String {
        super::start(self.router()).await
    }

    pub async fn serve(&self, port: u16) -> std::io::Result<()> {
        super::serve(self.router(), port).await
    }
}

async fn list(
    State(fake): State<FakeAirtable>,
    Path((base, table)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen::new(&method, &uri, &headers, &body);
    let mut inner = fake.lock();
    inner.seen.push(seen.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {}", inner.token))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}})),
        )
            .into_response();
    }
    if inner.throttle > 0 {
        inner.throttle -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}]})),
        )
            .into_response();
    }
    if base != inner.base || table != "assessments" {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "NOT_FOUND"}))).into_response();
    }
    let size = seen
        .query_param("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(inner.page_size, |n| n.clamp(1, 100));
    // Airtable's offsets are opaque; this one carries the index of the page's first record
    let start = match seen.query_param("offset") {
        None => 0,
        Some(o) => match o
            .strip_prefix("itr")
            .and_then(|n| n.split('/').next()?.parse().ok())
        {
            Some(n) => n,
            None => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"error": {"type": "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}})),
                )
                    .into_response()
            }
        },
    };
    let end = (start + size).min(inner.records.len());
    let records: Vec<Value> = inner.records[start.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, fields)| {
            json!({"id": format!("rec{:014}", start + i), "createdTime": "2022-05-01T00:00:00.000Z", "fields": fields})
        })
        .collect();
    let mut page = json!({ "records": records });
    if end < inner.records.len() {
        page["offset"] = json!(format!("itr{end}/rec{end:014}"));
    }
    Json(page).into_response()
}
