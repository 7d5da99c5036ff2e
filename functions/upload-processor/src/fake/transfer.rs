//! The fake's side of the mentor transfer (spec §2.2 G14–G17), and a tiny media host.
//!
//! - `importTaskCreate(mentor, graphQLUpdate, s3VideoMigrate)` replaces the mentor's import task
//!   with both phases as given and no migration errors.
//! - `importTaskUpdate(mentor, graphQLUpdate?, s3VideoMigrateUpdate?, migrationErrors?)` merges
//!   what is sent (`s3VideoMigrateUpdate` into `s3VideoMigrate`; `migrationErrors` replaces the
//!   list); `false` when the mentor has no import task, as `uploadTaskStatusUpdate` answers.
//! - `mentorImport(mentor, json, replacedMentorDataChanges)` replaces the mentor's answers with
//!   the export's (keyed by `question._id`), media as exported, and answers them with
//!   `hasUntransferredMedia` set when any media needs a transfer.
//! - `updateAnswers(mentorId, answers)` sets each item's fields on its answer.
//!
//! Each needs the right to edit the mentor. Every status an import task phase takes is kept in
//! order. Unrecorded routes: `GET /_fake/import-task/{mentor}` (`{"task", "history"}`),
//! `POST /_fake/mentor-import/fail` `{"message"}` (the next mentorImport answers that error),
//! `PUT`/`GET /_fake/media/{name}` (stores and serves bytes: the local stage's media host at
//! `http://127.0.0.1:5106/_fake/media/…`), `GET /_fake/redirect?to=<percent-encoded URL>` (302).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State as Extract};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::document::{project, Field};
use super::principal::Principal;
use super::resolve::{can_edit, required, required_object, NO_PERMISSION};
use super::{GraphqlFake, Shared, State};

/// The media host keeps files up to this size (it is for tests and the local stage).
pub const MEDIA_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The import task's phases, as `history` names them.
const PHASES: [&str; 2] = ["graphQLUpdate", "s3VideoMigrate"];
const MEDIA_FIELDS: [&str; 3] = ["webMedia", "mobileMedia", "vttMedia"];

#[derive(Debug, Default)]
pub(crate) struct TransferState {
    import_tasks: BTreeMap<String, Map<String, Value>>,
    /// Per mentor: (phase, status) in the order they were set.
    history: BTreeMap<String, Vec<(String, String)>>,
    /// The message the next mentorImport fails with.
    import_failure: Option<String>,
    media: BTreeMap<String, Bytes>,
}

impl TransferState {
    fn note(&mut self, mentor: &str, phase: &str, patch: &Map<String, Value>) {
        if let Some(status) = patch.get("status").and_then(Value::as_str) {
            self.history
                .entry(mentor.to_string())
                .or_default()
                .push((phase.to_string(), status.to_string()));
        }
    }

    fn history_of(&self, mentor: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (phase, status) in self.history.get(mentor).into_iter().flatten() {
            out.entry(phase.clone()).or_default().push(status.clone());
        }
        out
    }
}

/// None of the transfer's fields is a query.
pub(crate) fn query(
    _state: &mut State,
    _principal: &Principal,
    _field: &Field,
    _variables: &Value,
) -> Option<Result<Value, String>> {
    None
}

/// A field under the `api` mutation root, or `None` when the field is not one of theirs.
pub(crate) fn mutation(
    state: &mut State,
    principal: &Principal,
    field: &Field,
    variables: &Value,
) -> Option<Result<Value, String>> {
    let (resolve, mentor_arg): (Resolve, _) = match field.name.as_str() {
        "importTaskCreate" => (import_task_create, "mentor"),
        "importTaskUpdate" => (import_task_update, "mentor"),
        "mentorImport" => (mentor_import, "mentor"),
        "updateAnswers" => (update_answers, "mentorId"),
        _ => return None,
    };
    Some(
        editable(state, principal, field, mentor_arg, variables)
            .and_then(|mentor| resolve(state, mentor, field, variables)),
    )
}

