//! The transcribe function: its event shapes and decisions without any service, then the
//! handlers against the GraphQL fake and, when the local emulator already runs on
//! 127.0.0.1:5000, its S3, Step Functions and Transcribe (otherwise those cases print a note).

use serde_json::{json, Value};
use support::Secret;
use upload_processor::fake::{GraphqlFake, API_KEY};
use upload_processor::graphql::{
    Credentials, GraphqlClient, NewTask, TaskKind, TaskSet, TaskState, TaskStatus, UploadTask,
};
use upload_processor::steps::{Ext, PreparedMedia, Request, Skip};
use upload_processor::transcribe::{
    self, classify, collect_decision, decode_key, job_name, job_request, json_key_of,
    parse_job_name, parse_vtt_key, start_decision, token_closed, truncate, watch_action,
    CollectDecision, Env, EventError, JobRef, JobState, S3Object, StartDecision, TranscribeEvent,
    WatchAction,
};

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAS3cr3t-t0ken";

fn request_json() -> Value {
    json!({
        "mentor": "m1", "question": "q1", "upload_key": "user1/abc",
        "transcodeWebTask": {"task_name": "transcoding-web", "task_id": "w1", "status": "QUEUED"},
        "transcodeMobileTask": {"task_name": "transcoding-mobile", "task_id": "mo1", "status": "QUEUED"},
        "transcribeTask": {"task_name": "transcribing", "task_id": "t1", "status": "QUEUED"},
        "trimUploadTask": null
    })
}

fn request() -> Request {
    serde_json::from_value(request_json()).unwrap()
}

fn media(has_audio: bool) -> PreparedMedia {
    PreparedMedia {
        video: "videos/m1/q1/original.webm".into(),
        container: Ext::Webm,
        duration_ms: 3000,
        has_audio,
        width: 640,
        height: 360,
    }
}

fn media_json(has_audio: bool) -> Value {
    serde_json::to_value(media(has_audio)).unwrap()
}

fn job() -> JobRef {
    JobRef {
        mentor: "m1".into(),
        question: "q1".into(),
        task_id: "t1".into(),
    }
}

