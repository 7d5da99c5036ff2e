//! Mentor transfer (spec §7): `POST /transfer/mentor` and `GET /transfer/status/{id}`.

use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use super::{Api, Response};

pub const ROUTES: [&str; 2] = ["POST /transfer/mentor", "GET /transfer/status/{id}"];

/// What these routes need besides [`Api`]'s clients, read once per cold start.
#[derive(Debug, Clone, Default)]
pub struct Transfer {}

#[derive(Debug, Error)]
pub enum TransferError {}

impl Transfer {
    pub fn from_env(_aws: &support::SdkConfig) -> Result<Transfer, TransferError> {
        Ok(Transfer {})
    }
}

pub async fn handle(route: &str, _event: &Value, _api: &Api, _now: OffsetDateTime) -> Response {
    Response::error(501, format!("{route} is not built yet"))
}
