//! The services as their users run them on the local stage, hands off: through the local HTTP
//! APIs, the queue pollers, a schedule fired by `trigger` and the emulator's Step Functions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use infra::stage::Stage;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::local::seed::LOCAL_INTAKE_KEY;
use crate::{deploy, ui};

/// The local URL of a service's HTTP API, as the deploy wrote it.
pub fn api_url(stage: &Stage, service: &str) -> Result<String> {
    let outputs = deploy::read_outputs(stage);
    outputs
        .get(&format!("{service}-{}", stage.name))
        .and_then(|o| o.get("ApiUrl"))
        .cloned()
        .with_context(|| {
            format!(
                "no ApiUrl for {service} in target/outputs/{}.json: did the deploy reach the local runtime?",
                stage.name
            )
        })
}

/// mips-cache through its local API: the cache misses then hits; an IAM route refuses an
/// unsigned request as API Gateway does.
pub async fn mips_cache(stage: &Stage) -> Result<()> {
    let url = api_url(stage, "mips-cache")?;
    let http = support::tls::http_client();
    // an IAM route, signed as an SDK signs it: the cache starts empty whatever ran before
    let r = signed(&http, stage, "DELETE", &format!("{url}/cache/purge"))?
        .send()
        .await?;
    let status = r.status();
    ensure!(
        status.is_success(),
        "a signed DELETE /cache/purge answered {status}: {}",
        r.text().await.unwrap_or_default()
    );
    ui::ok(format!(
        "mips-cache: signed DELETE {url}/cache/purge → {status}"
    ));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = http
            .get(format!("{url}/accounts"))
            .send()
            .await
            .with_context(|| format!("GET {url}/accounts"))?;
        let status = r.status();
        let cache = r
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.text().await?;
        ensure!(
            status == 200,
            "GET /accounts through the local API answered {status}: {body}"
        );
        ensure!(
            body.contains("Leadership Academy"),
            "GET /accounts lacks the fake's accounts: {body}"
        );
        seen.push(cache);
    }
    ensure!(
        seen == ["MISS", "HIT"],
        "X-Cache of two GET /accounts was {seen:?}, expected MISS then HIT"
    );
    ui::ok(format!("mips-cache: GET {url}/accounts → MISS, then HIT"));
    let r = http.get(format!("{url}/balances")).send().await?;
    ensure!(
        r.status() == 403,
        "an unsigned GET /balances (an IAM route) answered {}",
        r.status()
    );
    ui::ok("mips-cache: unsigned GET /balances → 403");
    Ok(())
}

/// A request signed with SigV4 for `execute-api` with the local stage's credentials.
fn signed(
    http: &reqwest::Client,
    stage: &Stage,
    method: &str,
    url: &str,
) -> Result<reqwest::RequestBuilder> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let local = crate::local::gateway::sigv4::LOCAL_CREDENTIALS;
    let identity = aws_credential_types::Credentials::new(
        local.access_key_id,
        local.secret_access_key,
        None,
        None,
        "local-stage",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&stage.region.0)
        .name("execute-api")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(b""))?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let (headers, _) = instructions.into_parts();
    let mut request = http.request(method.parse()?, url);
    for h in &headers {
        request = request.header(h.name(), h.value());
    }
    Ok(request)
}

/// What the fake Amperity saw.
#[derive(Default)]
struct Seen {
    /// Data file downloads (each run of the worker starts one).
    downloads: usize,
    /// Every record the destination received, in order.
    delivered: Vec<String>,
    /// Every report's state.
    reports: Vec<String>,
    /// The webhook id of every report, in the same order.
    reported_ids: Vec<String>,
}

#[derive(Clone)]
struct Amperity {
    data: Arc<String>,
    seen: Arc<Mutex<Seen>>,
}

