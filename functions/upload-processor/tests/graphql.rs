//! The GraphQL client against the in-process fake: the request each operation sends (spec §2.2,
//! as the original sends it), the answers it reads, and how failures surface.

use std::time::Duration;

use serde_json::{json, Value};
use support::Secret;
use upload_processor::fake::{self, AuthKind, Call, FakeConfig, GraphqlFake};
use upload_processor::graphql::{
    Completion, Credentials, GraphqlClient, GraphqlError, Media, NewTask, SecretHeader, TaskKind,
    TaskSet, TaskStatus,
};

const M: &str = "6196af5e068d43dc686194f8";
const Q: &str = "61499cfba8bc83d04ac1675d";
const USER: &str = "6196af5e068d43dc686194ed";

fn http() -> reqwest::Client {
    support::tls::http_builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

struct Setup {
    fake: GraphqlFake,
    client: GraphqlClient,
    user: Credentials,
    jwt: String,
}

async fn setup() -> Setup {
    let fake = GraphqlFake::start().await;
    fake.grant(USER, M);
    let jwt = fake.user_token(USER);
    Setup {
        client: GraphqlClient::new(http(), fake.endpoint()),
        user: Credentials::user(jwt.clone()),
        jwt,
        fake,
    }
}

fn last(fake: &GraphqlFake) -> Call {
    fake.calls().pop().expect("a recorded call")
}

/// What every call carries: a JSON body of query and variables only, and the user's JWT.
fn assert_transport(call: &Call) {
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert!(
        !call.sent_operation_name,
        "the original sends no operationName"
    );
    assert_eq!(
        call.auth,
        AuthKind::UserJwt {
            user: Some(USER.into())
        }
    );
    assert!(!call.has_header(fake::SERVICE_REQUEST_HEADER));
}

fn tasks(transcribe: bool, trim: bool) -> TaskSet {
    TaskSet {
        transcode_web_task: NewTask::queued(TaskKind::TranscodeWeb, "u1"),
        transcode_mobile_task: NewTask::queued(TaskKind::TranscodeMobile, "u2"),
        transcribe_task: transcribe.then(|| NewTask::queued(TaskKind::Transcribe, "u3")),
        trim_upload_task: trim.then(|| NewTask::queued(TaskKind::TrimUpload, "u4")),
    }
}

#[tokio::test]
async fn mentor_can_edit_sends_g1_and_reads_the_grant() {
    let s = setup().await;
    assert!(s.client.mentor_can_edit(&s.user, M).await.unwrap());
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(call.operation_name.as_deref(), Some("MentorCanEdit"));
    assert_eq!(call.kind.as_deref(), Some("query"));
    assert_eq!(call.fields, ["mentorCanEdit"]);
    assert!(call.query.contains("mentorCanEdit(mentor: $mentor)"));
    assert_eq!(call.variables, json!({ "mentor": M }));

    assert!(!s.client.mentor_can_edit(&s.user, "other").await.unwrap());
    s.fake.revoke(USER, M);
    assert!(!s.client.mentor_can_edit(&s.user, M).await.unwrap());
}

#[tokio::test]
async fn create_upload_tasks_sends_g6_with_absent_tasks_as_null() {
    let s = setup().await;
    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(true, false), None)
        .await
        .unwrap();
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(
        call.operation_name.as_deref(),
        Some("UpdateUploadAnswerAndTaskStatus")
    );
    assert_eq!(call.kind.as_deref(), Some("mutation"));
    assert_eq!(call.root_field.as_deref(), Some("api"));
    assert_eq!(call.fields, ["api.uploadAnswer", "api.uploadTaskUpdate"]);
    assert_eq!(
        call.variables,
        json!({"mentorId": M, "questionId": Q, "answer": {}, "status": {
            "transcodeWebTask": {"task_name": "transcoding-web", "task_id": "u1", "status": "QUEUED"},
            "transcodeMobileTask": {"task_name": "transcoding-mobile", "task_id": "u2", "status": "QUEUED"},
            "transcribeTask": {"task_name": "transcribing", "task_id": "u3", "status": "QUEUED"},
            "trimUploadTask": null}})
    );
    let history = s.fake.task_history(M, Q);
    assert_eq!(history["transcodeWebTask"], ["QUEUED"]);
    assert!(!history.contains_key("trimUploadTask"));

    let ids = json!({"wistiaId": "w1"});
    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(false, true), Some(&ids))
        .await
        .unwrap();
    let call = last(&s.fake);
    assert_eq!(
        call.variables["answer"],
        json!({"externalVideoIds": {"wistiaId": "w1"}})
    );
    assert_eq!(call.variables["status"]["transcribeTask"], Value::Null);
    assert_eq!(
        s.fake.upload_task(M, Q).unwrap()["transcribeTask"],
        Value::Null
    );
}

