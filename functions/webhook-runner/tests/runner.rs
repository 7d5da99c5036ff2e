//! The worker core against local fakes (wiremock): a file server with Range support, the
//! destination API and Amperity's callback; and (axum, `fakes`) a file server that cuts or stalls
//! connections.

mod fakes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fakes::Fault;
use serde_json::{json, Value};
use webhook_runner::handlers::http_client;
use webhook_runner::runner::{Checkpoint, Outcome, RunError, Runner};
use webhook_runner::Job;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Serves `data`, honouring `Range: bytes=N-` when `ranges` is on; remembers the Range headers.
#[derive(Clone)]
struct FileServer {
    data: Arc<Vec<u8>>,
    ranges: bool,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Respond for FileServer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let range = req
            .headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(r) = &range {
            self.seen.lock().unwrap().push(r.clone());
        }
        match range.and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        }) {
            Some(start) if self.ranges && start >= self.data.len() => ResponseTemplate::new(416),
            Some(start) if self.ranges => ResponseTemplate::new(206)
                .insert_header(
                    "content-range",
                    format!("bytes {start}-{}/{}", self.data.len() - 1, self.data.len()).as_str(),
                )
                .set_body_bytes(self.data[start..].to_vec()),
            _ => ResponseTemplate::new(200).set_body_bytes(self.data.to_vec()),
        }
    }
}

/// Accepts everything and records each body with its arrival time.
#[derive(Clone, Default)]
struct Destination {
    bodies: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Respond for Destination {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.bodies
            .lock()
            .unwrap()
            .push((Instant::now(), serde_json::from_slice(&req.body).unwrap()));
        ResponseTemplate::new(200)
    }
}

struct Fakes {
    server: MockServer,
    file: FileServer,
    dest: Destination,
}

