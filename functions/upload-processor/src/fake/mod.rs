//! A fake of the mentor GraphQL API for the tests and the local stage, built from the contract in
//! spec §2 (not from this crate's client): `POST /graphql` dispatches on the document's root
//! fields (operation names repeat, §2.1), every call is recorded by a layer, and the records
//! (per-mentor edit rights, upload tasks with their status history, answers, mentors) behave as
//! the "(context: mentor-graphql)" notes say.
//!
//! Besides `/graphql`, a few unrecorded `/_fake/…` routes let another process (the end-to-end
//! test against the local stage) seed and read the same state: `POST /_fake/grant`
//! `{"user","mentor"}`, `POST /_fake/question` `{"id","name"}`, `GET /_fake/calls`,
//! `GET /_fake/tasks/{m}/{q}` (status history), `GET /_fake/upload-task/{m}/{q}`,
//! `GET /_fake/answer/{m}/{q}`.

pub mod clips;
mod document;
mod media;
mod principal;
mod record;
mod resolve;
mod transfer;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub use principal::{sign_jwt, AuthKind};
pub use record::Call;

use principal::{authenticate, Refusal};

/// The JWT secret the fake verifies user tokens with unless configured otherwise (the local
/// stage seeds the same value as the authorizer's secret).
pub const JWT_SECRET: &str = "local-upload-processor-jwt-secret";
/// The API key the fake accepts with `mentor-graphql-req` unless configured otherwise.
pub const API_KEY: &str = "local-mentor-graphql-api-key";
/// mentor-graphql's header choosing its API-key strategy.
pub const SERVICE_REQUEST_HEADER: &str = "mentor-graphql-req";
/// The value of the stage's secret header on the local stage (seeded as its secret; the fake
/// served by `local up` refuses calls without it when the stage names the header).
pub const SECRET_HEADER_VALUE: &str = "local-mentor-graphql-secret-header";

#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// HS256 secret of user JWTs.
    pub jwt_secret: String,
    /// The key accepted with `mentor-graphql-req`; `None` refuses every such request.
    pub api_key: Option<String>,
    /// When set, requests without this exact header (name, value) are refused with 403, as a
    /// WAF in front of the real server would (spec §2.1: unconfirmed where it is checked).
    pub secret_header: Option<(String, String)>,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            jwt_secret: JWT_SECRET.into(),
            api_key: Some(API_KEY.into()),
            secret_header: None,
        }
    }
}

type Key = (String, String);

pub(crate) struct State {
    config: FakeConfig,
    calls: Vec<Call>,
    /// (user id, mentor id) pairs allowed to edit.
    grants: BTreeSet<(String, String)>,
    questions: BTreeMap<String, String>,
    upload_tasks: BTreeMap<Key, Map<String, Value>>,
    /// Per upload: (task field, status) in the order they were set.
    history: BTreeMap<Key, Vec<(String, String)>>,
    answers: BTreeMap<Key, Map<String, Value>>,
    mentors: BTreeMap<String, Map<String, Value>>,
    failures: VecDeque<u16>,
    /// Organizations and what the image routes stored ([`media`]).
    media: media::MediaState,
    /// Import tasks and imported mentors ([`transfer`]).
    transfer: transfer::TransferState,
}

impl State {
    fn note(&mut self, key: &Key, task: &str, status: &Value) {
        let status = status.as_str().unwrap_or_default().to_string();
        self.history
            .entry(key.clone())
            .or_default()
            .push((task.to_string(), status));
    }
}

