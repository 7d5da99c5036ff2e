//! What a clip is, read from the stream summary `ffmpeg -i FILE` prints on stderr (the layer has
//! no ffprobe). The summary's shape is stable across ffmpeg 4–7; rotation shows either as
//! display-matrix side data (5+) or as a `rotate` metadata tag (4 and older).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;

use super::run::tail;
use super::Ffmpeg;
use crate::geometry::Size;

/// The shortest clip accepted (spec §5.4).
pub const MIN_DURATION: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// ffmpeg's demuxer names, e.g. `mov,mp4,m4a,3gp,3g2,mj2` or `matroska,webm`.
    pub format: String,
    /// `None` when the container does not say (a browser's MediaRecorder WebM); [`Ffmpeg::probe`]
    /// then measures it.
    pub duration: Option<Duration>,
    /// The first video stream that is not cover art.
    pub video: Video,
    pub has_audio: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// ffmpeg's codec name: `h264`, `hevc`, `vp8`, `vp9`…
    pub codec: String,
    pub pixel_format: Option<String>,
    /// Width and height as stored, before rotation and sample aspect.
    pub coded: Size,
    /// Clockwise display rotation, 0, 90, 180 or 270.
    pub rotation: u32,
    /// Sample (pixel) aspect ratio, when not square.
    pub sample_aspect: Option<(u32, u32)>,
    /// A pixel format with alpha, or WebM's `alpha_mode=1` (VP9 stores alpha beside the picture,
    /// so the pixel format alone says `yuv420p`).
    pub alpha: bool,
    pub fps: Option<f64>,
}

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ffmpeg cannot read {file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file} has no video stream")]
    NoVideo { file: String },
    #[error("{file}: cannot read the video stream's size from `{line}`")]
    NoSize { file: String, line: String },
    #[error("{file}: the container does not say how long the clip is, and measuring it failed")]
    UnknownDuration { file: String },
    #[error("the clip lasts {seconds:.3} s; at least {min} s is needed", min = MIN_DURATION.as_secs_f64())]
    TooShort { seconds: f64 },
}

impl Video {
    /// The size the picture is shown at: sample aspect applied, then rotation. The geometry works
    /// on this, and ffmpeg's filters see rotated frames because it autorotates while decoding.
    pub fn display(&self) -> Size {
        let width = match self.sample_aspect {
            Some((num, den)) => {
                (u64::from(self.coded.width) * u64::from(num) / u64::from(den)) as u32
            }
            None => self.coded.width,
        };
        if self.rotation % 180 == 90 {
            Size::new(self.coded.height, width)
        } else {
            Size::new(width, self.coded.height)
        }
    }
}

impl Probe {
    pub fn is_webm(&self) -> bool {
        self.format.split(',').any(|f| f == "webm")
    }

    /// §5.4: at least [`MIN_DURATION`]. Unlike the original, an unknown duration does not pass.
    pub fn ensure_long_enough(&self, file: &Path) -> Result<(), ProbeError> {
        match self.duration {
            None => Err(ProbeError::UnknownDuration {
                file: file.display().to_string(),
            }),
            Some(d) if d < MIN_DURATION => Err(ProbeError::TooShort {
                seconds: d.as_secs_f64(),
            }),
            Some(_) => Ok(()),
        }
    }
}

impl Ffmpeg {
    /// Probes `file`. When the container has no duration it is measured by copying the video
    /// stream to nowhere, which reads every packet but decodes nothing.
    pub async fn probe(&self, file: &Path) -> Result<Probe, ProbeError> {
        let summary = self
            .stderr_of(&["-hide_banner", "-nostdin", "-i"], file, &[])
            .await?;
        let mut probe = parse_probe(&summary, &file.display().to_string())?;
        if probe.duration.is_none() {
            probe.duration = self.measure(file, probe.video.fps).await;
            tracing::debug!(file = %file.display(), duration = ?probe.duration, "measured duration");
        }
        Ok(probe)
    }

