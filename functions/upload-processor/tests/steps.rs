//! The state machine's steps: their pure decisions, then the handlers against the GraphQL fake
//! with the host's ffmpeg, and, when the local emulator is already running on 127.0.0.1:5000,
//! against its S3 (otherwise those cases print a note and pass without running).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use upload_processor::fake::clips::{self, Clip};
use upload_processor::fake::{GraphqlFake, API_KEY};
use upload_processor::ffmpeg::{CommandError, Container, Ffmpeg, ProbeError};
use upload_processor::graphql::{
    Credentials, GraphqlClient, NewTask, TaskKind, TaskSet, TaskState, TaskStatus, UploadTask,
};
use upload_processor::steps::{
    self, failure_reason, rejection_reason, skip_reason, tasks_started_by_prepare, Env, Ext,
    PreparedMedia, Request, Skip, StepError, StepEvent,
};

// ---------------------------------------------------------------------------------------------
// Pure decisions

fn request_json() -> Value {
    json!({
        "mentor": "m1", "question": "q1", "upload_key": "user1/abc",
        "trim": {"start": 0.5, "end": 1.5},
        "transcodeWebTask": {"task_name": "transcoding-web", "task_id": "w1", "status": "QUEUED"},
        "transcodeMobileTask": {"task_name": "transcoding-mobile", "task_id": "mo1", "status": "QUEUED"},
        "transcribeTask": {"task_name": "transcribing", "task_id": "t1", "status": "QUEUED"},
        "trimUploadTask": {"task_name": "trim-upload", "task_id": "tr1", "status": "QUEUED"},
        "maintain_original_aspect_ratio": false, "generate_thumbnail": true, "isVbgVideo": false
    })
}

fn request() -> Request {
    serde_json::from_value(request_json()).unwrap()
}

fn media(container: Ext) -> PreparedMedia {
    PreparedMedia {
        video: format!("videos/m1/q1/original.{}", container.as_str()),
        container,
        duration_ms: 2000,
        has_audio: true,
        width: 320,
        height: 180,
    }
}

fn state(id: &str, status: TaskStatus) -> Option<TaskState> {
    Some(TaskState {
        task_id: id.into(),
        status,
        payload: None,
    })
}

fn upload_task(status: TaskStatus) -> UploadTask {
    UploadTask {
        transcode_web_task: state("w1", status),
        transcode_mobile_task: state("mo1", status),
        transcribe_task: state("t1", status),
        trim_upload_task: state("tr1", status),
    }
}

#[test]
fn the_request_reads_nulls_as_false_and_absent_tasks_as_none() {
    let mut v = request_json();
    v["maintain_original_aspect_ratio"] = Value::Null;
    v["isVbgVideo"] = Value::Null;
    v["transcribeTask"] = Value::Null;
    v.as_object_mut().unwrap().remove("trimUploadTask");
    v.as_object_mut().unwrap().remove("generate_thumbnail");
    let r: Request = serde_json::from_value(v).unwrap();
    assert!(!r.maintain_original_aspect_ratio && !r.is_vbg_video && !r.generate_thumbnail);
    assert_eq!(r.transcribe_task, None);
    assert_eq!(r.trim_upload_task, None);
    assert_eq!(
        r.tasks().iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [TaskKind::TranscodeWeb, TaskKind::TranscodeMobile]
    );
}

#[test]
fn step_events_parse_by_their_step_name() {
    let m = serde_json::to_value(media(Ext::Mp4)).unwrap();
    let e = StepEvent::parse(&json!({"step": "prepare", "request": request_json()})).unwrap();
    assert_eq!(e.name(), "prepare");
    let e = StepEvent::parse(
        &json!({"step": "transcode", "rendition": "mobile", "request": request_json(), "media": m}),
    )
    .unwrap();
    assert!(matches!(
        e,
        StepEvent::Transcode {
            rendition: steps::RenditionName::Mobile,
            ..
        }
    ));
    let e = StepEvent::parse(&json!({"step": "mark-failed", "request": request_json(),
        "error": "States.TaskFailed", "cause": "boom"}))
    .unwrap();
    assert!(
        matches!(e, StepEvent::MarkFailed { error: Some(ref x), cause: Some(_), .. } if x == "States.TaskFailed")
    );
    // A transcode without a rendition, an unknown step, a trim without media are refused.
    for bad in [
        json!({"step": "transcode", "request": request_json(), "media": m}),
        json!({"step": "explode", "request": request_json()}),
        json!({"step": "trim", "request": request_json()}),
    ] {
        let err = StepEvent::parse(&bad).unwrap_err();
        assert_eq!(err.kind(), "InvalidEvent", "{bad}");
    }
}

