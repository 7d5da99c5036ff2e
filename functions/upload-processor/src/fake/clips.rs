//! Sample clips made by ffmpeg itself from its lavfi sources (testsrc2 and a sine tone), so no
//! binary fixture is committed and every test, example and xtask flow makes the same clips.
//!
//! The encoder settings favour speed over quality (x264 `ultrafast`, VP9 `realtime` at
//! `-cpu-used 8`): the clips are inputs of the code under test, and a slow fixture would
//! dominate the test time on a two-core machine.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use thiserror::Error;

/// Options every fixture run starts with: errors only, so a failure's stderr is its reason.
const GLOBAL: [&str; 5] = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipKind {
    /// H.264 (yuv420p) with AAC audio in MP4: what phones and most browsers upload.
    Mp4H264,
    /// VP9 with an alpha channel (left half opaque, right half transparent) and Opus audio in
    /// WebM: a virtual-background recording.
    WebmVp9Alpha,
}

/// A testsrc2 picture at 30 fps, with a 440 Hz tone when `audio`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub audio: bool,
    pub kind: ClipKind,
}

#[derive(Debug, Error)]
pub enum ClipError {
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// MP4's index is written after the media, which a pipe cannot seek back to.
    #[error("only a WebM clip can be written streamed, not {0:?}")]
    NotStreamable(ClipKind),
}

impl Clip {
    /// An H.264/AAC MP4 with audio.
    pub fn mp4(width: u32, height: u32, seconds: f64) -> Clip {
        Clip {
            width,
            height,
            seconds,
            audio: true,
            kind: ClipKind::Mp4H264,
        }
    }

    /// A VP9/Opus WebM with alpha, with audio.
    pub fn webm_alpha(width: u32, height: u32, seconds: f64) -> Clip {
        Clip {
            width,
            height,
            seconds,
            audio: true,
            kind: ClipKind::WebmVp9Alpha,
        }
    }

    pub fn without_audio(self) -> Clip {
        Clip {
            audio: false,
            ..self
        }
    }

    /// The file extension of the clip's container.
    pub fn extension(&self) -> &'static str {
        match self.kind {
            ClipKind::Mp4H264 => "mp4",
            ClipKind::WebmVp9Alpha => "webm",
        }
    }

    /// ffmpeg's arguments after the global options, up to (not including) the output.
    fn args(&self) -> Vec<String> {
        let (w, h, s) = (self.width, self.height, self.seconds);
        let picture = format!("testsrc2=size={w}x{h}:rate=30:duration={s}");
        let tone = format!("sine=frequency=440:duration={s}");
        let owned = |items: &[&str]| items.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        match self.kind {
            ClipKind::Mp4H264 => {
                let mut args = owned(&["-f", "lavfi", "-i"]);
                args.push(picture);
                if self.audio {
                    args.extend(owned(&["-f", "lavfi", "-i"]));
                    args.push(tone);
                    args.extend(owned(&["-c:a", "aac"]));
                }
                args.extend(owned(&[
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p",
                ]));
                args
            }
            ClipKind::WebmVp9Alpha => {
                let mut args = owned(&["-f", "lavfi", "-i"]);
                // testsrc2 has no alpha: geq keeps the picture and makes the right half clear.
                args.push(format!(
                    "{picture},format=yuva420p,geq=lum='lum(X,Y)':a='if(lt(X,W/2),255,0)'"
                ));
                if self.audio {
                    args.extend(owned(&["-f", "lavfi", "-i"]));
                    args.push(tone);
                }
                args.extend(owned(&[
                    "-c:v",
                    "libvpx-vp9",
                    "-pix_fmt",
                    "yuva420p",
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-b:v",
                    "200k",
                    // the muxer only flags the track as transparent when told
                    "-metadata:s:v:0",
                    "alpha_mode=1",
                ]));
                if self.audio {
                    args.extend(owned(&["-c:a", "libopus"]));
                }
                args.extend(owned(&["-f", "webm"]));
                args
            }
        }
    }

    /// Writes the clip to `out` with the ffmpeg at `ffmpeg`.
    pub async fn write(&self, ffmpeg: &Path, out: &Path) -> Result<(), ClipError> {
        let mut args: Vec<OsString> = self.args().into_iter().map(OsString::from).collect();
        args.push(out.into());
        run(ffmpeg, &args, Stdio::null()).await
    }

    /// Writes a WebM clip through a pipe, as a browser's MediaRecorder does: the muxer cannot
    /// seek back, so the header has no duration.
    pub async fn write_streamed(&self, ffmpeg: &Path, out: &Path) -> Result<(), ClipError> {
        if self.kind != ClipKind::WebmVp9Alpha {
            return Err(ClipError::NotStreamable(self.kind));
        }
        let file = std::fs::File::create(out).map_err(|source| ClipError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        let mut args: Vec<OsString> = self.args().into_iter().map(OsString::from).collect();
        args.push("pipe:1".into());
        run(ffmpeg, &args, Stdio::from(file)).await
    }
}

