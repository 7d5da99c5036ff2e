//! `POST /regen_vtt` (spec §8.5): subtitles rebuilt from the answer's stored transcript, timed
//! over its video. JSON body `{"mentor", "question"}`. Checked in this order: the caller (401),
//! the body (400), `mentorCanEdit` with the user's token (403, 404; the original let any valid
//! token regenerate any mentor's subtitles, §10.1 #9), the answer (404 when there is none, 422
//! when its transcript is empty or it has no video). The video (web, else mobile) is measured
//! ([`super::rendition`]) and the cues come from [`vtt::from_transcript`]: split between words,
//! never ending after the video (the original shifted every cue by 0.85 s and divided by zero
//! on an empty transcript, §10.2 #21). Stored as `text/vtt` at `videos/{m}/{q}/en.vtt` and
//! recorded with G11.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::api::{body_bytes, Api, Response};
use crate::graphql::{Answer, Media as AnswerMedia};
use crate::vtt::{self, VttError};

use super::request::{authenticate, id_in, object};
use super::upstream::{authorize_mentor, graphql_failed, store_subtitles};
use super::{keys, rendition};

pub async fn handle(event: &Value, api: &Api, now: OffsetDateTime) -> Response {
    run(event, api, now).await.unwrap_or_else(|refusal| refusal)
}

/// The video to time the cues against: web, else mobile, skipping one whose URL a new upload
/// has emptied (G5 clears them to `""`).
fn video(answer: &Answer) -> Option<&AnswerMedia> {
    [answer.web_media.as_ref(), answer.mobile_media.as_ref()]
        .into_iter()
        .flatten()
        .find(|m| !m.url.trim().is_empty())
}

async fn run(event: &Value, api: &Api, now: OffsetDateTime) -> Result<Response, Response> {
    let caller = authenticate(event, now)?;
    let media = &api.media;
    let body = match body_bytes(event) {
        Ok(Some(body)) if !body.is_empty() => body,
        Ok(_) => return Err(Response::bad_field("body", "a JSON body is required")),
        Err(message) => return Err(Response::bad_field("body", message)),
    };
    let body = object(&body, "body")?;
    let mentor = id_in(&body, "mentor", "mentor")?;
    let question = id_in(&body, "question", "question")?;
    tracing::info!(user = %caller.claims.id, mentor, question, "subtitle regeneration");

    authorize_mentor(&api.graphql, &caller.user, &mentor).await?;
    let answer = api
        .graphql
        .answer(&caller.user, &mentor, &question)
        .await
        .map_err(|e| graphql_failed(&e))?
        .ok_or_else(|| {
            Response::error(
                404,
                format!("mentor {mentor} has no answer to question {question}"),
            )
        })?;
    // Checked before the download: an empty transcript cannot be captioned at any length.
    if answer.transcript.trim().is_empty() {
        let e = VttError::EmptyTranscript;
        return Err(Response::error(e.status(), e.to_string()));
    }
    let url = video(&answer)
        .map(|m| m.url.as_str())
        .ok_or_else(|| Response::error(422, "the answer has no video to time the subtitles by"))?;
    let source = keys::key_of(&media.static_url_base, url).ok_or_else(|| {
        tracing::error!(url, "the answer's video is not in the static bucket");
        Response::error(
            422,
            "the answer's video is not in the static bucket, so it cannot be measured",
        )
    })?;
    let duration =
        rendition::duration(&api.s3, &media.ffmpeg, &media.static_bucket, source).await?;
    let text = vtt::from_transcript(&answer.transcript, duration)
        .map_err(|e| Response::error(e.status(), e.to_string()))?;

    let url = store_subtitles(api, &caller.user, &mentor, &question, &text).await?;
    Ok(Response::data(
        200,
        json!({
            "regen_vtt": true,
            "new_vtt_text": text,
            "new_vtt_url": url,
        }),
    ))
}