#[tokio::test]
async fn clear_answer_media_sends_g5() {
    let s = setup().await;
    s.client.clear_answer_media(&s.user, M, Q).await.unwrap();
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(call.fields, ["api.uploadAnswer"]);
    assert_eq!(
        call.variables,
        json!({"mentorId": M, "questionId": Q, "answer": {
            "vttMedia": {"type": "subtitles", "tag": "en", "url": ""},
            "webMedia": {"type": "video", "tag": "web", "url": ""},
            "mobileMedia": {"type": "video", "tag": "mobile", "url": ""}}})
    );
}

#[tokio::test]
async fn update_task_status_sends_g8_one_partial_task() {
    let s = setup().await;
    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(true, true), None)
        .await
        .unwrap();
    assert!(s
        .client
        .update_task_status(
            &s.user,
            M,
            Q,
            TaskKind::TrimUpload,
            TaskStatus::InProgress,
            None
        )
        .await
        .unwrap());
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(
        call.operation_name.as_deref(),
        Some("UpdateUploadTaskStatus")
    );
    assert_eq!(call.fields, ["api.uploadTaskStatusUpdate"]);
    assert_eq!(
        call.variables,
        json!({"mentorId": M, "questionId": Q,
               "uploadTaskStatusInput": {"trimUploadTask": {"status": "IN_PROGRESS"}}})
    );

    let token = Secret::new("sfn-task-token-1");
    s.client
        .update_task_status(
            &s.user,
            M,
            Q,
            TaskKind::Transcribe,
            TaskStatus::InProgress,
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(
        last(&s.fake).variables["uploadTaskStatusInput"],
        json!({"transcribeTask": {"status": "IN_PROGRESS", "payload": "sfn-task-token-1"}})
    );
    // The server merges field by field: task_id and task_name stay, the payload is kept for G2.
    let task = s.client.upload_task(&s.user, M, Q).await.unwrap().unwrap();
    let transcribe = task.task(TaskKind::Transcribe).unwrap();
    assert_eq!(transcribe.task_id, "u3");
    assert_eq!(
        transcribe.payload.as_ref().map(Secret::expose),
        Some("sfn-task-token-1")
    );
    assert_eq!(
        s.fake.upload_task(M, Q).unwrap()["transcribeTask"]["task_name"],
        "transcribing"
    );
}

#[tokio::test]
async fn update_task_status_answers_false_without_an_upload_task() {
    let s = setup().await;
    let updated = s
        .client
        .update_task_status(
            &s.user,
            M,
            Q,
            TaskKind::TranscodeWeb,
            TaskStatus::Failed,
            None,
        )
        .await
        .unwrap();
    assert!(!updated);
    assert!(s.fake.upload_task(M, Q).is_none());
}

#[tokio::test]
async fn upload_task_sends_g2_and_reads_statuses() {
    let s = setup().await;
    assert!(s.client.upload_task(&s.user, M, Q).await.unwrap().is_none());
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(call.operation_name.as_deref(), Some("UploadTask"));
    assert_eq!(call.fields, ["uploadTask"]);
    assert_eq!(call.variables, json!({"mentorId": M, "questionId": Q}));
    for field in [
        "transcodeWebTask",
        "transcodeMobileTask",
        "transcribeTask",
        "trimUploadTask",
    ] {
        assert!(call.query.contains(field), "{field} selected");
    }

    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(false, false), None)
        .await
        .unwrap();
    let task = s.client.upload_task(&s.user, M, Q).await.unwrap().unwrap();
    assert_eq!(
        task.task(TaskKind::TranscodeWeb).unwrap().status,
        TaskStatus::Queued
    );
    assert!(task.task(TaskKind::Transcribe).is_none());
    assert!(task.in_progress());

    for kind in [TaskKind::TranscodeWeb, TaskKind::TranscodeMobile] {
        s.client
            .update_task_status(&s.user, M, Q, kind, TaskStatus::Done, None)
            .await
            .unwrap();
    }
    // A finished upload's record no longer blocks the next upload (spec §10.2 #16).
    let task = s.client.upload_task(&s.user, M, Q).await.unwrap().unwrap();
    assert!(!task.in_progress());
}

