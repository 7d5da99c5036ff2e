//! The image and subtitle routes (issue 21) through `Api::handle`, as the function runs them:
//! payload 2.0 events whose authorizer context comes from the real authorizer, multipart bodies
//! base64-encoded as API Gateway delivers them, `Media` read by the same code as
//! `Media::from_env`, the GraphQL fake (whose recorded calls show what was sent) and the local
//! emulator's S3 on 127.0.0.1:5000 (`cargo xtask local up`; without it the S3 cases print a note
//! and pass). Images and clips are made by the host's ffmpeg.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{
    assert_sent_as, calls_to, create_bucket, emulator_up, get_object, jwt, unique, unix_now, Event,
    MENTOR, OTHER, QUESTION, USER,
};
use serde_json::{json, Value};
use upload_processor::api::media::{self, Media};
use upload_processor::api::{Api, GRAPHQL_TIMEOUT};
use upload_processor::fake::clips::{self, Clip};
use upload_processor::fake::GraphqlFake;
use upload_processor::ffmpeg::Ffmpeg;
use upload_processor::graphql::GraphqlClient;
use upload_processor::vtt;

const ORG: &str = "62b0e6f3a3f1a3c7d9e8f001";
const URL_BASE: &str = "https://static.test.example/media/";
const BOUNDARY: &str = "----media-routes-boundary-7MA4YWxkTrZu0gW";

// ------------------------------------------------------------------------------ helpers

/// `user`'s JWT with `role`, naming no mentor, valid for an hour.
fn token(user: &str, role: &str) -> String {
    jwt(user, role, &[], unix_now() + 3600)
}

/// One part: (name, file name and Content-Type for a file, bytes).
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, bytes) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some((file_name, _)) = file {
            disposition.push_str(&format!("; filename=\"{file_name}\""));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some((_, content_type)) = file {
            out.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A form event as a browser's upload reaches the function: base64 multipart.
fn form_event(route: &str, token: Option<&str>, parts: &[Part]) -> Value {
    authorized(route, token)
        .content_type(&form_type())
        .body(multipart(parts))
        .base64()
        .build()
}

/// `route` with `token` as its bearer, if any.
fn authorized(route: &str, token: Option<&str>) -> Event {
    let event = Event::new(route);
    match token {
        Some(t) => event.bearer(t),
        None => event,
    }
}

/// A one-frame image made by ffmpeg (`ext` png or jpg).
fn image(width: u32, height: u32, ext: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(unique("media-routes-image"));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("frame.{ext}"));
    let output = Command::new(clips::host_ffmpeg())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("color=blue:size={width}x{height}"))
        .args(["-frames:v", "1"])
        .arg(&path)
        .output()
        .expect("the host's ffmpeg (set FFMPEG to another)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn data(&self) -> &Value {
        &self.body["data"]
    }

    fn field(&self) -> Option<&str> {
        self.data()["field"].as_str()
    }

    fn message(&self) -> &str {
        self.data()["message"].as_str().unwrap_or_default()
    }
}

struct Setup {
    fake: GraphqlFake,
    api: Api,
}

impl Setup {
    /// An `Api` as `Api::from_env` builds it (the same `Media::from_lookup` parsing, the
    /// GraphQL client with the function's timeout), pointed at the fake and the emulator, with a
    /// bucket of its own. Images are limited to 640×480 and 64 KiB, subtitles to 8 KiB.
    async fn new() -> Setup {
        let fake = GraphqlFake::start().await;
        let aws = support::emulator_config().await;
        let bucket = unique("static");
        let vars: HashMap<&str, String> = HashMap::from([
            ("STATIC_BUCKET", bucket.clone()),
            ("STATIC_URL_BASE", URL_BASE.to_string()),
            ("IMAGE_MAX_WIDTH", "640".into()),
            ("IMAGE_MAX_HEIGHT", "480".into()),
            ("IMAGE_MAX_BYTES", "65536".into()),
            ("VTT_MAX_BYTES", "8192".into()),
        ]);
        let media = Media {
            ffmpeg: Ffmpeg::new(clips::host_ffmpeg()),
            ..Media::from_lookup(|name| vars.get(name).cloned()).unwrap()
        };
        let graphql = GraphqlClient::new(upload_processor::api::http_client(), fake.endpoint())
            .with_timeout(GRAPHQL_TIMEOUT);
        let api = Api {
            media,
            ..common::api(graphql, &aws)
        };
        Setup { fake, api }
    }