fn ndjson(n: usize) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("{{\"id\":{i},\"email\":\"u{i}@example.org\",\"secret\":\"s{i}\"}}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Mount the file (Range-aware when `ranges`) and a callback answering `callback`.
async fn mount_file_and_callback(
    server: &MockServer,
    data: Vec<u8>,
    ranges: bool,
    callback: u16,
) -> FileServer {
    let file = FileServer {
        data: Arc::new(data),
        ranges,
        seen: Arc::default(),
    };
    Mock::given(method("GET"))
        .and(path("/file.ndjson"))
        .respond_with(file.clone())
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cb/wh-1"))
        .respond_with(ResponseTemplate::new(callback))
        .mount(server)
        .await;
    file
}

async fn fakes(data: Vec<u8>, ranges: bool) -> Fakes {
    let server = MockServer::start().await;
    let file = mount_file_and_callback(&server, data, ranges, 200).await;
    let dest = Destination::default();
    Mock::given(method("POST"))
        .and(path("/records"))
        .respond_with(dest.clone())
        .mount(&server)
        .await;
    Fakes { server, file, dest }
}

fn job(f: &Fakes, settings: Value) -> Job {
    let mut s = json!({"destination_url": format!("{}/records", f.server.uri()), "batch_size": 2, "requests_per_minute": 60000});
    for (k, v) in settings.as_object().unwrap() {
        s[k] = v.clone();
    }
    let body = json!({
        "settings": s, "label_name": "test", "data_url": format!("{}/file.ndjson", f.server.uri()),
        "access_token": "amperity-token", "webhook_id": "wh-1", "callback_url": format!("{}/cb/", f.server.uri()),
        "tenant_id": "acme"
    });
    Job::parse(&serde_json::to_vec(&body).unwrap(), true).unwrap()
}

fn runner<'a>(http: &'a reqwest::Client, job: &'a Job, budget: Duration) -> Runner<'a> {
    Runner {
        http,
        job,
        deadline: Instant::now() + budget,
        margin: Duration::ZERO,
        report_every: Duration::from_secs(3600),
        max_attempts: 4,
        // one attempt: a quarter of the budget, so short budgets still send a few batches
        request_timeout: (budget / 4).min(Duration::from_secs(10)),
        read_timeout: Duration::from_secs(5),
        max_runs_without_progress: 20,
    }
}

/// Callback bodies in order.
async fn reports(f: &Fakes) -> Vec<Value> {
    f.server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| {
            assert_eq!(
                r.headers.get("authorization").unwrap(),
                "Bearer amperity-token"
            );
            assert_eq!(r.headers.get("x-amperity-tenant").unwrap(), "acme");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

fn ids(f: &Fakes) -> Vec<u64> {
    f.dest
        .bodies
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, b)| {
            b.as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn happy_path_sends_exact_batches_and_reports_in_order() {
    let f = fakes(ndjson(5), true).await;
    let j = job(&f, json!({}));
    let http = http_client();
    let out = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    let Outcome::Succeeded(cp) = out else {
        panic!("{out:?}")
    };
    assert_eq!((cp.batches_sent, cp.records_sent), (3, 5));
    let sizes: Vec<usize> = f
        .dest
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(ids(&f), [1, 2, 3, 4, 5]);
    let r = reports(&f).await;
    assert_eq!(r.first().unwrap()["state"], "running");
    assert_eq!(r.last().unwrap()["state"], "succeeded");
    assert_eq!(r.last().unwrap()["progress"], 1.0);
}

#[tokio::test]
async fn data_key_and_field_mapping_shape_the_body() {
    let f = fakes(ndjson(2), true).await;
    let j = job(
        &f,
        json!({"data_key": "items", "field_mapping": {"id": "external_id", "email": "Email"}}),
    );
    let http = http_client();
    runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    let bodies = f.dest.bodies.lock().unwrap();
    assert_eq!(
        bodies[0].1,
        json!({"items": [{"external_id": 1, "Email": "u1@example.org"}, {"external_id": 2, "Email": "u2@example.org"}]})
    );
}

#[tokio::test]
async fn a_forbidden_download_fails_the_job_and_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/file.ndjson"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cb/wh-1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let f = Fakes {
        server,
        file: FileServer {
            data: Arc::default(),
            ranges: true,
            seen: Arc::default(),
        },
        dest: Destination::default(),
    };
    let j = job(&f, json!({}));
    let http = http_client();
    let out = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    let Outcome::Failed(reason, _) = out else {
        panic!("{out:?}")
    };
    assert!(reason.contains("HTTP 403"), "{reason}");
    let r = reports(&f).await;
    assert_eq!(r.last().unwrap()["state"], "failed");
    assert!(r.last().unwrap()["reason"]
        .as_str()
        .unwrap()
        .contains("403"));
    assert!(ids(&f).is_empty());
}

#[tokio::test]
async fn a_failing_status_endpoint_stops_the_job_before_anything_is_sent() {
    let server = MockServer::start().await;
    let file = mount_file_and_callback(&server, ndjson(3), true, 500).await;
    let f = Fakes {
        server,
        file,
        dest: Destination::default(),
    };
    let j = job(&f, json!({}));
    let http = http_client();
    let err = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Start(_)));
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert!(!err.to_string().contains("amperity-token"));
    let requests = f.server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.method.as_str() != "GET"),
        "the file must not be downloaded"
    );
}