#[tokio::test]
async fn complete_task_sends_g7_per_caller() {
    let s = setup().await;
    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(true, false), None)
        .await
        .unwrap();
    let web = Media {
        duration: Some(13_000.0),
        hash: Some("da39a3ee5e6b4b0d3255bfef95601890afd80709".into()),
        string_metadata: Some("{}".into()),
        transparent_video_url: Some(String::new()),
        ..Media::video("web", format!("videos/{M}/{Q}/web.mp4"))
    };
    assert!(s
        .client
        .complete_task(&s.user, M, Q, &Completion::Web(web.clone()))
        .await
        .unwrap());
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(
        call.operation_name.as_deref(),
        Some("UpdateUploadAnswerAndTaskStatus")
    );
    assert_eq!(
        call.fields,
        ["api.uploadAnswer", "api.uploadTaskStatusUpdate"]
    );
    let w = json!({"type": "video", "tag": "web", "url": format!("videos/{M}/{Q}/web.mp4"),
                   "duration": 13000.0, "hash": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                   "stringMetadata": "{}", "transparentVideoUrl": ""});
    assert_eq!(
        call.variables,
        json!({"mentorId": M, "questionId": Q, "answer": {"webMedia": w},
               "uploadTaskStatusInput": {"transcodeWebTask": {"status": "DONE"}, "webMedia": w}})
    );

    let mobile = Media::video("mobile", format!("videos/{M}/{Q}/mobile.mp4"));
    s.client
        .complete_task(&s.user, M, Q, &Completion::Mobile(mobile))
        .await
        .unwrap();
    let vars = last(&s.fake).variables;
    assert_eq!(vars["answer"]["mobileMedia"]["tag"], "mobile");
    assert_eq!(
        vars["uploadTaskStatusInput"]["transcodeMobileTask"],
        json!({"status": "DONE"})
    );

    let vtt = Media::subtitles(format!("videos/{M}/{Q}/en.vtt"), Some("WEBVTT\n".into()));
    let v = json!({"type": "subtitles", "tag": "en", "url": format!("videos/{M}/{Q}/en.vtt"),
                   "vttText": "WEBVTT\n"});
    s.client
        .complete_task(
            &s.user,
            M,
            Q,
            &Completion::Transcript {
                transcript: "Hello there.".into(),
                vtt: Some(vtt),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        last(&s.fake).variables,
        json!({"mentorId": M, "questionId": Q,
               "answer": {"transcript": "Hello there.", "hasEditedTranscript": false, "vttMedia": v},
               "uploadTaskStatusInput": {"transcript": "Hello there.",
                                         "transcribeTask": {"status": "DONE"}, "vttMedia": v}})
    );

    s.client
        .complete_task(
            &s.user,
            M,
            Q,
            &Completion::Transcript {
                transcript: String::new(),
                vtt: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        last(&s.fake).variables,
        json!({"mentorId": M, "questionId": Q,
               "answer": {"transcript": "", "hasEditedTranscript": false},
               "uploadTaskStatusInput": {"transcript": "", "transcribeTask": {"status": "DONE"}}})
    );
    // uploadAnswer keeps what a call does not send: the web media survive the transcript.
    let answer = s.fake.answer(M, Q).unwrap();
    assert_eq!(answer["webMedia"]["url"], format!("videos/{M}/{Q}/web.mp4"));
    assert_eq!(answer["transcript"], "");
}

#[tokio::test]
async fn question_name_sends_g4() {
    let s = setup().await;
    s.fake.set_question(Q, "_IDLE_");
    assert_eq!(
        s.client.question_name(&s.user, Q).await.unwrap().as_deref(),
        Some("_IDLE_")
    );
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(call.operation_name.as_deref(), Some("Question"));
    assert_eq!(call.fields, ["question"]);
    assert_eq!(call.variables, json!({"id": Q}));
    assert_eq!(s.client.question_name(&s.user, "nope").await.unwrap(), None);
}

#[tokio::test]
async fn thumbnail_vtt_and_answer_send_g9_g11_g18() {
    let s = setup().await;
    let key = format!("mentor/thumbnails/{M}/20250325T132631Z/thumbnail.jpg");
    s.client
        .update_mentor_thumbnail(&s.user, M, &key)
        .await
        .unwrap();
    let call = last(&s.fake);
    assert_transport(&call);
    assert_eq!(
        call.operation_name.as_deref(),
        Some("MentorThumbnailUpdate")
    );
    assert_eq!(call.fields, ["api.mentorThumbnailUpdate"]);
    assert_eq!(call.variables, json!({"mentorId": M, "thumbnail": key}));
    assert_eq!(s.fake.mentor(M).unwrap()["thumbnail"], json!(key));

    let url = format!("videos/{M}/{Q}/en.vtt");
    s.client
        .update_mentor_vtt(&s.user, M, Q, &url, "WEBVTT\n")
        .await
        .unwrap();
    let call = last(&s.fake);
    assert_eq!(call.operation_name.as_deref(), Some("MentorVttUpdate"));
    assert_eq!(
        call.variables,
        json!({"mentorId": M, "questionId": Q, "vttUrl": url, "vttText": "WEBVTT\n"})
    );

    assert!(s.client.answer(&s.user, M, "none").await.unwrap().is_none());
    s.fake.set_answer(
        M,
        Q,
        json!({"transcript": "Hi.", "webMedia": null,
               "mobileMedia": {"type": "video", "tag": "mobile", "url": "videos/m/q/mobile.mp4"}}),
    );
    let answer = s.client.answer(&s.user, M, Q).await.unwrap().unwrap();
    let call = last(&s.fake);
    assert_eq!(call.operation_name.as_deref(), Some("Answer"));
    assert_eq!(call.variables, json!({"mentor": M, "question": Q}));
    assert_eq!(answer.transcript, "Hi.");
    assert_eq!(answer.video().unwrap().tag, "mobile");
}

#[tokio::test]
async fn the_pipeline_drives_tasks_queued_in_progress_done() {
    let s = setup().await;
    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(true, true), None)
        .await
        .unwrap();
    for kind in TaskKind::ALL {
        s.client
            .update_task_status(&s.user, M, Q, kind, TaskStatus::InProgress, None)
            .await
            .unwrap();
    }
    s.client
        .update_task_status(&s.user, M, Q, TaskKind::TrimUpload, TaskStatus::Done, None)
        .await
        .unwrap();
    let web = Media::video("web", "videos/m/q/web.mp4");
    let mobile = Media::video("mobile", "videos/m/q/mobile.mp4");
    for c in [
        Completion::Web(web),
        Completion::Mobile(mobile),
        Completion::Transcript {
            transcript: "x".into(),
            vtt: None,
        },
    ] {
        assert!(s.client.complete_task(&s.user, M, Q, &c).await.unwrap());
    }
    let history = s.fake.task_history(M, Q);
    assert_eq!(history.len(), 4);
    for (task, statuses) in history {
        assert_eq!(statuses, ["QUEUED", "IN_PROGRESS", "DONE"], "{task}");
    }
}

