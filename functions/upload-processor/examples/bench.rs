//! `cargo xtask bench upload-processor`: wall time of the `transcode` step per clip and
//! rendition, next to the same ffmpeg command run directly on a local file. The difference is
//! what the pipeline adds around ffmpeg: GraphQL calls, the S3 download of the original, the
//! probes of the source and of the rendition, the upload, the SHA-1 of the rendition.
//!
//! The step runs through `steps::handle` with an `Env` built as the shipped handler builds it,
//! except its endpoints: the local emulator's S3 (which must be running: xtask starts it), an
//! in-process GraphQL fake, and the host's ffmpeg (`FFMPEG` or `ffmpeg` on the PATH). Numbers
//! are printed; nothing about them is asserted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use upload_processor::fake::clips::{self, Clip};
use upload_processor::fake::{GraphqlFake, API_KEY};
use upload_processor::ffmpeg::{self, Container, Ffmpeg};
use upload_processor::geometry::Rendition;
use upload_processor::graphql::{Credentials, GraphqlClient, TaskSet};
use upload_processor::steps::{self, Env, PreparedMedia, Request};

/// Runs of each side per clip and rendition; the median is printed.
const RUNS: usize = 3;

struct Case {
    name: &'static str,
    clip: Clip,
    /// A virtual-background upload: the step writes a WebM (alpha kept) and an MP4.
    vbg: bool,
}

/// Long and large enough that encoding dominates each run, small enough that all of it
/// (4 clips × 2 renditions × 3 runs × 2 sides) finishes in a few minutes on a 2-core machine.
fn cases() -> [Case; 4] {
    [
        Case {
            name: "landscape",
            clip: Clip::mp4(1280, 720, 10.0),
            vbg: false,
        },
        Case {
            name: "portrait",
            clip: Clip::mp4(720, 1280, 10.0),
            vbg: false,
        },
        Case {
            name: "square",
            clip: Clip::mp4(720, 720, 10.0),
            vbg: false,
        },
        Case {
            name: "vbg-webm-alpha",
            clip: Clip::webm_alpha(640, 360, 5.0),
            vbg: true,
        },
    ]
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench upload-processor: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let dir = PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target/bench".into()))
        .join("upload-processor");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let program = clips::host_ffmpeg();
    let version = ffmpeg_version(&program)?;

    let s3 = emulator_s3().await?;
    let fake = GraphqlFake::start().await;
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let env = Env {
        s3,
        graphql: GraphqlClient::new(steps::http_client(), fake.endpoint()),
        credentials: Credentials::service_key(API_KEY),
        ffmpeg: Ffmpeg::new(&program),
        upload_bucket: format!("bench-up-{run_id}-upload"),
        static_bucket: format!("bench-up-{run_id}-static"),
        // Beside the direct runs' outputs, so both sides write to the same file system.
        work_root: dir.join("work"),
    };
    for bucket in [&env.upload_bucket, &env.static_bucket] {
        env.s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .with_context(|| format!("creating bucket {bucket} on the emulator"))?;
    }

    println!(
        "upload-processor transcode: median of {RUNS} wall-clock runs; {version}; {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  pipeline: steps::handle(transcode) against the emulator's S3 and a GraphQL fake; \
         ffmpeg: the step's own command line on a local copy"
    );
    println!(
        "{:<34} {:<17} {:>9} {:>9} {:>18}  output",
        "clip", "rendition", "pipeline", "ffmpeg", "overhead"
    );
    let result = run_cases(&env, &dir).await;
    cleanup(&env).await;
    result
}

