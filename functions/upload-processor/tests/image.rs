//! Image sniffing (issue 21; the original stored JPEG as PNG, spec §10.1 #6): real PNG and JPEG
//! files made by the host's ffmpeg, and hand-broken headers.

use std::path::PathBuf;
use std::process::Command;

use upload_processor::fake::clips;
use upload_processor::image::{sniff, Format, Image, ImageError, MaxSize};

/// `ffmpeg -f lavfi -i color=…:size=WxH -frames:v 1 out.<ext>` and its bytes; the scale filter
/// keeps odd sizes, which the color source rounds down to even ones.
fn made_by_ffmpeg(size: &str, ext: &str, extra: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("upload-processor-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{size}-{}.{ext}", extra.join("_")));
    let ffmpeg = clips::host_ffmpeg();
    let output = Command::new(&ffmpeg)
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("color=red:size={size}"))
        .arg("-vf")
        .arg(format!("scale={}", size.replace('x', ":")))
        .args(extra)
        .args(["-frames:v", "1"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "no ffmpeg at {} (set FFMPEG to another): {e}",
                ffmpeg.display()
            )
        });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

const MAX: MaxSize = MaxSize {
    width: 1920,
    height: 1080,
};

#[test]
fn a_png_is_a_png_with_its_size() {
    let png = made_by_ffmpeg("33x17", "png", &[]);
    let image = sniff(&png).unwrap();
    assert_eq!(
        image,
        Image {
            format: Format::Png,
            width: 33,
            height: 17
        }
    );
    assert_eq!(image.format.extension(), "png");
    assert_eq!(image.format.content_type(), "image/png");
    image.check(MAX).unwrap();
    // With an alpha channel too.
    let rgba = made_by_ffmpeg("5x300", "png", &["-pix_fmt", "rgba"]);
    assert_eq!(sniff(&rgba).unwrap().height, 300);
}

#[test]
fn a_jpeg_is_a_jpeg_with_its_size_whatever_it_was_called() {
    let jpeg = made_by_ffmpeg("33x17", "jpg", &[]);
    let image = sniff(&jpeg).unwrap();
    assert_eq!(
        image,
        Image {
            format: Format::Jpeg,
            width: 33,
            height: 17
        }
    );
    // Stored as what it is, not as `thumbnail.png` with image/png (spec §10.1 #6).
    assert_eq!(image.format.extension(), "jpg");
    assert_eq!(image.format.content_type(), "image/jpeg");
    let tall = made_by_ffmpeg("17x33", "jpg", &["-q:v", "2"]);
    assert_eq!(
        (sniff(&tall).unwrap().width, sniff(&tall).unwrap().height),
        (17, 33)
    );
}

#[test]
fn jpeg_markers_are_walked_as_the_format_allows() {
    let jpeg = made_by_ffmpeg("33x17", "jpg", &[]);
    // Fill bytes before the first marker after SOI, and a standalone RST marker.
    let mut padded = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xD0];
    padded.extend_from_slice(&jpeg[2..]);
    assert_eq!(sniff(&padded).unwrap().width, 33);

    // A frame header that leaves the height to DNL cannot be checked against the limit.
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && (0xC0..=0xC2).contains(&w[1]))
        .expect("a SOF marker");
    let mut dnl = jpeg.clone();
    dnl[sof + 5] = 0;
    dnl[sof + 6] = 0;
    let err = sniff(&dnl).unwrap_err();
    assert!(err.to_string().contains("DNL"), "{err}");
    assert_eq!(err.status(), 422);

    // Cut inside the frame header, and before it.
    for cut in [sof + 6, 4, 3] {
        let err = sniff(&jpeg[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Corrupt {
                    format: Format::Jpeg,
                    ..
                }
            ),
            "{cut}: {err:?}"
        );
        assert_eq!(err.status(), 422);
    }
    // SOI followed by image data or the end, no frame.
    for bytes in [
        &b"\xFF\xD8\xFF\xD9"[..],
        b"\xFF\xD8\xFF\xDA\x00\x02",
        b"\xFF\xD8hello",
    ] {
        assert_eq!(sniff(bytes).unwrap_err().status(), 422, "{bytes:?}");
    }
}

#[test]
fn a_broken_png_is_422_naming_what_is_wrong() {
    let png = made_by_ffmpeg("33x17", "png", &[]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (png[..20].to_vec(), "truncated"),
        (png[..8].to_vec(), "truncated"),
        (
            {
                let mut p = png.clone();
                p[19] ^= 1; // the width, under IHDR's CRC
                p
            },
            "CRC",
        ),
        (
            {
                let mut p = png.clone();
                p[12..16].copy_from_slice(b"IDAT");
                p
            },
            "not IHDR",
        ),
        (
            {
                // Line endings converted by a text-mode transfer.
                let mut p = b"\x89PNG\n\x1a\n".to_vec();
                p.extend_from_slice(&png[8..]);
                p
            },
            "signature",
        ),
    ];
    for (bytes, expected) in cases {
        let err = sniff(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Corrupt {
                    format: Format::Png,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert_eq!(err.status(), 422);
    }
}

#[test]
fn anything_else_is_415_naming_what_it_is() {
    let cases: [(&[u8], &str); 8] = [
        (b"GIF89a\x21\x00\x11\x00", "GIF"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP"),
        (b"\x00\x00\x00\x18ftypheic", "HEIC"),
        (b"%PDF-1.7\n", "PDF"),
        (b"hello, this is not an image\n", "text"),
        (b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "SVG"),
        (b"WEBVTT\n\n", "WebVTT"),
        (
            b"\x00\x01\x02\x03\x04\x05\x06\x07\x08",
            "unknown data (starting 00 01 02",
        ),
    ];
    for (bytes, expected) in cases {
        let err = sniff(bytes).unwrap_err();
        assert!(
            matches!(err, ImageError::Unsupported { .. }),
            "{expected}: {err:?}"
        );
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert_eq!(err.status(), 415);
    }
    let empty = sniff(b"").unwrap_err();
    assert_eq!((empty.clone(), empty.status()), (ImageError::Empty, 415));
}

#[test]
fn an_image_over_the_limit_is_422_naming_the_limit() {
    let wide = sniff(&made_by_ffmpeg("1921x11", "png", &[])).unwrap();
    let err = wide.check(MAX).unwrap_err();
    assert_eq!(
        err,
        ImageError::TooLarge {
            width: 1921,
            height: 11,
            max_width: 1920,
            max_height: 1080
        }
    );
    assert_eq!(err.status(), 422);
    assert!(err.to_string().contains("1920×1080"), "{err}");

    let tall = sniff(&made_by_ffmpeg("16x1081", "jpg", &[])).unwrap();
    assert_eq!(tall.check(MAX).unwrap_err().status(), 422);
    // At the limit exactly is allowed.
    let exact = sniff(&made_by_ffmpeg("1920x1080", "jpg", &[])).unwrap();
    exact.check(MAX).unwrap();
}
