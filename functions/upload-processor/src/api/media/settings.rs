//! What the image and subtitle routes read from the environment once per cold start.

use thiserror::Error;

use crate::ffmpeg::Ffmpeg;
use crate::image::MaxSize;

/// Either side of a stored image unless `IMAGE_MAX_WIDTH` / `IMAGE_MAX_HEIGHT` say otherwise.
pub const DEFAULT_IMAGE_MAX_SIDE: u32 = 4096;
/// An image part's limit unless `IMAGE_MAX_BYTES` says otherwise.
pub const DEFAULT_IMAGE_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// A subtitle file's limit unless `VTT_MAX_BYTES` says otherwise.
pub const DEFAULT_VTT_MAX_BYTES: u64 = 1024 * 1024;

/// The routes' settings. The fields are public so tests can build one for the emulator; the
/// function builds it with [`Media::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `STATIC_BUCKET`: where images and subtitles are stored, and the renditions `/regen_vtt`
    /// measures are read from.
    pub static_bucket: String,
    /// `STATIC_URL_BASE`: what the bucket's keys are served under; ends with `/`, so a key
    /// joined to it (RFC 3986) keeps the base's whole path.
    pub static_url_base: String,
    /// `IMAGE_MAX_WIDTH`, `IMAGE_MAX_HEIGHT`.
    pub image_max: MaxSize,
    /// `IMAGE_MAX_BYTES`: the limit of an image part.
    pub image_max_bytes: u64,
    /// `VTT_MAX_BYTES`: the limit of an uploaded subtitle file.
    pub vtt_max_bytes: u64,
    /// `FFMPEG_PATH` or the layer's binary: `/regen_vtt` probes the rendition's duration.
    pub ffmpeg: Ffmpeg,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

/// For tests that never reach these routes (`tests/api.rs`): no bucket and no URL base, so a
/// route that did run would fail upstream rather than write anywhere.
impl Default for Media {
    fn default() -> Media {
        Media {
            static_bucket: String::new(),
            static_url_base: String::new(),
            image_max: MaxSize {
                width: DEFAULT_IMAGE_MAX_SIDE,
                height: DEFAULT_IMAGE_MAX_SIDE,
            },
            image_max_bytes: DEFAULT_IMAGE_MAX_BYTES,
            vtt_max_bytes: DEFAULT_VTT_MAX_BYTES,
            ffmpeg: Ffmpeg::lambda(),
        }
    }
}

impl Media {
    /// From the process environment; `FFMPEG_PATH` through [`crate::steps::ffmpeg_from_environment`], as
    /// the steps read it (`_aws` is kept for symmetry with the other settings).
    pub fn from_env(_aws: &support::SdkConfig) -> Result<Media, MediaError> {
        Ok(Media {
            ffmpeg: crate::steps::ffmpeg_from_environment(),
            ..Media::from_lookup(|name| std::env::var(name).ok())?
        })
    }

    /// Everything but ffmpeg (the layer's binary) from any variable lookup: what
    /// [`Media::from_env`] runs, callable from tests without touching the process environment.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Media, MediaError> {
        let get = |name: &'static str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(MediaError::Missing(name));
        let number = |name: &'static str, default: u64| -> Result<u64, MediaError> {
            let Some(text) = get(name) else {
                return Ok(default);
            };
            match text.parse::<u64>() {
                Ok(0) => Err(MediaError::Invalid {
                    name,
                    message: "must be at least 1".into(),
                }),
                Ok(n) => Ok(n),
                Err(e) => Err(MediaError::Invalid {
                    name,
                    message: format!("{text:?} is not a whole number: {e}"),
                }),
            }
        };
        let side = |name: &'static str| -> Result<u32, MediaError> {
            let n = number(name, u64::from(DEFAULT_IMAGE_MAX_SIDE))?;
            u32::try_from(n).map_err(|_| MediaError::Invalid {
                name,
                message: format!("{n} pixels is more than an image header can say"),
            })
        };
        let base = required("STATIC_URL_BASE")?;
        check_url_base(&base).map_err(|message| MediaError::Invalid {
            name: "STATIC_URL_BASE",
            message,
        })?;
        Ok(Media {
            static_bucket: required("STATIC_BUCKET")?,
            static_url_base: base,
            image_max: MaxSize {
                width: side("IMAGE_MAX_WIDTH")?,
                height: side("IMAGE_MAX_HEIGHT")?,
            },
            image_max_bytes: number("IMAGE_MAX_BYTES", DEFAULT_IMAGE_MAX_BYTES)?,
            vtt_max_bytes: number("VTT_MAX_BYTES", DEFAULT_VTT_MAX_BYTES)?,
            ffmpeg: Ffmpeg::lambda(),
        })
    }
}

/// An absolute http(s) URL without query or fragment, ending with `/`: joining a key to a base
/// without the slash would drop its last path segment (RFC 3986 §5.2.3), as the original's
/// `urljoin` did.
fn check_url_base(base: &str) -> Result<(), String> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or_else(|| format!("{base:?} is not an http(s) URL"))?;
    if rest.starts_with('/') || rest.is_empty() {
        return Err(format!("{base:?} has no host"));
    }
    if base.contains(['?', '#']) || base.contains(char::is_whitespace) {
        return Err(format!("{base:?} has a query, a fragment or spaces"));
    }
    if !base.ends_with('/') {
        return Err(format!(
            "{base:?} must end with '/' (keys are joined to it)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 2] = [
        ("STATIC_BUCKET", "static"),
        ("STATIC_URL_BASE", "https://static.example.org/"),
    ];

    #[test]
    fn defaults_apply_to_what_is_unset() {
        let m = Media::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(m.static_bucket, "static");
        assert_eq!(
            m.image_max,
            MaxSize {
                width: 4096,
                height: 4096
            }
        );
        assert_eq!(m.image_max_bytes, 5 * 1024 * 1024);
        assert_eq!(m.vtt_max_bytes, 1024 * 1024);
    }

    #[test]
    fn set_values_are_read() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("IMAGE_MAX_WIDTH", "1920"),
            ("IMAGE_MAX_HEIGHT", " 1080 "),
            ("IMAGE_MAX_BYTES", "1000"),
            ("VTT_MAX_BYTES", "2000"),
        ]);
        let m = Media::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(
            m.image_max,
            MaxSize {
                width: 1920,
                height: 1080
            }
        );
        assert_eq!((m.image_max_bytes, m.vtt_max_bytes), (1000, 2000));
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            Media::from_lookup(lookup(&BASE[1..])).unwrap_err(),
            MediaError::Missing("STATIC_BUCKET")
        );
        assert_eq!(
            Media::from_lookup(lookup(&BASE[..1])).unwrap_err(),
            MediaError::Missing("STATIC_URL_BASE")
        );
        for bad in [
            "https://static.example.org/media",
            "static.example.org/",
            "https:///",
            "https://static.example.org/?a=1/",
        ] {
            let e = Media::from_lookup(lookup(&[BASE[0], ("STATIC_URL_BASE", bad)])).unwrap_err();
            assert!(
                matches!(
                    e,
                    MediaError::Invalid {
                        name: "STATIC_URL_BASE",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
        for (name, value) in [
            ("IMAGE_MAX_WIDTH", "wide"),
            ("IMAGE_MAX_HEIGHT", "0"),
            ("IMAGE_MAX_WIDTH", "99999999999"),
            ("IMAGE_MAX_BYTES", "-1"),
            ("VTT_MAX_BYTES", "1.5"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((name, value));
            let e = Media::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
