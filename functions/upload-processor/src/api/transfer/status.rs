//! `GET /transfer/status/{id}`: the job's real state (the original's stayed QUEUED, spec §10.1
//! #10). 401 without a valid verdict, 400 when `id` is not a uuid, 404 when there is no such job
//! (the original said 400), 403 when the caller may not edit the job's mentor, else 200
//! `{"data": {id, mentor, status, created, updated, counts, errors, statusUrl}}`.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{may_edit, Caller, TransferApi};
use crate::api::Response;
use crate::transfer::JobStore;

pub const ROUTE: &str = "GET /transfer/status/{id}";

pub async fn handle(
    event: &Value,
    api: &TransferApi,
    caller: &Caller,
    jobs: &JobStore,
) -> Response {
    let raw = event
        .pointer("/pathParameters/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(id) = Uuid::parse_str(raw) else {
        return Response::bad_field("id", "id must be a transfer job's uuid");
    };
    let record = match jobs.record(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Response::error(404, format!("no transfer job {id}")),
        Err(e) => {
            tracing::error!(%id, error = %e, "reading the transfer job failed");
            return Response::error(502, "reading the transfer job failed");
        }
    };
    if let Err(refusal) = may_edit(api, &caller.user, &record.mentor).await {
        return refusal;
    }
    Response::data(
        200,
        json!({
            "id": record.id,
            "mentor": record.mentor,
            "status": record.status.as_str(),
            "created": record.created,
            "updated": record.updated,
            "counts": record.counts,
            "errors": record.errors,
            "statusUrl": record.status_url(),
        }),
    )
}
