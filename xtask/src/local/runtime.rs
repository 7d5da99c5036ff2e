//! The wiring the local stage runs in the background process of `local up`: an HTTP listener
//! per API, a poller per SQS event source, the schedules (with `--schedules`). Read from the
//! deployed stacks at start and again after every deploy (`POST /_local/reload` on the Lambda
//! port); what did not change keeps running, so a reload never cuts a running invocation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use infra::stage::Stage;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use super::wiring::{self, Wiring};
use super::{events, gateway};
use crate::aws;

/// A local HTTP API's address, as `reload` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiEndpoint {
    pub service: String,
    pub name: String,
    pub url: String,
}

/// What a reload started, kept and stopped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reloaded {
    pub apis: Vec<ApiEndpoint>,
    pub queues: Vec<String>,
    pub schedules: Vec<String>,
    /// Wiring of the templates not run locally, one line each: stack, logical id, why.
    #[serde(default)]
    pub skipped: Vec<String>,
    pub started: usize,
    pub stopped: usize,
}

pub struct Runtime {
    stage: Stage,
    schedules: bool,
    /// Running tasks by the debug form of what they serve: equal wiring keeps its task.
    tasks: BTreeMap<String, Task>,
}

/// A running part of the wiring.
struct Task {
    handle: JoinHandle<()>,
    /// How a queue poller is asked to stop (it finishes its receive and releases what it got);
    /// the other tasks are aborted.
    stop: Option<watch::Sender<bool>>,
}

impl Task {
    fn aborted_on_stop(handle: JoinHandle<()>) -> Task {
        Task { handle, stop: None }
    }
}

/// How long a reload waits for a queue poller to stop: its long poll (20 s) and a release.
const POLLER_STOP: Duration = Duration::from_secs(25);

impl Runtime {
    pub fn new(stage: Stage, schedules: bool) -> Runtime {
        Runtime {
            stage,
            schedules,
            tasks: BTreeMap::new(),
        }
    }

    fn lambda_endpoint(&self) -> String {
        self.stage
            .lambda_endpoint()
            .expect("the local stage has a Lambda endpoint")
    }

    /// Read the deployed wiring and bring the running tasks in line with it.
    pub async fn reload(&mut self) -> Result<Reloaded> {
        let clients = aws::Clients::new(&self.stage).await;
        let wiring = wiring::read(&self.stage, &clients.cfn)
            .await
            .context("reading the deployed stacks' wiring")?;
        let r = self.apply(wiring, clients).await?;
        let _ = std::fs::write(record_path(), serde_json::to_string_pretty(&r)?);
        Ok(r)
    }

    async fn apply(&mut self, w: Wiring, clients: aws::Clients) -> Result<Reloaded> {
        let base = self
            .stage
            .local
            .as_ref()
            .map(|l| l.api_port)
            .unwrap_or(5110);
        let mut apis = w.apis.clone();
        apis.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Reloaded::default();
        let mut wanted: BTreeMap<String, Box<dyn FnOnce() -> Task + Send>> = BTreeMap::new();
        out.skipped = w.skipped.clone();
        for why in &w.skipped {
            tracing_line(&format!("wiring skipped: {why}"));
        }
        for (i, api) in apis.into_iter().enumerate() {
            let port = base + i as u16;
            out.apis.push(ApiEndpoint {
                service: api.service.clone(),
                name: api.name.clone(),
                url: format!("http://127.0.0.1:{port}"),
            });
            let lambda = self.lambda_endpoint();
            let region = self.stage.region.0.clone();
            wanted.insert(
                format!("api {port} {api:?}"),
                Box::new(move || {
                    Task::aborted_on_stop(tokio::spawn(async move {
                        let name = api.name.clone();
                        let result = async {
                            let listener = bind(port).await?;
                            gateway::serve(api, listener, lambda, region).await
                        }
                        .await;
                        if let Err(e) = result {
                            tracing_line(&format!("HTTP API {name} on port {port} stopped: {e:#}"));
                        }
                    }))
                }),
            );
        }
        for q in w.queues.into_iter().filter(|q| q.enabled) {
            out.queues
                .push(format!("{} → {}", queue_name(&q.queue_url), q.function));
            let sqs = clients.sqs.clone();
            let lambda = self.lambda_endpoint();
            wanted.insert(
                format!("queue {q:?}"),
                Box::new(move || {
                    let (stop, stopped) = watch::channel(false);
                    let handle = tokio::spawn(async move {
                        let what = format!("{} → {}", q.queue_url, q.function);
                        if let Err(e) = events::poll_queue(q, sqs, lambda, stopped).await {
                            tracing_line(&format!("queue poller {what} stopped: {e:#}"));
                        }
                    });
                    Task {
                        handle,
                        stop: Some(stop),
                    }
                }),
            );
        }
        if self.schedules {
            let schedules: Vec<_> = w.schedules.into_iter().filter(|s| s.enabled).collect();
            out.schedules = schedules
                .iter()
                .map(|s| format!("{} {}", s.display_name(), s.expression))
                .collect();
            let key = format!("schedules {schedules:?}");
            wanted.insert(
                key,
                Box::new(move || {
                    Task::aborted_on_stop(tokio::spawn(async move {
                        if let Err(e) = events::run_schedules(schedules, clients).await {
                            tracing_line(&format!("the scheduler stopped: {e:#}"));
                        }
                    }))
                }),
            );
        }
        // stop what is no longer wanted first: an API that moved frees its port
        let gone: Vec<String> = self
            .tasks
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        let stopping: Vec<Task> = gone.iter().filter_map(|k| self.tasks.remove(k)).collect();
        out.stopped = stopping.len();
        stop_all(stopping).await;
        for (k, start) in wanted {
            let running = self.tasks.get(&k).is_some_and(|t| !t.handle.is_finished());
            if !running {
                self.tasks.insert(k, start());
                out.started += 1;
            }
        }
        Ok(out)
    }
}