async fn data(State(a): State<Amperity>, headers: HeaderMap) -> Response {
    a.seen.lock().unwrap().downloads += 1;
    // a later run resumes where the previous one stopped
    let from = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|n| n.parse::<usize>().ok());
    match from {
        Some(start) if start < a.data.len() => (
            StatusCode::PARTIAL_CONTENT,
            [(
                "content-range",
                format!("bytes {start}-{}/{}", a.data.len() - 1, a.data.len()),
            )],
            a.data[start..].to_string(),
        )
            .into_response(),
        _ => a.data.to_string().into_response(),
    }
}

async fn destination(State(a): State<Amperity>, Json(body): Json<Value>) -> StatusCode {
    let records = body["contacts"].as_array().cloned().unwrap_or_default();
    let mut seen = a.seen.lock().unwrap();
    for r in records {
        seen.delivered
            .push(r["Email"].as_str().unwrap_or("?").to_string());
    }
    StatusCode::OK
}

async fn report(State(a): State<Amperity>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut seen = a.seen.lock().unwrap();
    seen.reports
        .push(v["state"].as_str().unwrap_or("?").to_string());
    seen.reported_ids.push(id);
    StatusCode::OK
}

/// A fake Amperity on 127.0.0.1: the data file, a destination, the progress callback.
pub struct FakeAmperity {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl FakeAmperity {
    /// Serves `records` contacts as NDJSON.
    pub async fn start(records: usize) -> Result<FakeAmperity> {
        let lines: String = (0..records)
            .map(|i| format!("{{\"email\":\"user{i}@example.org\",\"given_name\":\"U{i}\"}}\n"))
            .collect();
        let state = Amperity {
            data: Arc::new(lines),
            seen: Arc::default(),
        };
        let app = Router::new()
            .route("/data.ndjson", get(data))
            .route("/dest", post(destination))
            .route("/webhook/v1/{id}", put(report))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(FakeAmperity {
            url,
            seen: state.seen,
            server,
        })
    }

    /// A job for this fake, sent `per_minute` records a minute one by one.
    pub fn job(&self, webhook_id: &str, per_minute: u32) -> Value {
        let url = &self.url;
        json!({
            "settings": {
                "destination_url": format!("{url}/dest"),
                "batch_size": 1,
                "requests_per_minute": per_minute,
                "data_key": "contacts",
                "field_mapping": {"email": "Email", "given_name": "FirstName"}
            },
            "label_name": "e2e-contacts",
            "data_url": format!("{url}/data.ndjson"),
            "access_token": "e2e-token",
            "webhook_id": webhook_id,
            "callback_url": format!("{url}/webhook/v1/"),
            "tenant_id": "acme"
        })
    }

