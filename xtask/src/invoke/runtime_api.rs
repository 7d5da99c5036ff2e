//! A local Lambda Runtime API (`/2018-06-01/runtime/...`), so a function binary (host or arm64
//! under qemu) runs exactly as in Lambda: it long-polls `invocation/next`, then posts
//! `invocation/<id>/response` or `/error`, or `init/error` when it cannot start.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Bytes),
    /// `/invocation/<id>/error`: the function reported a failure.
    Error(Value),
    /// `/init/error`: the function could not initialise.
    InitError(Value),
    /// No answer within the function's timeout.
    TimedOut(Duration),
    /// The process ended without answering (its exit status).
    Exited(String),
}

struct Pending {
    id: String,
    payload: Bytes,
    deadline_ms: u64,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Pending>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    init_error: Option<Value>,
    first_poll: Option<Instant>,
}

#[derive(Clone)]
pub struct RuntimeApi {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    init_notify: Arc<Notify>,
    function_arn: String,
    pub addr: SocketAddr,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl RuntimeApi {
    /// Serve on an ephemeral port of 127.0.0.1.
    pub async fn start(function_arn: &str) -> anyhow::Result<RuntimeApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = RuntimeApi {
            inner: Arc::default(),
            notify: Arc::new(Notify::new()),
            init_notify: Arc::new(Notify::new()),
            function_arn: function_arn.into(),
            addr: listener.local_addr()?,
        };
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(api.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(api)
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` wants it.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// The init error the function reported, if any.
    pub fn inner_init_error(&self) -> Option<Value> {
        self.inner.lock().expect("lock").init_error.clone()
    }

    /// When the function first asked for work (start-up time, for the benchmark).
    pub fn first_poll(&self) -> Option<Instant> {
        self.inner.lock().expect("lock").first_poll
    }

    /// Hand `payload` to the function and wait for its outcome, at most `timeout`.
    pub async fn invoke(
        &self,
        payload: Bytes,
        timeout: Duration,
    ) -> anyhow::Result<(String, Outcome)> {
        let id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let deadline_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64
            + timeout.as_millis() as u64;
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner.lock().expect("lock");
            if let Some(e) = &inner.init_error {
                return Ok((id, Outcome::InitError(e.clone())));
            }
            inner.waiting.insert(id.clone(), tx);
            inner.queue.push_back(Pending {
                id: id.clone(),
                payload,
                deadline_ms,
            });
        }
        self.notify.notify_waiters();
        let init = self.init_notify.clone();
        tokio::select! {
            r = tokio::time::timeout(timeout, rx) => match r {
                Ok(Ok(outcome)) => Ok((id, outcome)),
                Ok(Err(_)) => anyhow::bail!("the runtime API dropped invocation {id}"),
                Err(_) => Ok((id, Outcome::TimedOut(timeout))),
            },
            _ = init.notified() => {
                let e = self.inner.lock().expect("lock").init_error.clone().unwrap_or_default();
                Ok((id, Outcome::InitError(e)))
            }
        }
    }

    fn finish(&self, id: &str, outcome: Outcome) -> StatusCode {
        match self.inner.lock().expect("lock").waiting.remove(id) {
            Some(tx) => {
                let _ = tx.send(outcome);
                StatusCode::ACCEPTED
            }
            None => StatusCode::BAD_REQUEST,
        }
    }
}

async fn next(State(api): State<RuntimeApi>) -> impl IntoResponse {
    loop {
        let notified = api.notify.notified();
        {
            let mut inner = api.inner.lock().expect("lock");
            inner.first_poll.get_or_insert_with(Instant::now);
            if let Some(p) = inner.queue.pop_front() {
                let mut headers = HeaderMap::new();
                let h = |v: &str| HeaderValue::from_str(v).expect("header value");
                headers.insert("Lambda-Runtime-Aws-Request-Id", h(&p.id));
                headers.insert("Lambda-Runtime-Deadline-Ms", h(&p.deadline_ms.to_string()));
                headers.insert("Lambda-Runtime-Invoked-Function-Arn", h(&api.function_arn));
                headers.insert(
                    "Lambda-Runtime-Trace-Id",
                    h(&format!("Root=1-00000000-{}", &p.id[..8])),
                );
                headers.insert("Content-Type", h("application/json"));
                return (StatusCode::OK, headers, p.payload);
            }
        }
        notified.await;
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    api.finish(&id, Outcome::Response(body))
}

async fn error(State(api): State<RuntimeApi>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    api.finish(&id, Outcome::Error(json(&body)))
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    api.inner.lock().expect("lock").init_error = Some(json(&body));
    api.init_notify.notify_waiters();
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn http(
        addr: SocketAddr,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, HashMap<String, String>, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        (status, headers, body.to_string())
    }

    #[tokio::test]
    async fn speaks_the_runtime_protocol() {
        let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:f")
            .await
            .unwrap();
        let addr = api.addr;
        let client = tokio::spawn(async move {
            let (status, headers, body) =
                http(addr, "GET", &format!("{PREFIX}/invocation/next"), "").await;
            assert_eq!(status, 200);
            assert_eq!(body, r#"{"x":1}"#);
            let id = headers["lambda-runtime-aws-request-id"].clone();
            assert!(
                headers["lambda-runtime-deadline-ms"]
                    .parse::<u64>()
                    .unwrap()
                    > 0
            );
            assert!(headers.contains_key("lambda-runtime-invoked-function-arn"));
            let (status, _, _) = http(
                addr,
                "POST",
                &format!("{PREFIX}/invocation/{id}/response"),
                r#"{"ok":true}"#,
            )
            .await;
            assert_eq!(status, 202);
            let (_, headers, _) = http(addr, "GET", &format!("{PREFIX}/invocation/next"), "").await;
            let id = headers["lambda-runtime-aws-request-id"].clone();
            http(
                addr,
                "POST",
                &format!("{PREFIX}/invocation/{id}/error"),
                r#"{"errorType":"Boom","errorMessage":"bad"}"#,
            )
            .await;
        });
        let (_, out) = api
            .invoke(Bytes::from_static(br#"{"x":1}"#), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            out,
            Outcome::Response(Bytes::from_static(br#"{"ok":true}"#))
        );
        let (_, out) = api
            .invoke(Bytes::from_static(b"{}"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            out,
            Outcome::Error(serde_json::json!({"errorType": "Boom", "errorMessage": "bad"}))
        );
        client.await.unwrap();
        assert!(api.first_poll().is_some());
    }

    #[tokio::test]
    async fn init_errors_end_the_invocation_and_timeouts_are_reported() {
        let api = RuntimeApi::start("arn").await.unwrap();
        let (_, out) = api
            .invoke(Bytes::from_static(b"{}"), Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!(out, Outcome::TimedOut(Duration::from_millis(200)));
        let addr = api.addr;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            http(
                addr,
                "POST",
                &format!("{PREFIX}/init/error"),
                r#"{"errorType":"Config","errorMessage":"CACHE_BUCKET not set"}"#,
            )
            .await;
        });
        let (_, out) = api
            .invoke(Bytes::from_static(b"{}"), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(out, Outcome::InitError(v) if v["errorType"] == "Config"));
    }
}
