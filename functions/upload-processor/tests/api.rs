//! The API function's routes called directly: every status of `GET /upload/url` and
//! `POST /upload/answer`, with the GraphQL fake (whose recorded calls show what was sent) and
//! signed JWTs run through the real authorizer. S3 and Step Functions cases need the local
//! emulator on 127.0.0.1:5000 (`cargo xtask local up`); without it they print a note and pass.

mod common;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{
    assert_sent_as, create_bucket, credentials, emulator_up, jwt, settings, unique, unix_now,
    Event, MENTOR, NO_STATE_MACHINE, QUESTION, USER,
};
use serde_json::{json, Value};
use time::OffsetDateTime;
use upload_processor::api::answer::{self, execution_name, EXECUTION_NAME_MAX};
use upload_processor::api::post_policy::{sign_policy, signing_key};
use upload_processor::api::{upload_url, Api, Response, Settings};
use upload_processor::auth;
use upload_processor::fake::{self, GraphqlFake};
use upload_processor::graphql::{
    Credentials, GraphqlClient, NewTask, TaskKind, TaskSet, TaskStatus,
};

const ACCESS_KEY: &str = "AKIDEXAMPLEUPLOAD";
const SECRET_KEY: &str = "upload-secret-key-never-shown";
const SESSION_TOKEN: &str = "upload-session-token";

/// A plain user's JWT naming [`MENTOR`] that expires at `exp`.
fn token_for(user: &str, exp: i64) -> String {
    jwt(user, "USER", &[MENTOR], exp)
}

fn answer_event(token: &str, body: &Value) -> Value {
    Event::new(answer::ROUTE)
        .bearer(token)
        .body(body.to_string())
        .build()
}

struct Setup {
    fake: GraphqlFake,
    graphql: GraphqlClient,
    s3: aws_sdk_s3::Client,
    sfn: aws_sdk_sfn::Client,
    settings: Settings,
    token: String,
}

impl Setup {
    async fn new() -> Setup {
        let fake = GraphqlFake::start().await;
        let graphql = GraphqlClient::new(upload_processor::api::http_client(), fake.endpoint());
        let aws = support::emulator_config().await;
        Setup {
            graphql,
            s3: support::s3_client(&aws),
            sfn: aws_sdk_sfn::Client::new(&aws),
            settings: settings("no-such-bucket", NO_STATE_MACHINE),
            token: common::token(USER),
            fake,
        }
    }

    /// With a fresh upload bucket and a state machine of one Pass state in the emulator.
    async fn with_emulator() -> Setup {
        let mut s = Setup::new().await;
        let bucket = unique("uploads");
        create_bucket(&s.s3, &bucket).await;
        let machine = s
            .sfn
            .create_state_machine()
            .name(unique("process"))
            .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
            .role_arn("arn:aws:iam::123456789012:role/upload-processor-test")
            .send()
            .await
            .unwrap();
        s.settings = settings(&bucket, machine.state_machine_arn());
        s
    }

    async fn put_upload(&self, key: &str, bytes: &[u8]) {
        self.s3
            .put_object()
            .bucket(&self.settings.upload_bucket)
            .key(key)
            .body(bytes.to_vec().into())
            .send()
            .await
            .unwrap();
    }

    async fn answer(&self, event: &Value) -> Response {
        answer::handle(
            event,
            &self.graphql,
            &self.s3,
            &self.sfn,
            &self.settings,
            OffsetDateTime::now_utc(),
        )
        .await
    }

    fn body(&self, video: &str) -> Value {
        json!({"mentor": MENTOR, "question": QUESTION, "video": video})
    }
}

fn upload_key() -> String {
    format!("{USER}/{}", uuid::Uuid::new_v4())
}

fn field(r: &Response) -> Option<&str> {
    r.body.pointer("/data/field").and_then(Value::as_str)
}

// ---------------------------------------------------------------- SigV4 POST policy

