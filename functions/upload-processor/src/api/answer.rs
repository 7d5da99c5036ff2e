//! `POST /upload/answer` (spec §3.1–3.5): validate, check permission, record the tasks and start
//! the execution; nothing is downloaded (the state machine's `prepare` step moves and probes the
//! upload), so the answer is fast.
//!
//! Statuses: 401 no valid verdict; 400 a bad body, naming the field; 403 an upload key outside
//! `{jwt.id}/` or `mentorCanEdit` false; 409 an upload of the answer still queued or running;
//! 404 no such upload; 422 an upload of 0 bytes or over the limit; 502 an upstream failure.

use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{bearer_token, body_bytes, caller, Response, Settings};
use crate::graphql::{
    Credentials, GraphqlClient, GraphqlError, NewTask, TaskKind, TaskSet, TaskStatus,
};

pub const ROUTE: &str = "POST /upload/answer";

/// Step Functions' limit on an execution name.
pub const EXECUTION_NAME_MAX: usize = 80;

/// The longest mentor or question id accepted (they are 24-hex ObjectIds in practice).
const ID_MAX: usize = 64;

/// A trim range in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trim {
    pub start: f64,
    pub end: f64,
}

/// The request body, validated (spec §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRequest {
    pub mentor: String,
    pub question: String,
    /// The raw upload's key in the upload bucket.
    pub video: String,
    pub trim: Option<Trim>,
    pub has_edited_transcript: bool,
    /// `null` means false here (the original's `is False` test made it true, §10.2 #3).
    pub maintain_original_aspect_ratio: bool,
    pub generate_thumbnail: bool,
    pub is_vbg_video: bool,
    pub external_video_ids: Option<Value>,
}

/// A refused body: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> BadField {
    BadField {
        field,
        message: message.into(),
    }
}

impl AnswerRequest {
    pub fn parse(body: &[u8]) -> Result<AnswerRequest, BadField> {
        let value: Value =
            serde_json::from_slice(body).map_err(|_| bad("body", "the body is not JSON"))?;
        let Value::Object(map) = value else {
            return Err(bad("body", "the body is not a JSON object"));
        };
        let trim = match map.get("trim") {
            None | Some(Value::Null) => None,
            Some(Value::Object(t)) => Some(trim(t)?),
            Some(_) => return Err(bad("trim", "trim must be an object {start, end}")),
        };
        let external_video_ids = match map.get("externalVideoIds") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => {
                return Err(bad(
                    "externalVideoIds",
                    "externalVideoIds must be an object",
                ))
            }
        };
        Ok(AnswerRequest {
            mentor: id(&map, "mentor")?,
            question: id(&map, "question")?,
            video: video(&map)?,
            trim,
            has_edited_transcript: flag(&map, "hasEditedTranscript")?,
            maintain_original_aspect_ratio: flag(&map, "maintain_original_aspect_ratio")?,
            generate_thumbnail: flag(&map, "generateThumbnail")?,
            is_vbg_video: flag(&map, "isVbgVideo")?,
            external_video_ids,
        })
    }
}

/// A mentor or question id: they become S3 key segments (`videos/{m}/{q}/…`) and part of the
/// execution name, so only letters, digits, `-` and `_` are accepted.
fn id(map: &Map<String, Value>, field: &'static str) -> Result<String, BadField> {
    match map.get(field) {
        None | Some(Value::Null) => Err(bad(field, format!("{field} is required"))),
        Some(Value::String(s)) => {
            if s.is_empty()
                || s.len() > ID_MAX
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                Err(bad(
                    field,
                    format!("{field} must be 1 to {ID_MAX} letters, digits, '-' or '_'"),
                ))
            } else {
                Ok(s.clone())
            }
        }
        Some(_) => Err(bad(field, format!("{field} must be a string"))),
    }
}

fn video(map: &Map<String, Value>) -> Result<String, BadField> {
    match map.get("video") {
        None | Some(Value::Null) => Err(bad("video", "video (the upload's key) is required")),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Ok(s.clone()),
        Some(Value::String(_)) => Err(bad("video", "video must be a key of 1 to 1024 bytes")),
        Some(_) => Err(bad("video", "video must be a string")),
    }
}

fn flag(map: &Map<String, Value>, field: &'static str) -> Result<bool, BadField> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(field, format!("{field} must be a boolean"))),
    }
}

