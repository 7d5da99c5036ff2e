//! WebVTT for answers: cues from Transcribe's word timings ([`from_transcribe`]), evenly timed
//! cues from a bare transcript when there are no timings ([`from_transcript`], what
//! `/regen_vtt` has), and a conformance check of uploaded files ([`validate`],
//! [`validate_bytes`]).
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

/// What a subtitle file is stored as; the original's `/vtt` stored `text` (spec §10.2 #20).
pub const CONTENT_TYPE: &str = "text/vtt";

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

impl VttError {
    /// 422 for a transcript or media that cannot be captioned (the original's division by zero
    /// gave 502, spec §10.2 #21); 502 for Transcribe output that is not what it should be,
    /// which is no client's fault.
    pub fn status(&self) -> u16 {
        match self {
            VttError::EmptyTranscript | VttError::TooShort(_) => 422,
            VttError::Parse(_) | VttError::Item { .. } => 502,
        }
    }
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
    let total_ms = duration.as_millis();
    if total_ms < lines.len() as u128 {
        return Err(VttError::TooShort(duration));
    }
    let total_chars: u128 = lines.iter().map(|l| l.chars().count() as u128).sum();
    let n = lines.len() as u128;
    let (mut done, mut start) = (0u128, 0u128);
    let mut cues = Vec::with_capacity(lines.len());
    for (i, text) in (0..).zip(lines) {
        done += text.chars().count() as u128;
        // Every cue at least 1 ms long, with 1 ms left for each cue after it; the last cue's
        // proportional end is exactly the duration.
        let end = (total_ms * done / total_chars)
            .max(start + 1)
            .min(total_ms - (n - 1 - i));
        // Within u64: `end` ≤ the duration, which a probe of any real clip keeps far below.
        cues.push(Cue {
            start: u64::try_from(start).unwrap_or(u64::MAX),
            end: u64::try_from(end).unwrap_or(u64::MAX),
            text,
        });
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
    #[error("line {line}: the file is not UTF-8 text")]
    Encoding { line: usize },
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

impl InvalidVtt {
    /// The upload arrived but its content is not WebVTT: 422 (the original answered 401).
    pub fn status(&self) -> u16 {
        422
    }

    /// The line at fault, counted from 1.
    pub fn line(&self) -> usize {
        match self {
            InvalidVtt::Header => 1,
            InvalidVtt::Encoding { line } | InvalidVtt::Line { line, .. } => *line,
        }
    }
}

/// [`validate`] for uploaded bytes, which WebVTT requires to be UTF-8: the error names the line
/// of the first byte that is not.
pub fn validate_bytes(bytes: &[u8]) -> Result<Checked, InvalidVtt> {
    match std::str::from_utf8(bytes) {
        Ok(text) => validate(text),
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let text = std::str::from_utf8(before).expect("valid up to here");
            Err(InvalidVtt::Encoding {
                line: split_lines(text).len().max(1) + usize::from(text.ends_with(['\r', '\n'])),
            })
        }
    }
}

/// Checks a WebVTT file as the format defines it (W3C WebVTT, §4): the `WEBVTT` header (after an
/// optional BOM, alone or followed by a space or tab and text without `-->`), then blocks
/// separated by blank lines: NOTE anywhere, STYLE and REGION before the first cue, and cues
/// with an optional identifier, a timing line `start --> end [settings]` with `HH:MM:SS.mmm` or
/// `MM:SS.mmm` timestamps (the original refused the second form), end after start, starts in
/// order, known settings with valid values, and no `-->` in cue text. Lines end with LF, CRLF
/// or CR. A file without cues is valid.
pub fn validate(text: &str) -> Result<Checked, InvalidVtt> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = split_lines(text);
    let header = lines.first().copied().unwrap_or_default();
    let rest = header.strip_prefix("WEBVTT").ok_or(InvalidVtt::Header)?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return Err(InvalidVtt::Header);
    }
    let bad = |line: usize, message: String| InvalidVtt::Line {
        line: line + 1,
        message,
    };
    if rest.contains("-->") {
        return Err(bad(0, "\"-->\" in the header text".into()));
    }
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
        let keyword = ["NOTE", "STYLE", "REGION"]
            .into_iter()
            .find(|k| !first.contains("-->") && is_keyword(k));
        if let Some(keyword) = keyword {
            if keyword != "NOTE" && checked.cues > 0 {
                return Err(bad(
                    i,
                    format!("a {keyword} block after the first cue (it must come before)"),
                ));
            }
            while i < lines.len() && !lines[i].is_empty() {
                if lines[i].contains("-->") && i > block_start {
                    return Err(bad(i, format!("\"-->\" inside a {keyword} block")));
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

/// WebVTT ends lines with CRLF, LF or a lone CR; [`str::lines`] misses the last.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['\r', '\n']) {
        lines.push(&rest[..at]);
        let terminator = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + terminator..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

fn timing_line(line: &str) -> Result<(u64, u64), String> {
    let (start, rest) = line.split_once("-->").expect("checked by the caller");
    if !start.ends_with([' ', '\t']) || !rest.starts_with([' ', '\t']) {
        return Err("\"-->\" needs whitespace on both sides".into());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (end, settings) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let times = (parse_timestamp(start.trim())?, parse_timestamp(end)?);
    cue_settings(settings)?;
    Ok(times)
}

/// The cue settings after the end time (WebVTT §4.4): each `name:value` once, with the values
/// the format allows. `middle` is taken for `align` and `position` as earlier drafts wrote it.
fn cue_settings(settings: &str) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    for setting in settings.split([' ', '\t']).filter(|s| !s.is_empty()) {
        let (name, value) = setting
            .split_once(':')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("cue setting {setting:?} is not name:value"))?;
        if seen.contains(&name) {
            return Err(format!("cue setting {name:?} appears twice"));
        }
        seen.push(name);
        let valid = match name {
            "vertical" => matches!(value, "rl" | "lr"),
            "line" => without_alignment(value, &["start", "center", "end"])
                .is_some_and(|v| percentage(v) || line_number(v)),
            "position" => without_alignment(
                value,
                &[
                    "line-left",
                    "center",
                    "line-right",
                    "start",
                    "middle",
                    "end",
                ],
            )
            .is_some_and(percentage),
            "size" => percentage(value),
            "align" => matches!(
                value,
                "start" | "center" | "end" | "left" | "right" | "middle"
            ),
            "region" => true,
            other => return Err(format!("unknown cue setting {other:?}")),
        };
        if !valid {
            return Err(format!("cue setting {setting:?} has an invalid value"));
        }
    }
    Ok(())
}

/// `value` without its `,alignment` suffix, `None` when that suffix is not in `allowed`.
fn without_alignment<'a>(value: &'a str, allowed: &[&str]) -> Option<&'a str> {
    match value.split_once(',') {
        Some((v, a)) => allowed.contains(&a).then_some(v),
        None => Some(value),
    }
}

/// `N%` or `N.N%`, from 0 to 100.
fn percentage(v: &str) -> bool {
    v.strip_suffix('%')
        .filter(|n| decimal(n))
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| (0.0..=100.0).contains(&n))
}

/// A line number: an optional minus, then a decimal.
fn line_number(v: &str) -> bool {
    decimal(v.strip_prefix('-').unwrap_or(v))
}

fn decimal(v: &str) -> bool {
    let (int, frac) = v.split_once('.').unwrap_or((v, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
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
