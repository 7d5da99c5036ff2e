//! Streams a generated NDJSON file of the given size (default 1 GiB) through the runner to a
//! local destination that accepts everything; prints records/s and peak memory. Then runs the
//! same job on the same fakes through `bench_requests.py`, a line-by-line Python `requests`
//! runner like the one this service replaces (`BENCH_PYTHON`, default `python3`; skipped when it
//! cannot import `requests`). Run by `cargo xtask bench webhook-runner` (release build); asserts
//! nothing.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use webhook_runner::runner::{Checkpoint, Outcome, Runner};
use webhook_runner::Job;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bytes: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1 << 30);
    let path = std::env::temp_dir().join("webhook-runner-bench.ndjson");
    let started = Instant::now();
    let mut records = 0u64;
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut written = 0u64;
        while written < bytes {
            let line = format!("{{\"id\":{records},\"email\":\"person{records}@example.org\",\"given_name\":\"Given{records}\",\"segment\":\"weekly-contacts\"}}\n");
            w.write_all(line.as_bytes())?;
            written += line.len() as u64;
            records += 1;
        }
    }
    let size = std::fs::metadata(&path)?.len();
    eprintln!(
        "generated {records} records, {size} bytes in {:.1?}",
        started.elapsed()
    );

    let received = Arc::new(AtomicU64::new(0));
    let file = path.clone();
    let app = Router::new()
        .route(
            "/file.ndjson",
            get(move |_h: HeaderMap| {
                let file = file.clone();
                async move {
                    let f = tokio::fs::File::open(file).await.unwrap();
                    let len = f.metadata().await.unwrap().len();
                    let stream = tokio_util_stream(f);
                    (
                        [("content-length", len.to_string())],
                        Body::from_stream(stream),
                    )
                }
            }),
        )
        .route(
            "/records",
            post(
                |State(n): State<Arc<AtomicU64>>, body: axum::body::Bytes| async move {
                    n.fetch_add(body.len() as u64, Ordering::Relaxed);
                    StatusCode::OK
                },
            ),
        )
        .route("/cb/{id}", put(|| async { StatusCode::OK }))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let job = serde_json::json!({
        "settings": {"destination_url": format!("{base}/records"), "batch_size": 10000, "requests_per_minute": 60000,
                     "field_mapping": {"id": "external_id", "email": "Email"}},
        "label_name": "bench", "data_url": format!("{base}/file.ndjson"), "access_token": "t",
        "webhook_id": "bench", "callback_url": format!("{base}/cb/")
    });
    let job_json = job;
    let job = Job::parse(&serde_json::to_vec(&job_json)?, true)?;
    // the worker's own client and limits, with an hour to run
    let http = webhook_runner::handlers::http_client();
    let runner = Runner::new(&http, &job, Instant::now() + Duration::from_secs(3600));
    let t = Instant::now();
    let out = runner.run(Checkpoint::default()).await?;
    let elapsed = t.elapsed();
    let Outcome::Succeeded(cp) = out else {
        return Err(format!("run ended with {out:?}").into());
    };
    println!(
        "webhook-runner: {} records ({:.2} GB) in {:.1?}: {:.0} records/s, {:.0} MB/s read, {} batches, peak memory {} MiB",
        cp.records_sent,
        size as f64 / 1e9,
        elapsed,
        cp.records_sent as f64 / elapsed.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64(),
        cp.batches_sent,
        peak_rss_kib() / 1024
    );
    let rust_rate = cp.records_sent as f64 / elapsed.as_secs_f64();
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bench_requests.py");
    let t = Instant::now();
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .arg(job_json.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await;
    let py_elapsed = t.elapsed();
    match out {
        Ok(o) if o.status.success() => {
            let sent: u64 = String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            let py_rate = sent as f64 / py_elapsed.as_secs_f64();
            println!(
                "python requests (line by line): {sent} records in {py_elapsed:.1?}: {py_rate:.0} records/s"
            );
            println!(
                "webhook-runner {rust_rate:.0} records/s vs python requests {py_rate:.0} records/s: {:.1}×",
                rust_rate / py_rate.max(f64::MIN_POSITIVE)
            );
        }
        Ok(o) => println!(
            "python requests runner: skipped ({python} exited with {}; is `requests` installed?)",
            o.status
        ),
        Err(e) => println!("python requests runner: skipped ({python}: {e})"),
    }
    std::fs::remove_file(&path)?;
    Ok(())
}

/// The file as a stream of 64 KiB chunks.
fn tokio_util_stream(
    f: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}