#[derive(Clone)]
pub(crate) struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn new(config: FakeConfig) -> Shared {
        Shared(Arc::new(Mutex::new(State {
            config,
            calls: Vec::new(),
            grants: BTreeSet::new(),
            questions: BTreeMap::new(),
            upload_tasks: BTreeMap::new(),
            history: BTreeMap::new(),
            answers: BTreeMap::new(),
            mentors: BTreeMap::new(),
            failures: VecDeque::new(),
            media: media::MediaState::default(),
            transfer: transfer::TransferState::default(),
        })))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves usable state behind.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake: its address and its records.
#[derive(Clone)]
pub struct GraphqlFake {
    shared: Shared,
    base_url: String,
}

impl GraphqlFake {
    /// Serves on an ephemeral port of 127.0.0.1 with [`FakeConfig::default`].
    pub async fn start() -> GraphqlFake {
        GraphqlFake::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> GraphqlFake {
        let shared = Shared::new(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding an ephemeral port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let app = router(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        GraphqlFake { shared, base_url }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The GraphQL endpoint, `<base_url>/graphql`.
    pub fn endpoint(&self) -> String {
        format!("{}/graphql", self.base_url)
    }

    pub fn config(&self) -> FakeConfig {
        self.shared.lock().config.clone()
    }

    /// A JWT for `user` that this fake accepts (valid for an hour).
    pub fn user_token(&self, user: &str) -> String {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600;
        sign_jwt(
            &self.config().jwt_secret,
            &json!({ "id": user, "role": "USER", "mentorIds": [], "exp": exp }),
        )
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// Lets `user` edit `mentor`.
    pub fn grant(&self, user: &str, mentor: &str) {
        self.shared
            .lock()
            .grants
            .insert((user.to_string(), mentor.to_string()));
    }

    pub fn revoke(&self, user: &str, mentor: &str) {
        self.shared
            .lock()
            .grants
            .remove(&(user.to_string(), mentor.to_string()));
    }

    pub fn set_question(&self, id: &str, name: &str) {
        self.shared
            .lock()
            .questions
            .insert(id.to_string(), name.to_string());
    }

    /// Replaces the answer record (`transcript`, `webMedia`, `mobileMedia`, `vttMedia`, …).
    pub fn set_answer(&self, mentor: &str, question: &str, answer: Value) {
        let record = match answer {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.shared
            .lock()
            .answers
            .insert((mentor.into(), question.into()), record);
    }

    pub fn answer(&self, mentor: &str, question: &str) -> Option<Value> {
        self.shared
            .lock()
            .answers
            .get(&(mentor.into(), question.into()))
            .map(|a| Value::Object(a.clone()))
    }

    /// The upload task record, as `uploadTask` would answer it with every field selected.
    pub fn upload_task(&self, mentor: &str, question: &str) -> Option<Value> {
        self.shared
            .lock()
            .upload_tasks
            .get(&(mentor.into(), question.into()))
            .map(|t| Value::Object(t.clone()))
    }

    /// What the client's `me { uploadTaskDelete }` does; the history stays.
    pub fn delete_upload_task(&self, mentor: &str, question: &str) {
        self.shared
            .lock()
            .upload_tasks
            .remove(&(mentor.into(), question.into()));
    }

    /// Each task's statuses in the order they were set, by task field (`transcodeWebTask`, …).
    pub fn task_history(&self, mentor: &str, question: &str) -> BTreeMap<String, Vec<String>> {
        history_of(&self.shared.lock(), &(mentor.into(), question.into()))
    }

    /// Fields set on the mentor (`thumbnail`, `virtualBackgroundUrl`).
    pub fn mentor(&self, mentor: &str) -> Option<Value> {
        self.shared
            .lock()
            .mentors
            .get(mentor)
            .map(|m| Value::Object(m.clone()))
    }

    /// The next call is answered with this HTTP status (queued: call again for more).
    pub fn fail_next(&self, status: u16) {
        self.shared.lock().failures.push_back(status);
    }
}

/// Serves a fake with the default configuration on `addr` until the task is dropped: the
/// local stage's GraphQL.
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    serve_with(FakeConfig::default(), addr).await
}

pub async fn serve_with(config: FakeConfig, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(Shared::new(config))).await
}

fn history_of(state: &State, key: &Key) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (task, status) in state.history.get(key).into_iter().flatten() {
        out.entry(task.clone()).or_default().push(status.clone());
    }
    out
}

fn router(shared: Shared) -> Router {
    // a mentorImport carries a whole export: axum's 2 MB default would refuse large ones
    let recorded = post(graphql).layer::<_, std::convert::Infallible>(
        middleware::from_fn_with_state(shared.clone(), record::record),
    );
    Router::new()
        .route(
            "/graphql",
            recorded.layer(axum::extract::DefaultBodyLimit::max(record::BODY_LIMIT)),
        )
        .route("/_fake/grant", post(admin_grant))
        .route("/_fake/question", post(admin_question))
        .route("/_fake/calls", get(admin_calls))
        .route("/_fake/tasks/{m}/{q}", get(admin_tasks))
        .route("/_fake/upload-task/{m}/{q}", get(admin_upload_task))
        .route("/_fake/answer/{m}/{q}", get(admin_answer))
        .merge(media::routes())
        .merge(transfer::routes())
        .with_state(shared)
}

fn errors(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message }] }))).into_response()
}

