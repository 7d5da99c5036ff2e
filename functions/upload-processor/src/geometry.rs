//! Output sizes of the web and mobile renditions (spec §5.3), without the original's distortion.
//!
//! For landscape sources at least as wide as 16:9 the numbers are the original's: web is a centred
//! 16:9 crop scaled to at most 720 lines, mobile a centred square of side 0.75·height scaled to
//! 480×480. Where the original stretched (portrait, 4:3, square into a 16:9 or square frame), the
//! picture keeps its aspect ratio: web pads it into the 16:9 frame (pillarbox, nothing lost),
//! mobile crops the centred square. Every dimension is even, because libx264 with yuv420p (and
//! libvpx with yuva420p) refuse odd ones; the original's "maintain aspect" mobile size did not
//! round and failed on 16:9 input (§10.2 #2).

use std::fmt;

use thiserror::Error;

/// Web frames are 16:9, at most this many lines.
pub const WEB_MAX_HEIGHT: u32 = 720;
/// Mobile frames are this size square, or at most this many lines when keeping the aspect.
pub const MOBILE_SIZE: u32 = 480;

/// Smaller sources are not answer videos, and even-rounding would visibly distort them.
pub const MIN_SIDE: u32 = 16;

/// 16:9 as a ratio of integers, so comparisons are exact (the original's `1.77777777778`).
const WIDE_W: u64 = 16;
const WIDE_H: u64 = 9;