#[tokio::test]
async fn destination_400_text_lands_in_the_errors_and_429_is_retried() {
    let server = MockServer::start().await;
    let file = mount_file_and_callback(&server, ndjson(4), true, 200).await;
    // first batch: 429 once, then accepted; second batch: rejected with a reason
    Mock::given(method("POST"))
        .and(path("/records"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/records"))
        .and(wiremock::matchers::body_partial_json(json!([{"id": 3}])))
        .respond_with(
            ResponseTemplate::new(400).set_body_string("record 3: email domain not allowed"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/records"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let f = Fakes {
        server,
        file,
        dest: Destination::default(),
    };
    let j = job(&f, json!({}));
    let http = http_client();
    let Outcome::Succeeded(cp) = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        cp.batches_sent, 1,
        "the rejected batch is not counted as sent"
    );
    assert_eq!(
        cp.errors,
        ["lines 3-4: destination answered HTTP 400: record 3: email domain not allowed"]
    );
    let posts = f
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 3, "429, retry, then the rejected batch");
    let last = reports(&f).await.pop().unwrap();
    assert_eq!(last["errors"], json!(cp.errors));
}

#[tokio::test]
async fn malformed_lines_are_reported_with_their_numbers() {
    let data = b"{\"id\":1}\nnot json\n\n{\"id\":2}\n{\"id\":\n".to_vec();
    let f = fakes(data, true).await;
    let j = job(&f, json!({}));
    let http = http_client();
    let Outcome::Succeeded(cp) = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(ids(&f), [1, 2]);
    assert_eq!(cp.errors.len(), 2);
    assert!(
        cp.errors[0].starts_with("line 2: not JSON"),
        "{:?}",
        cp.errors
    );
    assert!(
        cp.errors[1].starts_with("line 5: not JSON"),
        "{:?}",
        cp.errors
    );
}

#[tokio::test]
async fn an_empty_file_succeeds_without_posting() {
    let f = fakes(Vec::new(), true).await;
    let j = job(&f, json!({}));
    let http = http_client();
    let out = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    assert!(
        matches!(out, Outcome::Succeeded(ref cp) if cp.batches_sent == 0),
        "{out:?}"
    );
    assert_eq!(reports(&f).await.last().unwrap()["state"], "succeeded");
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let f = fakes(ndjson(12), true).await;
    let j = job(&f, json!({"batch_size": 1, "requests_per_minute": 600}));
    let http = http_client();
    runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    let times: Vec<Instant> = f
        .dest
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times.len(), 12);
    // 600 a minute is one every 100 ms: in any 500 ms window at most 1 + 5 requests
    for (i, t) in times.iter().enumerate() {
        let window = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_millis(500))
            .count();
        assert!(window <= 6, "{window} requests within 500 ms");
    }
    let span = times[11] - times[0];
    assert!(
        span >= Duration::from_millis(1000),
        "12 requests at 10/s took only {span:?}"
    );
}