async fn run_cases(env: &Env, dir: &Path) -> Result<()> {
    for case in cases() {
        let c = case.clip;
        let clip = dir.join(format!("{}.{}", case.name, c.extension()));
        c.write(env.ffmpeg.program(), &clip).await?;
        let label = format!(
            "{} {}x{} {}s{}",
            case.name,
            c.width,
            c.height,
            c.seconds,
            if c.audio { " +audio" } else { "" }
        );

        let request = request(case.name, case.vbg);
        seed_tasks(env, &request).await?;
        env.s3
            .put_object()
            .bucket(&env.upload_bucket)
            .key(&request.upload_key)
            .body(ByteStream::from_path(&clip).await?)
            .send()
            .await
            .context("uploading the clip to the emulator")?;
        let prepared = steps::handle(env, &json!({"step": "prepare", "request": request}))
            .await
            .context("the prepare step")?;
        let media: PreparedMedia = serde_json::from_value(prepared.clone())?;
        // The step probes its download of the same bytes; the direct side plans from this one.
        let probe = env.ffmpeg.probe(&clip).await?;
        let containers = match request.output_container(&media) {
            Container::WebmVp9 => vec![Container::WebmVp9, Container::Mp4],
            Container::Mp4 => vec![Container::Mp4],
        };

        for rendition in [Rendition::Web, Rendition::Mobile] {
            let event = json!({"step": "transcode", "rendition": rendition.to_string(),
                               "request": request, "media": prepared});
            let mut pipeline = Vec::with_capacity(RUNS);
            let mut direct = Vec::with_capacity(RUNS);
            let mut outputs = Value::Null;
            // Alternating the two sides spreads another engineer's load on the shared cores
            // over both instead of one.
            for _ in 0..RUNS {
                let t = Instant::now();
                outputs = steps::handle(env, &event)
                    .await
                    .with_context(|| format!("transcode {rendition} of {}", case.name))?;
                pipeline.push(t.elapsed());
                if let Some(skipped) = outputs.get("skipped") {
                    bail!(
                        "transcode {rendition} of {} was skipped: {skipped}",
                        case.name
                    );
                }

                let t = Instant::now();
                for &container in &containers {
                    let out = dir.join(format!(
                        "direct-{}-{rendition}.{}",
                        case.name,
                        container.extension()
                    ));
                    let command = env.ffmpeg.transcode(
                        &clip,
                        &probe,
                        rendition,
                        request.maintain_original_aspect_ratio,
                        container,
                        &out,
                    )?;
                    ffmpeg::run(&command).await?;
                }
                direct.push(t.elapsed());
            }
            let what = match containers.len() {
                1 => rendition.to_string(),
                _ => format!("{rendition} (webm+mp4)"),
            };
            let sizes = output_sizes(env, &outputs).await?;
            let (p, d) = (median(pipeline), median(direct));
            let extra = p.as_secs_f64() - d.as_secs_f64();
            println!(
                "{label:<34} {what:<17} {:>8.2}s {:>8.2}s {:>+8.0}ms {:>+6.1}%  {sizes}",
                p.as_secs_f64(),
                d.as_secs_f64(),
                extra * 1e3,
                100.0 * extra / d.as_secs_f64(),
            );
        }
    }
    Ok(())
}

/// The request `POST /upload/answer` would start the machine with: no trim, no transcription
/// and no thumbnail, so the step runs the transcode commands and nothing else ffmpeg does.
fn request(question: &str, vbg: bool) -> Request {
    let upload = uuid::Uuid::new_v4();
    serde_json::from_value(json!({
        "mentor": "bench", "question": question, "upload_key": format!("bench-user/{upload}"),
        "transcodeWebTask": {"task_name": "transcoding-web", "task_id": format!("w-{upload}"), "status": "QUEUED"},
        "transcodeMobileTask": {"task_name": "transcoding-mobile", "task_id": format!("m-{upload}"), "status": "QUEUED"},
        "transcribeTask": null, "trimUploadTask": null,
        "maintain_original_aspect_ratio": false, "generate_thumbnail": false, "isVbgVideo": vbg
    }))
    .expect("a well-formed request")
}

