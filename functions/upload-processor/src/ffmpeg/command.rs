//! The command lines of spec §5.2 as argument vectors (never a shell), on the geometry of
//! [`crate::geometry`].
//!
//! Departures from the original, each for a reason: the video stream and first audio stream are
//! mapped explicitly (cover art and data streams are not "the video"); MP4 output is always
//! yuv420p (the original's trim kept 4:4:4 or 10-bit sources browsers cannot play); VP9 is
//! decoded with libvpx only when there is alpha to keep, so trimming a VP8 or opaque WebM works
//! (§10.2 #1); VP9 gets `-b:v 0` so `-crf` means constant quality, and a speed setting that fits
//! the Lambda's timeout; `-loglevel error` instead of `quiet`, so a failure carries its reason.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::probe::Probe;
use super::Ffmpeg;
use crate::geometry::{self, GeometryError, Plan, Rendition};

/// Thumbnails are JPEG (`thumbnail.jpg`), and stored as such; the original labelled them PNG.
pub const THUMBNAIL_CONTENT_TYPE: &str = "image/jpeg";

/// When the thumbnail is taken: the original's one second in, or the middle of a shorter clip
/// (a frame past the end is no frame at all).
const THUMBNAIL_AT: f64 = 1.0;

/// Output frame rate of the renditions (spec §5.4).
const FPS: u32 = 30;

/// One ffmpeg run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What it does, for logs and errors: `trim`, `transcode web`…
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl Command {
    /// The program followed by its arguments.
    pub fn argv(&self) -> Vec<OsString> {
        std::iter::once(self.program.clone().into_os_string())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

/// What a trim or transcode writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// H.264 and AAC.
    Mp4,
    /// VP9 (with alpha when the source has it), for virtual-background videos (`isVbgVideo`).
    WebmVp9,
}

impl Container {
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::WebmVp9 => "webm",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::WebmVp9 => "video/webm",
        }
    }
}

/// The request's `trim`, in seconds from the start of the clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrimRange {
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Error, PartialEq)]
pub enum CommandError {
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error("trim {start}–{end} s: {reason}")]
    Trim {
        start: f64,
        end: f64,
        reason: &'static str,
    },
}

impl TrimRange {
    /// Rejects what the original passed to ffmpeg unchecked (§5.2: no start < end check).
    fn check(self, duration: Option<std::time::Duration>) -> Result<Self, CommandError> {
        let fail = |reason| {
            Err(CommandError::Trim {
                start: self.start,
                end: self.end,
                reason,
            })
        };
        if !(self.start.is_finite() && self.end.is_finite()) || self.start < 0.0 {
            return fail("start and end must be non-negative numbers");
        }
        if self.end <= self.start {
            return fail("end must be after start");
        }
        if duration.is_some_and(|d| self.start >= d.as_secs_f64()) {
            return fail("start is past the end of the clip");
        }
        Ok(self)
    }
}

impl Ffmpeg {
    /// Cuts `range` out of `input` at full size (odd dimensions cropped to even), frame-accurate:
    /// `-ss`/`-to` are output options, so everything before `end` is decoded.
    pub fn trim(
        &self,
        input: &Path,
        source: &Probe,
        range: TrimRange,
        target: Container,
        output: &Path,
    ) -> Result<Command, CommandError> {
        let range = range.check(source.duration)?;
        let plan = geometry::trim_plan(source.video.display())?;
        let mut args = self.input_args(input, source, target);
        args.extend(strs(&[
            "-ss",
            &seconds(range.start),
            "-to",
            &seconds(range.end),
        ]));
        args.extend(strs(&[
            "-filter:v",
            &filter(source, &plan, alpha(source, target)),
        ]));
        args.extend(encoder_args(source, target, false));
        args.push(output.into());
        Ok(self.command("trim".into(), args))
    }

    /// The web or mobile rendition (§5.2), sized by [`geometry::plan`] at 30 fps.
    pub fn transcode(
        &self,
        input: &Path,
        source: &Probe,
        rendition: Rendition,
        maintain_aspect: bool,
        target: Container,
        output: &Path,
    ) -> Result<Command, CommandError> {
        let plan = geometry::plan(rendition, source.video.display(), maintain_aspect)?;
        let mut args = self.input_args(input, source, target);
        let chain = format!("{},fps={FPS}", filter(source, &plan, alpha(source, target)));
        args.extend(strs(&["-filter:v", &chain]));
        args.extend(encoder_args(source, target, true));
        args.push(output.into());
        Ok(self.command(format!("transcode {rendition}"), args))
    }

