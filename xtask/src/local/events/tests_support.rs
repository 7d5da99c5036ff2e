//! What the event source tests share: the running emulator, and a fake of the Lambda Invoke
//! endpoint that records each event and answers as each test needs.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::sync::watch;

pub const EMULATOR: &str = "http://127.0.0.1:5000";

/// The emulator's configuration; fails the test with what to do when it is not running.
pub async fn emulator() -> SdkConfig {
    if tokio::net::TcpStream::connect("127.0.0.1:5000")
        .await
        .is_err()
    {
        panic!("the AWS emulator is not running at {EMULATOR}: run `cargo xtask local up` first");
    }
    support::emulator_config_at(EMULATOR).await
}

/// Wait until `check` holds, failing the test with `what` after a generous deadline.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub function: String,
    pub invocation_type: Option<String>,
    pub event: Value,
}

impl Call {
    pub fn records(&self) -> &[Value] {
        self.event["Records"].as_array().map_or(&[], Vec::as_slice)
    }
}

pub struct Reply {
    pub function_error: bool,
    pub body: String,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply {
            function_error: false,
            body: body.into(),
        }
    }

    pub fn function_error() -> Reply {
        Reply {
            function_error: true,
            body: r#"{"errorType":"Error","errorMessage":"boom"}"#.into(),
        }
    }
}

type Responder = dyn Fn(&Call, usize) -> Reply + Send + Sync;

struct Inner {
    calls: Mutex<Vec<Call>>,
    respond: Box<Responder>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    hold: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct FakeLambda {
    pub url: String,
    inner: Arc<Inner>,
}

impl FakeLambda {
    /// `respond` gets each call and its index (0 for the first).
    pub async fn start(
        respond: impl Fn(&Call, usize) -> Reply + Send + Sync + 'static,
    ) -> FakeLambda {
        let inner = Arc::new(Inner {
            calls: Mutex::new(Vec::new()),
            respond: Box::new(respond),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            hold: watch::channel(false).0,
        });
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeLambda { url, inner }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// Every record delivered so far, in order.
    pub fn records(&self) -> Vec<Value> {
        self.calls()
            .iter()
            .flat_map(|c| c.records().to_vec())
            .collect()
    }

    /// Keep invocations open (`true`) until released (`false`).
    pub fn hold(&self, on: bool) {
        self.inner.hold.send_replace(on);
    }

    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn invoke(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let call = Call {
        function: name,
        invocation_type: headers
            .get("X-Amz-Invocation-Type")
            .map(|v| v.to_str().unwrap().to_string()),
        event: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let index = {
        let mut calls = inner.calls.lock().unwrap();
        calls.push(call.clone());
        calls.len() - 1
    };
    let mut released = inner.hold.subscribe();
    let _ = released.wait_for(|held| !*held).await;
    let reply = (inner.respond)(&call, index);
    inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut r = (StatusCode::OK, reply.body).into_response();
    if reply.function_error {
        r.headers_mut()
            .insert("X-Amz-Function-Error", "Unhandled".parse().unwrap());
    }
    r
}