#[tokio::test]
async fn graphql_errors_name_the_operation() {
    let s = setup().await;
    let stranger = Credentials::user(s.fake.user_token("someone-else"));
    let err = s
        .client
        .update_task_status(
            &stranger,
            M,
            Q,
            TaskKind::TranscodeWeb,
            TaskStatus::Failed,
            None,
        )
        .await
        .unwrap_err();
    match &err {
        GraphqlError::Graphql { messages, .. } => {
            assert!(messages[0].contains("permission"), "{messages:?}");
            assert!(
                messages[0].contains("api.uploadTaskStatusUpdate"),
                "{messages:?}"
            );
        }
        other => panic!("expected GraphQL errors, got {other:?}"),
    }
    assert_eq!(err.operation().name, "UpdateUploadTaskStatus");
    assert!(err
        .to_string()
        .starts_with("GraphQL UpdateUploadTaskStatus"));
}

#[tokio::test]
async fn http_failures_carry_the_status_and_never_the_token() {
    let s = setup().await;
    s.fake.fail_next(500);
    let err = s.client.mentor_can_edit(&s.user, M).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(!err.is_unauthorized());
    assert_eq!(err.operation().name, "MentorCanEdit");

    let forged = fake::sign_jwt("not-the-secret", &json!({"id": USER}));
    let err = s
        .client
        .upload_task(&Credentials::user(forged.clone()), M, Q)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.is_unauthorized());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&forged) && !shown.contains(&s.jwt));
    let recorded = format!("{:?}", s.fake.calls());
    assert!(!recorded.contains(&forged) && !recorded.contains(&s.jwt));

    let expired = fake::sign_jwt(fake::JWT_SECRET, &json!({"id": USER, "exp": 1_000_000}));
    let err = s
        .client
        .upload_task(&Credentials::user(expired), M, Q)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn an_unreachable_server_is_a_send_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/graphql", listener.local_addr().unwrap());
    drop(listener);
    let client = GraphqlClient::new(http(), endpoint);
    let err = client
        .mentor_can_edit(&Credentials::user("t"), M)
        .await
        .unwrap_err();
    assert!(matches!(err, GraphqlError::Send { .. }), "{err:?}");
}

