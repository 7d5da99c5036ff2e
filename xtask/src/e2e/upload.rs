//! upload-processor as a mentor's browser uses it on the local stage: a presigned POST of a clip
//! that ffmpeg generates here, `POST /upload/answer` with a signed JWT through the local API and
//! its Lambda authorizer, then the `process` execution (the arm64 steps under qemu with the ffmpeg
//! layer, the emulator's Transcribe and the transcripts bucket's notification) to its end. What it
//! wrote is measured with the host's ffprobe; what the GraphQL fake saw is read back from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use infra::stage::Stage;
use serde_json::{json, Value};
use upload_processor::fake::clips::{host_ffmpeg, Clip};
use upload_processor::fake::{sign_jwt, JWT_SECRET};

use super::flows::{api_url, execution_outputs, finished};
use crate::aws::Clients;
use crate::local::fakes::GRAPHQL_PORT;
use crate::{deployed, ui};

/// A source clip: 16:9, so web keeps it as it is and mobile is the centred square (spec §5.3).
const SOURCE: (u32, u32) = (640, 360);
const SOURCE_SECONDS: f64 = 3.0;
/// The trim asked for: the renditions must last about this long, not the source's 3 s.
const TRIM: (f64, f64) = (0.5, 2.5);
/// The renditions' sizes for a 640×360 source: web is the 16:9 frame at the source's height
/// (never scaled up), mobile the square the original's players expect.
const WEB: (u32, u32) = (640, 360);
const MOBILE: (u32, u32) = (480, 480);
/// An execution transcodes twice under qemu: generous, so a busy CI machine does not fail it.
const EXECUTION_LIMIT: Duration = Duration::from_secs(900);

pub(super) struct Deployed {
    pub(super) api: String,
    pub(super) graphql: String,
    pub(super) media_bucket: String,
    state_machine: String,
    dlq_url: String,
}

impl Deployed {
    async fn find(stage: &Stage, clients: &Clients) -> Result<Deployed> {
        let stack = format!("upload-processor-{}", stage.name);
        let ids = deployed::physical_ids(&clients.cfn, &stack)
            .await?
            .with_context(|| format!("{stack} is not deployed"))?;
        let id = |logical: &str| {
            ids.get(logical)
                .cloned()
                .with_context(|| format!("{stack} has no {logical}"))
        };
        Ok(Deployed {
            api: api_url(stage, "upload-processor")?,
            graphql: format!("http://127.0.0.1:{GRAPHQL_PORT}"),
            media_bucket: id("MediaBucket")?,
            state_machine: id("ProcessStateMachine")?,
            dlq_url: id("FailedUploadsDlq")?,
        })
    }
}

/// One mentor, question and user, unique to this run so that earlier runs' records and
/// executions cannot answer for it.
pub(super) struct Answer {
    pub(super) user: String,
    pub(super) mentor: String,
    pub(super) question: String,
}

impl Answer {
    pub(super) fn new(tag: &str) -> Answer {
        let run = super::flows::now_ms();
        Answer {
            user: format!("e2e-user-{run}"),
            mentor: format!("m-{tag}-{run}"),
            question: format!("q-{tag}-{run}"),
        }
    }

    pub(super) fn token(&self) -> String {
        self.token_with_role("USER")
    }

    pub(super) fn token_with_role(&self, role: &str) -> String {
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        sign_jwt(
            JWT_SECRET,
            &json!({"id": self.user, "role": role, "mentorIds": [self.mentor], "exp": exp}),
        )
    }
}

