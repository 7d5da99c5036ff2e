//! Where each route stores its file in the static bucket (the original's layouts, spec §8, with
//! the extension the bytes really have, §10.1 #6, and the footer's index, §10.2 #19), and the
//! full URLs the answers carry.
//!
//! Every segment is an id checked by [`super::request::id`] (letters, digits, `-`, `_`), a
//! UTC timestamp, a number or a fixed name, so a key is a relative URL path needing no
//! percent-encoding.

use time::OffsetDateTime;

use crate::image::Format;

/// `%Y%m%dT%H%M%SZ` in UTC, the original's `{ts}`.
pub fn stamp(now: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    now.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

pub fn thumbnail(mentor: &str, now: OffsetDateTime, format: Format) -> String {
    format!(
        "mentor/thumbnails/{mentor}/{}/thumbnail.{}",
        stamp(now),
        format.extension()
    )
}

pub fn virtual_background(mentor: &str, now: OffsetDateTime, format: Format) -> String {
    format!(
        "mentor/virtual_backgrounds/{mentor}/{}/virtual_background.{}",
        stamp(now),
        format.extension()
    )
}

fn org_prefix(org: Option<&str>, now: OffsetDateTime) -> String {
    match org {
        Some(org) => format!("images/{org}/{}", stamp(now)),
        None => format!("images/{}", stamp(now)),
    }
}

pub fn header(org: Option<&str>, now: OffsetDateTime, format: Format) -> String {
    format!("{}/header.{}", org_prefix(org, now), format.extension())
}

/// With the index, so two footers uploaded in the same second stay apart.
pub fn footer(org: Option<&str>, idx: i32, now: OffsetDateTime, format: Format) -> String {
    format!(
        "{}/footer_{idx}.{}",
        org_prefix(org, now),
        format.extension()
    )
}

/// An answer's English subtitles (spec §3.3).
pub fn subtitles(mentor: &str, question: &str) -> String {
    format!("videos/{mentor}/{question}/en.vtt")
}

/// `key` resolved against `base` as RFC 3986 §5.2 does (the original's `urljoin`). With a base
/// ending in `/` and a key that is a plain relative path (no scheme, no leading `/`, no dot
/// segments, no `?` or `#`, as every key here is), resolution is the concatenation; the slash
/// is checked by [`super::Media::from_env`].
pub fn url(base: &str, key: &str) -> String {
    format!("{base}{}", key.trim_start_matches('/'))
}

/// The static bucket's key a stored media URL names: GraphQL keeps relative keys (spec §3.3),
/// but an absolute URL under `base` is accepted too. `None` for anything outside the bucket.
pub fn key_of<'a>(base: &str, url: &'a str) -> Option<&'a str> {
    let url = url.trim();
    let key = match url.strip_prefix(base) {
        Some(key) => key,
        None if url.contains("://") || url.starts_with("//") => return None,
        None => url.trim_start_matches('/'),
    };
    let plain = !key.is_empty()
        && !key.contains(['?', '#', '\\'])
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    plain.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-04 05:06:07 UTC);

    #[test]
    fn layouts_keep_the_originals_with_the_real_extension() {
        assert_eq!(stamp(datetime!(2026-03-04 07:06:07 +2)), "20260304T050607Z");
        assert_eq!(
            thumbnail("m1", NOW, Format::Jpeg),
            "mentor/thumbnails/m1/20260304T050607Z/thumbnail.jpg"
        );
        assert_eq!(
            virtual_background("m1", NOW, Format::Png),
            "mentor/virtual_backgrounds/m1/20260304T050607Z/virtual_background.png"
        );
        assert_eq!(
            header(None, NOW, Format::Png),
            "images/20260304T050607Z/header.png"
        );
        assert_eq!(
            header(Some("o1"), NOW, Format::Jpeg),
            "images/o1/20260304T050607Z/header.jpg"
        );
        assert_eq!(
            footer(Some("o1"), 2, NOW, Format::Png),
            "images/o1/20260304T050607Z/footer_2.png"
        );
        assert_eq!(
            footer(None, 0, NOW, Format::Png),
            "images/20260304T050607Z/footer_0.png"
        );
        assert_eq!(subtitles("m", "q"), "videos/m/q/en.vtt");
    }

    #[test]
    fn urls_are_joined_below_the_base_path() {
        assert_eq!(
            url("https://static.example.org/", "videos/m/q/en.vtt"),
            "https://static.example.org/videos/m/q/en.vtt"
        );
        assert_eq!(
            url("https://cdn.example.org/static/", "images/a.png"),
            "https://cdn.example.org/static/images/a.png"
        );
    }

    #[test]
    fn stored_urls_become_keys_only_inside_the_bucket() {
        let base = "https://static.example.org/";
        assert_eq!(
            key_of(base, "videos/m/q/web.mp4"),
            Some("videos/m/q/web.mp4")
        );
        assert_eq!(
            key_of(base, "/videos/m/q/web.mp4"),
            Some("videos/m/q/web.mp4")
        );
        assert_eq!(
            key_of(base, "https://static.example.org/videos/m/q/web.mp4"),
            Some("videos/m/q/web.mp4")
        );
        for outside in [
            "",
            "https://elsewhere.example.org/videos/m/q/web.mp4",
            "//elsewhere.example.org/x.mp4",
            "videos/../secret",
            "videos/m/q/web.mp4?x=1",
            "https://static.example.org/",
        ] {
            assert_eq!(key_of(base, outside), None, "{outside}");
        }
    }
}
