//! Geometry (spec §5.3 and the undistorted cases), probing, and the ffmpeg command lines run with
//! the host's real ffmpeg on clips it generates itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use upload_processor::fake::clips::{self, Clip};
use upload_processor::ffmpeg::{
    self, parse_probe, Container, Ffmpeg, Probe, ProbeError, RunError, TrimRange,
    THUMBNAIL_CONTENT_TYPE,
};
use upload_processor::geometry::{self, Crop, Plan, Rendition, Size};

// ---------------------------------------------------------------------------------------------
// Geometry

fn plan(r: Rendition, w: u32, h: u32, maintain: bool) -> Plan {
    geometry::plan(r, Size::new(w, h), maintain).unwrap()
}

/// The picture's aspect ratio is the kept part's, within the one pixel even-rounding allows.
fn assert_undistorted(p: &Plan) {
    let (k, s) = (p.kept(), p.scale);
    let exact_width = f64::from(k.width) * f64::from(s.height) / f64::from(k.height);
    assert!(
        (f64::from(s.width) - exact_width).abs() <= 2.0,
        "{p:?}: {k} scaled to {s} stretches the picture"
    );
    assert!(
        p.output().is_even() && s.is_even(),
        "{p:?} has an odd dimension"
    );
    if let Some(c) = p.crop {
        assert!(c.x + c.size.width <= p.source.width && c.y + c.size.height <= p.source.height);
    }
    if let Some(pad) = p.pad {
        assert!(pad.x + s.width <= pad.frame.width && pad.y + s.height <= pad.frame.height);
    }
}

/// The original's crop amounts `iw-CW:ih-CH`.
fn crop_amounts(p: &Plan) -> (u32, u32) {
    p.crop.map_or((0, 0), |c| {
        (
            p.source.width - c.size.width,
            p.source.height - c.size.height,
        )
    })
}

#[test]
fn spec_rows_for_landscape_sources_keep_the_originals_numbers() {
    // §5.3 worked values: (source, web default crop + size, web maintain, mobile default crop + size,
    // mobile maintain). Mobile-maintain widths are the original's raised to even (§10.2 #2).
    let rows = [
        (
            (1920, 1080),
            (0, 0),
            (1280, 720),
            (1280, 720),
            (1110, 270),
            (854, 480),
        ),
        (
            (2560, 1080),
            (640, 0),
            (1280, 720),
            (1706, 720),
            (1750, 270),
            (1138, 480),
        ),
    ];
    for ((w, h), web_crop, web, web_keep, mobile_crop, mobile_keep) in rows {
        let p = plan(Rendition::Web, w, h, false);
        assert_eq!(
            (crop_amounts(&p), p.output()),
            (web_crop, Size::new(web.0, web.1)),
            "{w}x{h}"
        );
        assert_eq!(p.pad, None);
        let p = plan(Rendition::Web, w, h, true);
        assert_eq!(p.output(), Size::new(web_keep.0, web_keep.1), "{w}x{h}");
        let p = plan(Rendition::Mobile, w, h, false);
        assert_eq!(
            (crop_amounts(&p), p.output()),
            (mobile_crop, Size::new(480, 480)),
            "{w}x{h}"
        );
        let p = plan(Rendition::Mobile, w, h, true);
        assert_eq!(
            p.output(),
            Size::new(mobile_keep.0, mobile_keep.1),
            "{w}x{h}"
        );
    }
}