/// A mutation of a mentor the caller may edit (checked before anything else).
type Resolve = fn(&mut State, String, &Field, &Value) -> Result<Value, String>;

fn editable(
    state: &State,
    principal: &Principal,
    field: &Field,
    arg: &str,
    variables: &Value,
) -> Result<String, String> {
    let mentor = required(field, arg, variables)?;
    if can_edit(state, principal, &mentor) {
        Ok(mentor)
    } else {
        Err(NO_PERMISSION.into())
    }
}

fn import_task_create(
    state: &mut State,
    mentor: String,
    field: &Field,
    variables: &Value,
) -> Result<Value, String> {
    let graphql = required_object(field, "graphQLUpdate", variables)?;
    let s3 = required_object(field, "s3VideoMigrate", variables)?;
    let t = &mut state.transfer;
    t.note(&mentor, PHASES[0], &graphql);
    t.note(&mentor, PHASES[1], &s3);
    let record = json!({
        "mentor": mentor, "graphQLUpdate": graphql, "s3VideoMigrate": s3, "migrationErrors": []
    });
    if let Value::Object(record) = record {
        t.import_tasks.insert(mentor, record);
    }
    Ok(json!(true))
}

fn import_task_update(
    state: &mut State,
    mentor: String,
    field: &Field,
    variables: &Value,
) -> Result<Value, String> {
    let patches = [
        (PHASES[0], field.arg("graphQLUpdate", variables)),
        (PHASES[1], field.arg("s3VideoMigrateUpdate", variables)),
    ];
    let errors = field.arg("migrationErrors", variables);
    let t = &mut state.transfer;
    let Some(record) = t.import_tasks.get_mut(&mentor) else {
        return Ok(json!(false));
    };
    let mut noted = Vec::new();
    for (phase, patch) in patches {
        let Value::Object(patch) = patch else {
            continue;
        };
        let target = record.entry(phase).or_insert_with(|| json!({}));
        if let Value::Object(target) = target {
            target.extend(patch.clone());
        }
        noted.push((phase, patch));
    }
    if errors.is_array() {
        record.insert("migrationErrors".into(), errors);
    }
    for (phase, patch) in noted {
        t.note(&mentor, phase, &patch);
    }
    Ok(json!(true))
}

fn has_untransferred(answer: &Map<String, Value>) -> bool {
    MEDIA_FIELDS.iter().any(|f| {
        answer
            .get(*f)
            .and_then(|m| m.get("needsTransfer"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    })
}

fn mentor_import(
    state: &mut State,
    mentor: String,
    field: &Field,
    variables: &Value,
) -> Result<Value, String> {
    let json = required_object(field, "json", variables)?;
    required_object(field, "replacedMentorDataChanges", variables)?;
    if let Some(message) = state.transfer.import_failure.take() {
        return Err(message);
    }
    state.answers.retain(|(m, _), _| *m != mentor);
    let mut imported = Vec::new();
    for answer in json
        .get("answers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(question) = answer.pointer("/question/_id").and_then(Value::as_str) else {
            continue;
        };
        let mut record = Map::new();
        for key in [
            "transcript",
            "hasEditedTranscript",
            "status",
            "externalVideoIds",
        ]
        .into_iter()
        .chain(MEDIA_FIELDS)
        {
            record.insert(key.into(), answer.get(key).cloned().unwrap_or(Value::Null));
        }
        record.insert(
            "hasUntransferredMedia".into(),
            json!(has_untransferred(&record)),
        );
        record.insert("question".into(), json!({ "_id": question }));
        state
            .answers
            .insert((mentor.clone(), question.to_string()), record.clone());
        imported.push(Value::Object(record));
    }
    Ok(project(&json!({ "answers": imported }), &field.selection))
}

fn update_answers(
    state: &mut State,
    mentor: String,
    field: &Field,
    variables: &Value,
) -> Result<Value, String> {
    let Value::Array(items) = field.arg("answers", variables) else {
        return Err("Argument \"answers\" must be a list.".into());
    };
    for item in items {
        let Some(question) = item.get("questionId").and_then(Value::as_str) else {
            return Err("Each answer needs a questionId.".into());
        };
        let record = state
            .answers
            .entry((mentor.clone(), question.to_string()))
            .or_default();
        for (k, v) in item.as_object().into_iter().flatten() {
            if k != "questionId" {
                record.insert(k.clone(), v.clone());
            }
        }
        let untransferred = has_untransferred(record);
        record.insert("hasUntransferredMedia".into(), json!(untransferred));
    }
    Ok(json!(true))
}

/// Unrecorded `/_fake/…` routes seeding or reading this state.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_fake/import-task/{mentor}", get(admin_import_task))
        .route("/_fake/mentor-import/fail", post(admin_fail_import))
        .route(
            "/_fake/media/{name}",
            get(media_get)
                .put(media_put)
                .layer(DefaultBodyLimit::max(MEDIA_MAX_BYTES)),
        )
        .route("/_fake/redirect", get(redirect))
}

