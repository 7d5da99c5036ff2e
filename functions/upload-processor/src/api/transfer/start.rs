//! `POST /transfer/mentor`: validate, authorize, record, queue.
//!
//! Statuses in the order they are checked: 401 (no valid verdict or no bearer token, checked by
//! [`super::handle`]), 400 (no body), 413 (over the size cap), 400 (not JSON, a schema
//! violation — every one listed with its path, capped — or a mentor id that cannot be a key
//! segment), 403 (G1 false or the token refused), 502 (GraphQL, S3 or SQS failed), 202 (queued).
//!
//! The steps are ordered so that a failure leaves nothing half-done, or says so: the export and
//! the QUEUED record are stored first (a failure there leaves only an unreferenced object, which
//! the bucket's lifecycle removes); then G14 creates the import task; then the message is sent.
//! If G14 or the send fails, the record is marked FAILED with the error before the 502, and
//! after a failed send the import task is marked FAILED too; the original created the import
//! task first and left it orphaned QUEUED when its write failed (spec §10.2 #17).

use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{may_edit, upstream, Caller, TransferApi};
use crate::api::{body_bytes, Response};
use crate::graphql::TaskStatus;
use crate::transfer::export::{self, Invalid};
use crate::transfer::model::ImportTaskUpdate;
use crate::transfer::{is_key_segment, JobMessage, JobRecord, JobStore, KEY_SEGMENT_MAX};

pub const ROUTE: &str = "POST /transfer/mentor";

pub async fn handle(
    event: &Value,
    api: &TransferApi,
    caller: &Caller,
    jobs: &JobStore,
    sqs: &aws_sdk_sqs::Client,
    now: OffsetDateTime,
) -> Response {
    let user = &caller.user;
    // The raw bytes, decoded from base64 when so marked: they are what is stored, so a base64
    // body cannot break the gzip step as it did in the original (§10.2 #17).
    let body = match body_bytes(event) {
        Ok(Some(b)) if !b.is_empty() => b,
        Ok(_) => return Response::bad_field("body", "a JSON body is required"),
        Err(message) => return Response::bad_field("body", message),
    };
    let limit = api.transfer.max_body_bytes;
    if body.len() > limit {
        return Response::field_error(
            413,
            Some("body"),
            format!(
                "the body is {} bytes, over the limit of {limit}",
                body.len()
            ),
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Response::bad_field("body", format!("the body is not JSON: {e}")),
    };
    if let Err(invalid) = export::validate(&request) {
        return schema_error(&invalid);
    }
    let mentor = request["mentor"].as_str().unwrap_or_default();
    if !is_key_segment(mentor) {
        return Response::bad_field(
            "mentor",
            format!("mentor must be 1 to {KEY_SEGMENT_MAX} letters, digits, '-' or '_'"),
        );
    }
    tracing::info!(user = %caller.claims.id, mentor, bytes = body.len(), "mentor transfer requested");
    if let Err(refusal) = may_edit(api, user, mentor).await {
        return refusal;
    }

    let id = Uuid::new_v4();
    let mut record = JobRecord::queued(id, mentor, now);
    let stored = match jobs.put_export(&id, &body).await {
        Ok(()) => jobs.put_record(&record).await,
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::error!(%id, error = %e, "storing the transfer job failed");
        return Response::error(502, "storing the transfer job failed; nothing was queued");
    }
    if let Err(e) = api.graphql.create_import_task(user, mentor).await {
        let failed = upstream(&e);
        return abandon(jobs, &mut record, failed, &e.to_string(), now).await;
    }
    let message = serde_json::to_string(&JobMessage { id }).expect("a message serializes");
    let sent = sqs
        .send_message()
        .queue_url(&api.transfer.queue_url)
        .message_body(message)
        .send()
        .await;
    if let Err(e) = sent {
        let error = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
        tracing::error!(%id, error, "sending the transfer message failed");
        // The import task G14 created would otherwise stay QUEUED forever.
        let cleanup = api
            .graphql
            .update_import_task(user, mentor, &ImportTaskUpdate::import(TaskStatus::Failed))
            .await;
        let mut reason = format!("queueing the job failed: {error}");
        if let Err(e) = cleanup {
            tracing::error!(error = %e, "marking the import task FAILED failed too");
            reason.push_str(&format!(
                " (marking the import task FAILED failed too: {e})"
            ));
        }
        let failed = Response::error(502, "queueing the transfer job failed");
        return abandon(jobs, &mut record, failed, &reason, now).await;
    }
    tracing::info!(%id, mentor, "transfer queued");
    Response::data(
        202,
        json!({
            "id": id,
            "mentor": mentor,
            "status": record.status.as_str(),
            "statusUrl": record.status_url(),
        }),
    )
}

/// 400 naming each violation's path (capped), and the first one in `message`.
fn schema_error(invalid: &Invalid) -> Response {
    tracing::info!(errors = invalid.total, first = %invalid.summary(), "refused: schema");
    let mut response = Response::error(400, invalid.summary());
    response.body["data"]["errors"] = json!(invalid.errors);
    response.body["data"]["errorCount"] = json!(invalid.total);
    response
}

/// Marks the stored job FAILED with `reason` and answers `failed` with the job's id, so the
/// client can see what became of it; says so when even that write failed.
async fn abandon(
    jobs: &JobStore,
    record: &mut JobRecord,
    mut failed: Response,
    reason: &str,
    now: OffsetDateTime,
) -> Response {
    record.fail(reason, now);
    let data = &mut failed.body["data"];
    data["id"] = json!(record.id);
    match jobs.put_record(record).await {
        Ok(()) => {
            data["status"] = json!(record.status.as_str());
            data["statusUrl"] = json!(record.status_url());
        }
        Err(e) => {
            tracing::error!(id = %record.id, error = %e, "marking the job FAILED failed too");
            let message = data["message"].as_str().unwrap_or_default().to_string();
            data["message"] = json!(format!(
                "{message}; marking the job FAILED failed too, its status may say QUEUED"
            ));
        }
    }
    failed
}
