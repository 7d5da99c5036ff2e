//! WebVTT for answers: cues from Transcribe's word timings ([`from_transcribe`]), evenly timed
//! cues from a bare transcript when there are no timings ([`from_transcript`], what
//! `/regen_vtt` has), and a conformance check ([`validate`]).
//!
//! The original's generator (spec §8.5) started every cue after the first with a space, shifted
//! all cues by 0.85 s (so the last one ran past the media) and divided by zero on an empty
//! transcript (§10.2 #21). Here cues break between words, never end after the media, and an
//! empty transcript is either a header-only file (a clip without speech) or
//! [`VttError::EmptyTranscript`] for callers that must refuse it.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

/// A valid WebVTT file without cues.
pub const EMPTY: &str = "WEBVTT\n";

/// The longest cue text, in characters, unless one word is longer (the original's width).
pub const MAX_CUE_CHARS: usize = 68;

/// A silence longer than this between two words starts a new cue.
const MAX_GAP_MS: u64 = 1_500;

/// A sentence end starts a new cue once the cue has at least this many characters, so that a
/// lone "Yes." does not flash by as its own cue.
const MIN_SENTENCE_CUE_CHARS: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VttError {
    #[error("the transcript is empty: there is nothing to caption")]
    EmptyTranscript,
    #[error("the media duration ({0:?}) is too short to hold the transcript's cues")]
    TooShort(Duration),
    #[error("the Transcribe output is not the expected JSON: {0}")]
    Parse(String),
    #[error("Transcribe item {index}: {message}")]
    Item { index: usize, message: String },
}

