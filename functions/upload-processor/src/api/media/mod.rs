//! The image and subtitle routes (spec §8): `POST /thumbnail`, `/vbg`, `/header`, `/footer`,
//! `/vtt`, `/regen_vtt`, one module each (the two mentor images and the two organization images
//! share one), over what they share: the request (`request`), the image part
//! (`image_part`), the key layouts and URLs (`keys`), GraphQL and S3 (`upstream`).
//!
//! Every route authorizes on the server's word with the caller's own token (`mentorCanEdit`,
//! or the role and the organization's membership) before it looks at the uploaded content, and
//! answers `{"data": {...}}` once (the original nested `data` twice, §10.2 #12).

mod image_part;
mod keys;
mod mentor_image;
mod org_access;
mod org_image;
mod regen_vtt;
mod rendition;
mod request;
mod settings;
mod upstream;
mod vtt_upload;

use serde_json::Value;
use time::OffsetDateTime;

use super::{Api, Response};
use mentor_image::MentorImage;
use org_image::OrgImage;

pub use settings::{
    Media, MediaError, DEFAULT_IMAGE_MAX_BYTES, DEFAULT_IMAGE_MAX_SIDE, DEFAULT_VTT_MAX_BYTES,
};

pub const THUMBNAIL: &str = "POST /thumbnail";
pub const VBG: &str = "POST /vbg";
pub const HEADER: &str = "POST /header";
pub const FOOTER: &str = "POST /footer";
pub const VTT: &str = "POST /vtt";
pub const REGEN_VTT: &str = "POST /regen_vtt";

pub const ROUTES: [&str; 6] = [THUMBNAIL, VBG, HEADER, FOOTER, VTT, REGEN_VTT];

pub async fn handle(route: &str, event: &Value, api: &Api, now: OffsetDateTime) -> Response {
    match route {
        THUMBNAIL => mentor_image::handle(MentorImage::Thumbnail, event, api, now).await,
        VBG => mentor_image::handle(MentorImage::VirtualBackground, event, api, now).await,
        HEADER => org_image::handle(OrgImage::Header, event, api, now).await,
        FOOTER => org_image::handle(OrgImage::Footer, event, api, now).await,
        VTT => vtt_upload::handle(event, api, now).await,
        REGEN_VTT => regen_vtt::handle(event, api, now).await,
        other => Response::error(404, format!("no route {other:?}")),
    }
}