    /// One JPEG frame at full size ([`THUMBNAIL_CONTENT_TYPE`]).
    pub fn thumbnail(&self, input: &Path, source: &Probe, output: &Path) -> Command {
        let at = source
            .duration
            .map_or(0.0, |d| THUMBNAIL_AT.min(d.as_secs_f64() / 2.0));
        let mut args = strs(&["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
        // Before `-i`: seek to the nearest keyframe, then decode to the exact time.
        args.extend(strs(&["-ss", &seconds(at), "-i"]));
        args.push(input.into());
        args.extend(strs(&[
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-c:v",
            "mjpeg",
            "-q:v",
            "2",
            "-f",
            "image2",
            "-update",
            "1",
        ]));
        args.push(output.into());
        self.command("thumbnail".into(), args)
    }

    /// The first audio stream as MP3 for Transcribe (§5.2). Only for clips with audio: a clip
    /// without finishes its transcribe task with an empty transcript instead.
    pub fn transcribe_audio(&self, input: &Path, output: &Path) -> Command {
        let mut args = strs(&["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"]);
        args.push(input.into());
        args.extend(strs(&[
            "-map",
            "0:a:0",
            "-vn",
            "-c:a",
            "libmp3lame",
            "-f",
            "mp3",
        ]));
        args.push(output.into());
        self.command("audio for transcribe".into(), args)
    }

    fn command(&self, label: String, args: Vec<OsString>) -> Command {
        Command {
            label,
            program: self.program().to_path_buf(),
            args,
        }
    }

    /// Global options, the decoder when alpha must survive, the input and the streams to keep.
    fn input_args(&self, input: &Path, source: &Probe, target: Container) -> Vec<OsString> {
        let mut args = strs(&["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
        // ffmpeg's native VP8/VP9 decoders drop the alpha plane WebM keeps beside the picture.
        if alpha(source, target) {
            match source.video.codec.as_str() {
                "vp9" => args.extend(strs(&["-c:v", "libvpx-vp9"])),
                "vp8" => args.extend(strs(&["-c:v", "libvpx"])),
                _ => {}
            }
        }
        args.push("-i".into());
        args.push(input.into());
        args.extend(strs(&["-map", "0:v:0", "-map", "0:a:0?"]));
        args
    }
}

/// Whether the output keeps an alpha channel.
fn alpha(source: &Probe, target: Container) -> bool {
    target == Container::WebmVp9 && source.video.alpha
}

/// The plan's filters, after squaring non-square pixels (the plan's sizes are display sizes).
fn filter(source: &Probe, plan: &Plan, alpha: bool) -> String {
    let chain = plan.filter(alpha);
    match source.video.sample_aspect {
        Some(_) => {
            let d = source.video.display();
            format!("scale={}:{},setsar=1,{chain}", d.width, d.height)
        }
        None => chain,
    }
}

/// §5.2's codecs and qualities: trim keeps `-b:a 320k`/`256k` and libopus for WebM, the
/// renditions use libvorbis and stereo.
fn encoder_args(source: &Probe, target: Container, transcode: bool) -> Vec<OsString> {
    let mut args = match target {
        Container::Mp4 => strs(&[
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-c:a",
            "aac",
            "-b:a",
            "320k",
        ]),
        Container::WebmVp9 => {
            let pix_fmt = if source.video.alpha {
                "yuva420p"
            } else {
                "yuv420p"
            };
            let mut a = strs(&[
                "-c:v",
                "libvpx-vp9",
                "-crf",
                "10",
                "-b:v",
                "0",
                "-deadline",
                "good",
                "-cpu-used",
                "4",
                "-row-mt",
                "1",
                "-pix_fmt",
                pix_fmt,
            ]);
            if transcode {
                a.extend(strs(&["-c:a", "libvorbis", "-b:a", "320k"]));
            } else {
                a.extend(strs(&["-c:a", "libopus", "-b:a", "256k"]));
            }
            if source.video.alpha {
                a.extend(strs(&["-metadata:s:v:0", "alpha_mode=1"]));
            }
            a
        }
    };
    if transcode {
        args.extend(strs(&["-ac", "2"]));
    }
    args
}

fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

fn strs(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}