#[test]
fn spec_rows_for_narrow_sources_keep_their_aspect() {
    // Portrait 1080×1920: the original squashed it into 1080:608 (web) and 480:480 (mobile).
    let p = plan(Rendition::Web, 1080, 1920, false);
    assert_eq!(
        (p.crop, p.scale, p.output()),
        (None, Size::new(406, 720), Size::new(1280, 720))
    );
    assert_eq!(p.pad.unwrap().x, 436);
    assert_eq!(
        plan(Rendition::Web, 1080, 1920, true).output(),
        Size::new(406, 720)
    );
    let p = plan(Rendition::Mobile, 1080, 1920, false);
    assert_eq!(
        p.crop,
        Some(Crop {
            size: Size::new(1080, 1080),
            x: 0,
            y: 420
        }),
        "a centred square, not a squashed frame"
    );
    assert_eq!(p.output(), Size::new(480, 480));
    assert_eq!(
        plan(Rendition::Mobile, 1080, 1920, true).output(),
        Size::new(270, 480)
    );

    // 4:3 640×480: the original squashed web into 640:360.
    let p = plan(Rendition::Web, 640, 480, false);
    assert_eq!(
        (p.scale, p.output()),
        (Size::new(640, 480), Size::new(854, 480))
    );
    assert_eq!(
        plan(Rendition::Web, 640, 480, true).output(),
        Size::new(640, 480)
    );
    let p = plan(Rendition::Mobile, 640, 480, false);
    assert_eq!(
        (crop_amounts(&p), p.output()),
        ((280, 120), Size::new(480, 480))
    );
    assert_eq!(
        plan(Rendition::Mobile, 640, 480, true).output(),
        Size::new(640, 480)
    );

    // Square 720×720: the original squashed web into 720:406.
    let p = plan(Rendition::Web, 720, 720, false);
    assert_eq!(
        (p.scale, p.output()),
        (Size::new(720, 720), Size::new(1280, 720))
    );
    assert_eq!(
        plan(Rendition::Web, 720, 720, true).output(),
        Size::new(720, 720)
    );
    let p = plan(Rendition::Mobile, 720, 720, false);
    assert_eq!((p.crop, p.output()), (None, Size::new(480, 480)));
    assert_eq!(
        plan(Rendition::Mobile, 720, 720, true).output(),
        Size::new(480, 480)
    );
}

#[test]
fn no_plan_distorts_or_has_an_odd_dimension() {
    let sizes = [
        (1920, 1080),
        (2560, 1080),
        (1080, 1920),
        (640, 480),
        (720, 720),
        (1280, 720),
        (720, 1280),
        (1281, 721),
        (853, 480),
        (3840, 2160),
        (320, 240),
        (241, 321),
        (4000, 16),
        (16, 4000),
        (16, 16),
        (17, 17),
        (1440, 1080),
        (1080, 1350),
        (1079, 1081),
    ];
    for (w, h) in sizes {
        for r in [Rendition::Web, Rendition::Mobile] {
            for maintain in [false, true] {
                assert_undistorted(&plan(r, w, h, maintain));
            }
        }
        let trim = geometry::trim_plan(Size::new(w, h)).unwrap();
        assert!(
            trim.output().is_even()
                && trim.output().width + 1 >= w
                && trim.output().height + 1 >= h
        );
    }
}

#[test]
fn web_frames_are_16_9_and_never_taller_than_720() {
    for (w, h) in [
        (1080, 1920),
        (640, 480),
        (720, 720),
        (3840, 2160),
        (480, 360),
    ] {
        let out = plan(Rendition::Web, w, h, false).output();
        assert!(out.height <= 720 && out.height <= h + 1, "{w}x{h} → {out}");
        assert!(
            (f64::from(out.width) / f64::from(out.height) - 16.0 / 9.0).abs() < 0.01,
            "{out}"
        );
    }
}

#[test]
fn filters_crop_scale_and_pad_in_that_order() {
    let f = plan(Rendition::Mobile, 1920, 1080, false).filter(false);
    assert_eq!(f, "crop=810:810:555:135,scale=480:480,setsar=1");
    let f = plan(Rendition::Web, 720, 1280, false).filter(true);
    assert_eq!(f, "scale=406:720,setsar=1,pad=1280:720:436:0:color=black@0");
    assert!(geometry::plan(Rendition::Web, Size::new(0, 720), false).is_err());
    assert!(geometry::plan(Rendition::Mobile, Size::new(15, 720), true).is_err());
}

// ---------------------------------------------------------------------------------------------
// Parsing what ffmpeg prints

/// An iPhone clip as ffmpeg 7 (the layer's) describes it: HEVC, rotation side data, a data track.
const IPHONE_FFMPEG7: &str = "\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'IMG_0001.MOV':
  Metadata:
    major_brand     : qt  
    creation_time   : 2024-05-01T10:00:00.000000Z
    com.apple.quicktime.make: Apple
  Duration: 00:00:12.34, start: 0.000000, bitrate: 8000 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main) (hvc1 / 0x31637668), yuv420p(tv, bt709), 1920x1080, 7800 kb/s, 29.98 fps, 30 tbr, 600 tbn (default)
      Metadata:
        creation_time   : 2024-05-01T10:00:00.000000Z
        handler_name    : Core Media Video
        vendor_id       : [0][0][0][0]
      Side data:
        displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 96 kb/s (default)
      Metadata:
        handler_name    : Core Media Audio
  Stream #0:2[0x3](und): Data: none (mebx / 0x7862656D), 0 kb/s (default)