    /// The last report's state, once it is final.
    pub fn finished(&self) -> Option<String> {
        let seen = self.seen.lock().unwrap();
        seen.reports
            .last()
            .filter(|s| *s == "succeeded" || *s == "failed")
            .cloned()
    }
}

impl Drop for FakeAmperity {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// POST a job to the intake through the local API; the intake's answer must be 202.
pub async fn post_job(api: &str, job: &Value) -> Result<()> {
    let (status, text) = post_job_with_key(api, job, Some(LOCAL_INTAKE_KEY)).await?;
    ensure!(
        status == 202,
        "POST /jobs through the local API answered {status}: {text}"
    );
    Ok(())
}

/// POST a job with `x-api-key: key` (none when `None`); the answer's status and body.
async fn post_job_with_key(
    api: &str,
    job: &Value,
    key: Option<&str>,
) -> Result<(reqwest::StatusCode, String)> {
    let mut request = support::tls::http_client()
        .post(format!("{api}/jobs"))
        .json(job);
    if let Some(k) = key {
        request = request.header("x-api-key", k);
    }
    let r = request
        .send()
        .await
        .with_context(|| format!("POST {api}/jobs"))?;
    let status = r.status();
    Ok((status, r.text().await?))
}

/// Jobs without a key and with a wrong one: API Gateway (no key) and the intake (the
/// authorizer's verdict) answer 401 and say no more. Their webhook ids, which the fake would
/// hear `running` for if they had been queued.
async fn refused_jobs(api: &str, fake: &FakeAmperity) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for (what, key) in [
        ("without a key", None),
        ("with a wrong key", Some("not-the-intake-key")),
    ] {
        let id = format!("wh-e2e-refused-{}", ids.len());
        let (status, text) = post_job_with_key(api, &fake.job(&id, 60), key).await?;
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        ensure!(
            status == 401 && body == json!({"message": "Unauthorized"}),
            "POST /jobs {what} answered {status}: {text}"
        );
        ui::ok(format!(
            "webhook-runner: POST {api}/jobs {what} → 401 {text}"
        ));
        ids.push(id);
    }
    Ok(ids)
}

/// webhook-runner through its local API: the job is queued, the worker runs from the queue (more
/// than once: the local stage's worker timeout is short, so the job continues through the
/// queue), every record reaches the destination once and Amperity hears `succeeded`.
pub async fn webhook_runner(stage: &Stage) -> Result<()> {
    const RECORDS: usize = 40;
    let url = api_url(stage, "webhook-runner")?;
    let fake = FakeAmperity::start(RECORDS).await?;
    // one record a second: a run of the local worker (20 s) cannot deliver them all
    let job = fake.job("wh-e2e", 60);
    let refused = refused_jobs(&url, &fake).await?;
    let t = Instant::now();
    post_job(&url, &job).await?;
    ui::ok(format!("webhook-runner: POST {url}/jobs → 202"));
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if fake.finished().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let seen = fake.seen.lock().unwrap();
            bail!(
                "webhook-runner: no final report within 240 s; delivered {} of {RECORDS}, reports {:?}, downloads {} (see target/local/serve.log and `cargo xtask logs webhook-runner-worker --stage local`)",
                seen.delivered.len(),
                seen.reports,
                seen.downloads
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = fake.seen.lock().unwrap();
    ensure!(
        seen.reports.last().map(String::as_str) == Some("succeeded"),
        "webhook-runner reported {:?}",
        seen.reports
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &seen.delivered {
        *counts.entry(d.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    ensure!(
        counts.len() == RECORDS && twice.is_empty(),
        "webhook-runner delivered {} distinct records of {RECORDS}; more than once: {twice:?}",
        counts.len()
    );
    ensure!(
        seen.downloads > 1,
        "the job finished in one worker run; the continuation through the queue was not exercised"
    );
    // by now a queued refused job would have run alongside the accepted one
    let ran: Vec<&String> = seen
        .reported_ids
        .iter()
        .filter(|id| refused.contains(id))
        .collect();
    ensure!(ran.is_empty(), "refused jobs were queued and run: {ran:?}");
    ui::ok(format!(
        "webhook-runner: {RECORDS} records delivered once each over {} worker runs, `succeeded` reported, {:.1?} after the POST",
        seen.downloads,
        t.elapsed()
    ));
    Ok(())
}

/// canvas-data by its schedule: `trigger` starts the refresh state machine on the emulator,
/// whose Lambda tasks run the deployed functions; every table of the fake DAP ends equal to its
/// snapshot (the slow one over more than one init run) and the summary reaches the SNS topic.
pub async fn canvas_data(stage: &Stage) -> Result<()> {
    let fake = canvas_data::fake::local_stage();
    let tables = ["accounts", "courses", "enrollments"];
    // a fresh snapshot of each, whatever earlier runs left
    for t in tables {
        super::xtask(
            &["canvas-data", "reset", t, "--stage", &stage.name, "--yes"],
            None,
        )?;
    }
    let t = Instant::now();
    let triggered = OffsetDateTime::now_utc();
    let out = super::xtask(
        &["trigger", "canvas-data-refresh", "--stage", &stage.name],
        None,
    )?;
    let arn = out
        .split_whitespace()
        .find(|w| w.starts_with("arn:aws:states:") && w.contains(":execution:"))
        .with_context(|| format!("trigger printed no execution ARN:\n{out}"))?
        .trim_matches(|c: char| !c.is_alphanumeric() && c != ':' && c != '-' && c != '_')
        .to_string();
    ui::ok(format!("canvas-data: trigger started {arn}"));
    let clients = crate::aws::Clients::new(stage).await;
    let status = finished(&clients.sfn, &arn, Duration::from_secs(600)).await?;
    let history = execution_outputs(&clients.sfn, &arn).await?;
    ensure!(
        status == "SUCCEEDED",
        "the refresh execution ended {status}; task outputs: {history:?}"
    );
    ensure!(
        history.iter().any(|o| o.contains("needs_init_continue")),
        "no init run of the refresh answered needs_init_continue; task outputs: {history:?}"
    );
    ui::ok(format!(
        "canvas-data: refresh SUCCEEDED in {:.1?}, with a needs_init_continue round",
        t.elapsed()
    ));
    let app = crate::canvas_data_cmd::local_login(stage).await?;
    let conn = canvas_data::db::connect(&app).await?;
    let schema = &stage.services.canvas_data.schema;
    for t in tables {
        let snapshot = fake
            .table(t)
            .with_context(|| format!("the fake has no table {t}"))?
            .snapshot;
        let mut want: BTreeMap<i64, Value> = BTreeMap::new();
        for line in snapshot.iter().flat_map(|object| object.lines()) {
            let v: Value = serde_json::from_str(line)?;
            let id = v["key"]["id"]
                .as_i64()
                .context("a fake row without key.id")?;
            want.insert(id, v["value"].clone());
        }
        let rows = conn
            .client
            .query(
                &format!("SELECT id, to_jsonb(r)::text FROM {schema}.{t} r ORDER BY id"),
                &[],
            )
            .await
            .with_context(|| format!("reading {schema}.{t}"))?;
        let got: BTreeMap<i64, Value> = rows
            .iter()
            .map(|r| {
                let row = serde_json::from_str(r.get::<_, &str>(1)).unwrap_or_default();
                (r.get::<_, i64>(0), row)
            })
            .collect();
        ensure!(
            got.keys().eq(want.keys()),
            "{schema}.{t} holds ids {:?}; the fake's snapshot has {:?}",
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (id, value) in &want {
            let row = &got[id];
            for (column, expected) in value.as_object().into_iter().flatten() {
                ensure!(
                    same_value(expected, &row[column]),
                    "{schema}.{t} id {id}: {column} is {}, the fake has {expected}",
                    row[column]
                );
            }
        }
        ui::ok(format!(
            "canvas-data: {schema}.{t} equals the fake's {} rows, column by column",
            want.len()
        ));
    }
    conn.close().await;
    let messages = super::xtask(
        &["local", "messages", "canvas-data-summary-local", "--json"],
        None,
    )?;
    let published: Value = serde_json::from_str(&messages)
        .with_context(|| format!("local messages --json printed no JSON:\n{messages}"))?;
    let fresh: Vec<&Value> = published["Messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["Timestamp"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .is_some_and(|t| t >= triggered)
        })
        .collect();
    ensure!(
        fresh.iter().any(|m| m["Message"]
            .as_str()
            .is_some_and(|b| b.contains("enrollments"))),
        "no summary naming enrollments was published to the topic after the trigger:\n{messages}"
    );
    ui::ok("canvas-data: this run's summary is on the SNS topic (cargo xtask local messages)");
    Ok(())
}

/// A replicated value equals the fake's: timestamps as instants (PostgreSQL writes its own
/// format), everything else as JSON.
fn same_value(fake: &Value, db: &Value) -> bool {
    match (fake.as_str(), db.as_str()) {
        (Some(a), Some(b)) => match (
            OffsetDateTime::parse(a, &Rfc3339),
            OffsetDateTime::parse(b, &Rfc3339),
        ) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        _ => fake == db,
    }
}

/// The output of every task that finished in the execution, in order.
/// The execution's final status, polled until it no longer runs; past `limit` an error with
/// its steps so far.
pub(super) async fn finished(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    limit: Duration,
) -> Result<String> {
    let deadline = Instant::now() + limit;
    let progress = ui::spinner(format!("waiting for {arn}"));
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .with_context(|| format!("DescribeExecution {arn}"))?;
        let status = d.status().as_str().to_string();
        if status != "RUNNING" {
            progress.finish_and_clear();
            return Ok(status);
        }
        ensure!(
            Instant::now() < deadline,
            "{arn} still runs after {limit:?}; its steps so far:\n{}",
            execution_outputs(sfn, arn).await?.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub(super) async fn execution_outputs(sfn: &aws_sdk_sfn::Client, arn: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(arn)
            .set_next_token(token)
            .send()
            .await
            .with_context(|| format!("GetExecutionHistory {arn}"))?;
        for e in page.events() {
            if let Some(d) = e.task_succeeded_event_details() {
                out.push(d.output().unwrap_or_default().to_string());
            }
            if let Some(d) = e.lambda_function_succeeded_event_details() {
                out.push(d.output().unwrap_or_default().to_string());
            }
            if let Some(d) = e.task_failed_event_details() {
                out.push(format!(
                    "FAILED {}: {}",
                    d.error().unwrap_or_default(),
                    d.cause().unwrap_or_default()
                ));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// skill-sync by its schedule: `trigger` invokes the function asynchronously, as EventBridge
/// does; its run syncs the fake Airtable, Badgr and GitHub into MariaDB and S3 without an error.
pub async fn skill_sync(stage: &Stage) -> Result<()> {
    let function = crate::invoke::find(stage.clone(), "skill-sync-sync")?
        .function
        .physical_name;
    let since = now_ms();
    let out = super::xtask(
        &["trigger", "skill-sync-sync", "--stage", &stage.name],
        None,
    )?;
    ui::ok(format!(
        "skill-sync: {}",
        out.lines().last().unwrap_or_default()
    ));
    let clients = crate::aws::Clients::new(stage).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let summary = loop {
        let lines = logged_since(&clients.logs, &function, since).await;
        if let Some(line) = lines.iter().find(|l| l.contains("sync done")) {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("skill-sync's log line is not JSON: {line}"))?;
            let text = v["fields"]["summary"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            break serde_json::from_str::<Value>(&text)
                .with_context(|| format!("skill-sync's summary is not JSON: {line}"))?;
        }
        if lines.iter().any(|l| l.starts_with("REPORT ")) {
            bail!(
                "the triggered skill-sync run ended without its summary:\n{}",
                lines.join("\n")
            );
        }
        ensure!(
            Instant::now() < deadline,
            "skill-sync logged no summary within 300 s of the trigger"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let steps = summary["steps"]
        .as_array()
        .with_context(|| format!("skill-sync's summary has no steps: {summary}"))?;
    ensure!(
        steps.len() == 4,
        "skill-sync ran {} steps: {summary}",
        steps.len()
    );
    for step in steps {
        let failed = step["errors"].as_array().is_none_or(|e| !e.is_empty());
        let seen: u64 = ["inserted", "updated", "unchanged"]
            .iter()
            .map(|k| step[k].as_u64().unwrap_or_default())
            .sum();
        ensure!(
            !failed && seen > 0,
            "skill-sync step {} synced nothing or failed: {step}",
            step["step"]
        );
    }
    ui::ok(format!(
        "skill-sync: the triggered run synced every step without an error ({} steps)",
        steps.len()
    ));
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The lines a function logged from `after_ms` on, as the local Lambda service wrote them (at the
/// end of each invocation); none while the group does not exist yet.
pub async fn logged_since(
    logs: &aws_sdk_cloudwatchlogs::Client,
    function: &str,
    after_ms: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let Ok(page) = logs
            .filter_log_events()
            .log_group_name(format!("/aws/lambda/{function}"))
            .start_time(after_ms)
            .set_next_token(token)
            .send()
            .await
        else {
            return out;
        };
        out.extend(
            page.events()
                .iter()
                .filter_map(|e| e.message().map(str::to_string)),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}