    /// With the bucket created in the emulator.
    async fn with_bucket() -> Setup {
        let s = Setup::new().await;
        create_bucket(&s.api.s3, &s.api.media.static_bucket).await;
        s
    }

    async fn call(&self, event: &Value) -> Reply {
        let (status, body) = common::call(&self.api, event).await;
        Reply { status, body }
    }

    /// (Content-Type, bytes) of a stored object.
    async fn object(&self, key: &str) -> (String, Vec<u8>) {
        let (bytes, content_type) = get_object(&self.api.s3, &self.api.media.static_bucket, key)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (content_type.unwrap_or_default(), bytes)
    }

    async fn keys(&self) -> Vec<String> {
        let out = self
            .api
            .s3
            .list_objects_v2()
            .bucket(&self.api.media.static_bucket)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}

/// The key below the URL base, checking the `{ts}` segment's shape (`20260304T050607Z`).
fn key_of_url(url: &str, before_ts: &str, after_ts: &str) -> String {
    let key = url
        .strip_prefix(URL_BASE)
        .unwrap_or_else(|| panic!("{url} is not under {URL_BASE}"));
    let ts = key
        .strip_prefix(before_ts)
        .and_then(|k| k.strip_suffix(after_ts))
        .unwrap_or_else(|| panic!("{key} is not {before_ts}{{ts}}{after_ts}"));
    assert!(
        ts.len() == 16
            && ts.as_bytes()[8] == b'T'
            && ts.ends_with('Z')
            && ts.chars().filter(char::is_ascii_digit).count() == 14,
        "{ts} is not a UTC timestamp"
    );
    key.to_string()
}

fn thumbnail_form<'a>(body: &'a [u8], bytes: &'a [u8], claimed: &'a str) -> [Part<'a>; 2] {
    [
        ("body", None, body),
        ("thumbnail", Some(("me.png", claimed)), bytes),
    ]
}

// --------------------------------------------------------------- /thumbnail and /vbg

#[tokio::test]
async fn a_thumbnail_is_stored_as_what_it_is_and_recorded_with_g9() {
    if !emulator_up("thumbnail") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.grant(USER, MENTOR);
    let jpeg = image(64, 48, "jpg");
    let body = json!({ "mentor": MENTOR }).to_string();
    // The client calls its JPEG a PNG, as the original's clients could.
    let parts = thumbnail_form(body.as_bytes(), &jpeg, "image/png");
    let reply = s
        .call(&form_event(
            media::THUMBNAIL,
            Some(&token(USER, "USER")),
            &parts,
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.data().get("data").is_none(),
        "nested once: {}",
        reply.body
    );
    let url = reply.data()["thumbnail"].as_str().unwrap();
    let key = key_of_url(
        url,
        &format!("mentor/thumbnails/{MENTOR}/"),
        "/thumbnail.jpg",
    );
    assert_eq!(s.object(&key).await, ("image/jpeg".to_string(), jpeg));

    let calls = s.fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].operation_name.as_deref(), Some("MentorCanEdit"));
    assert_eq!(calls[0].variables, json!({ "mentor": MENTOR }));
    assert_sent_as(&calls[0], USER);
    assert_eq!(
        calls[1].operation_name.as_deref(),
        Some("MentorThumbnailUpdate")
    );
    assert_eq!(calls[1].fields, ["api.mentorThumbnailUpdate"]);
    assert_eq!(
        calls[1].variables,
        json!({ "mentorId": MENTOR, "thumbnail": key })
    );
    assert_sent_as(&calls[1], USER);
    assert_eq!(s.fake.mentor(MENTOR).unwrap()["thumbnail"], json!(key));
}

#[tokio::test]
async fn a_virtual_background_is_stored_and_recorded_with_g10() {
    if !emulator_up("vbg") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.grant(USER, MENTOR);
    let png = image(640, 480, "png");
    let body = json!({ "mentor": MENTOR }).to_string();
    let parts = [
        ("body", None, body.as_bytes()),
        (
            "background_image",
            Some(("bg.png", "image/png")),
            png.as_slice(),
        ),
        // A part the route does not read is ignored, as the original ignored it.
        ("extra", None, b"ignored".as_slice()),
    ];
    let reply = s
        .call(&form_event(media::VBG, Some(&token(USER, "USER")), &parts))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let url = reply.data()["virtualBackground"].as_str().unwrap();
    let key = key_of_url(
        url,
        &format!("mentor/virtual_backgrounds/{MENTOR}/"),
        "/virtual_background.png",
    );
    assert_eq!(s.object(&key).await.0, "image/png");

    let g10 = calls_to(&s.fake, "api.mentorVbgUpdate");
    assert_eq!(g10.len(), 1);
    assert_eq!(g10[0].operation_name.as_deref(), Some("MentorVbgUpdate"));
    assert_eq!(
        g10[0].variables,
        json!({ "mentorId": MENTOR, "vbgPath": key })
    );
    assert_sent_as(&g10[0], USER);
    assert_eq!(
        s.fake.mentor(MENTOR).unwrap()["virtualBackgroundUrl"],
        json!(key)
    );
}

