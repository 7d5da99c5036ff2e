//! Transcript → WebVTT (spec §6.3, §8.5, with the bugs of §10.2 #21 fixed) and the validity check.

use std::time::Duration;

use upload_processor::vtt::{
    self, from_transcribe_json, from_transcript, validate, InvalidVtt, TranscribeOutput, VttError,
};

/// Shaped like `__events__/transcribe-job-result.json.dist`: words with times as strings,
/// punctuation without times.
fn transcribe_json(items: &[(&str, Option<(f64, f64)>)], transcript: &str) -> Vec<u8> {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(content, times)| match times {
            Some((s, e)) => serde_json::json!({
                "start_time": format!("{s:.2}"), "end_time": format!("{e:.2}"),
                "alternatives": [{"confidence": "0.99", "content": content}],
                "type": "pronunciation"}),
            None => serde_json::json!({
                "alternatives": [{"confidence": "0.0", "content": content}],
                "type": "punctuation"}),
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "jobName": "m_q_t_u", "accountId": "123456789012", "status": "COMPLETED",
        "results": {"transcripts": [{"transcript": transcript}], "items": items}
    }))
    .unwrap()
}

fn cue_texts(vtt: &str) -> Vec<&str> {
    vtt.split("\n\n")
        .skip(1)
        .filter_map(|block| block.lines().nth(1))
        .collect()
}

fn cue_times(vtt: &str) -> Vec<(u64, u64)> {
    vtt.lines()
        .filter_map(|l| l.split_once(" --> "))
        .map(|(s, e)| {
            (
                vtt::parse_timestamp(s).unwrap(),
                vtt::parse_timestamp(e).unwrap(),
            )
        })
        .collect()
}

const SPOKEN: &str = "hi my name is Clint Anderson and I am a nuclear electrician's mate in the \
                      navy I joined when I was eighteen";

fn speech() -> Vec<u8> {
    let mut items = Vec::new();
    let mut t = 0.5;
    for (i, word) in SPOKEN.split_whitespace().enumerate() {
        items.push((word, Some((t, t + 0.3))));
        t += 0.35;
        if i == 0 {
            items.push((",", None));
        }
        if word == "navy" {
            items.push((".", None));
            t += 2.0; // a pause
        }
    }
    items.push((".", None));
    transcribe_json(&items, SPOKEN)
}

#[test]
fn cues_from_word_timings_break_between_words_with_punctuation_attached() {
    let vtt = from_transcribe_json(&speech(), Some(Duration::from_secs(60))).unwrap();
    let checked = validate(&vtt).unwrap();
    assert!(checked.cues >= 2, "{vtt}");
    let texts = cue_texts(&vtt);
    assert!(texts[0].starts_with("hi, my name is"), "{vtt}");
    for t in &texts {
        assert!(!t.starts_with(' ') && !t.ends_with(' '), "{t:?}");
        assert!(t.chars().count() <= vtt::MAX_CUE_CHARS, "{t:?}");
        assert!(!t.contains(" ,") && !t.contains(" ."), "{t:?}");
    }
    // The sentence ends and the pause after "navy." starts a new cue.
    assert!(texts.iter().any(|t| t.ends_with("navy.")), "{vtt}");
    assert!(texts.iter().any(|t| t.starts_with("I joined")), "{vtt}");
    assert_eq!(texts.last().unwrap().chars().last(), Some('.'));
    // Every word is kept, in order.
    let joined = texts.join(" ");
    assert_eq!(joined.replace([',', '.'], ""), SPOKEN);
    // Cues start at the first word's start, not shifted.
    assert_eq!(cue_times(&vtt)[0].0, 500);
}

#[test]
fn no_cue_ends_after_the_media() {
    let json = transcribe_json(
        &[
            ("one", Some((0.1, 0.4))),
            ("two", Some((9.7, 10.4))),
            ("three", Some((12.0, 12.5))),
        ],
        "one two three",
    );
    let vtt = from_transcribe_json(&json, Some(Duration::from_secs(10))).unwrap();
    let checked = validate(&vtt).unwrap();
    assert!(checked.end.unwrap() <= Duration::from_secs(10), "{vtt}");
    assert!(
        !vtt.contains("three"),
        "a word after the end is dropped: {vtt}"
    );
    assert!(vtt.contains("two"));
}

#[test]
fn a_clip_without_speech_gives_a_header_only_file() {
    let json = transcribe_json(&[], "");
    let vtt = from_transcribe_json(&json, Some(Duration::from_secs(3))).unwrap();
    assert_eq!(vtt, vtt::EMPTY);
    assert_eq!(validate(&vtt).unwrap().cues, 0);
    assert_eq!(TranscribeOutput::parse(&json).unwrap().transcript(), "");
}

