//! ffmpeg, the only media tool the arm64 layer ships (no ffprobe): probing a clip from what
//! `ffmpeg -i` prints ([`Ffmpeg::probe`]), the command lines of spec §5.2 as argument vectors
//! built on [`crate::geometry`] ([`Command`]), and running them ([`run()`]).

mod command;
mod probe;
mod run;

use std::path::{Path, PathBuf};

pub use command::{Command, CommandError, Container, TrimRange, THUMBNAIL_CONTENT_TYPE};
pub use probe::{parse_probe, Probe, ProbeError, Video, MIN_DURATION};
pub use run::{run, RunError};

/// Where the ffmpeg binary is; every command and probe starts from one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    program: PathBuf,
}

impl Ffmpeg {
    /// Where the layer puts the binary in the Lambda.
    pub const LAMBDA_PATH: &'static str = "/opt/bin/ffmpeg";

    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// The layer's binary.
    pub fn lambda() -> Self {
        Self::new(Self::LAMBDA_PATH)
    }

    pub fn program(&self) -> &Path {
        &self.program
    }
}