fn transcribe_state(id: &str, status: TaskStatus, token: Option<&str>) -> UploadTask {
    UploadTask {
        transcode_web_task: None,
        transcode_mobile_task: None,
        transcribe_task: Some(TaskState {
            task_id: id.into(),
            status,
            payload: token.map(Secret::new),
        }),
        trim_upload_task: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Event shapes

#[test]
fn the_three_events_are_told_apart_by_shape() {
    let start = json!({"step": "transcribe-start", "request": request_json(),
        "media": media_json(true), "task_token": TOKEN});
    match classify(&start).unwrap() {
        TranscribeEvent::Start(e) => {
            assert_eq!(e.task_token.expose(), TOKEN);
            assert!(!format!("{e:?}").contains(TOKEN), "the token never prints");
        }
        other => panic!("{other:?}"),
    }
    let s3 = json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": "out"}, "object": {"key": "m1/q1/t1/transcribe.vtt", "size": 10}}}]});
    match classify(&s3).unwrap() {
        TranscribeEvent::Collect(objects) => assert_eq!(
            objects,
            [S3Object {
                bucket: "out".into(),
                key: "m1/q1/t1/transcribe.vtt".into()
            }]
        ),
        other => panic!("{other:?}"),
    }
    let scheduled = json!({"version": "0", "detail-type": "Scheduled Event",
        "source": "aws.events", "detail": {}});
    assert!(matches!(
        classify(&scheduled).unwrap(),
        TranscribeEvent::Scheduled
    ));
    assert!(matches!(
        classify(&json!({"source": "aws.events"})).unwrap(),
        TranscribeEvent::Scheduled
    ));
    // the stack's schedule input, and the smoke event
    assert!(matches!(
        classify(&json!({"watch": true})).unwrap(),
        TranscribeEvent::Scheduled
    ));
    assert_eq!(
        classify(&json!({"watch": false})).unwrap_err(),
        EventError::Unrecognized
    );
    assert_eq!(classify(&json!({})).unwrap_err(), EventError::Unrecognized);
    assert!(matches!(
        classify(&json!({"step": "prepare", "request": request_json()})).unwrap_err(),
        EventError::Invalid { .. }
    ));
}

#[test]
fn a_bad_start_event_is_refused_without_echoing_its_token() {
    // No media: the start step cannot decide whether there is audio.
    let bad = json!({"step": "transcribe-start", "request": request_json(), "task_token": TOKEN});
    let err = classify(&bad).unwrap_err();
    assert!(err.to_string().contains("media"), "{err}");
    assert!(!err.to_string().contains(TOKEN));
    let bad =
        json!({"step": "transcribe-start", "request": request_json(), "media": media_json(true)});
    assert!(classify(&bad)
        .unwrap_err()
        .to_string()
        .contains("task_token"));
}

#[test]
fn notification_keys_are_url_decoded() {
    assert_eq!(
        decode_key("m1/q%201/t1/transcribe.vtt"),
        "m1/q 1/t1/transcribe.vtt"
    );
    assert_eq!(decode_key("a+b/c"), "a b/c");
    let s3 = json!({"Records": [{"s3": {"bucket": {"name": "out"},
        "object": {"key": "m%5F1/q1/t1/transcribe.vtt"}}}]});
    let TranscribeEvent::Collect(objects) = classify(&s3).unwrap() else {
        panic!()
    };
    assert_eq!(objects[0].key, "m_1/q1/t1/transcribe.vtt");
}

// ---------------------------------------------------------------------------------------------
// Names and keys

#[test]
fn job_names_round_trip_and_refuse_what_transcribe_refuses() {
    let uuid = "0d9c1c4e-7a0b-4d1b-9a53-2f1f3f6b1a11";
    let name = job_name(&job(), uuid).unwrap();
    assert_eq!(name, format!("m1_q1_t1_{uuid}"));
    assert_eq!(parse_job_name(&name), Some(job()));
    let spaced = JobRef {
        question: "q 1".into(),
        ..job()
    };
    assert_eq!(job_name(&spaced, uuid), None);
    let underscored = JobRef {
        mentor: "m_1".into(),
        ..job()
    };
    assert_eq!(
        job_name(&underscored, uuid),
        None,
        "`_` separates the parts"
    );
    // Other jobs in the account are not ours.
    for other in [
        "medical-job",
        "a_b_c",
        "a_b_c_d_e",
        "m1_q1__x",
        "m1_q1_t 1_x",
    ] {
        assert_eq!(parse_job_name(other), None, "{other}");
    }
}

#[test]
fn only_a_jobs_transcribe_vtt_is_collected() {
    assert_eq!(parse_vtt_key("m1/q1/t1/transcribe.vtt"), Some(job()));
    for other in [
        "m1/q1/t1/transcribe.json",
        "m1/q1/t1/auth_headers.json",
        "m1/q1/transcribe.vtt",
        "x/m1/q1/t1/transcribe.vtt",
        "m1//t1/transcribe.vtt",
        ".write_access_check_file.temp",
    ] {
        assert_eq!(parse_vtt_key(other), None, "{other}");
    }
    assert_eq!(
        json_key_of("m1/q1/t1/transcribe.vtt"),
        "m1/q1/t1/transcribe.json"
    );
}

#[test]
fn the_job_reads_the_stored_original_and_writes_under_its_task() {
    let j = job_request(&request(), &media(true), "static-b", "out-b", "u-1").unwrap();
    assert_eq!(j.name, "m1_q1_t1_u-1");
    assert_eq!(j.media_uri, "s3://static-b/videos/m1/q1/original.webm");
    assert_eq!(j.media_format, Ext::Webm);
    assert_eq!(
        transcribe::media_format(Ext::Webm),
        aws_sdk_transcribe::types::MediaFormat::Webm
    );
    assert_eq!(
        transcribe::media_format(Ext::Mp4),
        aws_sdk_transcribe::types::MediaFormat::Mp4
    );
    assert_eq!(j.output_bucket, "out-b");
    assert_eq!(j.output_key, "m1/q1/t1/transcribe.json");
    assert!(!j.media_uri.contains('$'), "no literal `$` (§3.3)");
    let mut none = request();
    none.transcribe_task = None;
    assert!(job_request(&none, &media(true), "s", "o", "u").is_err());
}

// ---------------------------------------------------------------------------------------------
// Decisions

#[test]
fn start_skips_missing_cancelled_and_superseded_tasks_and_finishes_idle_questions() {
    let r = request();
    let running = transcribe_state("t1", TaskStatus::Queued, None);
    assert_eq!(
        start_decision(&r, Some(&running), Some("why")),
        StartDecision::Proceed
    );
    assert_eq!(
        start_decision(&r, Some(&running), Some("_IDLE_")),
        StartDecision::Idle
    );
    let mut no_task = r.clone();
    no_task.transcribe_task = None;
    assert_eq!(
        start_decision(&no_task, Some(&running), None),
        StartDecision::Skip(Skip::NotRequested)
    );
    assert_eq!(
        start_decision(&r, None, None),
        StartDecision::Skip(Skip::NoUploadTask)
    );
    assert_eq!(
        start_decision(
            &r,
            Some(&transcribe_state("t1", TaskStatus::Cancelling, None)),
            Some("_IDLE_")
        ),
        StartDecision::Skip(Skip::Cancelled),
        "a skip wins over idle"
    );
    assert_eq!(
        start_decision(
            &r,
            Some(&transcribe_state("t0", TaskStatus::Queued, None)),
            None
        ),
        StartDecision::Skip(Skip::Superseded)
    );
}

#[test]
fn only_the_current_running_tasks_job_completes_its_token() {
    let current = transcribe_state("t1", TaskStatus::InProgress, Some(TOKEN));
    match collect_decision(Some(&current), &job()) {
        CollectDecision::Proceed(t) => assert_eq!(t.expose(), TOKEN),
        other => panic!("{other:?}"),
    }
    // A job of an earlier upload of the same answer: never the current token.
    let stale = JobRef {
        task_id: "t0".into(),
        ..job()
    };
    assert!(matches!(
        collect_decision(Some(&current), &stale),
        CollectDecision::Ignore(why) if why.contains("stale")
    ));
    // A second notification finds the task DONE: no second completion.
    let done = transcribe_state("t1", TaskStatus::Done, Some(TOKEN));
    assert!(matches!(
        collect_decision(Some(&done), &job()),
        CollectDecision::Ignore(_)
    ));
    for (task, what) in [
        (
            transcribe_state("t1", TaskStatus::Failed, Some(TOKEN)),
            "failed",
        ),
        (
            transcribe_state("t1", TaskStatus::InProgress, None),
            "no token",
        ),
        (
            transcribe_state("t1", TaskStatus::InProgress, Some("")),
            "empty token",
        ),
    ] {
        assert!(
            matches!(
                collect_decision(Some(&task), &job()),
                CollectDecision::Ignore(_)
            ),
            "{what}"
        );
    }
    assert!(matches!(
        collect_decision(None, &job()),
        CollectDecision::Ignore(_)
    ));
    assert!(matches!(
        collect_decision(
            Some(&transcribe_state("t1", TaskStatus::Cancelled, Some(TOKEN))),
            &job()
        ),
        CollectDecision::Cancelled(_)
    ));
    // The decision prints no token.
    let printed = format!("{:?}", collect_decision(Some(&current), &job()));
    assert!(!printed.contains(TOKEN), "{printed}");
}

#[test]
fn the_watch_heartbeats_running_jobs_and_fails_failed_ones() {
    let current = transcribe_state("t1", TaskStatus::InProgress, Some(TOKEN));
    assert!(matches!(
        watch_action(JobState::Running, None, Some(&current), &job()),
        WatchAction::Heartbeat(t) if t.expose() == TOKEN
    ));
    match watch_action(
        JobState::Failed,
        Some("Unsupported media format"),
        Some(&current),
        &job(),
    ) {
        WatchAction::Fail { reason, .. } => assert_eq!(reason, "Unsupported media format"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        watch_action(JobState::Failed, Some(" "), Some(&current), &job()),
        WatchAction::Fail { reason, .. } if reason == "the Transcribe job failed"
    ));
    // Already failed (by an earlier run), stale, cancelled: nothing sent.
    let failed = transcribe_state("t1", TaskStatus::Failed, Some(TOKEN));
    let stale = transcribe_state("t2", TaskStatus::InProgress, Some(TOKEN));
    let cancelled = transcribe_state("t1", TaskStatus::Cancelled, Some(TOKEN));
    for task in [failed, stale, cancelled] {
        assert!(matches!(
            watch_action(JobState::Running, None, Some(&task), &job()),
            WatchAction::Ignore(_)
        ));
    }
}

#[test]
fn spent_tokens_are_not_errors() {
    for code in ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"] {
        assert!(token_closed(Some(code)), "{code}");
    }
    for code in [Some("ThrottlingException"), Some("InternalFailure"), None] {
        assert!(!token_closed(code), "{code:?}");
    }
    assert_eq!(truncate("abc", 3), "abc");
    assert_eq!(truncate("abcdef", 4), "abc…");
    assert_eq!(truncate(&"é".repeat(300), 256).chars().count(), 256);
}

// ---------------------------------------------------------------------------------------------
// Handlers

fn service() -> Credentials {
    Credentials::service_key(API_KEY)
}

fn emulator_running() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5000".parse().unwrap(),
        std::time::Duration::from_millis(300),
    )
    .is_ok()
}