fn trim(t: &Map<String, Value>) -> Result<Trim, BadField> {
    let seconds = |field: &'static str, key: &str| match t.get(key) {
        None | Some(Value::Null) => Err(bad(field, format!("{field} is required"))),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad(field, format!("{field} must be a number of seconds"))),
    };
    let start = seconds("trim.start", "start")?;
    let end = seconds("trim.end", "end")?;
    if start < 0.0 {
        return Err(bad("trim.start", "trim.start must not be negative"));
    }
    if start >= end {
        return Err(bad("trim.end", "trim.end must be after trim.start"));
    }
    Ok(Trim { start, end })
}

/// The tasks of a new upload (spec §3.4): web and mobile always, transcribe unless the
/// transcript was edited, trim when asked; fresh uuid v4 ids.
pub fn tasks(request: &AnswerRequest) -> TaskSet {
    let new = |kind| NewTask::queued(kind, Uuid::new_v4().to_string());
    TaskSet {
        transcode_web_task: new(TaskKind::TranscodeWeb),
        transcode_mobile_task: new(TaskKind::TranscodeMobile),
        transcribe_task: (!request.has_edited_transcript).then(|| new(TaskKind::Transcribe)),
        trim_upload_task: request.trim.is_some().then(|| new(TaskKind::TrimUpload)),
    }
}

/// `{m}-{q}-{web task id}`, or, past Step Functions' 80 characters, as much of `{m}-{q}` as fits
/// with a hash of all of it and the whole task id: the original cut the name at 80 and lost
/// the end of the uuid (spec §3.2 step 12). The task id is fresh, so names never collide.
pub fn execution_name(mentor: &str, question: &str, task_id: &str) -> String {
    let full = format!("{mentor}-{question}-{task_id}");
    if full.len() <= EXECUTION_NAME_MAX {
        return full;
    }
    let ids = format!("{mentor}-{question}");
    let digest = Sha256::digest(ids.as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    // ids are ASCII (checked by the parser), so any byte index is a char boundary
    let room = EXECUTION_NAME_MAX.saturating_sub(task_id.len() + hash.len() + 2);
    let head = &ids[..room.min(ids.len())];
    format!("{head}-{hash}-{task_id}")
}

/// The execution input (docs/upload-processor.md): no JWT, no auth headers.
pub fn execution_input(request: &AnswerRequest, tasks: &TaskSet) -> Value {
    let mut r = json!({
        "mentor": request.mentor,
        "question": request.question,
        "upload_key": request.video,
        "transcodeWebTask": tasks.transcode_web_task,
        "transcodeMobileTask": tasks.transcode_mobile_task,
        "transcribeTask": tasks.transcribe_task,
        "trimUploadTask": tasks.trim_upload_task,
        "maintain_original_aspect_ratio": request.maintain_original_aspect_ratio,
        "generate_thumbnail": request.generate_thumbnail,
        "isVbgVideo": request.is_vbg_video,
    });
    if let Some(t) = request.trim {
        r["trim"] = json!(t);
    }
    json!({ "request": r })
}

/// The 200 body's `taskList`: web, mobile, then transcribe and trim when created.
pub fn task_list(tasks: &TaskSet) -> Vec<&NewTask> {
    [
        Some(&tasks.transcode_web_task),
        Some(&tasks.transcode_mobile_task),
    ]
    .into_iter()
    .chain([
        tasks.transcribe_task.as_ref(),
        tasks.trim_upload_task.as_ref(),
    ])
    .flatten()
    .collect()
}

fn upstream(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what} failed");
    Response::error(502, format!("{what} failed"))
}

fn graphql_failed(e: &GraphqlError) -> Response {
    upstream(
        &format!("the mentor GraphQL call {}", e.operation().name),
        e,
    )
}