#[test]
fn media_round_trips_as_the_machine_keeps_it() {
    let v = serde_json::to_value(media(Ext::Webm)).unwrap();
    assert_eq!(
        v,
        json!({"video": "videos/m1/q1/original.webm", "container": "webm", "duration_ms": 2000,
               "has_audio": true, "width": 320, "height": 180})
    );
    assert_eq!(
        serde_json::from_value::<PreparedMedia>(v).unwrap(),
        media(Ext::Webm)
    );
}

#[test]
fn keys_follow_the_static_layout() {
    let r = request();
    assert_eq!(
        r.old_rendition_keys(),
        [
            "videos/m1/q1/original.mp4",
            "videos/m1/q1/original.webm",
            "videos/m1/q1/web.mp4",
            "videos/m1/q1/web.webm",
            "videos/m1/q1/mobile.mp4",
            "videos/m1/q1/mobile.webm",
            "videos/m1/q1/en.vtt",
        ]
    );
    assert_eq!(r.vtt_key(), "videos/m1/q1/en.vtt");
    assert_eq!(
        r.thumbnail_key("20250325T132631Z"),
        "mentor/thumbnails/m1/20250325T132631Z/thumbnail.jpg"
    );
}

#[test]
fn only_a_vbg_webm_stays_webm() {
    let mut r = request();
    assert_eq!(r.output_container(&media(Ext::Webm)), Container::Mp4);
    assert_eq!(r.output_container(&media(Ext::Mp4)), Container::Mp4);
    r.is_vbg_video = true;
    assert_eq!(r.output_container(&media(Ext::Webm)), Container::WebmVp9);
    assert_eq!(r.output_container(&media(Ext::Mp4)), Container::Mp4);
}

#[test]
fn steps_skip_missing_superseded_and_cancelled_tasks() {
    let r = request();
    let running = upload_task(TaskStatus::InProgress);
    assert_eq!(
        skip_reason(&r, Some(&running), TaskKind::TranscodeWeb),
        None
    );
    let mut no_trim = r.clone();
    no_trim.trim_upload_task = None;
    assert_eq!(
        skip_reason(&no_trim, Some(&running), TaskKind::TrimUpload),
        Some(Skip::NotRequested)
    );
    assert_eq!(
        skip_reason(&r, None, TaskKind::TranscodeWeb),
        Some(Skip::NoUploadTask)
    );
    let mut partial = running.clone();
    partial.transcode_mobile_task = None;
    assert_eq!(
        skip_reason(&r, Some(&partial), TaskKind::TranscodeMobile),
        Some(Skip::NoUploadTask)
    );
    let mut newer = running.clone();
    newer.transcode_web_task = state("w2", TaskStatus::Queued);
    assert_eq!(
        skip_reason(&r, Some(&newer), TaskKind::TranscodeWeb),
        Some(Skip::Superseded)
    );
    for s in [TaskStatus::Cancelling, TaskStatus::Cancelled] {
        assert_eq!(
            skip_reason(&r, Some(&upload_task(s)), TaskKind::TranscodeWeb),
            Some(Skip::Cancelled)
        );
    }
}

#[test]
fn prepare_starts_every_task_but_transcription() {
    assert_eq!(
        tasks_started_by_prepare(&request()),
        [
            TaskKind::TranscodeWeb,
            TaskKind::TranscodeMobile,
            TaskKind::TrimUpload
        ]
    );
}