/// Runs ffmpeg with the fixture options and `args`: for the one-off inputs a single test needs
/// (odd sizes, anamorphic pixels, audio only) that are not worth a [`ClipKind`].
pub async fn ffmpeg_raw(ffmpeg: &Path, args: &[&str]) -> Result<(), ClipError> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    run(ffmpeg, &args, Stdio::null()).await
}

/// The host's ffmpeg: `FFMPEG` when set, else `ffmpeg` on the `PATH`.
pub fn host_ffmpeg() -> PathBuf {
    std::env::var_os("FFMPEG").map_or_else(|| PathBuf::from("ffmpeg"), PathBuf::from)
}

async fn run(ffmpeg: &Path, args: &[OsString], stdout: Stdio) -> Result<(), ClipError> {
    let command = render(ffmpeg, args);
    let output: Output = tokio::process::Command::new(ffmpeg)
        .args(GLOBAL)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // not `output()`: tokio's pipes stdout there, which a streamed clip is written to
        .spawn()
        .map_err(|source| ClipError::Spawn {
            command: command.clone(),
            source,
        })?
        .wait_with_output()
        .await
        .map_err(|source| ClipError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(ClipError::Failed {
        command,
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// The command line as a shell would take it, so a failed fixture can be rerun by hand.
fn render(ffmpeg: &Path, args: &[OsString]) -> String {
    std::iter::once(ffmpeg.as_os_str())
        .chain(GLOBAL.iter().map(OsStr::new))
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_the_fast_fixture_settings() {
        let args = Clip::mp4(320, 180, 2.0).args();
        assert_eq!(
            args.join(" "),
            "-f lavfi -i testsrc2=size=320x180:rate=30:duration=2 -f lavfi -i \
             sine=frequency=440:duration=2 -c:a aac -c:v libx264 -preset ultrafast -pix_fmt yuv420p"
        );
        let silent = Clip::mp4(160, 120, 0.5).without_audio().args();
        assert!(!silent.iter().any(|a| a.starts_with("sine")), "{silent:?}");
        let webm = Clip::webm_alpha(160, 120, 1.0).args().join(" ");
        assert!(
            webm.contains("-deadline realtime -cpu-used 8")
                && webm.ends_with("-c:a libopus -f webm")
        );
        let webm = Clip::webm_alpha(160, 120, 1.0)
            .without_audio()
            .args()
            .join(" ");
        assert!(!webm.contains("opus") && !webm.contains("sine"), "{webm}");
    }

    #[test]
    fn the_rendered_command_can_be_pasted_into_a_shell() {
        let args = [OsString::from("a b"), OsString::from("it's")];
        assert_eq!(
            render(Path::new("/usr/bin/ffmpeg"), &args),
            r"/usr/bin/ffmpeg -hide_banner -nostdin -loglevel error -y 'a b' 'it'\''s'"
        );
    }
}
