//! What an uploaded image really is: thumbnails, virtual backgrounds, headers and footers.
//!
//! The original trusted the part's Content-Type and stored every image as `*.png` with
//! `image/png`, JPEG too (spec §8.1–§8.3, §10.1 #6). Here the bytes decide ([`sniff`]): a PNG
//! or a JPEG, its size from its header, stored with the extension and Content-Type it has
//! ([`Format::extension`], [`Format::content_type`]); anything else is refused (415) naming
//! what it looks like, and an image over the stage's limit is refused (422) naming the limit.
//!
//! The headers are read here rather than with a crate: the small ones (`imagesize`) take
//! `\x89PNG` followed by anything as a PNG and read JPEG markers without fill bytes or
//! standalone markers, and a refusal must say what was found anyway.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
        })
    }
}

/// A sniffed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// The largest image a route stores (a stage setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSize {
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {found}, not a PNG or JPEG image")]
    Unsupported { found: String },
    #[error("the file starts as a {format} image but its header is broken: {reason}")]
    Corrupt {
        format: Format,
        reason: &'static str,
    },
    #[error("the image is {width}×{height} pixels, over the limit of {max_width}×{max_height}")]
    TooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
}

impl ImageError {
    /// 415 for what is not a PNG or JPEG at all; 422 for one that is, but broken or too large.
    pub fn status(&self) -> u16 {
        match self {
            ImageError::Empty | ImageError::Unsupported { .. } => 415,
            ImageError::Corrupt { .. } | ImageError::TooLarge { .. } => 422,
        }
    }
}

impl Image {
    /// [`ImageError::TooLarge`] when either side is over `max`.
    pub fn check(&self, max: MaxSize) -> Result<(), ImageError> {
        if self.width > max.width || self.height > max.height {
            return Err(ImageError::TooLarge {
                width: self.width,
                height: self.height,
                max_width: max.width,
                max_height: max.height,
            });
        }
        Ok(())
    }
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The format and size of `bytes`, from their header alone.
pub fn sniff(bytes: &[u8]) -> Result<Image, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    // Four bytes are enough to tell a PNG (even one whose signature a text transfer mangled,
    // which then fails as corrupt rather than as "unknown").
    if bytes.starts_with(b"\x89PNG") {
        return png(bytes).map_err(|reason| ImageError::Corrupt {
            format: Format::Png,
            reason,
        });
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return jpeg(bytes).map_err(|reason| ImageError::Corrupt {
            format: Format::Jpeg,
            reason,
        });
    }
    Err(ImageError::Unsupported {
        found: describe(bytes),
    })
}

fn png(bytes: &[u8]) -> Result<Image, &'static str> {
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err("the 8-byte signature is wrong (a text-mode transfer?)");
    }
    // The signature, then IHDR: length 13, type, width, height, 5 more bytes, CRC.
    let chunk = bytes.get(8..33).ok_or("truncated before the end of IHDR")?;
    if &chunk[4..8] != b"IHDR" {
        return Err("the first chunk is not IHDR");
    }
    if be32(&chunk[0..4]) != 13 {
        return Err("IHDR is not 13 bytes long");
    }
    if crc32(&chunk[4..21]) != be32(&chunk[21..25]) {
        return Err("the CRC of IHDR does not match");
    }
    let (width, height) = (be32(&chunk[8..12]), be32(&chunk[12..16]));
    // PNG sizes are 31-bit and never zero.
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err("IHDR gives an invalid size");
    }
    Ok(Image {
        format: Format::Png,
        width,
        height,
    })
}

fn jpeg(bytes: &[u8]) -> Result<Image, &'static str> {
    let truncated = "truncated before the frame header (SOF)";
    let mut at = 2;
    loop {
        if *bytes.get(at).ok_or(truncated)? != 0xFF {
            return Err("a segment does not start with a marker");
        }
        // Any number of 0xFF may pad before a marker.
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes.get(at).ok_or(truncated)?;
        at += 1;
        match marker {
            0x00 => return Err("a stray 0xFF 0x00 outside entropy-coded data"),
            // TEM and RSTn stand alone, without a length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 => return Err("a second start of image (SOI)"),
            0xD9 => return Err("the image ends (EOI) without a frame header"),
            0xDA => return Err("image data (SOS) before the frame header"),
            _ => {}
        }
        let length = usize::from(be16(bytes.get(at..at + 2).ok_or(truncated)?));
        if length < 2 {
            return Err("a segment length under 2");
        }
        let segment = bytes.get(at + 2..at + length).ok_or(truncated)?;
        // SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // Precision, height, width, component count.
            let header = segment.get(..6).ok_or("a frame header under 6 bytes")?;
            let (height, width) = (be16(&header[1..3]), be16(&header[3..5]));
            if height == 0 {
                // Legal (a DNL segment gives it later) but unknowable from the header.
                return Err("the frame header leaves the height to a later DNL segment");
            }
            if width == 0 {
                return Err("the frame header gives a width of 0");
            }
            return Ok(Image {
                format: Format::Jpeg,
                width: u32::from(width),
                height: u32::from(height),
            });
        }
        at += length;
    }
}

/// What a refused file looks like, for the 415's message.
fn describe(bytes: &[u8]) -> String {
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    let named = if starts(b"GIF87a") || starts(b"GIF89a") {
        "a GIF image"
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "a WebP image"
    } else if bytes.get(4..8) == Some(b"ftyp") {
        // HEIC/AVIF from phones and MP4 video share the ISO box format.
        "an ISO media file (HEIC, AVIF or MP4)"
    } else if starts(b"BM") && bytes.len() >= 14 {
        "a BMP image"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "a TIFF image"
    } else if starts(b"%PDF") {
        "a PDF document"
    } else if starts(b"PK\x03\x04") {
        "a ZIP archive"
    } else if starts(b"\0\0\x01\0") {
        "an ICO icon"
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        let head = text.trim_start_matches('\u{feff}').trim_start();
        if head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")) {
            "an SVG image"
        } else if head.starts_with("WEBVTT") {
            "a WebVTT file"
        } else if !text.contains(|c: char| c.is_control() && !c.is_whitespace()) {
            "text"
        } else {
            return unknown(bytes);
        }
    } else {
        return unknown(bytes);
    };
    named.to_string()
}

fn unknown(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("unknown data (starting {})", head.join(" "))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The CRC-32 of PNG chunks (ISO 3309), bit by bit: it runs over 17 bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn statuses() {
        assert_eq!(ImageError::Empty.status(), 415);
        assert_eq!(
            ImageError::Unsupported {
                found: "text".into()
            }
            .status(),
            415
        );
        assert_eq!(
            ImageError::Corrupt {
                format: Format::Png,
                reason: "x"
            }
            .status(),
            422
        );
    }
}