pub async fn upload_processor(stage: &Stage) -> Result<()> {
    let clients = Clients::new(stage).await;
    let d = Deployed::find(stage, &clients).await?;
    let http = support::tls::http_client();
    // kept after the run: the renditions are there to look at when a check fails
    let dir = crate::project_root().join("target/e2e/upload-processor");
    std::fs::create_dir_all(&dir)?;
    let clip = dir.join("answer.mp4");
    generate_clip(&clip).await?;

    // the authorizer refuses before the function runs
    let r = http.get(format!("{}/upload/url", d.api)).send().await?;
    ensure!(
        r.status() == 401,
        "GET /upload/url without a token answered {}",
        r.status()
    );
    let stranger = Answer::new("stranger");
    let wrong_secret = sign_jwt(
        "not-the-stage-secret",
        &json!({"id": stranger.user, "role": "USER", "mentorIds": [], "exp": 4_102_444_800_i64}),
    );
    let r = http
        .get(format!("{}/upload/url", d.api))
        .bearer_auth(wrong_secret)
        .send()
        .await?;
    ensure!(
        r.status() == 401 || r.status() == 403,
        "GET /upload/url with a token of another key answered {}",
        r.status()
    );
    ui::ok("upload-processor: no token and a foreign signature are refused by the authorizer");

    let good = Answer::new("ok");
    seed(&http, &d, &good).await?;
    let key = presigned_upload(&http, &d, &good, &std::fs::read(&clip)?).await?;
    let t = Instant::now();
    let tasks = answer(&http, &d, &good, &key, true).await?;
    let arn = execution_of(&clients, &d, &good, &tasks).await?;
    let status = finished(&clients.sfn, &arn, EXECUTION_LIMIT).await?;
    if status != "SUCCEEDED" {
        bail!(
            "the upload's execution ended {status}; its steps:\n{}",
            execution_outputs(&clients.sfn, &arn).await?.join("\n")
        );
    }
    ui::ok(format!(
        "upload-processor: {} tasks, execution SUCCEEDED in {:.1?} (trim, web, mobile, transcribe)",
        tasks.len(),
        t.elapsed()
    ));
    check_renditions(&clients, &d, &good, &dir).await?;
    check_history(&http, &d, &good, "DONE").await?;
    super::upload_media::media_routes(&http, &clients, &d, &good, &dir).await?;
    super::transfer::transfer(&http, &clients, &d, &clip).await?;

    let bad = Answer::new("corrupt");
    seed(&http, &d, &bad).await?;
    let key = presigned_upload(&http, &d, &bad, b"this is not a video, only text").await?;
    let tasks = answer(&http, &d, &bad, &key, false).await?;
    let arn = execution_of(&clients, &d, &bad, &tasks).await?;
    let status = finished(&clients.sfn, &arn, EXECUTION_LIMIT).await?;
    ensure!(
        status == "FAILED",
        "a corrupt upload's execution ended {status}, not FAILED"
    );
    check_history(&http, &d, &bad, "FAILED").await?;
    let message = dead_letter(&clients, &d, &bad).await?;
    ui::ok(format!(
        "upload-processor: a corrupt upload failed its execution, every task FAILED, DLQ: {}",
        truncate(&message, 160)
    ));
    Ok(())
}

/// The source clip, by the generator the crate's tests use (`fake::clips`), with the host's
/// ffmpeg that the tools phase installs.
async fn generate_clip(path: &Path) -> Result<()> {
    let (w, h) = SOURCE;
    Clip::mp4(w, h, SOURCE_SECONDS)
        .write(&host_ffmpeg(), path)
        .await
        .context("generating the source clip")
}

/// The GraphQL fake's records for the answer: the user may edit the mentor, the mentor and the
/// question exist.
async fn seed(http: &reqwest::Client, d: &Deployed, a: &Answer) -> Result<()> {
    fake_post(
        http,
        d,
        "grant",
        json!({"user": a.user, "mentor": a.mentor}),
    )
    .await?;
    // a known mentor: once the fake knows mentors, an unknown one is "not found"
    fake_post(http, d, "mentor", json!({"id": a.mentor})).await?;
    fake_post(
        http,
        d,
        "question",
        json!({"id": a.question, "name": "What is your name?"}),
    )
    .await
}

/// One of the GraphQL fake's unrecorded seeding routes, `POST /_fake/{path}`.
pub(super) async fn fake_post(
    http: &reqwest::Client,
    d: &Deployed,
    path: &str,
    body: Value,
) -> Result<()> {
    let r = http
        .post(format!("{}/_fake/{path}", d.graphql))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("the GraphQL fake on {} (local up serves it)", d.graphql))?;
    ensure!(
        r.status().is_success(),
        "POST /_fake/{path} answered {}",
        r.status()
    );
    Ok(())
}