async fn graphql(Extract(shared): Extract<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = shared.lock();
    if let Some(status) = state.failures.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "injected failure").into_response();
    }
    let principal = match authenticate(&headers, &state.config) {
        Ok(p) => p,
        // Passport answers a refused strategy with a bare status line, not a GraphQL body.
        Err(Refusal::Unauthorized(why)) => {
            tracing::debug!(why, "fake GraphQL: 401");
            return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        }
        Err(Refusal::Forbidden(why)) => {
            tracing::debug!(why, "fake GraphQL: 403");
            return (StatusCode::FORBIDDEN, "Forbidden").into_response();
        }
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return errors(StatusCode::BAD_REQUEST, "POST body sent invalid JSON.");
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return errors(StatusCode::BAD_REQUEST, "Must provide query string.");
    };
    let variables = match request.get("variables") {
        Some(v @ Value::Object(_)) => v.clone(),
        None | Some(Value::Null) => json!({}),
        Some(_) => return errors(StatusCode::BAD_REQUEST, "Variables are invalid JSON."),
    };
    let operation = request.get("operationName").and_then(Value::as_str);
    let doc = match document::parse(query, operation) {
        Ok(doc) => doc,
        Err(message) => return errors(StatusCode::BAD_REQUEST, &message),
    };
    Json(resolve::execute(&mut state, &principal, &doc, &variables)).into_response()
}

#[derive(Deserialize)]
struct Grant {
    user: String,
    mentor: String,
}

async fn admin_grant(Extract(shared): Extract<Shared>, Json(g): Json<Grant>) -> StatusCode {
    shared.lock().grants.insert((g.user, g.mentor));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Question {
    id: String,
    name: String,
}

async fn admin_question(Extract(shared): Extract<Shared>, Json(q): Json<Question>) -> StatusCode {
    shared.lock().questions.insert(q.id, q.name);
    StatusCode::NO_CONTENT
}

async fn admin_calls(Extract(shared): Extract<Shared>) -> Json<Vec<Call>> {
    Json(shared.lock().calls.clone())
}

async fn admin_tasks(
    Extract(shared): Extract<Shared>,
    Path(key): Path<(String, String)>,
) -> Json<BTreeMap<String, Vec<String>>> {
    Json(history_of(&shared.lock(), &key))
}

async fn admin_upload_task(
    Extract(shared): Extract<Shared>,
    Path(key): Path<(String, String)>,
) -> Json<Value> {
    let state = shared.lock();
    Json(
        state
            .upload_tasks
            .get(&key)
            .map_or(Value::Null, |t| Value::Object(t.clone())),
    )
}

async fn admin_answer(
    Extract(shared): Extract<Shared>,
    Path(key): Path<(String, String)>,
) -> Json<Value> {
    let state = shared.lock();
    Json(
        state
            .answers
            .get(&key)
            .map_or(Value::Null, |a| Value::Object(a.clone())),
    )
}