/// What the API route records before starting the machine (G6): the step skips a task GraphQL
/// does not know.
async fn seed_tasks(env: &Env, r: &Request) -> Result<()> {
    let tasks = TaskSet {
        transcode_web_task: r.transcode_web_task.clone().expect("set above"),
        transcode_mobile_task: r.transcode_mobile_task.clone().expect("set above"),
        transcribe_task: r.transcribe_task.clone(),
        trim_upload_task: r.trim_upload_task.clone(),
    };
    env.graphql
        .create_upload_tasks(&env.credentials, &r.mentor, &r.question, &tasks, None)
        .await?;
    Ok(())
}

/// The sizes of what the last pipeline run stored, in MB: `webm+mp4` for a VBG video.
async fn output_sizes(env: &Env, outputs: &Value) -> Result<String> {
    let mut sizes = Vec::new();
    for field in ["transparent_video", "video"] {
        let Some(key) = outputs.get(field).and_then(Value::as_str) else {
            continue;
        };
        let head = env
            .s3
            .head_object()
            .bucket(&env.static_bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("HeadObject {key}"))?;
        let bytes = head.content_length().unwrap_or_default();
        sizes.push(format!("{:.2}", bytes as f64 / 1e6));
    }
    Ok(format!("{} MB", sizes.join("+")))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ffmpeg_version(program: &Path) -> Result<String> {
    let out = std::process::Command::new(program)
        .arg("-version")
        .output()
        .with_context(|| format!("no ffmpeg at {} (set FFMPEG to another)", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    // "ffmpeg version 5.1.6-0+deb12u1 Copyright …" → "ffmpeg 5.1.6-0+deb12u1"
    let version = first
        .split_whitespace()
        .nth(2)
        .unwrap_or("(unknown version)");
    Ok(format!("ffmpeg {version}"))
}

/// The emulator's S3, as tests/steps.rs builds it; an error that says how to start the
/// emulator when nothing answers.
async fn emulator_s3() -> Result<aws_sdk_s3::Client> {
    let endpoint = support::emulator_endpoint();
    let hint = "start it with `cargo xtask local up`, or run `cargo xtask bench upload-processor`, which does";
    // A plain connect first: the SDK's dispatch error for a closed port is a page of nested
    // Debug output that hides the one fact that matters.
    let url =
        reqwest::Url::parse(&endpoint).with_context(|| format!("AWS_ENDPOINT_URL {endpoint}"))?;
    let addrs = url
        .socket_addrs(|| None)
        .with_context(|| format!("resolving {endpoint}"))?;
    let connect = tokio::net::TcpStream::connect(&addrs[..]);
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => bail!("the local emulator at {endpoint} is not reachable ({e}): {hint}"),
        Err(_) => {
            bail!("the local emulator at {endpoint} did not accept a connection within 3 s: {hint}")
        }
    }
    let aws = support::emulator_config().await;
    let conf = aws_sdk_s3::config::Builder::from(&aws)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    match tokio::time::timeout(Duration::from_secs(10), s3.list_buckets().send()).await {
        Ok(Ok(_)) => Ok(s3),
        Ok(Err(e)) => bail!(
            "the local emulator at {endpoint} refused ListBuckets ({}): {hint}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        ),
        Err(_) => {
            bail!("the local emulator at {endpoint} did not answer ListBuckets within 10 s: {hint}")
        }
    }
}

/// Empties and deletes the run's buckets: the emulator keeps objects in memory.
async fn cleanup(env: &Env) {
    for bucket in [&env.upload_bucket, &env.static_bucket] {
        if let Ok(list) = env.s3.list_objects_v2().bucket(bucket).send().await {
            for object in list.contents() {
                if let Some(key) = object.key() {
                    let _ = steps::s3::delete_key(&env.s3, bucket, key).await;
                }
            }
        }
        let _ = env.s3.delete_bucket().bucket(bucket).send().await;
    }
    let _ = std::fs::remove_dir_all(&env.work_root);
}
