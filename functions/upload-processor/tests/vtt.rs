//! Transcript → WebVTT (spec §6.3, §8.5, with the bugs of §10.2 #21 fixed) and the validity check.

use std::time::Duration;

use upload_processor::vtt::{
    self, from_transcribe_json, from_transcript, validate, validate_bytes, InvalidVtt,
    TranscribeOutput, VttError,
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

#[test]
fn every_line_ending_the_format_allows_is_read() {
    let lf = "WEBVTT\n\n00:01.000 --> 00:02.000\na\n\n00:03.000 --> 00:04.000\nb\n";
    for text in [
        lf.to_string(),
        lf.replace('\n', "\r\n"),
        lf.replace('\n', "\r"),
    ] {
        let checked = validate(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(checked.cues, 2, "{text:?}");
        assert_eq!(checked.end, Some(Duration::from_secs(4)));
    }
    // A lone CR is a line end too: this cue text runs into a timing line.
    let err =
        validate("WEBVTT\r\r00:01.000 --> 00:02.000\ra\r00:03.000 --> 00:04.000\r").unwrap_err();
    assert_eq!(err.line(), 5, "{err}");
}

#[test]
fn the_header_takes_text_after_a_space_or_tab_but_not_an_arrow() {
    validate("WEBVTT\tKind: captions\n").unwrap();
    validate("\u{feff}WEBVTT\n").unwrap();
    let err = validate("WEBVTT 00:00.000 --> 00:01.000\n").unwrap_err();
    assert_eq!(err.line(), 1);
    assert!(err.to_string().contains("header"), "{err}");
    // A header line straight after the first needs no blank line, a cue does.
    let err = validate("WEBVTT\n00:00.000 --> 00:01.000\nx\n").unwrap_err();
    assert_eq!(err.line(), 2, "{err}");
}

#[test]
fn cue_settings_are_those_the_format_defines() {
    let ok = "WEBVTT\n\n00:00.000 --> 00:01.000 align:start position:10%,line-left line:-1 \
              size:50% vertical:rl region:r1\nx\n\n00:01.000 --> 00:02.000\tline:33.5%,end\t\
              align:middle\ny\n";
    assert_eq!(validate(ok).unwrap().cues, 2);
    let cases = [
        ("colour:red", "unknown cue setting"),
        ("align:sideways", "invalid value"),
        ("size:150%", "invalid value"),
        ("size:50", "invalid value"),
        ("position:10%,top", "invalid value"),
        ("line:1,start line:2", "twice"),
        ("vertical:up", "invalid value"),
        ("align", "not name:value"),
        ("line:", "not name:value"),
    ];
    for (settings, expected) in cases {
        let text = format!("WEBVTT\n\nNOTE x\n\n00:00.000 --> 00:01.000 {settings}\nx\n");
        let err = validate(&text).unwrap_err();
        assert!(err.to_string().contains(expected), "{settings}: {err}");
        assert_eq!(err.line(), 5, "{settings}: {err}");
    }
}

#[test]
fn style_and_region_come_before_the_cues_and_notes_anywhere() {
    let ok = "WEBVTT\n\nSTYLE\n::cue { color: yellow }\n\nREGION\nid:r1 width:40%\n\n\
              NOTE before\n\n00:00.000 --> 00:01.000\nx\n\nNOTE between\n\n\
              00:01.000 --> 00:02.000\ny\n";
    assert_eq!(validate(ok).unwrap().cues, 2);
    let late = "WEBVTT\n\n00:00.000 --> 00:01.000\nx\n\nSTYLE\n::cue { color: red }\n";
    let err = validate(late).unwrap_err();
    assert_eq!(err.line(), 6, "{err}");
    assert!(
        err.to_string().contains("STYLE block after the first cue"),
        "{err}"
    );
    let err = validate("WEBVTT\n\nNOTE a\n00:00.000 --> 00:01.000\n").unwrap_err();
    assert!(err.to_string().contains("inside a NOTE block"), "{err}");
}

#[test]
fn uploaded_bytes_must_be_utf8_and_the_error_names_the_line() {
    assert_eq!(
        validate_bytes(b"\xef\xbb\xbfWEBVTT\n\n00:00.000 --> 00:01.000\nx\n")
            .unwrap()
            .cues,
        1
    );
    let err = validate_bytes(b"WEBVTT\n\n00:00.000 --> 00:01.000\ncaf\xe9\n").unwrap_err();
    assert_eq!(err, InvalidVtt::Encoding { line: 4 });
    assert!(err.to_string().starts_with("line 4: "), "{err}");
    assert_eq!(
        validate_bytes(b"\xff\xfeW\x00").unwrap_err(),
        InvalidVtt::Encoding { line: 1 }
    );
}

/// The original answered 401 for an invalid file (§8.4, §10.1 #7) and 502 for an empty
/// transcript (§10.2 #21), and stored subtitles as `text` (§10.2 #20).
#[test]
fn errors_map_to_the_statuses_of_issue_21_and_files_are_text_vtt() {
    assert_eq!(validate("nope").unwrap_err().status(), 422);
    assert_eq!(validate_bytes(b"\xff").unwrap_err().status(), 422);
    assert_eq!(
        validate("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n")
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(VttError::EmptyTranscript.status(), 422);
    assert_eq!(VttError::TooShort(Duration::ZERO).status(), 422);
    assert_eq!(VttError::Parse("x".into()).status(), 502);
    assert_eq!(vtt::CONTENT_TYPE, "text/vtt");
}

/// The original's generator wrote hours as a fixed `00:` and minutes past 59 (§8.5).
#[test]
fn a_bare_transcript_over_an_hour_long_keeps_valid_timestamps() {
    let transcript = "word ".repeat(400);
    let duration = Duration::from_secs(2 * 3600 + 61);
    let vtt = from_transcript(&transcript, duration).unwrap();
    let checked = validate(&vtt).unwrap();
    assert_eq!(checked.end, Some(duration));
    assert!(vtt.contains(" --> 02:01:01.000\n"), "{vtt}");
}

#[test]
fn a_bare_transcript_splits_only_between_words() {
    let long_word = "x".repeat(vtt::MAX_CUE_CHARS + 10);
    let transcript = format!("before {long_word} after <b> & -->");
    let vtt = from_transcript(&transcript, Duration::from_secs(3)).unwrap();
    validate(&vtt).unwrap();
    let texts = cue_texts(&vtt);
    assert_eq!(
        texts,
        ["before", long_word.as_str(), "after &lt;b&gt; &amp; --&gt;"],
        "{vtt}"
    );
}

/// For any transcript and duration: cues in order, contiguous, each at least 1 ms, starting at 0
/// and ending exactly at the media's end, none with a leading or trailing space.
#[test]
fn bare_transcript_timing_never_passes_the_end() {
    let words = [
        "a",
        "to",
        "the",
        "mentor",
        "answered",
        "questions",
        "about",
        "electricians'",
        "work",
    ];
    for n_words in [1usize, 2, 7, 30, 113, 400] {
        let transcript: Vec<&str> = (0..n_words).map(|i| words[i * 7 % words.len()]).collect();
        let transcript = format!("  {}\n", transcript.join("  \t"));
        for ms in [1u64, 3, 17, 999, 1000, 10_001, 59_999, 3_600_000 + 7] {
            let duration = Duration::from_millis(ms);
            let vtt = match from_transcript(&transcript, duration) {
                Ok(vtt) => vtt,
                Err(VttError::TooShort(_)) => continue,
                Err(e) => panic!("{e}"),
            };
            let checked = validate(&vtt).unwrap_or_else(|e| panic!("{n_words}/{ms}: {e}\n{vtt}"));
            assert_eq!(checked.end, Some(duration), "{n_words}/{ms}");
            let times = cue_times(&vtt);
            assert_eq!(times[0].0, 0);
            assert!(times.iter().all(|(s, e)| s < e && *e <= ms), "{vtt}");
            assert!(times.windows(2).all(|p| p[0].1 == p[1].0), "{vtt}");
            for t in cue_texts(&vtt) {
                assert_eq!(t, t.trim(), "{vtt}");
            }
        }
    }
}