#[test]
fn the_signing_key_and_post_signature_match_aws_examples() {
    // "Examples of how to derive a signing key for Signature Version 4" (IAM, 20120215).
    let key = signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20120215",
        "us-east-1",
        "iam",
    );
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
    // "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)": the
    // policy as the page prints it (CRLF line ends), base64 is the string to sign.
    let policy = [
        r#"{ "expiration": "2015-12-30T12:00:00.000Z","#,
        r#"  "conditions": ["#,
        r#"    {"bucket": "sigv4examplebucket"},"#,
        r#"    ["starts-with", "$key", "user/user1/"],"#,
        r#"    {"acl": "public-read"},"#,
        r#"    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},"#,
        r#"    ["starts-with", "$Content-Type", "image/"],"#,
        r#"    {"x-amz-meta-uuid": "14365123651274"},"#,
        r#"    {"x-amz-server-side-encryption": "AES256"},"#,
        r#"    ["starts-with", "$x-amz-meta-tag", ""],"#,
        "",
        r#"    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},"#,
        r#"    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},"#,
        r#"    {"x-amz-date": "20151229T000000Z" }"#,
        "  ]",
        "}",
    ]
    .join("\r\n");
    let b64 = STANDARD.encode(policy);
    assert!(b64.starts_with("eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0K"));
    assert_eq!(
        sign_policy(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20151229",
            "us-east-1",
            &b64
        ),
        "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
    );
}

// ---------------------------------------------------------------- GET /upload/url

async fn upload_url_for(event: &Value, session_token: Option<&str>) -> Response {
    upload_url::handle(
        event,
        &settings("raw-uploads", "arn:x"),
        &credentials(ACCESS_KEY, SECRET_KEY, session_token),
        OffsetDateTime::now_utc(),
    )
    .await
}

#[tokio::test]
async fn upload_url_is_401_without_a_valid_verdict() {
    let expired = token_for(USER, unix_now() - 1);
    let bad_signature = fake::sign_jwt(
        "another-secret",
        &json!({"id": USER, "role": "USER", "mentorIds": [], "exp": unix_now() + 60}),
    );
    let mut no_context = Event::new(upload_url::ROUTE).build();
    no_context["requestContext"] = json!({});
    for (what, e) in [
        ("no authorizer context", no_context),
        ("no header", Event::new(upload_url::ROUTE).build()),
        (
            "expired",
            Event::new(upload_url::ROUTE).bearer(&expired).build(),
        ),
        (
            "bad signature",
            Event::new(upload_url::ROUTE).bearer(&bad_signature).build(),
        ),
    ] {
        let r = upload_url_for(&e, None).await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert!(r.body.pointer("/data/url").is_none(), "{what}");
    }
}