/// Transcribe's output JSON (`transcribe.json`), the parts used here.
#[derive(Debug, Clone, Deserialize)]
pub struct TranscribeOutput {
    pub results: TranscribeResults,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TranscribeResults {
    #[serde(default)]
    pub transcripts: Vec<TranscriptText>,
    #[serde(default)]
    pub items: Vec<TranscribeItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TranscriptText {
    pub transcript: String,
}

/// A word (`pronunciation`, with times in seconds as strings) or a punctuation mark (no times).
#[derive(Debug, Clone, Deserialize)]
pub struct TranscribeItem {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Alternative {
    pub content: String,
}

impl TranscribeOutput {
    pub fn parse(json: &[u8]) -> Result<TranscribeOutput, VttError> {
        serde_json::from_slice(json).map_err(|e| VttError::Parse(e.to_string()))
    }

    /// `results.transcripts[0].transcript`, or `""`.
    pub fn transcript(&self) -> &str {
        self.results
            .transcripts
            .first()
            .map_or("", |t| t.transcript.as_str())
    }
}

struct Word {
    start: u64,
    end: u64,
    text: String,
}

struct Cue {
    start: u64,
    end: u64,
    text: String,
}

/// Cues from Transcribe's timed words: punctuation joins the word before it, a cue ends before
/// it would pass [`MAX_CUE_CHARS`], at a long pause, or after a sentence; nothing ends after
/// `media_end` (words past it are dropped). No words gives [`EMPTY`].
pub fn from_transcribe(
    output: &TranscribeOutput,
    media_end: Option<Duration>,
) -> Result<String, VttError> {
    let words = words(&output.results.items)?;
    let limit = media_end.map(|d| d.as_millis() as u64);
    let mut cues: Vec<Cue> = Vec::new();
    let mut current: Option<Cue> = None;
    for word in words {
        if let Some(cue) = &mut current {
            let fits = cue.text.chars().count() + 1 + word.text.chars().count() <= MAX_CUE_CHARS;
            let pause = word.start.saturating_sub(cue.end) > MAX_GAP_MS;
            let sentence = cue.text.ends_with(['.', '?', '!'])
                && cue.text.chars().count() >= MIN_SENTENCE_CUE_CHARS;
            if fits && !pause && !sentence {
                cue.text.push(' ');
                cue.text.push_str(&word.text);
                cue.end = cue.end.max(word.end);
                continue;
            }
            cues.extend(current.take());
        }
        current = Some(Cue {
            start: word.start,
            end: word.end,
            text: word.text,
        });
    }
    cues.extend(current);
    let cues = cues.into_iter().filter_map(|mut cue| {
        let limit = limit.unwrap_or(u64::MAX);
        if cue.start >= limit {
            tracing::warn!(
                start_ms = cue.start,
                "dropped a cue that starts after the media ends"
            );
            return None;
        }
        // WebVTT wants end > start; Transcribe may give a word no length.
        cue.end = cue.end.max(cue.start + 1).min(limit);
        Some(cue)
    });
    Ok(render(cues))
}

/// Parses `transcribe.json` and builds its cues (see [`from_transcribe`]).
pub fn from_transcribe_json(json: &[u8], media_end: Option<Duration>) -> Result<String, VttError> {
    from_transcribe(&TranscribeOutput::parse(json)?, media_end)
}

fn words(items: &[TranscribeItem]) -> Result<Vec<Word>, VttError> {
    let mut words: Vec<Word> = Vec::new();
    let mut pending = String::new();
    for (index, item) in items.iter().enumerate() {
        let content = item
            .alternatives
            .first()
            .map(|a| a.content.trim())
            .unwrap_or_default();
        if content.is_empty() {
            continue;
        }
        match item.kind.as_str() {
            "punctuation" => match words.last_mut() {
                Some(w) => w.text.push_str(content),
                None => pending.push_str(content),
            },
            "pronunciation" => {
                let time = |t: &Option<String>, name: &str| -> Result<u64, VttError> {
                    let t = t.as_deref().ok_or_else(|| VttError::Item {
                        index,
                        message: format!("a word without {name}"),
                    })?;
                    seconds_to_ms(t).ok_or_else(|| VttError::Item {
                        index,
                        message: format!("{name} {t:?} is not a time in seconds"),
                    })
                };
                let (start, end) = (
                    time(&item.start_time, "start_time")?,
                    time(&item.end_time, "end_time")?,
                );
                let mut text = std::mem::take(&mut pending);
                text.push_str(content);
                words.push(Word {
                    start,
                    end: end.max(start),
                    text,
                });
            }
            other => tracing::debug!(kind = other, "skipped a Transcribe item of unknown type"),
        }
    }
    Ok(words)
}

fn seconds_to_ms(t: &str) -> Option<u64> {
    let s: f64 = t.trim().parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).round() as u64)
}

/// Cues of at most [`MAX_CUE_CHARS`] split between words, spread over `duration` in proportion
/// to their length, the last ending exactly at the media's end.
pub fn from_transcript(transcript: &str, duration: Duration) -> Result<String, VttError> {
    let mut lines: Vec<String> = Vec::new();
    for word in transcript.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= MAX_CUE_CHARS => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    if lines.is_empty() {
        return Err(VttError::EmptyTranscript);
    }
    let total_ms = duration.as_millis() as u64;
    if total_ms < lines.len() as u64 {
        return Err(VttError::TooShort(duration));
    }
    let total_chars: u64 = lines.iter().map(|l| l.chars().count() as u64).sum();
    let n = lines.len() as u64;
    let (mut done, mut start) = (0, 0);
    let mut cues = Vec::with_capacity(lines.len());
    for (i, text) in (0..).zip(lines) {
        done += text.chars().count() as u64;
        // Every cue at least 1 ms long, with 1 ms left for each cue after it; the last cue's
        // proportional end is exactly the duration.
        let end = (total_ms * done / total_chars)
            .max(start + 1)
            .min(total_ms - (n - 1 - i));
        cues.push(Cue { start, end, text });
        start = end;
    }
    Ok(render(cues))
}

fn render(cues: impl IntoIterator<Item = Cue>) -> String {
    let mut out = String::from(EMPTY);
    for cue in cues {
        let _ = write!(
            out,
            "\n{} --> {}\n{}\n",
            timestamp(cue.start),
            timestamp(cue.end),
            escape(&cue.text)
        );
    }
    out
}

/// `HH:MM:SS.mmm`.
pub fn timestamp(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Cue text is markup: `&`, `<` and `>` must be escaped (which also keeps `-->` out of it).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What a valid file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub cues: usize,
    /// The latest cue end.
    pub end: Option<Duration>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidVtt {
    #[error("line 1: missing or incorrect header (the file must start with WEBVTT)")]
    Header,
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Checks a WebVTT file: the `WEBVTT` header, then blocks separated by blank lines (NOTE,
/// STYLE, REGION, or cues with an optional identifier), each cue's timing line
/// `start --> end [settings]` with `HH:MM:SS.mmm` or `MM:SS.mmm` timestamps, end after start,
/// starts in order, and no `-->` in cue text. A file without cues is valid.
pub fn validate(text: &str) -> Result<Checked, InvalidVtt> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.first().copied().unwrap_or_default();
    let rest = header.strip_prefix("WEBVTT").ok_or(InvalidVtt::Header)?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return Err(InvalidVtt::Header);
    }
    let bad = |line: usize, message: String| InvalidVtt::Line {
        line: line + 1,
        message,
    };
    let mut i = 1;
    // Header lines run to the first blank line.
    while i < lines.len() && !lines[i].is_empty() {
        if lines[i].contains("-->") {
            return Err(bad(i, "a timing line needs a blank line before it".into()));
        }
        i += 1;
    }
    let mut checked = Checked { cues: 0, end: None };
    let mut last_start = 0;
    while i < lines.len() {
        if lines[i].is_empty() {
            i += 1;
            continue;
        }
        let block_start = i;
        let first = lines[i];
        let is_keyword = |k: &str| {
            first
                .strip_prefix(k)
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
        };
        if !first.contains("-->")
            && (is_keyword("NOTE") || is_keyword("STYLE") || is_keyword("REGION"))
        {
            while i < lines.len() && !lines[i].is_empty() {
                if lines[i].contains("-->") && i > block_start {
                    return Err(bad(
                        i,
                        "\"-->\" inside a NOTE, STYLE or REGION block".into(),
                    ));
                }
                i += 1;
            }
            continue;
        }
        if !first.contains("-->") {
            i += 1;
        }
        let Some(timing) = lines.get(i).filter(|l| l.contains("-->")) else {
            return Err(bad(
                block_start,
                "a cue identifier without a timing line after it".into(),
            ));
        };
        let (start, end) = timing_line(timing).map_err(|m| bad(i, m))?;
        if end <= start {
            return Err(bad(i, "the cue ends before or when it starts".into()));
        }
        if start < last_start {
            return Err(bad(i, "the cue starts before the previous cue".into()));
        }
        last_start = start;
        i += 1;
        while i < lines.len() && !lines[i].is_empty() {
            if lines[i].contains("-->") {
                return Err(bad(i, "\"-->\" in cue text (a missing blank line?)".into()));
            }
            i += 1;
        }
        checked.cues += 1;
        let end = Duration::from_millis(end);
        checked.end = Some(checked.end.map_or(end, |e| e.max(end)));
    }
    Ok(checked)
}

fn timing_line(line: &str) -> Result<(u64, u64), String> {
    let (start, rest) = line.split_once("-->").expect("checked by the caller");
    if !start.ends_with([' ', '\t']) || !rest.starts_with([' ', '\t']) {
        return Err("\"-->\" needs whitespace on both sides".into());
    }
    let end = rest.split_whitespace().next().unwrap_or_default();
    Ok((parse_timestamp(start.trim())?, parse_timestamp(end)?))
}

/// `HH:MM:SS.mmm` (two or more hour digits) or `MM:SS.mmm`, in milliseconds.
pub fn parse_timestamp(t: &str) -> Result<u64, String> {
    let invalid = || format!("{t:?} is not a timestamp (HH:MM:SS.mmm or MM:SS.mmm)");
    let (clock, millis) = t.split_once('.').ok_or_else(invalid)?;
    let digits = |s: &str, n: Option<usize>| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && n.is_none_or(|n| s.len() == n)
    };
    if !digits(millis, Some(3)) {
        return Err(invalid());
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m, s] if digits(h, None) && h.len() >= 2 => (*h, *m, *s),
        [m, s] => ("0", *m, *s),
        _ => return Err(invalid()),
    };
    if !digits(m, Some(2)) || !digits(s, Some(2)) {
        return Err(invalid());
    }
    let (h, m, s, ms): (u64, u64, u64, u64) = (
        h.parse().map_err(|_| invalid())?,
        m.parse().map_err(|_| invalid())?,
        s.parse().map_err(|_| invalid())?,
        millis.parse().map_err(|_| invalid())?,
    );
    if m > 59 || s > 59 {
        return Err(format!("{t:?} has minutes or seconds over 59"));
    }
    Ok(((h * 60 + m) * 60 + s) * 1000 + ms)
}