#[test]
fn bad_transcribe_output_is_a_typed_error() {
    assert!(matches!(
        from_transcribe_json(b"{\"results\": 1}", None),
        Err(VttError::Parse(_))
    ));
    let untimed = br#"{"results":{"transcripts":[{"transcript":"a"}],"items":[{"type":"pronunciation","alternatives":[{"content":"a"}]}]}}"#;
    assert!(matches!(
        from_transcribe_json(untimed, None),
        Err(VttError::Item { index: 0, .. })
    ));
}

#[test]
fn cue_text_is_escaped() {
    let json = transcribe_json(
        &[
            ("R&D", Some((0.0, 0.5))),
            ("-->", Some((0.5, 0.8))),
            ("<b>", Some((0.8, 1.0))),
        ],
        "R&D --> <b>",
    );
    let vtt = from_transcribe_json(&json, None).unwrap();
    assert!(vtt.contains("R&amp;D --&gt; &lt;b&gt;"), "{vtt}");
    validate(&vtt).unwrap();
}

#[test]
fn a_bare_transcript_spreads_over_the_media_without_leading_spaces() {
    // The spec's example: 135 characters over 10 s.
    let transcript = "The quick brown fox jumps over the lazy dog while the farmer watches \
                      from the porch and wonders whether the fox will ever come back again";
    let vtt = from_transcript(transcript, Duration::from_secs(10)).unwrap();
    let checked = validate(&vtt).unwrap();
    assert_eq!(
        checked.end,
        Some(Duration::from_secs(10)),
        "ends exactly at the end: {vtt}"
    );
    let times = cue_times(&vtt);
    assert_eq!(times[0].0, 0, "no 0.85 s shift: {vtt}");
    for pair in times.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "contiguous: {vtt}");
    }
    let texts = cue_texts(&vtt);
    assert_eq!(
        texts.join(" "),
        transcript.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    for t in texts {
        assert!(!t.starts_with(' '));
        assert!(t.chars().count() <= vtt::MAX_CUE_CHARS);
    }
}

#[test]
fn a_bare_transcript_refuses_what_cannot_be_captioned() {
    assert_eq!(
        from_transcript("  \n ", Duration::from_secs(5)),
        Err(VttError::EmptyTranscript)
    );
    assert!(matches!(
        from_transcript("words here", Duration::ZERO),
        Err(VttError::TooShort(_))
    ));
    // Tiny durations still give strictly increasing cues.
    let long = "word ".repeat(60);
    let vtt = from_transcript(&long, Duration::from_millis(5)).unwrap();
    validate(&vtt).unwrap();
}

#[test]
fn validation_accepts_webvtt_as_written() {
    let ok = "\u{feff}WEBVTT - subtitles\nKind: captions\n\nNOTE a comment\nspanning lines\n\n1\n00:00:00.500 --> 00:00:02.000 align:start\nHello\nthere\n\n01:02.000 --> 01:03.500\nminutes only\n\n100:00:00.000 --> 100:00:01.000\nlong hours\n";
    let checked = validate(ok).unwrap();
    assert_eq!(checked.cues, 3);
    assert_eq!(checked.end, Some(Duration::from_secs(360_001)));
    assert_eq!(validate("WEBVTT").unwrap().cues, 0);
    // The original's own header line is valid too.
    validate("WEBVTT FILE:\n\n00:00:00.850 --> 00:00:05.850\nx\n").unwrap();
}

#[test]
fn validation_names_what_is_wrong() {
    let cases: [(&str, &str); 9] = [
        ("WEBVTTX\n", "header"),
        ("00:00:00.000 --> 00:00:01.000\nx\n", "header"),
        (
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.00\nx\n",
            "not a timestamp",
        ),
        ("WEBVTT\n\n00:00:61.000 --> 00:01:01.000\nx\n", "over 59"),
        (
            "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n",
            "ends before",
        ),
        (
            "WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nx\n\n00:00:01.000 --> 00:00:04.000\ny\n",
            "previous cue",
        ),
        ("WEBVTT\n\n00:00:00.000-->00:00:01.000\nx\n", "whitespace"),
        (
            "WEBVTT\n\nidentifier\ntext without timing\n",
            "without a timing line",
        ),
        (
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nx\n00:00:01.000 --> 00:00:02.000\n",
            "in cue text",
        ),
    ];
    for (text, expected) in cases {
        let err = validate(text).unwrap_err();
        assert!(err.to_string().contains(expected), "{text:?}: {err}");
    }
    assert_eq!(validate("").unwrap_err(), InvalidVtt::Header);
    match validate("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n").unwrap_err() {
        InvalidVtt::Line { line, .. } => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
}