async fn admin_import_task(
    Extract(shared): Extract<Shared>,
    Path(mentor): Path<String>,
) -> Json<Value> {
    let state = shared.lock();
    let t = &state.transfer;
    Json(json!({
        "task": t.import_tasks.get(&mentor).map_or(Value::Null, |r| Value::Object(r.clone())),
        "history": t.history_of(&mentor),
    }))
}

#[derive(Deserialize)]
struct Failure {
    message: String,
}

async fn admin_fail_import(Extract(shared): Extract<Shared>, Json(f): Json<Failure>) -> StatusCode {
    shared.lock().transfer.import_failure = Some(f.message);
    StatusCode::NO_CONTENT
}

async fn media_put(
    Extract(shared): Extract<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> StatusCode {
    shared.lock().transfer.media.insert(name, body);
    StatusCode::NO_CONTENT
}

async fn media_get(Extract(shared): Extract<Shared>, Path(name): Path<String>) -> Response {
    match shared.lock().transfer.media.get(&name) {
        Some(bytes) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such media").into_response(),
    }
}

async fn redirect(uri: Uri) -> Response {
    let to = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("to="))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        });
    match to {
        Some(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        None => (StatusCode::BAD_REQUEST, "no ?to=").into_response(),
    }
}

/// The transfer's side of the fake, for tests.
impl GraphqlFake {
    /// The mentor's import task as the fake holds it.
    pub fn import_task(&self, mentor: &str) -> Option<Value> {
        self.shared
            .lock()
            .transfer
            .import_tasks
            .get(mentor)
            .map(|r| Value::Object(r.clone()))
    }

    /// Each import task phase's statuses in the order they were set, by phase
    /// (`graphQLUpdate`, `s3VideoMigrate`).
    pub fn import_history(&self, mentor: &str) -> BTreeMap<String, Vec<String>> {
        self.shared.lock().transfer.history_of(mentor)
    }

    /// The next mentorImport answers a GraphQL error with this message.
    pub fn fail_next_mentor_import(&self, message: &str) {
        self.shared.lock().transfer.import_failure = Some(message.to_string());
    }

    /// Serves `bytes` at [`GraphqlFake::media_url`].
    pub fn put_media(&self, name: &str, bytes: impl Into<Bytes>) {
        self.shared
            .lock()
            .transfer
            .media
            .insert(name.to_string(), bytes.into());
    }

    /// `<base_url>/_fake/media/<name>`.
    pub fn media_url(&self, name: &str) -> String {
        format!("{}/_fake/media/{name}", self.base_url)
    }

    /// A URL of this fake that answers 302 to `to`.
    pub fn redirect_url(&self, to: &str) -> String {
        let to = percent_encoding::utf8_percent_encode(to, percent_encoding::NON_ALPHANUMERIC);
        format!("{}/_fake/redirect?to={to}", self.base_url)
    }
}