async fn continue_until_done(j: &Job) -> (Checkpoint, u32) {
    let http = http_client();
    let mut cp = Checkpoint::default();
    let mut continuations = 0;
    loop {
        // a budget for a few batches at 20 a second
        match runner(&http, j, Duration::from_millis(300))
            .run(cp)
            .await
            .unwrap()
        {
            Outcome::Continue(next, _) => {
                continuations += 1;
                assert!(continuations < 100);
                cp = next;
            }
            Outcome::Succeeded(done) => return (done, continuations),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn continuations_deliver_every_record_once_resuming_at_the_byte_offset() {
    let f = fakes(ndjson(40), true).await;
    let j = job(&f, json!({"batch_size": 3, "requests_per_minute": 1200}));
    let (cp, continuations) = continue_until_done(&j).await;
    assert!(
        continuations >= 2,
        "the tiny deadline should force continuations, got {continuations}"
    );
    assert_eq!(
        ids(&f),
        (1..=40).collect::<Vec<u64>>(),
        "every record exactly once, in order"
    );
    assert_eq!(cp.records_sent, 40);
    let starts: Vec<usize> = f
        .file
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            r.trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(
        starts.len(),
        continuations as usize,
        "every continuation asks for a Range"
    );
    let data = ndjson(40);
    for w in starts.windows(2) {
        assert!(w[0] < w[1], "resume offsets must move forward: {starts:?}");
    }
    for s in &starts {
        assert_eq!(data[s - 1], b'\n', "resume at byte {s} is not a line start");
    }
}

#[tokio::test]
async fn continuations_work_when_the_server_ignores_range() {
    let f = fakes(ndjson(25), false).await;
    let j = job(&f, json!({"batch_size": 2, "requests_per_minute": 1200}));
    let (_, continuations) = continue_until_done(&j).await;
    assert!(continuations >= 1);
    assert_eq!(ids(&f), (1..=25).collect::<Vec<u64>>());
}

/// Fakes whose data file comes from the misbehaving axum server.
async fn faulty_fakes(
    data: Vec<u8>,
    ranges: bool,
    faults: Vec<(usize, Fault)>,
) -> (Fakes, fakes::FileServer) {
    let f = fakes(Vec::new(), true).await;
    let file = fakes::FileServer::start(data, ranges, faults).await;
    (f, file)
}

fn job_with_file(f: &Fakes, file: &fakes::FileServer, settings: Value) -> Job {
    let mut j = job(f, settings);
    j.data_url = file.url.clone();
    j
}

#[tokio::test]
async fn a_job_longer_than_a_minute_succeeds_through_the_workers_client() {
    // 90 records, one a request, 60 requests a minute: about 90 seconds of streaming
    let f = fakes(ndjson(90), true).await;
    let j = job(&f, json!({"batch_size": 1, "requests_per_minute": 60}));
    let http = http_client();
    let started = Instant::now();
    let out = Runner::new(&http, &j, Instant::now() + Duration::from_secs(900))
        .run(Checkpoint::default())
        .await
        .unwrap();
    let Outcome::Succeeded(cp) = out else {
        panic!("{out:?}")
    };
    assert!(
        started.elapsed() > Duration::from_secs(80),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        ids(&f),
        (1..=90).collect::<Vec<u64>>(),
        "every record once, in order"
    );
    assert_eq!((cp.records_sent, cp.runs), (90, 1));
    assert!(
        f.file.seen.lock().unwrap().is_empty(),
        "one GET for the whole job: the client did not time the download out"
    );
    let r = reports(&f).await;
    assert_eq!(r.last().unwrap()["state"], "succeeded");
    assert!(r.iter().all(|r| r["state"] != "failed"), "{r:?}");
}

#[tokio::test]
async fn a_cut_connection_resumes_with_range_in_the_same_run() {
    let data = ndjson(300);
    // mid-line, past the first chunk
    let cut = 10_000;
    assert_ne!(data[cut - 1], b'\n');
    let (f, file) = faulty_fakes(data.clone(), true, vec![(cut, Fault::Cut)]).await;
    let j = job_with_file(&f, &file, json!({"batch_size": 7}));
    let http = http_client();
    let out = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    let Outcome::Succeeded(cp) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        ids(&f),
        (1..=300).collect::<Vec<u64>>(),
        "nothing lost, nothing twice"
    );
    assert_eq!(cp.runs, 1);
    assert_eq!(cp.bytes_read, data.len() as u64);
    assert_eq!(file.seen(), [None, Some(format!("bytes={cut}-"))]);
}

#[tokio::test]
async fn a_server_without_range_is_read_again_and_what_was_received_skipped() {
    let data = ndjson(300);
    let cut = 10_000;
    let (f, file) = faulty_fakes(data.clone(), false, vec![(cut, Fault::Cut)]).await;
    let j = job_with_file(&f, &file, json!({"batch_size": 7}));
    let http = http_client();
    let out = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Succeeded(_)), "{out:?}");
    assert_eq!(ids(&f), (1..=300).collect::<Vec<u64>>());
    assert_eq!(file.seen(), [None, Some(format!("bytes={cut}-"))]);
    // the second answer was the whole file again
    assert_eq!(out.checkpoint().bytes_read, (cut + data.len()) as u64);
}