/// Width and height in pixels, as displayed (rotation and sample aspect already applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    pub fn is_even(self) -> bool {
        self.width.is_multiple_of(2) && self.height.is_multiple_of(2)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A rectangle of the source frame kept by `crop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub size: Size,
    pub x: u32,
    pub y: u32,
}

/// Where the scaled picture sits inside a larger frame (the rest is black, or transparent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pad {
    pub frame: Size,
    pub x: u32,
    pub y: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    Web,
    Mobile,
}

impl fmt::Display for Rendition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rendition::Web => "web",
            Rendition::Mobile => "mobile",
        })
    }
}

/// How one output is made from the source: crop, then scale, then pad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub source: Size,
    pub crop: Option<Crop>,
    /// The size the (cropped) picture is scaled to.
    pub scale: Size,
    pub pad: Option<Pad>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GeometryError {
    #[error("the source picture is {0}; both sides must be at least {MIN_SIDE} pixels")]
    TooSmall(Size),
}

impl Plan {
    /// The size of the encoded frames.
    pub fn output(&self) -> Size {
        self.pad.map_or(self.scale, |p| p.frame)
    }

    /// The part of the source that ends up in the output.
    pub fn kept(&self) -> Size {
        self.crop.map_or(self.source, |c| c.size)
    }

    /// The `-filter:v` chain, without the frame rate. `alpha` pads with transparency instead of
    /// black, for VP9 with alpha. `setsar=1` because the sizes above are display sizes: a
    /// source with non-square pixels is resampled to square ones rather than left anamorphic.
    pub fn filter(&self, alpha: bool) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.crop {
            parts.push(format!(
                "crop={}:{}:{}:{}",
                c.size.width, c.size.height, c.x, c.y
            ));
        }
        parts.push(format!("scale={}:{}", self.scale.width, self.scale.height));
        parts.push("setsar=1".to_string());
        if let Some(p) = self.pad {
            let color = if alpha { "black@0" } else { "black" };
            parts.push(format!(
                "pad={}:{}:{}:{}:color={color}",
                p.frame.width, p.frame.height, p.x, p.y
            ));
        }
        parts.join(",")
    }
}

/// The plan for `rendition` of a source displayed at `source`. `maintain_aspect` is the
/// request's `maintain_original_aspect_ratio`: the whole picture at its own aspect ratio, no
/// frame imposed.
pub fn plan(
    rendition: Rendition,
    source: Size,
    maintain_aspect: bool,
) -> Result<Plan, GeometryError> {
    if source.width < MIN_SIDE || source.height < MIN_SIDE {
        return Err(GeometryError::TooSmall(source));
    }
    Ok(match (rendition, maintain_aspect) {
        (Rendition::Web, true) => keep_aspect(source, WEB_MAX_HEIGHT),
        (Rendition::Mobile, true) => keep_aspect(source, MOBILE_SIZE),
        (Rendition::Web, false) => web_frame(source),
        (Rendition::Mobile, false) => mobile_square(source),
    })
}

/// The trimmed original: same picture, cropped by one pixel where a dimension is odd (the
/// original stretched it by one instead).
pub fn trim_plan(source: Size) -> Result<Plan, GeometryError> {
    if source.width < MIN_SIDE || source.height < MIN_SIDE {
        return Err(GeometryError::TooSmall(source));
    }
    let even = Size::new(even_down(source.width), even_down(source.height));
    Ok(Plan {
        source,
        crop: (even != source).then(|| centred(source, even)),
        scale: even,
        pad: None,
    })
}

/// Height `min(max, ih)`, width to match, both even.
fn keep_aspect(source: Size, max_height: u32) -> Plan {
    let height = even_up(source.height.min(max_height));
    let width = even_up(scaled(source.width, height, source.height)).max(2);
    Plan {
        source,
        crop: None,
        scale: Size::new(width, height),
        pad: None,
    }
}

fn web_frame(source: Size) -> Plan {
    let (w, h) = (u64::from(source.width), u64::from(source.height));
    if w * WIDE_H >= h * WIDE_W {
        // As wide as 16:9 or wider: the original's centred crop to 16:9.
        let kept = Size::new(even_down((h * WIDE_W / WIDE_H) as u32), source.height);
        let height = even_up(source.height.min(WEB_MAX_HEIGHT));
        let frame = Size::new(wide_width(height), height);
        return Plan {
            source,
            crop: (kept != source).then(|| centred(source, kept)),
            scale: frame,
            pad: None,
        };
    }
    // Narrower: the whole picture at its own aspect, centred in a 16:9 frame of the same height.
    let height = even_up(source.height.min(WEB_MAX_HEIGHT));
    let frame = Size::new(wide_width(height), height);
    let picture = Size::new(
        even_up(scaled(source.width, height, source.height))
            .max(2)
            .min(frame.width),
        height,
    );
    Plan {
        source,
        crop: None,
        scale: picture,
        pad: Some(Pad {
            frame,
            x: even_down((frame.width - picture.width) / 2),
            y: 0,
        }),
    }
}

fn mobile_square(source: Size) -> Plan {
    let side = if source.width > source.height {
        // The original's zoom: a centred square of side 0.75·height (`CH = 0.25·ih`).
        even_down(source.height * 3 / 4).max(2)
    } else {
        // Portrait or square: the largest centred square, instead of squashing to 480×480.
        even_down(source.width)
    };
    let kept = Size::new(side, side);
    Plan {
        source,
        crop: (kept != source).then(|| centred(source, kept)),
        scale: Size::new(MOBILE_SIZE, MOBILE_SIZE),
        pad: None,
    }
}

fn centred(source: Size, kept: Size) -> Crop {
    Crop {
        size: kept,
        x: (source.width - kept.width) / 2,
        y: (source.height - kept.height) / 2,
    }
}

/// `int(height·16/9)`, even.
fn wide_width(height: u32) -> u32 {
    even_up((u64::from(height) * WIDE_W / WIDE_H) as u32)
}

/// `int(value·numerator/denominator)` without overflow or float rounding surprises.
fn scaled(value: u32, numerator: u32, denominator: u32) -> u32 {
    (u64::from(value) * u64::from(numerator) / u64::from(denominator)) as u32
}

/// The original's rule: an odd dimension is raised by one.
fn even_up(v: u32) -> u32 {
    v + v % 2
}

fn even_down(v: u32) -> u32 {
    v - v % 2
}