#[test]
fn the_failure_reason_is_the_lambda_error_message() {
    let cause = json!({"errorType": "UploadRejected", "errorMessage": "video too short: 0.5 s"})
        .to_string();
    assert_eq!(
        failure_reason(Some("UploadRejected"), Some(&cause)),
        "UploadRejected: video too short: 0.5 s"
    );
    assert_eq!(
        failure_reason(Some("States.Timeout"), None),
        "States.Timeout"
    );
    assert_eq!(failure_reason(None, Some("plain text")), "plain text");
    assert_eq!(failure_reason(Some(" "), Some("")), "the upload failed");
    let long = "x".repeat(5000);
    assert!(failure_reason(Some("E"), Some(&long)).chars().count() <= 1001);
}

#[test]
fn unusable_uploads_are_rejections_and_a_missing_ffmpeg_is_not() {
    let spawn = ProbeError::Spawn {
        program: "/nope".into(),
        source: std::io::Error::other("missing"),
    };
    assert_eq!(rejection_reason(&spawn), None);
    let short = rejection_reason(&ProbeError::TooShort { seconds: 0.5 }).unwrap();
    assert!(short.starts_with("video too short"), "{short}");
    let none = rejection_reason(&ProbeError::NoVideo {
        file: "/tmp/upload-processor/x/upload".into(),
    })
    .unwrap();
    assert!(
        none.contains("no video") && !none.contains("/tmp"),
        "{none}"
    );
    let trim = StepError::Command(CommandError::Trim {
        start: 3.0,
        end: 1.0,
        reason: "end must be after start",
    });
    assert_eq!(trim.kind(), "UploadRejected");
    assert_eq!(
        StepError::Rejected { reason: "x".into() }.kind(),
        "UploadRejected"
    );
}

// ---------------------------------------------------------------------------------------------
// Handlers: the GraphQL fake, the host's ffmpeg, the emulator's S3 when it runs

fn service() -> Credentials {
    Credentials::service_key(API_KEY)
}