fn skip_note(test: &str) {
    eprintln!("NOTE: {test} skipped: the local emulator is not running on 127.0.0.1:5000 (not started by tests)");
}

fn unique(test: &str) -> String {
    format!(
        "up-{test}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

async fn harness(test: &str) -> (GraphqlFake, Env) {
    let fake = GraphqlFake::start().await;
    let aws = support::emulator_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    );
    let name = unique(test);
    let env = Env {
        s3,
        sfn: aws_sdk_sfn::Client::new(&aws),
        transcribe: aws_sdk_transcribe::Client::new(&aws),
        graphql: GraphqlClient::new(support::tls::http_client(), fake.endpoint()),
        credentials: service(),
        static_bucket: format!("{name}-static"),
        output_bucket: format!("{name}-out"),
    };
    (fake, env)
}

async fn seed(fake: &GraphqlFake, env: &Env, transcribe_id: &str) {
    let tasks = TaskSet {
        transcode_web_task: NewTask::queued(TaskKind::TranscodeWeb, "w1"),
        transcode_mobile_task: NewTask::queued(TaskKind::TranscodeMobile, "mo1"),
        transcribe_task: Some(NewTask::queued(TaskKind::Transcribe, transcribe_id)),
        trim_upload_task: None,
    };
    env.graphql
        .create_upload_tasks(&service(), "m1", "q1", &tasks, None)
        .await
        .unwrap();
    fake.clear_calls();
}

#[tokio::test]
async fn a_stale_jobs_notification_touches_nothing() {
    // No S3, no Step Functions call happens: the emulator need not run.
    let (fake, env) = harness("stale").await;
    seed(&fake, &env, "t-new").await;
    env.graphql
        .update_task_status(
            &service(),
            "m1",
            "q1",
            TaskKind::Transcribe,
            TaskStatus::InProgress,
            Some(&Secret::new(TOKEN)),
        )
        .await
        .unwrap();
    fake.clear_calls();
    let event = json!({"Records": [{"s3": {"bucket": {"name": env.output_bucket},
        "object": {"key": "m1/q1/t-old/transcribe.vtt"}}}]});
    let out = transcribe::handle(&env, &event).await.unwrap();
    assert!(
        out["objects"][0]["outcome"]
            .as_str()
            .unwrap()
            .contains("stale"),
        "{out}"
    );
    assert_eq!(fake.calls().len(), 1, "only the G2 read");
    assert!(!out.to_string().contains(TOKEN));
    // Another bucket's object is not ours at all: not even GraphQL is asked.
    fake.clear_calls();
    let event = json!({"Records": [{"s3": {"bucket": {"name": "someone-else"},
        "object": {"key": "m1/q1/t-new/transcribe.vtt"}}}]});
    transcribe::handle(&env, &event).await.unwrap();
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_clip_without_audio_finishes_with_an_empty_transcript() {
    if !emulator_running() {
        return skip_note("a_clip_without_audio_finishes_with_an_empty_transcript");
    }
    let (fake, env) = harness("silent").await;
    env.s3
        .create_bucket()
        .bucket(&env.static_bucket)
        .send()
        .await
        .unwrap();
    seed(&fake, &env, "t1").await;
    fake.set_question("q1", "What do you do?");
    let event = json!({"step": "transcribe-start", "request": request_json(),
        "media": media_json(false), "task_token": TOKEN});
    // The emulator knows no such token: SendTaskSuccess answers a spent-token error (logged,
    // not an error) or another error; either way the answer's state is what matters here.
    let result = transcribe::handle(&env, &event).await;
    if let Err(e) = &result {
        assert_eq!(e.kind(), "StepFunctionsError", "{e}");
        assert!(!e.to_string().contains(TOKEN));
    }
    let vtt = env
        .s3
        .get_object()
        .bucket(&env.static_bucket)
        .key("videos/m1/q1/en.vtt")
        .send()
        .await
        .unwrap();
    assert_eq!(vtt.content_type(), Some("text/vtt"));
    let body = vtt.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], upload_processor::vtt::EMPTY.as_bytes());
    assert_eq!(
        fake.task_history("m1", "q1")["transcribeTask"],
        ["QUEUED", "IN_PROGRESS", "DONE"]
    );
    let answer = fake.answer("m1", "q1").unwrap();
    assert_eq!(answer["transcript"], "");
    assert_eq!(answer["vttMedia"]["url"], "videos/m1/q1/en.vtt");
    let task = fake.upload_task("m1", "q1").unwrap();
    assert_eq!(
        task["transcribeTask"]["payload"], TOKEN,
        "the token is kept for the watch"
    );
}

