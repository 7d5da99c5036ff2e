//! `POST /header` and `POST /footer` (spec §8.3): the home page images of the site or of an
//! organization. Form: `body` (JSON `{"org"?}`, the footer's also `{"idx"}`) and `image`.
//! Checked in this order: the caller (401), the form and body (400/413/415), the access rules
//! of [`super::org_access`] (403, 404), then the image (415/422); stored under the original's
//! key with the real extension (the footer's with its index, §10.2 #19), recorded with G12 or
//! G13 (the full URL, as the original sends it), answered with the URL.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::api::{form, Api, Response};

use super::request::authenticate;
use super::upstream::recorded;
use super::{image_part, keys, org_access, request};

/// The form part holding the image.
const FIELD: &str = "image";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgImage {
    Header,
    Footer,
}

pub async fn handle(kind: OrgImage, event: &Value, api: &Api, now: OffsetDateTime) -> Response {
    run(kind, event, api, now)
        .await
        .unwrap_or_else(|refusal| refusal)
}

/// The footer's index: mentor-graphql's `imgIdx: Int!` (32-bit), never negative.
fn idx_of(body: &Map<String, Value>) -> Result<i32, Response> {
    match body.get("idx") {
        None | Some(Value::Null) => Err(Response::bad_field("idx", "idx is required")),
        Some(v) => v
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .filter(|i| *i >= 0)
            .ok_or_else(|| {
                Response::bad_field(
                    "idx",
                    format!("idx must be a whole number from 0 to {}", i32::MAX),
                )
            }),
    }
}

async fn run(
    kind: OrgImage,
    event: &Value,
    api: &Api,
    now: OffsetDateTime,
) -> Result<Response, Response> {
    let caller = authenticate(event, now)?;
    let media = &api.media;
    let form = form::parse(event, &image_part::limits(media, FIELD))
        .await
        .map_err(|e| e.response())?;
    let body = request::object(
        form.text("body").map_err(|e| e.response())?.as_bytes(),
        "body",
    )?;
    let org = org_access::org_of(&body)?;
    let idx = match kind {
        OrgImage::Header => None,
        OrgImage::Footer => Some(idx_of(&body)?),
    };
    let part = form.require(FIELD).map_err(|e| e.response())?;
    tracing::info!(user = %caller.claims.id, org, ?kind, idx, "organization image upload");

    org_access::authorize(&api.graphql, &caller, org.as_deref()).await?;
    let key = image_part::store_checked(api, part, FIELD, |format| match idx {
        None => keys::header(org.as_deref(), now, format),
        Some(idx) => keys::footer(org.as_deref(), idx, now, format),
    })
    .await?;
    let url = keys::url(&media.static_url_base, &key);
    let result = match idx {
        None => {
            api.graphql
                .update_org_header(&caller.user, org.as_deref(), &url)
                .await
        }
        Some(idx) => {
            api.graphql
                .update_org_footer(&caller.user, org.as_deref(), &url, idx)
                .await
        }
    };
    recorded(result, "image")?;
    Ok(Response::data(200, json!({ "image": url })))
}
