//! The image routes' form and the image in it: what the bytes are decides the format (the
//! part's Content-Type is the client's claim and is ignored), and the stage's limits decide the
//! size.

use crate::api::form::{Limits, Part};
use crate::api::{Api, Response};
use crate::image::{sniff, Format, Image};

use super::upstream::store;
use super::Media;

/// The JSON `body` part: a mentor id, or an org reference and an index.
pub const BODY_MAX: u64 = 16 * 1024;
/// Any part a route does not read: ignored, as the original ignored it, but bounded.
pub const OTHER_MAX: u64 = 16 * 1024;
/// Boundaries, part headers and the small parts, beyond the file itself.
pub const FORM_OVERHEAD: u64 = 64 * 1024;

/// A form of a JSON `body` part and an image part named `image_field`.
pub fn limits(media: &Media, image_field: &str) -> Limits {
    Limits::new(media.image_max_bytes + FORM_OVERHEAD)
        .field("body", BODY_MAX)
        .field(image_field, media.image_max_bytes)
        .allow_other(OTHER_MAX)
}

/// The image in `part`: 415 for what is not a PNG or JPEG (naming what it is), 422 for one that
/// is broken or over the stage's size.
fn checked(part: &Part, field: &str, media: &Media) -> Result<Image, Response> {
    let refuse = |e: crate::image::ImageError| {
        tracing::info!(field, error = %e, "refused the image");
        Response::field_error(e.status(), Some(field), e.to_string())
    };
    let image = sniff(&part.bytes).map_err(refuse)?;
    image.check(media.image_max).map_err(refuse)?;
    Ok(image)
}

/// The image in `part` ([`checked`]), stored at the key `key_for` gives its real format with
/// that format's Content-Type; the key.
pub async fn store_checked(
    api: &Api,
    part: &Part,
    field: &str,
    key_for: impl FnOnce(Format) -> String,
) -> Result<String, Response> {
    let media = &api.media;
    let image = checked(part, field, media)?;
    let key = key_for(image.format);
    store(
        &api.s3,
        &media.static_bucket,
        &key,
        part.bytes.clone(),
        image.format.content_type(),
    )
    .await?;
    Ok(key)
}