/// Stops the tasks: pollers are asked to stop and waited for together (a poller in a long poll
/// finishes it and releases what it received, so no message is left invisible), the rest are
/// aborted. A poller that has not stopped after `POLLER_STOP` is aborted.
async fn stop_all(tasks: Vec<Task>) {
    for t in &tasks {
        match &t.stop {
            Some(stop) => {
                let _ = stop.send(true);
            }
            None => t.handle.abort(),
        }
    }
    let deadline = tokio::time::Instant::now() + POLLER_STOP;
    for mut t in tasks {
        if tokio::time::timeout_at(deadline, &mut t.handle)
            .await
            .is_err()
        {
            tracing_line("a queue poller did not stop in time; aborted");
            t.handle.abort();
            let _ = t.handle.await;
        }
    }
}

/// The port may still be held for a moment by the listener a reload just stopped.
async fn bind(port: u16) -> Result<tokio::net::TcpListener> {
    let mut last = None;
    for _ in 0..20 {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last.expect("at least one attempt"))
        .with_context(|| format!("binding 127.0.0.1:{port} (set local.api_port in environments/local.yaml to move the APIs)"))
}

fn record_path() -> std::path::PathBuf {
    super::state_dir().join("wiring.json")
}

/// What the running process serves, as of its last reload (for `local status`).
pub fn last_reload() -> Option<Reloaded> {
    serde_json::from_str(&std::fs::read_to_string(record_path()).ok()?).ok()
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The background process writes plain lines to its log (target/local/serve.log).
fn tracing_line(line: &str) {
    eprintln!("{} {line}", crate::ui::now_utc());
}

/// `POST /_local/reload`: what `deploy --stage local` and `local up` call.
pub fn control(runtime: Arc<Mutex<Runtime>>) -> Router {
    Router::new()
        .route("/_local/reload", post(reload))
        .with_state(runtime)
}

async fn reload(State(rt): State<Arc<Mutex<Runtime>>>) -> Response {
    match rt.lock().await.reload().await {
        Ok(r) => Json(r).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

/// Ask the running background process to re-read the wiring; its answer lists the API URLs.
pub async fn request_reload(stage: &Stage) -> Result<Reloaded> {
    let endpoint = stage
        .lambda_endpoint()
        .context("only the local stage has a local runtime")?;
    let resp = support::tls::http_client()
        .post(format!("{endpoint}/_local/reload"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .with_context(|| format!("asking the local runtime at {endpoint} to reload; is `cargo xtask local up` running?"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "the local runtime could not load the deployed wiring ({status}): {text}"
    );
    serde_json::from_str(&text).context("reading the local runtime's reload answer")
}