#[tokio::test]
async fn an_idle_question_or_a_cancelled_task_starts_no_job() {
    if !emulator_running() {
        return skip_note("an_idle_question_or_a_cancelled_task_starts_no_job");
    }
    let (fake, env) = harness("idle").await;
    seed(&fake, &env, "t1").await;
    fake.set_question("q1", "_IDLE_");
    let event = json!({"step": "transcribe-start", "request": request_json(),
        "media": media_json(true), "task_token": TOKEN});
    let _ = transcribe::handle(&env, &event).await;
    assert_eq!(
        fake.task_history("m1", "q1")["transcribeTask"],
        ["QUEUED", "DONE"]
    );
    let stored = fake.upload_task("m1", "q1").unwrap();
    assert!(
        stored["transcribeTask"]
            .get("payload")
            .is_none_or(Value::is_null),
        "no token stored"
    );
}

#[tokio::test]
async fn the_collect_path_copies_the_vtt_and_records_the_transcript() {
    if !emulator_running() {
        return skip_note("the_collect_path_copies_the_vtt_and_records_the_transcript");
    }
    let (fake, env) = harness("collect").await;
    for b in [&env.static_bucket, &env.output_bucket] {
        env.s3.create_bucket().bucket(b).send().await.unwrap();
    }
    seed(&fake, &env, "t1").await;
    env.graphql
        .update_task_status(
            &service(),
            "m1",
            "q1",
            TaskKind::Transcribe,
            TaskStatus::InProgress,
            Some(&Secret::new(TOKEN)),
        )
        .await
        .unwrap();
    let json_body = json!({"jobName": "m1_q1_t1_x", "status": "COMPLETED",
        "results": {"transcripts": [{"transcript": "Hello there."}], "items": []}});
    let vtt = "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nHello there.\n";
    for (key, body) in [
        ("m1/q1/t1/transcribe.json", json_body.to_string()),
        ("m1/q1/t1/transcribe.vtt", vtt.to_string()),
    ] {
        env.s3
            .put_object()
            .bucket(&env.output_bucket)
            .key(key)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let event = json!({"Records": [{"s3": {"bucket": {"name": env.output_bucket},
        "object": {"key": "m1/q1/t1/transcribe.vtt"}}}]});
    let result = transcribe::handle(&env, &event).await;
    if let Err(e) = &result {
        assert_eq!(e.kind(), "StepFunctionsError", "{e}");
    }
    let stored = env
        .s3
        .get_object()
        .bucket(&env.static_bucket)
        .key("videos/m1/q1/en.vtt")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.content_type(), Some("text/vtt"));
    assert_eq!(
        &stored.body.collect().await.unwrap().into_bytes()[..],
        vtt.as_bytes()
    );
    let answer = fake.answer("m1", "q1").unwrap();
    assert_eq!(answer["transcript"], "Hello there.");
    assert_eq!(answer["vttMedia"]["vttText"], vtt);
    assert_eq!(
        fake.task_history("m1", "q1")["transcribeTask"]
            .last()
            .unwrap(),
        "DONE"
    );
    // The same notification again (S3 delivers at least once): nothing is completed twice.
    fake.clear_calls();
    let again = transcribe::handle(&env, &event).await.unwrap();
    assert!(
        again["objects"][0]["outcome"]
            .as_str()
            .unwrap()
            .contains("not in progress"),
        "{again}"
    );
    assert_eq!(fake.calls().len(), 1, "only the G2 read");
}