/// The route. Dependencies are parameters so tests call it with a fake and the emulator.
pub async fn handle(
    event: &Value,
    graphql: &GraphqlClient,
    s3: &aws_sdk_s3::Client,
    sfn: &aws_sdk_sfn::Client,
    settings: &Settings,
    now: OffsetDateTime,
) -> Response {
    let claims = match caller(event, now) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(token) = bearer_token(event) else {
        // The authorizer allowed a request whose header is gone: nothing to call GraphQL with.
        return Response::error(401, "the request has no bearer token");
    };
    let user = Credentials::user(token);
    let request = match body_bytes(event) {
        Ok(Some(body)) if !body.is_empty() => match AnswerRequest::parse(&body) {
            Ok(r) => r,
            Err(b) => return Response::bad_field(b.field, b.message),
        },
        Ok(_) => return Response::bad_field("body", "a JSON body is required"),
        Err(message) => return Response::bad_field("body", message),
    };
    let (m, q) = (request.mentor.as_str(), request.question.as_str());
    tracing::info!(user = %claims.id, mentor = m, question = q, "answer upload requested");

    // The raw upload must be the caller's own (the original never checked, §10.2 #14).
    let own_prefix = format!("{}/", claims.id);
    if !request.video.starts_with(&own_prefix) || request.video.len() == own_prefix.len() {
        tracing::info!("refused: the upload key is not under the caller's id");
        return Response::error(403, "the upload does not belong to the caller");
    }
    match graphql.mentor_can_edit(&user, m).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("refused: mentorCanEdit is false");
            return Response::error(403, "not authorized to edit this mentor");
        }
        Err(e) if e.is_unauthorized() => {
            tracing::info!(error = %e, "refused: GraphQL refused the caller's token");
            return Response::error(403, "not authorized to edit this mentor");
        }
        Err(e) => return graphql_failed(&e),
    }
    match graphql.upload_task(&user, m, q).await {
        Ok(task) if task.as_ref().is_some_and(|t| t.in_progress()) => {
            return Response::error(409, "There is an upload already in progress, please wait.")
        }
        Ok(_) => {}
        Err(e) => return graphql_failed(&e),
    }
    let size = match s3
        .head_object()
        .bucket(&settings.upload_bucket)
        .key(&request.video)
        .send()
        .await
    {
        Ok(head) => head.content_length().unwrap_or(0),
        Err(e) => {
            let not_found = e.as_service_error().is_some_and(|s| s.is_not_found());
            if not_found {
                return Response::error(404, "no upload with this key");
            }
            // A role without s3:ListBucket gets 403 for a missing key; that is a deployment
            // fault, reported as such rather than as the client's 404.
            return upstream(
                "reading the upload",
                &aws_sdk_s3::error::DisplayErrorContext(&e),
            );
        }
    };
    if size <= 0 {
        return Response::error(422, "the upload is empty");
    }
    if size as u64 > settings.upload_max_bytes {
        return Response::error(
            422,
            format!(
                "the upload is {size} bytes, more than the limit of {}",
                settings.upload_max_bytes
            ),
        );
    }

    let tasks = tasks(&request);
    if let Err(e) = graphql
        .create_upload_tasks(&user, m, q, &tasks, request.external_video_ids.as_ref())
        .await
    {
        return graphql_failed(&e);
    }
    if let Err(e) = graphql.clear_answer_media(&user, m, q).await {
        fail_tasks(graphql, &user, m, q, &tasks).await;
        return graphql_failed(&e);
    }
    let name = execution_name(m, q, &tasks.transcode_web_task.task_id);
    let started = sfn
        .start_execution()
        .state_machine_arn(&settings.state_machine_arn)
        .name(&name)
        .input(execution_input(&request, &tasks).to_string())
        .send()
        .await;
    match started {
        Ok(out) => tracing::info!(execution = out.execution_arn(), "execution started"),
        Err(e) => {
            fail_tasks(graphql, &user, m, q, &tasks).await;
            return upstream(
                "starting the execution",
                &aws_sdk_sfn::error::DisplayErrorContext(&e),
            );
        }
    }
    Response::data(
        200,
        json!({
            "taskList": task_list(&tasks),
            "statusUrl": "use taskList to fetch from graphql",
        }),
    )
}

/// After recording the tasks, a failure would leave them QUEUED forever, and every later upload
/// of the answer would get 409: mark each FAILED (one call per task, as the server requires).
async fn fail_tasks(
    graphql: &GraphqlClient,
    user: &Credentials,
    m: &str,
    q: &str,
    tasks: &TaskSet,
) {
    let kinds = [
        Some(TaskKind::TranscodeWeb),
        Some(TaskKind::TranscodeMobile),
        tasks.transcribe_task.as_ref().map(|_| TaskKind::Transcribe),
        tasks
            .trim_upload_task
            .as_ref()
            .map(|_| TaskKind::TrimUpload),
    ];
    for kind in kinds.into_iter().flatten() {
        if let Err(e) = graphql
            .update_task_status(user, m, q, kind, TaskStatus::Failed, None)
            .await
        {
            tracing::error!(error = %e, task = kind.field(), "marking the task FAILED failed");
        }
    }
}