#[tokio::test]
async fn the_secret_header_is_sent_and_required() {
    let config = FakeConfig {
        secret_header: Some(("x-mentorpal-secret".into(), "s3cr3t-value".into())),
        ..FakeConfig::default()
    };
    let fake = GraphqlFake::start_with(config).await;
    fake.grant(USER, M);
    let user = Credentials::user(fake.user_token(USER));

    let bare = GraphqlClient::new(http(), fake.endpoint());
    let err = bare.mentor_can_edit(&user, M).await.unwrap_err();
    assert_eq!(err.status(), Some(403));

    let header = SecretHeader::new("x-mentorpal-secret", Secret::new("s3cr3t-value")).unwrap();
    let client = GraphqlClient::new(http(), fake.endpoint()).with_secret_header(header);
    assert!(client.mentor_can_edit(&user, M).await.unwrap());
    let call = last(&fake);
    assert!(call.has_header("x-mentorpal-secret"));
    assert!(!format!("{:?}", fake.calls()).contains("s3cr3t-value"));

    assert!(SecretHeader::new("bad header", Secret::new("v")).is_err());
    assert!(SecretHeader::new("x-h", Secret::new("")).is_err());
}

#[tokio::test]
async fn a_service_key_uses_the_api_key_strategy() {
    let s = setup().await;
    let service = Credentials::service_key(fake::API_KEY);
    assert!(s
        .client
        .mentor_can_edit(&service, "any-mentor")
        .await
        .unwrap());
    let call = last(&s.fake);
    assert_eq!(call.auth, AuthKind::ServiceKey);
    assert!(call.has_header(fake::SERVICE_REQUEST_HEADER));

    let wrong = Credentials::service_key("wrong");
    let err = s.client.mentor_can_edit(&wrong, M).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
}

/// Requests the client never makes, for the fake's own rules (spec §2.1/§2.2 context notes).
#[tokio::test]
async fn the_fake_enforces_mentor_graphql_rules() {
    let s = setup().await;
    let post = |body: Value, token: Option<String>| {
        let mut r = http().post(s.fake.endpoint()).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(
        json!({"query": "mutation { api { mentorThumbnailUpdate(mentorId: \"m\", thumbnail: \"t\") } }"}),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["message"], "Only authenticated users");

    s.client
        .create_upload_tasks(&s.user, M, Q, &tasks(true, true), None)
        .await
        .unwrap();
    let two = "mutation U($i: UploadTaskStatusUpdateInputType!) { api { uploadTaskStatusUpdate(mentorId: \"M\", questionId: \"Q\", uploadTaskStatusInput: $i) } }"
        .replace("\"M\"", &format!("\"{M}\""))
        .replace("\"Q\"", &format!("\"{Q}\""));
    let (_, body) = post(
        json!({"query": two, "variables": {"i": {
            "transcodeWebTask": {"status": "DONE"}, "trimUploadTask": {"status": "DONE"}}}}),
        Some(s.jwt.clone()),
    )
    .await;
    assert_eq!(
        body["errors"][0]["message"],
        "Please only input one task to update at a time."
    );

    // Dispatch is on root fields, whatever the operation is called; aliases are honoured.
    let (_, body) = post(
        json!({"query": "# comment {\nquery Misnamed { ok: mentorCanEdit(mentor: \"x\") }"}),
        Some(s.jwt.clone()),
    )
    .await;
    assert_eq!(body["data"]["ok"], false);
    let (_, body) = post(json!({"query": "{ nope }"}), Some(s.jwt.clone())).await;
    assert_eq!(
        body["errors"][0]["message"],
        "Cannot query field \"nope\" on type \"Query\"."
    );
    let (status, _) = post(json!({"query": "{ nope "}), None).await;
    assert_eq!(status, 400);
}