#[tokio::test]
async fn start_starts_a_named_job_on_the_stored_original() {
    if !emulator_running() {
        return skip_note("start_starts_a_named_job_on_the_stored_original");
    }
    let (fake, env) = harness("start").await;
    seed(&fake, &env, "t1").await;
    fake.set_question("q1", "What do you do?");
    let event = json!({"step": "transcribe-start", "request": request_json(),
        "media": media_json(true), "task_token": TOKEN});
    let out = match transcribe::handle(&env, &event).await {
        Ok(out) => out,
        // The emulator may not model Transcribe; the decision and the token storage still ran.
        Err(e) if e.kind() == "TranscribeError" => {
            eprintln!("NOTE: the emulator refused StartTranscriptionJob: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let name = out["job"].as_str().unwrap();
    assert_eq!(parse_job_name(name), Some(job()));
    assert_eq!(out["output_key"], "m1/q1/t1/transcribe.json");
    assert_eq!(
        fake.task_history("m1", "q1")["transcribeTask"],
        ["QUEUED", "IN_PROGRESS"]
    );
    let got = env
        .transcribe
        .get_transcription_job()
        .transcription_job_name(name)
        .send()
        .await
        .unwrap();
    let job = got.transcription_job().unwrap();
    assert_eq!(
        job.media().and_then(|m| m.media_file_uri()),
        Some(format!("s3://{}/videos/m1/q1/original.webm", env.static_bucket).as_str())
    );
}