fn ffmpeg() -> Ffmpeg {
    Ffmpeg::new(clips::host_ffmpeg())
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

/// An S3 client of the emulator (path style); never contacted by tests that skip before S3.
async fn s3_client() -> aws_sdk_s3::Client {
    let aws = support::emulator_config().await;
    let conf = aws_sdk_s3::config::Builder::from(&aws)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A per-test name: unique across tests and runs.
fn unique(test: &str) -> String {
    format!(
        "up-{test}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

struct Harness {
    fake: GraphqlFake,
    env: Env,
    root: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn harness(test: &str) -> Harness {
    let fake = GraphqlFake::start().await;
    let name = unique(test);
    let root = std::env::temp_dir().join(&name);
    let env = Env {
        s3: s3_client().await,
        graphql: GraphqlClient::new(support::tls::http_client(), fake.endpoint()),
        credentials: service(),
        ffmpeg: ffmpeg(),
        upload_bucket: format!("{name}-upload"),
        static_bucket: format!("{name}-static"),
        work_root: root.clone(),
    };
    Harness { fake, env, root }
}

async fn seed_tasks(h: &Harness, r: &Request) {
    let tasks = TaskSet {
        transcode_web_task: r.transcode_web_task.clone().unwrap(),
        transcode_mobile_task: r.transcode_mobile_task.clone().unwrap(),
        transcribe_task: r.transcribe_task.clone(),
        trim_upload_task: r.trim_upload_task.clone(),
    };
    h.env
        .graphql
        .create_upload_tasks(&service(), &r.mentor, &r.question, &tasks, None)
        .await
        .unwrap();
    h.fake.clear_calls();
}

async fn create_buckets(h: &Harness) {
    for b in [&h.env.upload_bucket, &h.env.static_bucket] {
        h.env.s3.create_bucket().bucket(b).send().await.unwrap();
    }
}

async fn put(h: &Harness, bucket: &str, key: &str, path: &Path) {
    h.env
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(
            aws_sdk_s3::primitives::ByteStream::from_path(path)
                .await
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn exists(h: &Harness, key: &str) -> Option<String> {
    h.env
        .s3
        .head_object()
        .bucket(&h.env.static_bucket)
        .key(key)
        .send()
        .await
        .ok()
        .map(|o| o.content_type().unwrap_or_default().to_string())
}

async fn download(h: &Harness, key: &str, to: &Path) {
    steps::s3::download(&h.env.s3, &h.env.static_bucket, key, to)
        .await
        .unwrap();
}

/// Writes `clip` to `path` (a fixture: its failure is the test's setup failing).
async fn write(clip: Clip, path: &Path) {
    clip.write(ffmpeg().program(), path)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn statuses(h: &Harness, r: &Request) -> std::collections::BTreeMap<String, Vec<String>> {
    h.fake.task_history(&r.mentor, &r.question)
}

#[tokio::test]
async fn mark_failed_marks_every_task_one_call_each_and_tolerates_a_deleted_upload() {
    let h = harness("markfailed").await;
    let r = request();
    seed_tasks(&h, &r).await;
    let cause =
        json!({"errorType": "UploadRejected", "errorMessage": "no video found"}).to_string();
    let out = steps::mark_failed(&h.env, &r, Some("UploadRejected"), Some(&cause))
        .await
        .unwrap();
    assert_eq!(out["marked"].as_array().unwrap().len(), 4, "{out}");
    let calls = h.fake.calls();
    assert_eq!(calls.len(), 4, "one G8 per task");
    for task in TaskKind::ALL {
        let record = h.fake.upload_task(&r.mentor, &r.question).unwrap();
        assert_eq!(record[task.field()]["status"], "FAILED", "{task:?}");
        assert_eq!(
            record[task.field()]["payload"],
            "UploadRejected: no video found"
        );
        assert_eq!(statuses(&h, &r)[task.field()].last().unwrap(), "FAILED");
    }
    // The client deleted the upload task meanwhile: nothing to mark, and no failure.
    h.fake.delete_upload_task(&r.mentor, &r.question);
    let out = steps::mark_failed(&h.env, &r, Some("E"), None)
        .await
        .unwrap();
    assert_eq!(out["gone"].as_array().unwrap().len(), 4, "{out}");
    // A GraphQL outage is an error (the machine retries the branch), after trying every task.
    seed_tasks(&h, &r).await;
    h.fake.fail_next(503);
    let err = steps::mark_failed(&h.env, &r, Some("E"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "GraphqlError");
    assert_eq!(h.fake.calls().len(), 4);
}

#[tokio::test]
async fn trim_without_a_trim_task_returns_the_media_untouched() {
    let h = harness("notrim").await;
    let mut r = request();
    r.trim_upload_task = None;
    r.trim = None;
    let m = media(Ext::Webm);
    assert_eq!(steps::trim(&h.env, &r, &m).await.unwrap(), m);
    assert!(h.fake.calls().is_empty(), "no GraphQL call");
    // A trim task without a range cannot be done: an error, so the tasks end FAILED.
    let mut r = request();
    r.trim = None;
    assert_eq!(
        steps::trim(&h.env, &r, &m).await.unwrap_err().kind(),
        "InvalidEvent"
    );
}

#[tokio::test]
async fn transcode_skips_cancelled_and_superseded_tasks_without_touching_s3() {
    // The S3 client points at a bucket that does not exist: any S3 call would fail the step.
    let h = harness("transcodeskip").await;
    let r = request();
    seed_tasks(&h, &r).await;
    h.env
        .graphql
        .update_task_status(
            &service(),
            &r.mentor,
            &r.question,
            TaskKind::TranscodeWeb,
            TaskStatus::Cancelled,
            None,
        )
        .await
        .unwrap();
    let out = steps::transcode(
        &h.env,
        &r,
        &media(Ext::Mp4),
        upload_processor::geometry::Rendition::Web,
    )
    .await
    .unwrap();
    assert_eq!(out["skipped"], "the task was cancelled");
    // A newer upload of the answer replaced the mobile task.
    let mut newer = r.clone();
    newer.transcode_mobile_task = Some(NewTask::queued(TaskKind::TranscodeMobile, "mo2"));
    seed_tasks(&h, &newer).await;
    let out = steps::transcode(
        &h.env,
        &r,
        &media(Ext::Mp4),
        upload_processor::geometry::Rendition::Mobile,
    )
    .await
    .unwrap();
    assert_eq!(out["skipped"], "a newer upload replaced the task");
    assert!(
        h.fake
            .calls()
            .iter()
            .all(|c| !c.has_field("api.uploadAnswer")),
        "nothing completed"
    );
}

#[tokio::test]
async fn prepare_trim_and_transcode_an_mp4_on_the_emulator() {
    if !emulator_running() {
        return skip_note("prepare_trim_and_transcode_an_mp4_on_the_emulator");
    }
    let h = harness("mp4").await;
    create_buckets(&h).await;
    let r = request();
    seed_tasks(&h, &r).await;
    let clips = tempdir("mp4");
    let clip = clips.join("clip.mp4");
    write(Clip::mp4(320, 180, 2.0), &clip).await;
    put(&h, &h.env.upload_bucket, &r.upload_key, &clip).await;
    // Left by an earlier upload of the answer: must go.
    put(
        &h,
        &h.env.static_bucket.clone(),
        "videos/m1/q1/web.webm",
        &clip,
    )
    .await;

    let m = steps::prepare(&h.env, &r).await.unwrap();
    assert_eq!(m.video, "videos/m1/q1/original.mp4");
    assert_eq!(
        (m.container, m.has_audio, m.width, m.height),
        (Ext::Mp4, true, 320, 180)
    );
    assert!((1900..=2100).contains(&m.duration_ms), "{m:?}");
    assert_eq!(
        exists(&h, "videos/m1/q1/original.mp4").await.as_deref(),
        Some("video/mp4")
    );
    assert_eq!(
        exists(&h, "videos/m1/q1/web.webm").await,
        None,
        "old rendition deleted"
    );
    let history = statuses(&h, &r);
    for task in ["transcodeWebTask", "transcodeMobileTask", "trimUploadTask"] {
        assert_eq!(history[task], ["QUEUED", "IN_PROGRESS"], "{task}");
    }
    assert_eq!(
        history["transcribeTask"],
        ["QUEUED"],
        "transcribe-start marks it"
    );

    let trimmed = steps::trim(&h.env, &r, &m).await.unwrap();
    assert_eq!(trimmed.video, "videos/m1/q1/original.mp4");
    assert!((900..=1100).contains(&trimmed.duration_ms), "{trimmed:?}");
    assert_eq!(statuses(&h, &r)["trimUploadTask"].last().unwrap(), "DONE");

    let out = steps::transcode(
        &h.env,
        &r,
        &trimmed,
        upload_processor::geometry::Rendition::Web,
    )
    .await
    .unwrap();
    assert_eq!(out["video"], "videos/m1/q1/web.mp4");
    assert_eq!(
        exists(&h, "videos/m1/q1/web.mp4").await.as_deref(),
        Some("video/mp4")
    );
    let thumb = out["thumbnail"].as_str().unwrap();
    assert!(thumb.starts_with("mentor/thumbnails/m1/") && thumb.ends_with("/thumbnail.jpg"));
    assert_eq!(exists(&h, thumb).await.as_deref(), Some("image/jpeg"));
    assert_eq!(h.fake.mentor("m1").unwrap()["thumbnail"], thumb);
    let answer = h.fake.answer("m1", "q1").unwrap();
    assert_eq!(answer["webMedia"]["url"], "videos/m1/q1/web.mp4");
    assert_eq!(answer["webMedia"]["hash"].as_str().unwrap().len(), 40);
    assert_eq!(statuses(&h, &r)["transcodeWebTask"].last().unwrap(), "DONE");

    let local = clips.join("web.mp4");
    download(&h, "videos/m1/q1/web.mp4", &local).await;
    let probe = ffmpeg().probe(&local).await.unwrap();
    let expected = upload_processor::geometry::plan(
        upload_processor::geometry::Rendition::Web,
        upload_processor::geometry::Size::new(320, 180),
        false,
    )
    .unwrap()
    .output();
    assert_eq!(probe.video.display(), expected);
    assert!(dir_is_empty(&h.root), "work directories removed");
    let _ = std::fs::remove_dir_all(&clips);
}

#[tokio::test]
async fn prepare_refuses_a_short_clip_before_deleting_anything() {
    if !emulator_running() {
        return skip_note("prepare_refuses_a_short_clip_before_deleting_anything");
    }
    let h = harness("short").await;
    create_buckets(&h).await;
    let r = request();
    seed_tasks(&h, &r).await;
    let clips = tempdir("short");
    let clip = clips.join("short.mp4");
    write(Clip::mp4(160, 90, 0.5), &clip).await;
    put(&h, &h.env.upload_bucket, &r.upload_key, &clip).await;
    put(
        &h,
        &h.env.static_bucket.clone(),
        "videos/m1/q1/web.mp4",
        &clip,
    )
    .await;
    let err = steps::prepare(&h.env, &r).await.unwrap_err();
    assert_eq!(err.kind(), "UploadRejected", "{err}");
    assert!(err.to_string().contains("too short"), "{err}");
    assert!(
        exists(&h, "videos/m1/q1/web.mp4").await.is_some(),
        "nothing deleted"
    );
    assert!(h.fake.calls().is_empty(), "no task started");

    // Not a video at all.
    let text = clips.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    put(&h, &h.env.upload_bucket, &r.upload_key, &text).await;
    let err = steps::prepare(&h.env, &r).await.unwrap_err();
    assert_eq!(err.kind(), "UploadRejected", "{err}");
    assert!(err.to_string().contains("no video"), "{err}");
    assert!(dir_is_empty(&h.root));
    let _ = std::fs::remove_dir_all(&clips);
}

#[tokio::test]
async fn a_webm_is_trimmed_to_mp4_and_a_vbg_webm_keeps_its_alpha() {
    if !emulator_running() {
        return skip_note("a_webm_is_trimmed_to_mp4_and_a_vbg_webm_keeps_its_alpha");
    }
    let h = harness("webm").await;
    create_buckets(&h).await;
    let r = request();
    seed_tasks(&h, &r).await;
    let clips = tempdir("webm");
    let clip = clips.join("alpha.webm");
    write(Clip::webm_alpha(160, 120, 2.0), &clip).await;
    put(&h, &h.env.upload_bucket, &r.upload_key, &clip).await;

    let m = steps::prepare(&h.env, &r).await.unwrap();
    assert_eq!(
        (m.video.as_str(), m.container),
        ("videos/m1/q1/original.webm", Ext::Webm)
    );
    assert_eq!(exists(&h, &m.video).await.as_deref(), Some("video/webm"));

    // Not a virtual-background video: the trim is stored as MP4 and the WebM goes.
    let trimmed = steps::trim(&h.env, &r, &m).await.unwrap();
    assert_eq!(
        (trimmed.video.as_str(), trimmed.container),
        ("videos/m1/q1/original.mp4", Ext::Mp4)
    );
    assert_eq!(exists(&h, "videos/m1/q1/original.webm").await, None);

    // A virtual-background upload keeps WebM: the mobile rendition in both containers.
    let mut vbg = r.clone();
    vbg.is_vbg_video = true;
    let m = steps::prepare(&h.env, &vbg).await.unwrap();
    let out = steps::transcode(
        &h.env,
        &vbg,
        &m,
        upload_processor::geometry::Rendition::Mobile,
    )
    .await
    .unwrap();
    assert_eq!(out["transparent_video"], "videos/m1/q1/mobile.webm");
    assert_eq!(
        exists(&h, "videos/m1/q1/mobile.webm").await.as_deref(),
        Some("video/webm")
    );
    assert_eq!(
        exists(&h, "videos/m1/q1/mobile.mp4").await.as_deref(),
        Some("video/mp4")
    );
    let answer = h.fake.answer("m1", "q1").unwrap();
    assert_eq!(
        answer["mobileMedia"]["transparentVideoUrl"],
        "videos/m1/q1/mobile.webm"
    );
    let local = clips.join("mobile.webm");
    download(&h, "videos/m1/q1/mobile.webm", &local).await;
    assert!(
        ffmpeg().probe(&local).await.unwrap().video.alpha,
        "alpha kept"
    );
    assert!(dir_is_empty(&h.root));
    let _ = std::fs::remove_dir_all(&clips);
}

fn tempdir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("clips-{test}")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dir_is_empty(root: &Path) -> bool {
    std::fs::read_dir(root).map_or(true, |mut d| d.next().is_none())
}