/// `GET /upload/url`, then the browser's multipart POST of `bytes` with the fields it returned.
/// Returns the key the upload was stored under.
async fn presigned_upload(
    http: &reqwest::Client,
    d: &Deployed,
    a: &Answer,
    bytes: &[u8],
) -> Result<String> {
    let r = http
        .get(format!("{}/upload/url", d.api))
        .bearer_auth(a.token())
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await.context("GET /upload/url's body")?;
    ensure!(status == 200, "GET /upload/url answered {status}: {body}");
    let url = body["data"]["url"]
        .as_str()
        .with_context(|| format!("no data.url in {body}"))?;
    let fields: BTreeMap<String, String> =
        serde_json::from_value(body["data"]["fields"].clone())
            .with_context(|| format!("data.fields is not a map of strings: {body}"))?;
    let key = fields
        .get("key")
        .cloned()
        .with_context(|| format!("the presigned POST names no key: {body}"))?;
    ensure!(
        key.starts_with(&format!("{}/", a.user)),
        "the presigned key {key} is not under the caller's id {}",
        a.user
    );
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name, value);
    }
    // S3 reads the fields before the file: it must be the last part
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("answer.mp4"),
    );
    let r = http.post(url).multipart(form).send().await?;
    let status = r.status();
    ensure!(
        status.is_success(),
        "the presigned POST to {url} answered {status}: {}",
        r.text().await.unwrap_or_default()
    );
    Ok(key)
}

/// `POST /upload/answer`; returns the tasks it recorded.
async fn answer(
    http: &reqwest::Client,
    d: &Deployed,
    a: &Answer,
    key: &str,
    trim: bool,
) -> Result<Vec<Value>> {
    let mut body = json!({"mentor": a.mentor, "question": a.question, "video": key});
    if trim {
        body["trim"] = json!({"start": TRIM.0, "end": TRIM.1});
    }
    let post = || {
        http.post(format!("{}/upload/answer", d.api))
            .bearer_auth(a.token())
            .json(&body)
            .send()
    };
    let r = post().await?;
    let status = r.status();
    let answer: Value = r.json().await.context("POST /upload/answer's body")?;
    ensure!(
        status == 200,
        "POST /upload/answer answered {status}: {answer}"
    );
    let tasks = answer["data"]["taskList"]
        .as_array()
        .with_context(|| format!("no data.taskList in {answer}"))?;
    // web, mobile and transcribe always; trim when asked
    let expected = 3 + usize::from(trim);
    ensure!(
        tasks.len() == expected,
        "POST /upload/answer recorded {} tasks, not {expected}: {answer}",
        tasks.len()
    );
    // the same answer again while it runs is a conflict, not a second execution
    let r = post().await?;
    ensure!(
        r.status() == 409,
        "a second POST /upload/answer while the first runs answered {}",
        r.status()
    );
    Ok(tasks.clone())
}

/// The execution `POST /upload/answer` started: named after the answer and its web task
/// (`upload_processor::api::answer::execution_name`).
async fn execution_of(
    clients: &Clients,
    d: &Deployed,
    a: &Answer,
    tasks: &[Value],
) -> Result<String> {
    let web = tasks
        .iter()
        .find(|t| t["task_name"] == "transcoding-web")
        .and_then(|t| t["task_id"].as_str())
        .with_context(|| format!("no transcoding-web task in {tasks:?}"))?;
    let name = upload_processor::api::answer::execution_name(&a.mentor, &a.question, web);
    let arn = format!(
        "{}:{name}",
        d.state_machine.replacen(":stateMachine:", ":execution:", 1)
    );
    clients
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .with_context(|| format!("POST /upload/answer answered 200; its execution {arn}"))?;
    Ok(arn)
}

