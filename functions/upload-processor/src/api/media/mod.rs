//! The image and subtitle routes (spec §8): `POST /thumbnail`, `/vbg`, `/header`, `/footer`,
//! `/vtt`, `/regen_vtt`.

use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use super::{Api, Response};

pub const ROUTES: [&str; 6] = [
    "POST /thumbnail",
    "POST /vbg",
    "POST /header",
    "POST /footer",
    "POST /vtt",
    "POST /regen_vtt",
];

/// What these routes need besides [`Api`]'s clients, read once per cold start.
#[derive(Debug, Clone, Default)]
pub struct Media {}

#[derive(Debug, Error)]
pub enum MediaError {}

impl Media {
    pub fn from_env(_aws: &support::SdkConfig) -> Result<Media, MediaError> {
        Ok(Media {})
    }
}

pub async fn handle(route: &str, _event: &Value, _api: &Api, _now: OffsetDateTime) -> Response {
    Response::error(501, format!("{route} is not built yet"))
}