#[tokio::test]
async fn upload_url_presigns_a_post_of_exactly_the_callers_key() {
    let token = token_for(USER, unix_now() + 3600);
    let e = Event::new(upload_url::ROUTE).bearer(&token).build();
    let before = OffsetDateTime::now_utc();
    let r = upload_url_for(&e, Some(SESSION_TOKEN)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let data = &r.body["data"];
    assert_eq!(
        data["url"],
        json!(format!(
            "{}/raw-uploads",
            support::emulator_endpoint().trim_end_matches('/')
        ))
    );
    let fields: BTreeMap<String, String> = serde_json::from_value(data["fields"].clone()).unwrap();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "key",
            "policy",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-signature"
        ]
    );
    let key = &fields["key"];
    let id = key
        .strip_prefix(&format!("{USER}/"))
        .expect("the key is under the user id");
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    assert_eq!(fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
    let date = &fields["x-amz-date"];
    assert_eq!(
        fields["x-amz-credential"],
        format!("{ACCESS_KEY}/{}/us-east-1/s3/aws4_request", &date[..8])
    );
    assert_eq!(fields["x-amz-security-token"], SESSION_TOKEN);

    let policy: Value =
        serde_json::from_slice(&STANDARD.decode(&fields["policy"]).unwrap()).unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    for c in [
        json!({"bucket": "raw-uploads"}),
        json!({"key": key}),
        json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        json!({"x-amz-credential": fields["x-amz-credential"]}),
        json!({"x-amz-date": date}),
        json!({"x-amz-security-token": SESSION_TOKEN}),
        json!(["content-length-range", 0, 1024]),
    ] {
        assert!(conditions.contains(&c), "{c} missing from {conditions:?}");
    }
    assert_eq!(
        conditions.len(),
        7,
        "no condition beyond these: {conditions:?}"
    );
    let expiration = OffsetDateTime::parse(
        policy["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let valid_for = expiration - before;
    assert!(
        (3599..=3601).contains(&valid_for.whole_seconds()),
        "{valid_for}"
    );
    assert_eq!(
        fields["x-amz-signature"],
        sign_policy(SECRET_KEY, &date[..8], "us-east-1", &fields["policy"])
    );
    // The function's secret key signs; it is never sent.
    assert!(!r.to_value().to_string().contains(SECRET_KEY));

    // Long-term credentials: no token field and no token condition.
    let r = upload_url_for(&e, None).await;
    let fields = r.body["data"]["fields"].as_object().unwrap();
    assert!(!fields.contains_key("x-amz-security-token"));
    let policy = STANDARD.decode(fields["policy"].as_str().unwrap()).unwrap();
    assert!(!String::from_utf8(policy)
        .unwrap()
        .contains("x-amz-security-token"));
}

#[tokio::test]
async fn upload_url_on_aws_is_the_regional_bucket_endpoint() {
    let mut s = settings("raw-uploads", "arn:x");
    s.s3_endpoint = None;
    s.region = "eu-west-1".into();
    assert_eq!(
        s.upload_url(),
        "https://raw-uploads.s3.eu-west-1.amazonaws.com/"
    );
}

/// The form as a browser posts it: every field, then the file.
fn multipart(fields: &serde_json::Map<String, Value>, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----upload-processor-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                value.as_str().unwrap()
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_presigned_post_uploads_to_the_emulator() {
    if !emulator_up("a_presigned_post_uploads_to_the_emulator") {
        return;
    }
    let s = Setup::with_emulator().await;
    let aws = support::emulator_config().await;
    let e = Event::new(upload_url::ROUTE).bearer(&s.token).build();
    let r = upload_url::handle(
        &e,
        &s.settings,
        &aws.credentials_provider().unwrap(),
        OffsetDateTime::now_utc(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let url = r.body["data"]["url"].as_str().unwrap();
    let fields = r.body["data"]["fields"].as_object().unwrap();
    let (content_type, body) = multipart(fields, b"not really a video");
    let posted = support::tls::http_client()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 204, "{:?}", posted.text().await);
    let head =
        s.s3.head_object()
            .bucket(&s.settings.upload_bucket)
            .key(fields["key"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    assert_eq!(head.content_length(), Some(18));
}

// ---------------------------------------------------------------- POST /upload/answer

#[tokio::test]
async fn answer_is_401_without_a_valid_verdict_and_calls_nothing() {
    let s = Setup::new().await;
    let body = s.body(&upload_key()).to_string();
    let expired = token_for(USER, unix_now() - 5);
    let mut forged = Event::new(answer::ROUTE)
        .bearer(&s.token)
        .body(&body)
        .build();
    forged["requestContext"]["authorizer"]["lambda"]["verdict"] = json!("OK");
    let mut no_context = forged.clone();
    no_context["requestContext"] = json!({});
    for (what, e) in [
        (
            "expired",
            Event::new(answer::ROUTE)
                .bearer(&expired)
                .body(&body)
                .build(),
        ),
        (
            "not bearer",
            Event::new(answer::ROUTE)
                .authorization(&format!("Basic {}", s.token))
                .body(&body)
                .build(),
        ),
        ("unknown verdict", forged),
        ("no context", no_context),
    ] {
        let r = s.answer(&e).await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert_eq!(r.error_kind(), Some("Unauthorized"));
    }
    assert!(s.fake.calls().is_empty());
}

#[tokio::test]
async fn answer_is_400_naming_the_bad_field() {
    let s = Setup::new().await;
    let key = upload_key();
    let ok = s.body(&key);
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases = [
        (without("mentor"), "mentor"),
        (without("question"), "question"),
        (without("video"), "video"),
        (with("mentor", json!(null)), "mentor"),
        (with("mentor", json!(12345)), "mentor"),
        (with("mentor", json!("")), "mentor"),
        (with("mentor", json!("../other")), "mentor"),
        (with("question", json!(["q"])), "question"),
        (with("video", json!({"key": key})), "video"),
        (with("video", json!("")), "video"),
        (with("trim", json!("5-12")), "trim"),
        (with("trim", json!({"end": 12})), "trim.start"),
        (with("trim", json!({"start": 5})), "trim.end"),
        (with("trim", json!({"start": "5", "end": 12})), "trim.start"),
        (with("trim", json!({"start": -1, "end": 12})), "trim.start"),
        (with("trim", json!({"start": 12, "end": 12})), "trim.end"),
        (with("trim", json!({"start": 13, "end": 12})), "trim.end"),
        (
            with("hasEditedTranscript", json!("yes")),
            "hasEditedTranscript",
        ),
        (
            with("maintain_original_aspect_ratio", json!(0)),
            "maintain_original_aspect_ratio",
        ),
        (
            with("generateThumbnail", json!("true")),
            "generateThumbnail",
        ),
        (with("isVbgVideo", json!(1)), "isVbgVideo"),
        (with("externalVideoIds", json!("w1")), "externalVideoIds"),
        (json!([1, 2]), "body"),
    ];
    for (body, expected) in cases {
        let r = s.answer(&answer_event(&s.token, &body)).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(field(&r), Some(expected), "{body}: {:?}", r.body);
        assert_eq!(r.error_kind(), Some("Bad Request"));
    }
    let auth = Event::new(answer::ROUTE).bearer(&s.token);
    for (what, e) in [
        ("no body", auth.clone().build()),
        ("empty body", auth.clone().body("").build()),
        ("not JSON", auth.clone().body("{mentor").build()),
    ] {
        let r = s.answer(&e).await;
        assert_eq!((r.status, field(&r)), (400, Some("body")), "{what}");
    }
    let mut not_base64 = answer_event(&s.token, &ok);
    not_base64["isBase64Encoded"] = json!(true);
    not_base64["body"] = json!("%%%");
    assert_eq!(field(&s.answer(&not_base64).await), Some("body"));
    assert!(s.fake.calls().is_empty(), "no GraphQL call for a bad body");
}

#[tokio::test]
async fn a_base64_body_is_decoded() {
    let s = Setup::new().await;
    // A valid body under someone else's prefix: 403 shows it was decoded and parsed.
    let body = s.body("someone-else/clip").to_string();
    let e = Event::new(answer::ROUTE)
        .bearer(&s.token)
        .body(body)
        .base64()
        .build();
    assert_eq!(s.answer(&e).await.status, 403);
}

#[tokio::test]
async fn answer_is_403_for_an_upload_outside_the_callers_prefix() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    for video in [
        format!("someone-else/{}", uuid::Uuid::new_v4()),
        format!("{USER}x/{}", uuid::Uuid::new_v4()),
        USER.to_string(),
        format!("{USER}/"),
        format!("x/{USER}/clip"),
    ] {
        let r = s.answer(&answer_event(&s.token, &s.body(&video))).await;
        assert_eq!(r.status, 403, "{video}: {:?}", r.body);
    }
    assert!(s.fake.calls().is_empty(), "refused before any GraphQL call");
}

#[tokio::test]
async fn answer_is_403_when_mentor_can_edit_is_false_and_sends_g1_as_the_user() {
    let s = Setup::new().await;
    let r = s
        .answer(&answer_event(&s.token, &s.body(&upload_key())))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.error_kind(), Some("Forbidden"));

    let calls = s.fake.calls();
    assert_eq!(calls.len(), 1, "only G1: {calls:?}");
    let g1 = &calls[0];
    assert_eq!(g1.kind.as_deref(), Some("query"));
    assert_eq!(g1.fields, ["mentorCanEdit"]);
    assert_eq!(g1.variables, json!({"mentor": MENTOR}));
    assert_sent_as(g1, USER);
    assert!(!g1.has_header("mentor-graphql-req"));
    assert_eq!(g1.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn answer_is_502_when_graphql_fails() {
    let s = Setup::new().await;
    s.fake.fail_next(500);
    let r = s
        .answer(&answer_event(&s.token, &s.body(&upload_key())))
        .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert!(!r.body.to_string().contains(&s.token));
}

/// Records an upload of the answer as the service would (G6, with the service key).
async fn seed_upload(s: &Setup) -> TaskSet {
    let service = Credentials::service_key(fake::API_KEY);
    let tasks = TaskSet {
        transcode_web_task: NewTask::queued(TaskKind::TranscodeWeb, "w0"),
        transcode_mobile_task: NewTask::queued(TaskKind::TranscodeMobile, "m0"),
        transcribe_task: None,
        trim_upload_task: None,
    };
    s.graphql
        .create_upload_tasks(&service, MENTOR, QUESTION, &tasks, None)
        .await
        .unwrap();
    s.fake.clear_calls();
    tasks
}

#[tokio::test]
async fn answer_is_409_while_an_upload_is_in_progress_and_sends_g2() {
    let s = Setup::new().await;
    s.fake.grant(USER, MENTOR);
    seed_upload(&s).await;
    let r = s
        .answer(&answer_event(&s.token, &s.body(&upload_key())))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.error_kind(), Some("Conflict"));

    let calls = s.fake.calls();
    assert_eq!(calls.len(), 2, "G1 then G2: {calls:?}");
    let g2 = &calls[1];
    assert_eq!(g2.kind.as_deref(), Some("query"));
    assert_eq!(g2.fields, ["uploadTask"]);
    assert_eq!(
        g2.variables,
        json!({"mentorId": MENTOR, "questionId": QUESTION})
    );
    assert_sent_as(g2, USER);

    // A finished upload does not block the next one (the original's G3 counted any record).
    let service = Credentials::service_key(fake::API_KEY);
    for kind in [TaskKind::TranscodeWeb, TaskKind::TranscodeMobile] {
        s.graphql
            .update_task_status(&service, MENTOR, QUESTION, kind, TaskStatus::Done, None)
            .await
            .unwrap();
    }
    let r = s
        .answer(&answer_event(&s.token, &s.body(&upload_key())))
        .await;
    assert_ne!(r.status, 409, "{:?}", r.body);
}

#[tokio::test]
async fn answer_is_404_for_an_unknown_upload() {
    if !emulator_up("answer_is_404_for_an_unknown_upload") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.grant(USER, MENTOR);
    let r = s
        .answer(&answer_event(&s.token, &s.body(&upload_key())))
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert!(
        s.fake.upload_task(MENTOR, QUESTION).is_none(),
        "no task recorded"
    );
}

#[tokio::test]
async fn answer_is_422_for_an_empty_or_oversized_upload() {
    if !emulator_up("answer_is_422_for_an_empty_or_oversized_upload") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.grant(USER, MENTOR);
    for size in [0, 1025] {
        let key = upload_key();
        s.put_upload(&key, &vec![7u8; size]).await;
        let r = s.answer(&answer_event(&s.token, &s.body(&key))).await;
        assert_eq!(r.status, 422, "{size} bytes: {:?}", r.body);
    }
    assert!(
        s.fake.upload_task(MENTOR, QUESTION).is_none(),
        "no task recorded"
    );
    // The limit itself is accepted.
    let key = upload_key();
    s.put_upload(&key, &[7u8; 1024]).await;
    assert_eq!(
        s.answer(&answer_event(&s.token, &s.body(&key)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn answer_records_the_tasks_clears_the_media_and_starts_the_execution() {
    if !emulator_up("answer_records_the_tasks_clears_the_media_and_starts_the_execution") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.grant(USER, MENTOR);
    s.fake.set_answer(
        MENTOR,
        QUESTION,
        json!({"transcript": "old", "webMedia": {"type": "video", "tag": "web", "url": "videos/old/web.mp4"}}),
    );
    let key = upload_key();
    s.put_upload(&key, b"a clip").await;
    let mut body = s.body(&key);
    body["trim"] = json!({"start": 5, "end": 12.5});
    body["externalVideoIds"] = json!({"wistiaId": "w-1"});
    body["isVbgVideo"] = json!(true);
    body["maintain_original_aspect_ratio"] = json!(null);
    let r = s.answer(&answer_event(&s.token, &body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // 200 body: web, mobile, transcribe, trim; all QUEUED with distinct uuid v4 ids.
    let list = r.body["data"]["taskList"].as_array().unwrap().clone();
    let names: Vec<&str> = list
        .iter()
        .map(|t| t["task_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "transcoding-web",
            "transcoding-mobile",
            "transcribing",
            "trim-upload"
        ]
    );
    let mut ids: Vec<&str> = list
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    }
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert!(list.iter().all(|t| t["status"] == "QUEUED"));
    assert_eq!(
        r.body["data"]["statusUrl"],
        "use taskList to fetch from graphql"
    );

    // The fake's records: the tasks, and the answer's media emptied.
    let record = s.fake.upload_task(MENTOR, QUESTION).unwrap();
    assert_eq!(record["transcodeWebTask"], list[0]);
    assert_eq!(record["trimUploadTask"], list[3]);
    let answer = s.fake.answer(MENTOR, QUESTION).unwrap();
    assert_eq!(answer["webMedia"]["url"], "");
    assert_eq!(answer["externalVideoIds"], json!({"wistiaId": "w-1"}));

    // The execution: its name and input, without any credential.
    let web_id = list[0]["task_id"].as_str().unwrap();
    let executions = s
        .sfn
        .list_executions()
        .state_machine_arn(&s.settings.state_machine_arn)
        .send()
        .await
        .unwrap();
    let execution = executions
        .executions()
        .iter()
        .find(|e| e.name() == execution_name(MENTOR, QUESTION, web_id))
        .expect("an execution named after the answer and the web task id");
    assert!(execution.name().ends_with(web_id));
    let described = s
        .sfn
        .describe_execution()
        .execution_arn(execution.execution_arn())
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({"request": {
            "mentor": MENTOR,
            "question": QUESTION,
            "upload_key": key,
            "trim": {"start": 5.0, "end": 12.5},
            "transcodeWebTask": list[0],
            "transcodeMobileTask": list[1],
            "transcribeTask": list[2],
            "trimUploadTask": list[3],
            "maintain_original_aspect_ratio": false,
            "generate_thumbnail": false,
            "isVbgVideo": true,
        }})
    );
    assert!(!described.input().unwrap().contains(&s.token));
}

#[tokio::test]
async fn answer_sends_g6_with_the_task_set_and_external_ids() {
    if !emulator_up("answer_sends_g6_with_the_task_set_and_external_ids") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.grant(USER, MENTOR);
    let key = upload_key();
    s.put_upload(&key, b"a clip").await;
    let mut body = s.body(&key);
    body["hasEditedTranscript"] = json!(true);
    body["externalVideoIds"] = json!({"wistiaId": "w-2"});
    let r = s.answer(&answer_event(&s.token, &body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let list = &r.body["data"]["taskList"];
    assert_eq!(list.as_array().unwrap().len(), 2, "no transcribe, no trim");

    let calls = s.fake.calls();
    let fields: Vec<&[String]> = calls.iter().map(|c| c.fields.as_slice()).collect();
    assert_eq!(
        fields,
        [
            &["mentorCanEdit".to_string()][..],
            &["uploadTask".to_string()][..],
            &[
                "api.uploadAnswer".to_string(),
                "api.uploadTaskUpdate".to_string()
            ][..],
            &["api.uploadAnswer".to_string()][..],
        ]
    );
    let g6 = &calls[2];
    assert_eq!(g6.kind.as_deref(), Some("mutation"));
    assert_eq!(
        g6.variables,
        json!({
            "mentorId": MENTOR,
            "questionId": QUESTION,
            "answer": {"externalVideoIds": {"wistiaId": "w-2"}},
            "status": {
                "transcodeWebTask": list[0],
                "transcodeMobileTask": list[1],
                "transcribeTask": null,
                "trimUploadTask": null,
            },
        })
    );
    assert_sent_as(g6, USER);
}

#[tokio::test]
async fn answer_sends_g5_clearing_the_media() {
    if !emulator_up("answer_sends_g5_clearing_the_media") {
        return;
    }
    let s = Setup::with_emulator().await;
    s.fake.grant(USER, MENTOR);
    let key = upload_key();
    s.put_upload(&key, b"a clip").await;
    let r = s.answer(&answer_event(&s.token, &s.body(&key))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let calls = s.fake.calls();
    let g5 = calls
        .iter()
        .find(|c| c.fields == ["api.uploadAnswer"])
        .expect("a G5 call");
    assert_eq!(g5.kind.as_deref(), Some("mutation"));
    assert_eq!(
        g5.variables,
        json!({"mentorId": MENTOR, "questionId": QUESTION, "answer": {
            "vttMedia": {"type": "subtitles", "tag": "en", "url": ""},
            "webMedia": {"type": "video", "tag": "web", "url": ""},
            "mobileMedia": {"type": "video", "tag": "mobile", "url": ""},
        }})
    );
    assert_sent_as(g5, USER);
}

#[tokio::test]
async fn a_failed_start_marks_every_task_failed_so_the_next_upload_is_not_409() {
    if !emulator_up("a_failed_start_marks_every_task_failed_so_the_next_upload_is_not_409") {
        return;
    }
    let mut s = Setup::with_emulator().await;
    let working = s.settings.state_machine_arn.clone();
    s.settings.state_machine_arn =
        "arn:aws:states:us-east-1:123456789012:stateMachine:does-not-exist".into();
    s.fake.grant(USER, MENTOR);
    let key = upload_key();
    s.put_upload(&key, b"a clip").await;
    let r = s.answer(&answer_event(&s.token, &s.body(&key))).await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    let record = s.fake.upload_task(MENTOR, QUESTION).unwrap();
    for task in ["transcodeWebTask", "transcodeMobileTask", "transcribeTask"] {
        assert_eq!(record[task]["status"], "FAILED", "{task}: {record}");
    }
    s.settings.state_machine_arn = working;
    assert_eq!(
        s.answer(&answer_event(&s.token, &s.body(&key)))
            .await
            .status,
        200
    );
}

#[test]
fn execution_names_fit_step_functions_and_stay_unique() {
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    assert_eq!(execution_name("m1", "q1", id), format!("m1-q1-{id}"));
    // The original's case: 24-character ids make 86 characters.
    let long = execution_name(MENTOR, QUESTION, id);
    assert!(long.len() <= EXECUTION_NAME_MAX, "{long}");
    assert!(long.ends_with(id), "the whole task id is kept: {long}");
    assert!(long.starts_with(MENTOR));
    // Ids that share the kept prefix still get different names.
    let a = execution_name(&"a".repeat(64), &"b".repeat(60), id);
    let b = execution_name(&"a".repeat(64), &"c".repeat(60), id);
    assert_ne!(a, b);
    assert!(a.len() <= EXECUTION_NAME_MAX && b.len() <= EXECUTION_NAME_MAX);
    assert_eq!(execution_name(MENTOR, QUESTION, id), long, "deterministic");
}

#[tokio::test]
async fn the_api_routes_by_route_key_and_answers_payload_2_0() {
    let s = Setup::new().await;
    let app = Api {
        settings: s.settings.clone(),
        graphql: s.graphql.clone(),
        s3: s.s3.clone(),
        sfn: s.sfn.clone(),
        credentials: credentials(ACCESS_KEY, SECRET_KEY, None),
        media: Default::default(),
    };
    let e = Event::new(upload_url::ROUTE).bearer(&s.token).build();
    let answer = app.handle(&e).await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["isBase64Encoded"], false);
    assert_eq!(answer["headers"]["content-type"], "application/json");
    assert_eq!(
        answer["headers"]["access-control-allow-methods"],
        "GET,PUT,POST,DELETE,OPTIONS"
    );
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert!(body["data"]["fields"]["key"]
        .as_str()
        .unwrap()
        .starts_with(USER));

    let mut other = e.clone();
    other["routeKey"] = json!("POST /nope");
    assert_eq!(app.handle(&other).await["statusCode"], 404);
    // The authorizer's answer for the same request, for symmetry with the gateway.
    assert_eq!(
        auth::response(&Err(auth::AuthError::Signature))["isAuthorized"],
        true
    );
}
