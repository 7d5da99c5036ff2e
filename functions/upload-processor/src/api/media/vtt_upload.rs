//! `POST /vtt` (spec §8.4): a mentor's own subtitles for an answer. Form: `mentor`, `question`,
//! `vtt_file`. Checked in this order: the caller (401), the form and ids (400/413/415),
//! `mentorCanEdit` with the user's token (403, 404), and only then the file (422 naming the
//! line), so a caller who may not edit the mentor learns nothing about their file (the
//! original validated first, §10.2 #20). Stored as `text/vtt` (the original said `text`) at
//! `videos/{m}/{q}/en.vtt` and recorded with G11.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::api::form::{self, Form, Limits};
use crate::api::{Api, Response};
use crate::vtt;

use super::image_part::{FORM_OVERHEAD, OTHER_MAX};
use super::request::{authenticate, id};
use super::upstream::{authorize_mentor, store_subtitles};
use super::Media;

const FILE: &str = "vtt_file";
/// An id part: 64 characters are accepted, the rest is room for a client's whitespace.
const ID_PART_MAX: u64 = 1024;

fn limits(media: &Media) -> Limits {
    Limits::new(media.vtt_max_bytes + FORM_OVERHEAD)
        .field("mentor", ID_PART_MAX)
        .field("question", ID_PART_MAX)
        .field(FILE, media.vtt_max_bytes)
        .allow_other(OTHER_MAX)
}

fn id_part(form: &Form, field: &str) -> Result<String, Response> {
    id(form.text(field).map_err(|e| e.response())?, field)
}

pub async fn handle(event: &Value, api: &Api, now: OffsetDateTime) -> Response {
    run(event, api, now).await.unwrap_or_else(|refusal| refusal)
}

async fn run(event: &Value, api: &Api, now: OffsetDateTime) -> Result<Response, Response> {
    let caller = authenticate(event, now)?;
    let media = &api.media;
    let form = form::parse(event, &limits(media))
        .await
        .map_err(|e| e.response())?;
    let mentor = id_part(&form, "mentor")?;
    let question = id_part(&form, "question")?;
    let file = form.require(FILE).map_err(|e| e.response())?;
    tracing::info!(user = %caller.claims.id, mentor, question, "subtitle upload");

    authorize_mentor(&api.graphql, &caller.user, &mentor).await?;
    if let Err(e) = vtt::validate_bytes(&file.bytes) {
        tracing::info!(error = %e, "refused the subtitles");
        let mut refusal = Response::field_error(e.status(), Some(FILE), e.to_string());
        refusal.body["data"]["line"] = json!(e.line());
        return Err(refusal);
    }
    // validate_bytes accepted it, so it is UTF-8.
    let text = String::from_utf8_lossy(&file.bytes).into_owned();
    let url = store_subtitles(api, &caller.user, &mentor, &question, &text).await?;
    Ok(Response::data(
        200,
        json!({
            "vtt_path": url,
            "vtt_text": text,
        }),
    ))
}