#[tokio::test]
async fn a_stalled_connection_is_reopened_after_the_read_timeout() {
    let data = ndjson(300);
    let stall = 9_000;
    let (f, file) = faulty_fakes(data, true, vec![(stall, Fault::Stall)]).await;
    let j = job_with_file(&f, &file, json!({"batch_size": 50}));
    let http = http_client();
    let mut r = runner(&http, &j, Duration::from_secs(60));
    r.read_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let out = r.run(Checkpoint::default()).await.unwrap();
    assert!(matches!(out, Outcome::Succeeded(_)), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(ids(&f), (1..=300).collect::<Vec<u64>>());
    assert_eq!(file.seen(), [None, Some(format!("bytes={stall}-"))]);
}

#[tokio::test]
async fn a_file_that_keeps_breaking_continues_later_from_the_last_sent_batch() {
    let data = ndjson(300);
    // the connection breaks at byte 5000, and again at once each time it is reopened
    let faults = vec![(5000, Fault::Cut); 20];
    let (f, file) = faulty_fakes(data, true, faults).await;
    let j = job_with_file(&f, &file, json!({"batch_size": 2}));
    let http = http_client();
    let mut r = runner(&http, &j, Duration::from_secs(60));
    r.max_attempts = 2;
    let out = r.run(Checkpoint::default()).await.unwrap();
    let Outcome::Continue(cp, delay) = out else {
        panic!("{out:?}")
    };
    assert!(delay >= Duration::from_secs(30), "{delay:?}");
    assert!(
        cp.last_problem
            .as_deref()
            .unwrap()
            .contains("reading the data file failed"),
        "{cp:?}"
    );
    // the checkpoint is at a line start after the last delivered batch
    let sent = ids(&f);
    assert_eq!(cp.records_sent, sent.len() as u64);
    assert_eq!(cp.line, sent.len() as u64 + 1);
}

/// Four records and a destination that answers every POST with 429 and `Retry-After: 300`.
async fn fakes_answering_429_for_five_minutes() -> Fakes {
    let server = MockServer::start().await;
    let file = mount_file_and_callback(&server, ndjson(4), true, 200).await;
    Mock::given(method("POST"))
        .and(path("/records"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "300"))
        .mount(&server)
        .await;
    Fakes {
        server,
        file,
        dest: Destination::default(),
    }
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_ends_the_run_as_a_continuation_at_once() {
    let f = fakes_answering_429_for_five_minutes().await;
    let j = job(&f, json!({}));
    let http = http_client();
    let started = Instant::now();
    let mut r = runner(&http, &j, Duration::from_secs(20));
    r.request_timeout = Duration::from_secs(2);
    let out = r.run(Checkpoint::default()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    let Outcome::Continue(cp, delay) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        delay,
        Duration::from_secs(300),
        "the next run waits in the queue"
    );
    assert_eq!((cp.offset, cp.line, cp.records_sent), (0, 1, 0));
    assert_eq!(cp.runs_without_progress, 1);
    assert!(
        cp.last_problem
            .as_deref()
            .unwrap()
            .contains("HTTP 429 (Retry-After: 300)"),
        "{cp:?}"
    );
    assert!(reports(&f).await.iter().all(|r| r["state"] == "running"));
}

#[tokio::test]
async fn a_destination_that_429s_forever_fails_after_runs_without_progress() {
    let f = fakes_answering_429_for_five_minutes().await;
    let j = job(&f, json!({}));
    let http = http_client();
    let mut cp = Checkpoint::default();
    let mut continuations = 0;
    let (reason, cp) = loop {
        let mut r = runner(&http, &j, Duration::from_secs(20));
        r.request_timeout = Duration::from_secs(2);
        r.max_runs_without_progress = 3;
        match r.run(cp).await.unwrap() {
            Outcome::Continue(next, _) => {
                continuations += 1;
                cp = next;
            }
            Outcome::Failed(reason, cp) => break (reason, cp),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(continuations, 2);
    assert_eq!(cp.runs, 3);
    assert!(
        reason.starts_with("no progress in 3 runs in a row at line 1: "),
        "{reason}"
    );
    assert!(reason.contains("HTTP 429"), "{reason}");
    let last = reports(&f).await.pop().unwrap();
    assert_eq!(last["state"], "failed");
    assert_eq!(last["reason"], reason);
}

#[tokio::test]
async fn a_refused_running_report_is_a_refusal_and_nothing_is_read() {
    let server = MockServer::start().await;
    let file = mount_file_and_callback(&server, ndjson(3), true, 401).await;
    let f = Fakes {
        server,
        file,
        dest: Destination::default(),
    };
    let j = job(&f, json!({}));
    let http = http_client();
    let RunError::Start(e) = runner(&http, &j, Duration::from_secs(60))
        .run(Checkpoint::default())
        .await
        .unwrap_err();
    assert!(e.is_refusal(), "{e}");
    let requests = f.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one PUT, no retries, no download");
}

#[tokio::test]
async fn every_wait_ends_before_the_hand_over_point() {
    // one request a minute: the rate limit's wait alone outlasts a 3-second run
    let f = fakes(ndjson(4), true).await;
    let j = job(&f, json!({"batch_size": 1, "requests_per_minute": 1}));
    let http = http_client();
    let started = Instant::now();
    let mut r = runner(&http, &j, Duration::from_secs(3));
    r.request_timeout = Duration::from_millis(500);
    let out = r.run(Checkpoint::default()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let Outcome::Continue(cp, _) = out else {
        panic!("{out:?}")
    };
    assert_eq!(cp.records_sent, 1);
    assert_eq!(ids(&f), [1]);
    assert_eq!(cp.line, 2, "resumes at the second record");
}
