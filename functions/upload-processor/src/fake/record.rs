//! The recording layer: every POST to `/graphql` is written down before it is answered, as the
//! fake understood it (operation, root fields, variables, how it authenticated), so tests assert
//! on what the client sent rather than on what a handler chose to keep.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::document;
use super::principal::{auth_kind, AuthKind};
use super::Shared;

/// The largest body the fake reads (a mentor import is the biggest document the service sends).
pub(crate) const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// A request as the fake saw it. Header values are not kept: they carry tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The operation's name, when the document gives one (names repeat across documents).
    pub operation_name: Option<String>,
    /// `query` or `mutation`; `None` when the document did not parse.
    pub kind: Option<String>,
    /// The first root selection (`mentorCanEdit`, `api`, …).
    pub root_field: Option<String>,
    /// Every root field, with the `api` root's children as `api.<field>`.
    pub fields: Vec<String>,
    pub query: String,
    pub variables: Value,
    /// Whether the body had an `operationName` key (the original never sends one).
    pub sent_operation_name: bool,
    pub auth: AuthKind,
    /// Lower-case names of the request's headers.
    pub header_names: Vec<String>,
    pub content_type: Option<String>,
}

impl Call {
    pub fn has_field(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }

    pub fn has_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.header_names.contains(&name)
    }

    fn new(headers: &HeaderMap, body: &[u8]) -> Call {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let query = json
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let operation = json.get("operationName").and_then(Value::as_str);
        let doc = document::parse(&query, operation).ok();
        let fields = doc
            .iter()
            .flat_map(|d| &d.selection)
            .flat_map(|f| {
                if f.name == "api" && !f.selection.is_empty() {
                    f.selection
                        .iter()
                        .map(|c| format!("api.{}", c.name))
                        .collect()
                } else {
                    vec![f.name.clone()]
                }
            })
            .collect();
        Call {
            operation_name: doc.as_ref().and_then(|d| d.name.clone()),
            kind: doc.as_ref().map(|d| d.kind.as_str().to_string()),
            root_field: doc
                .as_ref()
                .and_then(|d| d.selection.first())
                .map(|f| f.name.clone()),
            fields,
            variables: json.get("variables").cloned().unwrap_or(Value::Null),
            sent_operation_name: json.get("operationName").is_some(),
            query,
            auth: auth_kind(headers),
            header_names: headers.keys().map(|k| k.as_str().to_string()).collect(),
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }
}

pub(crate) async fn record(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let call = Call::new(&parts.headers, &bytes);
    tracing::debug!(fields = ?call.fields, auth = ?call.auth, "fake GraphQL call");
    shared.lock().calls.push(call);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