    async fn measure(&self, file: &Path, fps: Option<f64>) -> Option<Duration> {
        let out = tokio::process::Command::new(self.program())
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
            .arg(file)
            .args([
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-f",
                "null",
                "-progress",
                "pipe:1",
                "-nostats",
                "-",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .ok()?;
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("out_time_us=")?.trim().parse::<u64>().ok())?;
        // The last packet's timestamp is where the last frame starts; the clip lasts one more frame.
        let frame = fps.filter(|f| *f > 0.0).map_or(0.0, |f| 1.0 / f);
        Some(Duration::from_secs_f64(last as f64 / 1e6 + frame))
    }

    async fn stderr_of(
        &self,
        before: &[&str],
        file: &Path,
        after: &[&str],
    ) -> Result<String, ProbeError> {
        let out = tokio::process::Command::new(self.program())
            .args(before)
            .arg(file)
            .args(after)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| ProbeError::Spawn {
                program: self.program().to_path_buf(),
                source,
            })?;
        // Without an output ffmpeg exits 1 even when it read the input: the summary decides.
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Reads the summary `ffmpeg -hide_banner -i FILE` printed; `file` names the clip in errors.
pub fn parse_probe(stderr: &str, file: &str) -> Result<Probe, ProbeError> {
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("Input #0")) else {
        return Err(ProbeError::Unreadable {
            file: file.to_string(),
            reason: tail(stderr)
                .lines()
                .last()
                .unwrap_or("no output")
                .to_string(),
        });
    };
    let format = lines[start]
        .strip_prefix("Input #0, ")
        .and_then(|rest| rest.split(", from ").next())
        .unwrap_or_default()
        .to_string();
    let mut duration = None;
    let mut video: Option<Video> = None;
    let mut has_audio = false;
    // Which stream the indented lines below a `Stream` line belong to, and its indentation.
    let mut current: Option<(usize, bool)> = None;
    for line in &lines[start + 1..] {
        let depth = line.len() - line.trim_start().len();
        if depth == 0 {
            if line.starts_with('[') {
                continue; // a demuxer's log line, printed in the middle
            }
            break; // the input's summary is over
        }
        let text = line.trim();
        if let Some(rest) = text.strip_prefix("Duration: ") {
            duration = parse_clock(rest.split(',').next().unwrap_or_default());
            continue;
        }
        if text.starts_with("Stream #") {
            let is_first_video = if let Some(desc) = text.split_once(": Video: ").map(|(_, d)| d) {
                if video.is_none() && !desc.contains("(attached pic)") {
                    video = Some(parse_video(desc).ok_or_else(|| ProbeError::NoSize {
                        file: file.to_string(),
                        line: text.to_string(),
                    })?);
                    true
                } else {
                    false
                }
            } else {
                has_audio |= text.contains(": Audio: ");
                false
            };
            current = Some((depth, is_first_video));
            continue;
        }
        // ffmpeg 5+ indents a stream's details below its line; ffmpeg 4 at the same depth.
        match current {
            Some((stream_depth, true)) if depth >= stream_depth => {
                if let Some(v) = video.as_mut() {
                    read_stream_detail(v, text);
                }
            }
            Some((stream_depth, _)) if depth >= stream_depth => {}
            _ => current = None,
        }
    }
    let video = video.ok_or_else(|| ProbeError::NoVideo {
        file: file.to_string(),
    })?;
    Ok(Probe {
        format,
        duration,
        video,
        has_audio,
    })
}

/// `h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1280x720 [SAR 1:1 DAR 16:9], 30 fps, …`
fn parse_video(desc: &str) -> Option<Video> {
    let fields = split_fields(desc);
    let codec = fields.first()?.split_whitespace().next()?.to_string();
    let (size_index, coded) = fields
        .iter()
        .enumerate()
        .find_map(|(i, f)| parse_size(f.split_whitespace().next()?).map(|s| (i, s)))?;
    let pixel_format = fields
        .get(1)
        .filter(|_| size_index > 1)
        .map(|f| f.split('(').next().unwrap_or(f).trim().to_string());
    let sample_aspect = fields[size_index..=(size_index + 1).min(fields.len() - 1)]
        .iter()
        .find_map(|f| {
            let sar = f.split("SAR ").nth(1)?.split_whitespace().next()?;
            let (n, d) = sar.split_once(':')?;
            let (n, d) = (n.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
            (n > 0 && d > 0 && n != d).then_some((n, d))
        });
    let fps = fields
        .iter()
        .find_map(|f| f.strip_suffix(" fps")?.trim().parse::<f64>().ok());
    let alpha = pixel_format.as_deref().is_some_and(has_alpha_channel);
    Some(Video {
        codec,
        pixel_format,
        coded,
        rotation: 0,
        sample_aspect,
        alpha,
        fps,
    })
}

/// Metadata and side data lines under the video stream.
fn read_stream_detail(video: &mut Video, text: &str) {
    if let Some(deg) = text
        .strip_prefix("displaymatrix: rotation of ")
        .and_then(|r| r.strip_suffix(" degrees"))
        .and_then(|d| d.trim().parse::<f64>().ok())
    {
        // The matrix's angle is counter-clockwise; -90 is a phone held upright.
        video.rotation = normalise(-deg);
        return;
    }
    if let Some((key, value)) = text.split_once(':') {
        match key.trim().to_ascii_lowercase().as_str() {
            // ffmpeg 4's tag, already clockwise.
            "rotate" => {
                if let Ok(deg) = value.trim().parse::<f64>() {
                    video.rotation = normalise(deg);
                }
            }
            "alpha_mode" => video.alpha |= value.trim() == "1",
            _ => {}
        }
    }
}

fn normalise(degrees: f64) -> u32 {
    ((degrees.round() as i64).rem_euclid(360) as u32 + 45) / 90 * 90 % 360
}

fn has_alpha_channel(pix_fmt: &str) -> bool {
    pix_fmt.starts_with("yuva")
        || pix_fmt.starts_with("gbra")
        || pix_fmt.starts_with("ya")
        || pix_fmt.contains("rgba")
        || pix_fmt.contains("argb")
        || pix_fmt.contains("bgra")
        || pix_fmt.contains("abgr")
}

/// `1280x720` (and not `0x31637661`, the codec tag that shares the shape).
fn parse_size(s: &str) -> Option<Size> {
    let (w, h) = s.split_once('x')?;
    if w.is_empty() || w.starts_with('0') {
        return None;
    }
    Some(Size::new(w.parse().ok()?, h.parse().ok()?))
}

/// `HH:MM:SS.cc`; `N/A` is `None`.
fn parse_clock(s: &str) -> Option<Duration> {
    let mut parts = s.trim().split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    let total = h.parse::<f64>().ok()? * 3600.0
        + m.parse::<f64>().ok()? * 60.0
        + sec.parse::<f64>().ok()?;
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total))
}

/// Splits on commas outside parentheses and brackets: `yuv420p(tv, progressive)` is one field.
fn split_fields(desc: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in desc.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(desc[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(desc[start..].trim());
    fields
}
