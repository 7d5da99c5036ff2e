//! `POST /thumbnail` and `POST /vbg` (spec §8.1, §8.2): a mentor's picture or virtual
//! background. Form: `body` (JSON `{"mentor"}`) and the image part (`thumbnail`,
//! `background_image`). Checked in this order: the caller (401), the form (400/413/415), the
//! mentor id (400), `mentorCanEdit` with the user's token (403, 404), then the image (415/422);
//! stored under the original's key with the real extension and Content-Type, recorded with G9
//! or G10 (the relative key), answered with the full URL.

use serde_json::json;
use time::OffsetDateTime;

use crate::api::{form, Api, Response};
use crate::image::Format;

use super::request::{authenticate, id_in, object};
use super::upstream::{authorize_mentor, graphql_failed, recorded};
use super::{image_part, keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MentorImage {
    Thumbnail,
    VirtualBackground,
}

impl MentorImage {
    /// The form part holding the image.
    pub fn field(self) -> &'static str {
        match self {
            MentorImage::Thumbnail => "thumbnail",
            MentorImage::VirtualBackground => "background_image",
        }
    }

    /// The answer's field (the original's names).
    fn answer_field(self) -> &'static str {
        match self {
            MentorImage::Thumbnail => "thumbnail",
            MentorImage::VirtualBackground => "virtualBackground",
        }
    }

    fn key(self, mentor: &str, now: OffsetDateTime, format: Format) -> String {
        match self {
            MentorImage::Thumbnail => keys::thumbnail(mentor, now, format),
            MentorImage::VirtualBackground => keys::virtual_background(mentor, now, format),
        }
    }
}

pub async fn handle(
    kind: MentorImage,
    event: &serde_json::Value,
    api: &Api,
    now: OffsetDateTime,
) -> Response {
    run(kind, event, api, now)
        .await
        .unwrap_or_else(|refusal| refusal)
}

async fn run(
    kind: MentorImage,
    event: &serde_json::Value,
    api: &Api,
    now: OffsetDateTime,
) -> Result<Response, Response> {
    let caller = authenticate(event, now)?;
    let media = &api.media;
    let form = form::parse(event, &image_part::limits(media, kind.field()))
        .await
        .map_err(|e| e.response())?;
    let body = object(
        form.text("body").map_err(|e| e.response())?.as_bytes(),
        "body",
    )?;
    let mentor = id_in(&body, "mentor", "mentor")?;
    let part = form.require(kind.field()).map_err(|e| e.response())?;
    tracing::info!(user = %caller.claims.id, mentor, image = kind.field(), "mentor image upload");

    authorize_mentor(&api.graphql, &caller.user, &mentor).await?;
    let key = image_part::store_checked(api, part, kind.field(), |format| {
        kind.key(&mentor, now, format)
    })
    .await?;
    match kind {
        MentorImage::Thumbnail => api
            .graphql
            .update_mentor_thumbnail(&caller.user, &mentor, &key)
            .await
            .map_err(|e| graphql_failed(&e))?,
        MentorImage::VirtualBackground => recorded(
            api.graphql
                .update_mentor_vbg(&caller.user, &mentor, &key)
                .await,
            "virtual background",
        )?,
    }
    let url = keys::url(&media.static_url_base, &key);
    Ok(Response::data(200, json!({ kind.answer_field(): url })))
}