/// web.mp4 and mobile.mp4 at their sizes and the trimmed length, and the subtitles, in the
/// media bucket, measured with ffprobe.
async fn check_renditions(clients: &Clients, d: &Deployed, a: &Answer, dir: &Path) -> Result<()> {
    let prefix = format!("videos/{}/{}", a.mentor, a.question);
    let trimmed = TRIM.1 - TRIM.0;
    for (name, (w, h)) in [("web.mp4", WEB), ("mobile.mp4", MOBILE)] {
        let file = download(clients, &d.media_bucket, &format!("{prefix}/{name}"), dir).await?;
        let (width, height, seconds) = probe(&file)?;
        ensure!(
            (width, height) == (w, h),
            "{prefix}/{name} is {width}x{height}, not {w}x{h}"
        );
        ensure!(
            (seconds - trimmed).abs() < 0.3,
            "{prefix}/{name} lasts {seconds:.2} s; the trim asked for {trimmed:.2} s"
        );
        ui::ok(format!(
            "upload-processor: {prefix}/{name}: {width}x{height}, {seconds:.2} s (ffprobe)"
        ));
    }
    let vtt = download(clients, &d.media_bucket, &format!("{prefix}/en.vtt"), dir).await?;
    let text = std::fs::read_to_string(&vtt)?;
    ensure!(
        text.starts_with("WEBVTT"),
        "{prefix}/en.vtt is not WebVTT: {}",
        truncate(&text, 200)
    );
    ui::ok(format!(
        "upload-processor: {prefix}/en.vtt: {} bytes of WebVTT",
        text.len()
    ));
    Ok(())
}

pub(super) async fn download(
    clients: &Clients,
    bucket: &str,
    key: &str,
    dir: &Path,
) -> Result<PathBuf> {
    let object = clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("s3://{bucket}/{key} after a SUCCEEDED execution"))?;
    let bytes = object.body.collect().await?.into_bytes();
    let path = dir.join(key.replace('/', "_"));
    std::fs::write(&path, &bytes)?;
    Ok(path)
}

/// (width, height, seconds) of the first video stream, by the host's ffprobe.
pub(super) fn probe(file: &Path) -> Result<(u32, u32, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height:format=duration"])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .context("running ffprobe")?;
    ensure!(
        out.status.success(),
        "ffprobe {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let stream = &v["streams"][0];
    let dim = |k: &str| {
        stream[k]
            .as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .with_context(|| format!("ffprobe gave no {k} for {}: {v}", file.display()))
    };
    let seconds = v["format"]["duration"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("ffprobe gave no duration for {}: {v}", file.display()))?;
    Ok((dim("width")?, dim("height")?, seconds))
}

/// Every task of the answer went QUEUED → IN_PROGRESS → `last` in the GraphQL fake, in that
/// order (a failed upload's tasks may fail before they start, so IN_PROGRESS is optional there).
async fn check_history(http: &reqwest::Client, d: &Deployed, a: &Answer, last: &str) -> Result<()> {
    let history: BTreeMap<String, Vec<String>> = http
        .get(format!(
            "{}/_fake/tasks/{}/{}",
            d.graphql, a.mentor, a.question
        ))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        history.len() >= 3,
        "the GraphQL fake recorded statuses of {} tasks: {history:?}",
        history.len()
    );
    for (task, statuses) in &history {
        let ok = match last {
            "DONE" => statuses == &["QUEUED", "IN_PROGRESS", "DONE"],
            _ => {
                statuses.first().map(String::as_str) == Some("QUEUED")
                    && statuses.last().map(String::as_str) == Some(last)
                    && statuses.iter().filter(|s| *s == last).count() == 1
            }
        };
        ensure!(
            ok,
            "{task} of {}/{} went {statuses:?}, expected QUEUED → … → {last}",
            a.mentor,
            a.question
        );
    }
    ui::ok(format!(
        "upload-processor: GraphQL saw {} tasks go QUEUED → … → {last}: {history:?}",
        history.len()
    ));
    Ok(())
}

/// The error handler's DLQ message about this answer (others' messages are left in the queue).
async fn dead_letter(clients: &Clients, d: &Deployed, a: &Answer) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = clients
            .sqs
            .receive_message()
            .queue_url(&d.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .context("ReceiveMessage on the failed-uploads DLQ")?;
        for m in page.messages() {
            let body = m.body().unwrap_or_default();
            if body.contains(&a.mentor) && body.contains(&a.question) {
                if let Some(handle) = m.receipt_handle() {
                    clients
                        .sqs
                        .delete_message()
                        .queue_url(&d.dlq_url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
                return Ok(body.to_string());
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the failed-uploads DLQ holds no message about {}/{}",
            a.mentor,
            a.question
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