// ------------------------------------------------------------------ /header and /footer

fn org_form<'a>(body: &'a [u8], png: &'a [u8]) -> [Part<'a>; 2] {
    [
        ("body", None, body),
        ("image", Some(("h.png", "image/png")), png),
    ]
}

#[tokio::test]
async fn the_sites_header_needs_a_content_role_and_is_recorded_with_g12() {
    if !emulator_up("header") {
        return;
    }
    let s = Setup::with_bucket().await;
    let png = image(320, 80, "png");
    let parts = org_form(b"{}", &png);

    let plain = s
        .call(&form_event(
            media::HEADER,
            Some(&token(USER, "USER")),
            &parts,
        ))
        .await;
    assert_eq!(plain.status, 403, "{}", plain.body);
    assert!(
        s.fake.calls().is_empty(),
        "the role decides, no GraphQL call"
    );
    assert!(s.keys().await.is_empty(), "nothing stored");

    let reply = s
        .call(&form_event(
            media::HEADER,
            Some(&token(USER, "CONTENT_MANAGER")),
            &parts,
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let url = reply.data()["image"].as_str().unwrap();
    let key = key_of_url(url, "images/", "/header.png");
    assert_eq!(s.object(&key).await.0, "image/png");
    let g12 = calls_to(&s.fake, "api.orgHeaderUpdate");
    assert_eq!(g12.len(), 1);
    assert_eq!(g12[0].operation_name.as_deref(), Some("OrgHeaderUpdate"));
    // No orgId at all for the site, as the original sends it; the full URL as imgPath.
    assert_eq!(g12[0].variables, json!({ "imgPath": url }));
    assert_sent_as(&g12[0], USER);
    assert_eq!(s.fake.org_header(None).as_deref(), Some(url));
}

#[tokio::test]
async fn an_organizations_header_is_decided_by_its_membership_in_graphql() {
    if !emulator_up("org header") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake
        .add_org(ORG, &[(USER, "CONTENT_MANAGER"), (OTHER, "USER")]);
    let png = image(320, 80, "png");
    // OTHER claims to be an admin in the organization it sends: ignored.
    let forged =
        json!({"org": {"_id": ORG, "members": [{"user": {"_id": OTHER}, "role": "ADMIN"}]}})
            .to_string();
    let refused = s
        .call(&form_event(
            media::HEADER,
            Some(&token(OTHER, "CONTENT_MANAGER")),
            &org_form(forged.as_bytes(), &png),
        ))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let lookups = calls_to(&s.fake, "organization");
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].operation_name.as_deref(), Some("Organization"));
    assert_eq!(lookups[0].variables, json!({ "id": ORG }));
    assert!(lookups[0].query.contains("members"), "{}", lookups[0].query);
    assert_sent_as(&lookups[0], OTHER);
    assert!(calls_to(&s.fake, "api.orgHeaderUpdate").is_empty());
    assert!(s.keys().await.is_empty());

    // A managing member, naming the organization by id only.
    let by_id = json!({ "org": ORG }).to_string();
    let reply = s
        .call(&form_event(
            media::HEADER,
            Some(&token(USER, "USER")),
            &org_form(by_id.as_bytes(), &png),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let url = reply.data()["image"].as_str().unwrap();
    key_of_url(url, &format!("images/{ORG}/"), "/header.png");
    let g12 = calls_to(&s.fake, "api.orgHeaderUpdate");
    assert_eq!(g12[0].variables, json!({ "orgId": ORG, "imgPath": url }));
    assert_eq!(s.fake.org_header(Some(ORG)).as_deref(), Some(url));

    // A SUPER_ role manages every organization, member or not.
    let reply = s
        .call(&form_event(
            media::HEADER,
            Some(&token(OTHER, "SUPER_ADMIN")),
            &org_form(forged.as_bytes(), &png),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // An unknown organization is 404 whatever the role.
    let unknown = json!({ "org": "62b0e6f3a3f1a3c7d9e8f999" }).to_string();
    let reply = s
        .call(&form_event(
            media::HEADER,
            Some(&token(OTHER, "SUPER_ADMIN")),
            &org_form(unknown.as_bytes(), &png),
        ))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test]
async fn footers_keep_their_index_in_the_key_and_g13() {
    if !emulator_up("footer") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.add_org(ORG, &[(USER, "ADMIN")]);
    let png = image(200, 60, "png");
    let mut urls = Vec::new();
    for idx in [0, 1] {
        let body = json!({ "org": {"_id": ORG, "name": "ignored"}, "idx": idx }).to_string();
        let reply = s
            .call(&form_event(
                media::FOOTER,
                Some(&token(USER, "USER")),
                &org_form(body.as_bytes(), &png),
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let url = reply.data()["image"].as_str().unwrap().to_string();
        key_of_url(
            &url,
            &format!("images/{ORG}/"),
            &format!("/footer_{idx}.png"),
        );
        urls.push(url);
    }
    assert_ne!(urls[0], urls[1], "two footers never share a key");
    assert_eq!(s.keys().await.len(), 2);
    let g13 = calls_to(&s.fake, "api.orgFooterUpdate");
    assert_eq!(g13.len(), 2);
    assert_eq!(g13[1].operation_name.as_deref(), Some("OrgFooterUpdate"));
    assert_eq!(
        g13[1].variables,
        json!({ "orgId": ORG, "imgPath": urls[1], "imgIdx": 1 })
    );
    assert_eq!(s.fake.org_footers(Some(ORG)), urls);

    for (body, why) in [
        (json!({ "org": ORG }), "no idx"),
        (json!({ "org": ORG, "idx": -1 }), "negative"),
        (json!({ "org": ORG, "idx": "1" }), "a string"),
        (json!({ "org": ORG, "idx": 1.5 }), "a fraction"),
    ] {
        let reply = s
            .call(&form_event(
                media::FOOTER,
                Some(&token(USER, "USER")),
                &org_form(body.to_string().as_bytes(), &png),
            ))
            .await;
        assert_eq!((reply.status, reply.field()), (400, Some("idx")), "{why}");
    }
}

// ---------------------------------------------------------------------------- /vtt

const VALID_VTT: &str = "WEBVTT\n\n00:00.000 --> 00:01.500\nHello there.\n\n00:00:01.500 --> 00:00:03.000\nGeneral Kenobi.\n";

fn vtt_form<'a>(mentor: &'a str, file: &'a [u8]) -> [Part<'a>; 3] {
    [
        ("mentor", None, mentor.as_bytes()),
        ("question", None, QUESTION.as_bytes()),
        ("vtt_file", Some(("en.vtt", "text/vtt")), file),
    ]
}

#[tokio::test]
async fn subtitles_are_authorized_before_they_are_read_then_stored_as_text_vtt_with_g11() {
    if !emulator_up("vtt") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.grant(USER, MENTOR);
    let broken = b"WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nbackwards\n";

    // A stranger's broken file: 403, not 422, so they learn nothing about it.
    let stranger = s
        .call(&form_event(
            media::VTT,
            Some(&token(OTHER, "USER")),
            &vtt_form(MENTOR, broken),
        ))
        .await;
    assert_eq!(stranger.status, 403, "{}", stranger.body);

    let invalid = s
        .call(&form_event(
            media::VTT,
            Some(&token(USER, "USER")),
            &vtt_form(MENTOR, broken),
        ))
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert_eq!(invalid.field(), Some("vtt_file"));
    assert_eq!(invalid.data()["line"], 3);
    assert!(
        invalid.message().starts_with("line 3:"),
        "{}",
        invalid.message()
    );
    assert!(s.keys().await.is_empty());
    assert!(calls_to(&s.fake, "api.mentorVttUpdate").is_empty());

    let reply = s
        .call(&form_event(
            media::VTT,
            Some(&token(USER, "USER")),
            &vtt_form(MENTOR, VALID_VTT.as_bytes()),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let key = format!("videos/{MENTOR}/{QUESTION}/en.vtt");
    assert_eq!(
        reply.data(),
        &json!({ "vtt_path": format!("{URL_BASE}{key}"), "vtt_text": VALID_VTT })
    );
    assert_eq!(
        s.object(&key).await,
        ("text/vtt".to_string(), VALID_VTT.as_bytes().to_vec())
    );
    let g11 = calls_to(&s.fake, "api.mentorVttUpdate");
    assert_eq!(g11.len(), 1);
    assert_eq!(g11[0].operation_name.as_deref(), Some("MentorVttUpdate"));
    assert_eq!(
        g11[0].variables,
        json!({ "mentorId": MENTOR, "questionId": QUESTION, "vttUrl": key, "vttText": VALID_VTT })
    );
    assert_sent_as(&g11[0], USER);
}

// ---------------------------------------------------------------------- /regen_vtt

const TRANSCRIPT: &str = "So the way I got into this line of work was a little unusual, honestly. \
I started out fixing radios for the neighbours, and one thing led to another until the \
navy noticed and asked whether I would like to do it for them.";

fn regen_event(token: Option<&str>, body: &Value) -> Value {
    authorized(media::REGEN_VTT, token)
        .body(body.to_string())
        .build()
}

/// A 3 s 320×240 clip stored at `key`; its duration as the route's probe measures it.
async fn store_clip(s: &Setup, key: &str) -> Duration {
    let path = std::env::temp_dir().join(format!("{}.mp4", unique("media-routes-clip")));
    Clip::mp4(320, 240, 3.0)
        .write(&clips::host_ffmpeg(), &path)
        .await
        .unwrap();
    let duration = s
        .api
        .media
        .ffmpeg
        .probe(&path)
        .await
        .unwrap()
        .duration
        .unwrap();
    s.api
        .s3
        .put_object()
        .bucket(&s.api.media.static_bucket)
        .key(key)
        .body(std::fs::read(&path).unwrap().into())
        .send()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
    duration
}

/// (start, end) in ms and the text of each cue.
fn cues(text: &str) -> Vec<(u64, u64, String)> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let (a, b) = l.split_once(" --> ")?;
            let cue = lines[i + 1].to_string();
            Some((
                vtt::parse_timestamp(a).unwrap(),
                vtt::parse_timestamp(b).unwrap(),
                cue,
            ))
        })
        .collect()
}

#[tokio::test]
async fn regenerated_subtitles_are_timed_over_the_measured_video_and_recorded_with_g11() {
    if !emulator_up("regen_vtt") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.grant(USER, MENTOR);
    let web = format!("videos/{MENTOR}/{QUESTION}/web.mp4");
    let duration = store_clip(&s, &web).await;
    s.fake.set_answer(
        MENTOR,
        QUESTION,
        json!({ "transcript": TRANSCRIPT, "webMedia": {"type": "video", "tag": "web", "url": web} }),
    );
    let body = json!({ "mentor": MENTOR, "question": QUESTION });
    let reply = s
        .call(&regen_event(Some(&token(USER, "USER")), &body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.data()["regen_vtt"], true);
    let key = format!("videos/{MENTOR}/{QUESTION}/en.vtt");
    assert_eq!(
        reply.data()["new_vtt_url"],
        json!(format!("{URL_BASE}{key}"))
    );
    let text = reply.data()["new_vtt_text"].as_str().unwrap();
    vtt::validate(text).unwrap();

    let cues = cues(text);
    assert!(cues.len() > 1, "{text}");
    for (start, end, cue) in &cues {
        assert!(start < end, "{text}");
        assert!(!cue.starts_with(' ') && !cue.ends_with(' '), "{cue:?}");
    }
    // Split only between words: the cues' words are the transcript's, in order.
    let words: Vec<&str> = cues.iter().flat_map(|c| c.2.split(' ')).collect();
    assert_eq!(words, TRANSCRIPT.split_whitespace().collect::<Vec<_>>());
    let last_end = cues.last().unwrap().1;
    assert!(
        u128::from(last_end) <= duration.as_millis(),
        "last cue ends at {last_end} ms, after the {duration:?} video"
    );
    assert_eq!(
        u128::from(last_end),
        duration.as_millis(),
        "the cues fill the video"
    );

    assert_eq!(
        s.object(&key).await,
        ("text/vtt".to_string(), text.as_bytes().to_vec())
    );
    let g18 = calls_to(&s.fake, "answer");
    assert_eq!(g18.len(), 1);
    assert_eq!(g18[0].operation_name.as_deref(), Some("Answer"));
    assert_eq!(
        g18[0].variables,
        json!({ "mentor": MENTOR, "question": QUESTION })
    );
    assert_sent_as(&g18[0], USER);
    let g11 = calls_to(&s.fake, "api.mentorVttUpdate");
    assert_eq!(
        g11[0].variables,
        json!({ "mentorId": MENTOR, "questionId": QUESTION, "vttUrl": key, "vttText": text })
    );
    assert_eq!(
        s.fake.answer(MENTOR, QUESTION).unwrap()["vttMedia"]["vttText"],
        json!(text)
    );
}

#[tokio::test]
async fn regen_vtt_falls_back_to_the_mobile_video_under_an_absolute_url() {
    if !emulator_up("regen_vtt mobile") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.grant(USER, MENTOR);
    let mobile = format!("videos/{MENTOR}/{QUESTION}/mobile.mp4");
    store_clip(&s, &mobile).await;
    s.fake.set_answer(
        MENTOR,
        QUESTION,
        json!({
            "transcript": "Short answer.",
            // Emptied by a new upload (G5): skipped.
            "webMedia": {"type": "video", "tag": "web", "url": ""},
            "mobileMedia": {"type": "video", "tag": "mobile", "url": format!("{URL_BASE}{mobile}")},
        }),
    );
    let body = json!({ "mentor": MENTOR, "question": QUESTION });
    let reply = s
        .call(&regen_event(Some(&token(USER, "USER")), &body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        cues(reply.data()["new_vtt_text"].as_str().unwrap()).len(),
        1
    );
}

#[tokio::test]
async fn regen_vtt_refuses_what_it_cannot_caption() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    let user = token(USER, "USER");
    let body = json!({ "mentor": MENTOR, "question": QUESTION });

    // Not the caller's mentor: the original let any token through (§10.1 #9).
    let reply = s
        .call(&regen_event(Some(&token(OTHER, "USER")), &body))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        calls_to(&s.fake, "answer").is_empty(),
        "nothing read for a stranger"
    );

    let reply = s.call(&regen_event(Some(&user), &body)).await;
    assert_eq!(reply.status, 404, "no answer: {}", reply.body);

    s.fake.set_answer(
        MENTOR,
        QUESTION,
        json!({ "transcript": "  ", "webMedia": {"type": "video", "tag": "web", "url": "videos/x/web.mp4"} }),
    );
    let reply = s.call(&regen_event(Some(&user), &body)).await;
    assert_eq!(reply.status, 422, "empty transcript: {}", reply.body);
    assert!(
        reply.message().contains("transcript is empty"),
        "{}",
        reply.message()
    );

    s.fake
        .set_answer(MENTOR, QUESTION, json!({ "transcript": TRANSCRIPT }));
    let reply = s.call(&regen_event(Some(&user), &body)).await;
    assert_eq!(reply.status, 422, "no video: {}", reply.body);

    s.fake.set_answer(
        MENTOR,
        QUESTION,
        json!({ "transcript": TRANSCRIPT, "webMedia": {"type": "video", "tag": "web", "url": "https://elsewhere.example/web.mp4"} }),
    );
    let reply = s.call(&regen_event(Some(&user), &body)).await;
    assert_eq!(reply.status, 422, "outside the bucket: {}", reply.body);
    assert!(calls_to(&s.fake, "api.mentorVttUpdate").is_empty());
}

#[tokio::test]
async fn regen_vtt_is_502_when_the_video_is_not_in_the_bucket() {
    if !emulator_up("regen_vtt missing video") {
        return;
    }
    let s = Setup::with_bucket().await;
    s.fake.grant(USER, MENTOR);
    s.fake.set_answer(
        MENTOR,
        QUESTION,
        json!({ "transcript": TRANSCRIPT, "webMedia": {"type": "video", "tag": "web", "url": "videos/gone/web.mp4"} }),
    );
    let body = json!({ "mentor": MENTOR, "question": QUESTION });
    let reply = s
        .call(&regen_event(Some(&token(USER, "USER")), &body))
        .await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(
        reply.message().contains("videos/gone/web.mp4"),
        "{}",
        reply.message()
    );
    assert!(s.keys().await.is_empty());
}

// ----------------------------------------------------------- statuses common to the routes

/// A valid request to each route, for `user`.
fn valid_requests(png: &[u8]) -> Vec<(&'static str, Value)> {
    let mentor_body = json!({ "mentor": MENTOR }).to_string();
    let user = token(USER, "CONTENT_MANAGER");
    let t = Some(user.as_str());
    vec![
        (
            media::THUMBNAIL,
            form_event(
                media::THUMBNAIL,
                t,
                &thumbnail_form(mentor_body.as_bytes(), png, "image/png"),
            ),
        ),
        (
            media::VBG,
            form_event(
                media::VBG,
                t,
                &[
                    ("body", None, mentor_body.as_bytes()),
                    ("background_image", Some(("b.png", "image/png")), png),
                ],
            ),
        ),
        (
            media::HEADER,
            form_event(media::HEADER, t, &org_form(b"{}", png)),
        ),
        (
            media::FOOTER,
            form_event(media::FOOTER, t, &org_form(br#"{"idx": 0}"#, png)),
        ),
        (
            media::VTT,
            form_event(media::VTT, t, &vtt_form(MENTOR, VALID_VTT.as_bytes())),
        ),
        (
            media::REGEN_VTT,
            regen_event(t, &json!({ "mentor": MENTOR, "question": QUESTION })),
        ),
    ]
}

#[tokio::test]
async fn every_route_is_401_without_a_valid_verdict_and_calls_nothing() {
    let s = Setup::new().await;
    let png = image(16, 16, "png");
    for (route, valid) in valid_requests(&png) {
        let mut anonymous = valid.clone();
        anonymous["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        anonymous["requestContext"]["authorizer"]["lambda"] =
            json!({"verdict": "invalid", "reason": "missing"});
        let reply = s.call(&anonymous).await;
        assert_eq!(reply.status, 401, "{route}: {}", reply.body);

        let mut expired = valid.clone();
        expired["requestContext"]["authorizer"]["lambda"]["exp"] = json!(1);
        assert_eq!(s.call(&expired).await.status, 401, "{route}");
    }
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn bad_forms_and_bodies_are_400_naming_the_field() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    let user = token(USER, "USER");
    let t = Some(user.as_str());
    let png = image(16, 16, "png");
    let cases: Vec<(Value, &str)> = vec![
        (
            form_event(
                media::THUMBNAIL,
                t,
                &[("body", None, br#"{"mentor": "m1234"}"#)],
            ),
            "thumbnail",
        ),
        (
            form_event(
                media::THUMBNAIL,
                t,
                &thumbnail_form(b"{not json", &png, "image/png"),
            ),
            "body",
        ),
        (
            form_event(
                media::THUMBNAIL,
                t,
                &thumbnail_form(b"[1]", &png, "image/png"),
            ),
            "body",
        ),
        (
            form_event(
                media::VBG,
                t,
                &[
                    ("body", None, b"{}"),
                    ("background_image", Some(("b.png", "image/png")), &png),
                ],
            ),
            "mentor",
        ),
        (
            form_event(
                media::THUMBNAIL,
                t,
                &thumbnail_form(br#"{"mentor": "../../etc"}"#, &png, "image/png"),
            ),
            "mentor",
        ),
        (
            form_event(media::HEADER, t, &org_form(br#"{"org": 7}"#, &png)),
            "org",
        ),
        (
            form_event(
                media::HEADER,
                t,
                &org_form(br#"{"org": {"name": "x"}}"#, &png),
            ),
            "org._id",
        ),
        (
            form_event(media::VTT, t, &vtt_form("", VALID_VTT.as_bytes())),
            "mentor",
        ),
        (
            form_event(media::VTT, t, &vtt_form(MENTOR, VALID_VTT.as_bytes())[..2]),
            "vtt_file",
        ),
        (regen_event(t, &json!({ "question": QUESTION })), "mentor"),
        (
            regen_event(t, &json!({ "mentor": MENTOR, "question": 5 })),
            "question",
        ),
        (
            authorized(media::REGEN_VTT, t)
                .body(b"{\"mentor\":")
                .build(),
            "body",
        ),
    ];
    for (e, field) in cases {
        let reply = s.call(&e).await;
        assert_eq!(
            (reply.status, reply.field()),
            (400, Some(field)),
            "{} {}",
            e["routeKey"],
            reply.body
        );
    }
    assert!(s.fake.calls().is_empty(), "a bad request calls nothing");
}

#[tokio::test]
async fn oversized_parts_are_413_and_non_forms_415() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    let user = token(USER, "USER");
    let t = Some(user.as_str());
    let body = json!({ "mentor": MENTOR }).to_string();
    let big = vec![0x42u8; 65537];
    let reply = s
        .call(&form_event(
            media::THUMBNAIL,
            t,
            &thumbnail_form(body.as_bytes(), &big, "image/png"),
        ))
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (413, Some("thumbnail")),
        "{}",
        reply.body
    );

    let big_vtt = format!("WEBVTT\n\nNOTE {}\n", "x".repeat(8192));
    let reply = s
        .call(&form_event(
            media::VTT,
            t,
            &vtt_form(MENTOR, big_vtt.as_bytes()),
        ))
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (413, Some("vtt_file")),
        "{}",
        reply.body
    );

    let json_body = authorized(media::HEADER, t).body(b"{}").build();
    assert_eq!(s.call(&json_body).await.status, 415);
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn images_are_415_for_other_formats_and_422_when_broken_or_too_large() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    let user = token(USER, "USER");
    let body = json!({ "mentor": MENTOR }).to_string();
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let mut broken_png = image(16, 16, "png");
    broken_png[20] ^= 0xFF; // inside IHDR: its CRC no longer matches
    let too_wide = image(700, 10, "png");
    for (bytes, status, says) in [
        (gif, 415, "a GIF image"),
        (b"just some text".to_vec(), 415, "text"),
        (broken_png, 422, "CRC"),
        (too_wide, 422, "640×480"),
    ] {
        // Claimed to be a PNG every time: the bytes decide.
        let reply = s
            .call(&form_event(
                media::THUMBNAIL,
                Some(&user),
                &thumbnail_form(body.as_bytes(), &bytes, "image/png"),
            ))
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (status, Some("thumbnail")),
            "{}",
            reply.body
        );
        assert!(reply.message().contains(says), "{}", reply.message());
    }
    // Authorized first (G1 each time), nothing recorded.
    assert_eq!(calls_to(&s.fake, "mentorCanEdit").len(), 4);
    assert!(calls_to(&s.fake, "api.mentorThumbnailUpdate").is_empty());
}

#[tokio::test]
async fn mentor_routes_are_403_for_a_stranger_and_404_for_an_unknown_mentor() {
    let s = Setup::new().await;
    s.fake.add_mentor(MENTOR);
    let png = image(16, 16, "png");
    let stranger = token(OTHER, "USER");
    let unknown = json!({ "mentor": "6196af5e068d43dc68610000" }).to_string();
    let vtt_unknown = vtt_form("6196af5e068d43dc68610000", VALID_VTT.as_bytes());
    for (route, e) in valid_requests(&png) {
        if matches!(route, media::HEADER | media::FOOTER) {
            continue;
        }
        let mut as_stranger = e.clone();
        let context = Event::new(route).bearer(&stranger).build();
        as_stranger["headers"]["authorization"] = context["headers"]["authorization"].clone();
        as_stranger["requestContext"] = context["requestContext"].clone();
        let reply = s.call(&as_stranger).await;
        assert_eq!(reply.status, 403, "{route}: {}", reply.body);
    }
    let user = token(USER, "USER");
    for e in [
        form_event(
            media::THUMBNAIL,
            Some(&user),
            &thumbnail_form(unknown.as_bytes(), &png, "image/png"),
        ),
        form_event(media::VTT, Some(&user), &vtt_unknown),
        regen_event(
            Some(&user),
            &json!({ "mentor": "6196af5e068d43dc68610000", "question": QUESTION }),
        ),
    ] {
        let reply = s.call(&e).await;
        assert_eq!(reply.status, 404, "{} {}", e["routeKey"], reply.body);
        assert!(
            reply.message().contains("mentor not found"),
            "{}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn upstream_failures_are_502_and_never_show_the_token() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    let user = token(USER, "USER");
    let png = image(16, 16, "png");
    let body = json!({ "mentor": MENTOR }).to_string();
    let e = form_event(
        media::THUMBNAIL,
        Some(&user),
        &thumbnail_form(body.as_bytes(), &png, "image/png"),
    );
    s.fake.fail_next(500);
    let reply = s.call(&e).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(
        reply.message().contains("MentorCanEdit"),
        "{}",
        reply.message()
    );
    assert!(!reply.body.to_string().contains(&user));

    // GraphQL refusing the token is the server's "no".
    s.fake.fail_next(401);
    assert_eq!(s.call(&e).await.status, 403);

    if !emulator_up("502 from S3") {
        return;
    }
    // The bucket of `Setup::new` was never created: storing fails after authorization.
    let reply = s.call(&e).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.message().contains("storing"), "{}", reply.message());
    assert!(calls_to(&s.fake, "api.mentorThumbnailUpdate").is_empty());
}

#[tokio::test]
async fn the_sites_footer_takes_an_index_past_the_end() {
    if !emulator_up("site footer") {
        return;
    }
    let s = Setup::with_bucket().await;
    let png = image(16, 16, "png");
    let reply = s
        .call(&form_event(
            media::FOOTER,
            Some(&token(USER, "ADMIN")),
            &org_form(br#"{"idx": 3}"#, &png),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let url = reply.data()["image"].as_str().unwrap();
    key_of_url(url, "images/", "/footer_3.png");
    let g13 = calls_to(&s.fake, "api.orgFooterUpdate");
    assert_eq!(g13[0].variables, json!({ "imgPath": url, "imgIdx": 3 }));
    assert_eq!(s.fake.org_footers(None), [url]);
}