At least one output file must be specified
";

#[test]
fn parses_an_ffmpeg_7_phone_clip_as_portrait() {
    let p = parse_probe(IPHONE_FFMPEG7, "IMG_0001.MOV").unwrap();
    assert_eq!(p.format, "mov,mp4,m4a,3gp,3g2,mj2");
    assert_eq!(p.duration, Some(Duration::from_millis(12_340)));
    assert_eq!(p.video.codec, "hevc");
    assert_eq!(p.video.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(p.video.coded, Size::new(1920, 1080));
    assert_eq!(p.video.rotation, 90);
    assert_eq!(p.video.display(), Size::new(1080, 1920));
    assert_eq!(p.video.fps, Some(29.98));
    assert!(p.has_audio && !p.video.alpha && !p.is_webm());
}

#[test]
fn parses_old_rotate_tags_anamorphic_pixels_and_cover_art() {
    let ffmpeg4 = "\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'old.mp4':
  Duration: 00:00:03.50, start: 0.000000, bitrate: 900 kb/s
    Stream #0:0(und): Video: h264 (Baseline) (avc1 / 0x31637661), yuv420p, 720x576 [SAR 16:15 DAR 4:3], 800 kb/s, 25 fps, 25 tbr, 90k tbn, 50 tbc (default)
    Metadata:
      rotate          : 270
      handler_name    : VideoHandler
At least one output file must be specified
";
    let p = parse_probe(ffmpeg4, "old.mp4").unwrap();
    assert_eq!(p.video.sample_aspect, Some((16, 15)));
    assert_eq!(p.video.rotation, 270);
    assert_eq!(p.video.display(), Size::new(576, 768));
    assert!(!p.has_audio);

    let mp3 = "\
Input #0, mp3, from 'song.mp3':
  Duration: 00:03:00.00, start: 0.025057, bitrate: 128 kb/s
  Stream #0:0: Audio: mp3, 44100 Hz, stereo, fltp, 128 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 500x500 [SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)
";
    assert!(matches!(
        parse_probe(mp3, "song.mp3"),
        Err(ProbeError::NoVideo { .. })
    ));
    let missing = "nope.mp4: No such file or directory\n";
    match parse_probe(missing, "nope.mp4") {
        Err(ProbeError::Unreadable { reason, .. }) => assert!(reason.contains("No such file")),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The real ffmpeg

fn ffmpeg() -> Ffmpeg {
    let program = clips::host_ffmpeg();
    let works = std::process::Command::new(&program)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works,
        "no ffmpeg at {} (set FFMPEG to another): `cargo xtask test` installs it in its tools phase",
        program.display()
    );
    Ffmpeg::new(program)
}

/// A directory for one test's files, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "upload-processor-media-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs ffmpeg with `args` (a test's own fixture making, not the code under test).
async fn ffmpeg_raw(args: &[&str]) {
    clips::ffmpeg_raw(ffmpeg().program(), args)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Writes `clip` to `path` (a fixture: its failure is the test's setup failing).
async fn write(clip: Clip, path: &Path) {
    clip.write(ffmpeg().program(), path)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn probe(path: &Path) -> Probe {
    ffmpeg().probe(path).await.unwrap_or_else(|e| panic!("{e}"))
}

fn secs(p: &Probe) -> f64 {
    p.duration.expect("a duration").as_secs_f64()
}

/// Runs the built command, then checks the output has the plan's size, square pixels, even sides.
async fn transcode_and_check(
    input: &Path,
    source: &Probe,
    r: Rendition,
    maintain: bool,
    target: Container,
    out: &Path,
) -> Probe {
    let f = ffmpeg();
    let cmd = f
        .transcode(input, source, r, maintain, target, out)
        .unwrap();
    ffmpeg::run(&cmd).await.unwrap_or_else(|e| panic!("{e}"));
    let result = probe(out).await;
    let expected = geometry::plan(r, source.video.display(), maintain)
        .unwrap()
        .output();
    assert_eq!(
        result.video.display(),
        expected,
        "{} {r} maintain={maintain}",
        input.display()
    );
    assert_eq!(result.video.sample_aspect, None, "square pixels");
    assert!(result.video.display().is_even());
    assert!(
        (secs(&result) - secs(source)).abs() < 0.15,
        "{} vs {}",
        secs(&result),
        secs(source)
    );
    result
}

#[tokio::test]
async fn landscape_mp4_probes_and_transcodes_at_the_spec_sizes() {
    let dir = Scratch::new("landscape");
    let clip = dir.path("landscape.mp4");
    write(Clip::mp4(1280, 720, 1.0), &clip).await;
    let p = probe(&clip).await;
    assert_eq!(
        (p.video.codec.as_str(), p.video.display()),
        ("h264", Size::new(1280, 720))
    );
    assert!(p.has_audio && !p.is_webm() && !p.video.alpha);
    assert!((secs(&p) - 1.0).abs() < 0.1, "{}", secs(&p));
    p.ensure_long_enough(&clip).unwrap();

    let web = transcode_and_check(
        &clip,
        &p,
        Rendition::Web,
        false,
        Container::Mp4,
        &dir.path("web.mp4"),
    )
    .await;
    assert_eq!(web.video.display(), Size::new(1280, 720));
    assert!(web.has_audio && web.video.pixel_format.as_deref() == Some("yuv420p"));
    let mobile = transcode_and_check(
        &clip,
        &p,
        Rendition::Mobile,
        false,
        Container::Mp4,
        &dir.path("mobile.mp4"),
    )
    .await;
    assert_eq!(mobile.video.display(), Size::new(480, 480));
    let kept = transcode_and_check(
        &clip,
        &p,
        Rendition::Mobile,
        true,
        Container::Mp4,
        &dir.path("mobile-keep.mp4"),
    )
    .await;
    // The original's 853×480, which libx264 refuses.
    assert_eq!(kept.video.display(), Size::new(854, 480));
}

#[tokio::test]
async fn portrait_mp4_stays_portrait() {
    let dir = Scratch::new("portrait");
    let clip = dir.path("portrait.mp4");
    write(Clip::mp4(720, 1280, 1.0), &clip).await;
    let p = probe(&clip).await;
    assert_eq!(p.video.display(), Size::new(720, 1280));
    let web = transcode_and_check(
        &clip,
        &p,
        Rendition::Web,
        false,
        Container::Mp4,
        &dir.path("web.mp4"),
    )
    .await;
    assert_eq!(
        web.video.display(),
        Size::new(1280, 720),
        "pillarboxed into the 16:9 frame"
    );
    let keep = transcode_and_check(
        &clip,
        &p,
        Rendition::Web,
        true,
        Container::Mp4,
        &dir.path("web-keep.mp4"),
    )
    .await;
    assert_eq!(keep.video.display(), Size::new(406, 720));
    transcode_and_check(
        &clip,
        &p,
        Rendition::Mobile,
        false,
        Container::Mp4,
        &dir.path("mobile.mp4"),
    )
    .await;
}

#[tokio::test]
async fn a_rotated_phone_clip_probes_and_transcodes_as_portrait() {
    let dir = Scratch::new("rotated");
    let stored = dir.path("stored.mp4");
    write(Clip::mp4(320, 180, 1.0), &stored).await;
    let rotated = dir.path("rotated.mp4");
    let (i, o) = (stored.to_str().unwrap(), rotated.to_str().unwrap());
    // ffmpeg 6.1+ has `-display_rotation`; older ones take the `rotate` tag.
    let modern = clips::ffmpeg_raw(
        ffmpeg().program(),
        &["-display_rotation", "90", "-i", i, "-c", "copy", o],
    )
    .await;
    if modern.is_err() {
        ffmpeg_raw(&["-i", i, "-c", "copy", "-metadata:s:v:0", "rotate=90", o]).await;
    }
    let p = probe(&rotated).await;
    assert_eq!(p.video.coded, Size::new(320, 180));
    assert!(
        p.video.rotation == 90 || p.video.rotation == 270,
        "{}",
        p.video.rotation
    );
    assert_eq!(p.video.display(), Size::new(180, 320));
    // ffmpeg rotates while decoding, so the geometry planned on the display size fits the frames.
    let keep = transcode_and_check(
        &rotated,
        &p,
        Rendition::Web,
        true,
        Container::Mp4,
        &dir.path("web.mp4"),
    )
    .await;
    assert_eq!(
        (keep.video.display(), keep.video.rotation),
        (Size::new(180, 320), 0)
    );
    transcode_and_check(
        &rotated,
        &p,
        Rendition::Mobile,
        false,
        Container::Mp4,
        &dir.path("mobile.mp4"),
    )
    .await;
}

#[tokio::test]
async fn square_and_4_3_sources_keep_their_aspect() {
    let dir = Scratch::new("square43");
    for (name, w, h) in [("square.mp4", 360, 360), ("four-three.mp4", 320, 240)] {
        let clip = dir.path(name);
        write(Clip::mp4(w, h, 1.0).without_audio(), &clip).await;
        let p = probe(&clip).await;
        assert_eq!(p.video.display(), Size::new(w, h));
        assert!(!p.has_audio);
        for (r, maintain) in [
            (Rendition::Web, false),
            (Rendition::Web, true),
            (Rendition::Mobile, false),
        ] {
            let out = dir.path(&format!("{r}-{maintain}-{name}"));
            let result = transcode_and_check(&clip, &p, r, maintain, Container::Mp4, &out).await;
            assert!(!result.has_audio);
        }
    }
}

#[tokio::test]
async fn anamorphic_pixels_are_squared_before_the_geometry() {
    let dir = Scratch::new("anamorphic");
    let clip = dir.path("anamorphic.mp4");
    let video = "testsrc2=size=240x180:rate=30:duration=1,setsar=4/3";
    ffmpeg_raw(&[
        "-f",
        "lavfi",
        "-i",
        video,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ])
    .await;
    let p = probe(&clip).await;
    assert_eq!(
        (p.video.coded, p.video.sample_aspect),
        (Size::new(240, 180), Some((4, 3)))
    );
    assert_eq!(p.video.display(), Size::new(320, 180));
    let web = transcode_and_check(
        &clip,
        &p,
        Rendition::Web,
        true,
        Container::Mp4,
        &dir.path("web.mp4"),
    )
    .await;
    assert_eq!(web.video.display(), Size::new(320, 180));
}

#[tokio::test]
async fn webm_with_alpha_probes_trims_and_keeps_its_alpha() {
    let dir = Scratch::new("webm");
    let clip = dir.path("vbg.webm");
    write(Clip::webm_alpha(320, 240, 2.0), &clip).await;
    let p = probe(&clip).await;
    assert_eq!(p.video.codec, "vp9");
    assert!(p.is_webm() && p.video.alpha && p.has_audio, "{p:?}");
    assert!((secs(&p) - 2.0).abs() < 0.1);

    // Trim to WebM for a virtual-background video: alpha survives.
    let f = ffmpeg();
    let trimmed = dir.path("trimmed.webm");
    let range = TrimRange {
        start: 0.5,
        end: 1.5,
    };
    ffmpeg::run(
        &f.trim(&clip, &p, range, Container::WebmVp9, &trimmed)
            .unwrap(),
    )
    .await
    .unwrap();
    let t = probe(&trimmed).await;
    assert!(
        t.is_webm() && t.video.alpha && t.video.codec == "vp9",
        "{t:?}"
    );
    assert!((secs(&t) - 1.0).abs() < 0.1, "{}", secs(&t));

    // Trim to MP4, what a non-VBG WebM upload becomes (the original's trim was lost, §10.2 #1).
    let as_mp4 = dir.path("trimmed.mp4");
    ffmpeg::run(&f.trim(&clip, &p, range, Container::Mp4, &as_mp4).unwrap())
        .await
        .unwrap();
    let m = probe(&as_mp4).await;
    assert!(!m.is_webm() && m.video.codec == "h264" && m.has_audio);
    assert!((secs(&m) - 1.0).abs() < 0.1, "{}", secs(&m));

    let web = transcode_and_check(
        &clip,
        &p,
        Rendition::Web,
        false,
        Container::WebmVp9,
        &dir.path("web.webm"),
    )
    .await;
    assert!(web.video.alpha && web.is_webm());
    let mobile = transcode_and_check(
        &clip,
        &p,
        Rendition::Mobile,
        true,
        Container::Mp4,
        &dir.path("mobile.mp4"),
    )
    .await;
    assert_eq!(mobile.video.pixel_format.as_deref(), Some("yuv420p"));
}

#[tokio::test]
async fn a_streamed_webm_without_duration_is_measured() {
    let dir = Scratch::new("streamed");
    let clip = dir.path("recorded.webm");
    Clip::webm_alpha(160, 120, 1.0)
        .write_streamed(ffmpeg().program(), &clip)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let summary = tokio::process::Command::new(ffmpeg().program())
        .args(["-hide_banner", "-i"])
        .arg(&clip)
        .output()
        .await
        .unwrap();
    let parsed = parse_probe(&String::from_utf8_lossy(&summary.stderr), "recorded.webm").unwrap();
    assert_eq!(
        parsed.duration, None,
        "the fixture should have no duration in its header"
    );
    let p = probe(&clip).await;
    assert!((secs(&p) - 1.0).abs() < 0.05, "{}", secs(&p));
    p.ensure_long_enough(&clip).unwrap();
}

#[tokio::test]
async fn trim_of_an_odd_sized_mp4_is_even_and_the_requested_length() {
    let dir = Scratch::new("trim");
    let clip = dir.path("odd.webm");
    // libx264 cannot write odd sizes; VP9 can, and phones' odd crops arrive this way.
    let video = "testsrc2=size=322x242:rate=30:duration=2,format=yuv444p,crop=321:241";
    ffmpeg_raw(&[
        "-f",
        "lavfi",
        "-i",
        video,
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-pix_fmt",
        "yuv444p",
        clip.to_str().unwrap(),
    ])
    .await;
    let p = probe(&clip).await;
    assert_eq!(p.video.display(), Size::new(321, 241));
    assert_eq!(p.video.pixel_format.as_deref(), Some("yuv444p"));
    let out = dir.path("trimmed.mp4");
    let cmd = ffmpeg()
        .trim(
            &clip,
            &p,
            TrimRange {
                start: 0.25,
                end: 1.25,
            },
            Container::Mp4,
            &out,
        )
        .unwrap();
    ffmpeg::run(&cmd).await.unwrap();
    let t = probe(&out).await;
    assert_eq!(t.video.display(), Size::new(320, 240));
    // 4:4:4 in, 4:2:0 out: what browsers play.
    assert_eq!(t.video.pixel_format.as_deref(), Some("yuv420p"));
    assert!((secs(&t) - 1.0).abs() < 0.1, "{}", secs(&t));

    let mp4 = dir.path("two.mp4");
    write(Clip::mp4(320, 180, 2.0), &mp4).await;
    let p = probe(&mp4).await;
    let out = dir.path("two-trimmed.mp4");
    ffmpeg::run(
        &ffmpeg()
            .trim(
                &mp4,
                &p,
                TrimRange {
                    start: 1.0,
                    end: 1.6,
                },
                Container::Mp4,
                &out,
            )
            .unwrap(),
    )
    .await
    .unwrap();
    let t = probe(&out).await;
    assert!((secs(&t) - 0.6).abs() < 0.1 && t.has_audio, "{}", secs(&t));

    for (start, end) in [
        (1.0, 1.0),
        (1.5, 0.5),
        (-1.0, 1.0),
        (5.0, 6.0),
        (f64::NAN, 1.0),
    ] {
        let bad = ffmpeg().trim(&mp4, &p, TrimRange { start, end }, Container::Mp4, &out);
        assert!(bad.is_err(), "{start}–{end}");
    }
}

#[tokio::test]
async fn short_silent_and_unreadable_clips_are_told_apart() {
    let dir = Scratch::new("bad");
    let short = dir.path("short.mp4");
    write(Clip::mp4(160, 120, 0.5).without_audio(), &short).await;
    let p = probe(&short).await;
    assert!(!p.has_audio);
    match p.ensure_long_enough(&short) {
        Err(ProbeError::TooShort { seconds }) => assert!((seconds - 0.5).abs() < 0.1),
        other => panic!("{other:?}"),
    }
    // The thumbnail of a clip shorter than the original's 1 s offset still has a frame.
    let thumb = dir.path("thumbnail.jpg");
    ffmpeg::run(&ffmpeg().thumbnail(&short, &p, &thumb))
        .await
        .unwrap();
    assert_eq!(&std::fs::read(&thumb).unwrap()[..3], &[0xFF, 0xD8, 0xFF]);

    let garbage = dir.path("garbage.mp4");
    std::fs::write(&garbage, b"this is not a video at all").unwrap();
    assert!(matches!(
        ffmpeg().probe(&garbage).await,
        Err(ProbeError::Unreadable { .. })
    ));
    let missing = dir.path("missing.mp4");
    assert!(matches!(
        ffmpeg().probe(&missing).await,
        Err(ProbeError::Unreadable { .. })
    ));

    let audio = dir.path("audio.m4a");
    ffmpeg_raw(&[
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-c:a",
        "aac",
        audio.to_str().unwrap(),
    ])
    .await;
    match ffmpeg().probe(&audio).await {
        Err(e @ ProbeError::NoVideo { .. }) => assert!(e.to_string().contains("audio.m4a")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn thumbnails_are_jpeg_and_transcribe_audio_is_mp3() {
    let dir = Scratch::new("thumb");
    let clip = dir.path("clip.mp4");
    write(Clip::mp4(320, 180, 2.0), &clip).await;
    let p = probe(&clip).await;
    let thumb = dir.path("thumbnail.jpg");
    ffmpeg::run(&ffmpeg().thumbnail(&clip, &p, &thumb))
        .await
        .unwrap();
    assert_eq!(THUMBNAIL_CONTENT_TYPE, "image/jpeg");
    assert_eq!(
        &std::fs::read(&thumb).unwrap()[..3],
        &[0xFF, 0xD8, 0xFF],
        "JPEG magic bytes"
    );

    let mp3 = dir.path("answer.mp3");
    ffmpeg::run(&ffmpeg().transcribe_audio(&clip, &mp3))
        .await
        .unwrap();
    let bytes = std::fs::read(&mp3).unwrap();
    assert!(
        bytes.starts_with(b"ID3") || (bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0),
        "not MP3"
    );
}

#[tokio::test]
async fn commands_are_argument_vectors_and_failures_carry_ffmpegs_reason() {
    let dir = Scratch::new("run");
    let clip = dir.path("clip with spaces; and $(quotes).mp4");
    write(Clip::mp4(160, 90, 1.0).without_audio(), &clip).await;
    let p = probe(&clip).await;
    let out = dir.path("out.mp4");
    let cmd = ffmpeg()
        .transcode(&clip, &p, Rendition::Web, false, Container::Mp4, &out)
        .unwrap();
    let argv = cmd.argv();
    assert_eq!(argv[0], ffmpeg().program().as_os_str());
    assert!(
        argv.iter().any(|a| a == clip.as_os_str()),
        "the path is one argument"
    );
    assert_eq!(cmd.label, "transcode web");
    ffmpeg::run(&cmd).await.unwrap();
    assert!(out.exists());

    // A source that vanished: ffmpeg's own words end up in the error.
    let gone = dir.path("gone.mp4");
    let cmd = ffmpeg()
        .transcode(&gone, &p, Rendition::Mobile, false, Container::Mp4, &out)
        .unwrap();
    match ffmpeg::run(&cmd).await {
        Err(RunError::Failed {
            label, stderr_tail, ..
        }) => {
            assert_eq!(label, "transcode mobile");
            assert!(stderr_tail.contains("gone.mp4"), "{stderr_tail}");
        }
        other => panic!("{other:?}"),
    }
    let missing = Ffmpeg::new(dir.path("no-such-ffmpeg"));
    let cmd = missing.thumbnail(&clip, &p, &dir.path("t.jpg"));
    assert!(matches!(
        ffmpeg::run(&cmd).await,
        Err(RunError::Spawn { .. })
    ));
    assert!(matches!(
        missing.probe(&clip).await,
        Err(ProbeError::Spawn { .. })
    ));
}
