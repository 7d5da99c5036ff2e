//! A data file server that misbehaves on purpose (axum): it cuts or stalls connections at given
//! byte offsets, honours `Range: bytes=N-` or ignores it, and remembers every Range asked for.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Close the connection mid-body.
    Cut,
    /// Stop sending and keep the connection open.
    Stall,
}

#[derive(Clone)]
pub struct FileServer {
    pub data: Arc<Vec<u8>>,
    pub ranges: bool,
    /// Where responses break, in order: a request whose range holds the next one breaks there
    /// (right after the headers when it starts there).
    pub faults: Arc<Mutex<VecDeque<(usize, Fault)>>>,
    /// The Range header of every request (`None` when absent).
    pub seen: Arc<Mutex<Vec<Option<String>>>>,
    pub url: String,
}

impl FileServer {
    pub async fn start(data: Vec<u8>, ranges: bool, faults: Vec<(usize, Fault)>) -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut server = FileServer {
            data: Arc::new(data),
            ranges,
            faults: Arc::new(Mutex::new(faults.into())),
            seen: Arc::default(),
            url: String::new(),
        };
        server.url = format!("http://{}/file.ndjson", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/file.ndjson", get(serve))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    pub fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(State(f): State<FileServer>, headers: HeaderMap) -> Response {
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    f.seen.lock().unwrap().push(range.clone());
    let len = f.data.len();
    let start = match range.as_deref().and_then(|r| {
        r.strip_prefix("bytes=")?
            .strip_suffix('-')?
            .parse::<usize>()
            .ok()
    }) {
        Some(s) if f.ranges && s >= len => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .body(Body::empty())
                .unwrap()
        }
        Some(s) if f.ranges => s,
        _ => 0,
    };
    let fault = {
        let mut q = f.faults.lock().unwrap();
        match q.front() {
            Some((at, _)) if *at >= start && *at < len => q.pop_front(),
            _ => None,
        }
    };
    let end = fault.map_or(len, |(at, _)| at);
    let body = f.data[start..end].to_vec();
    let stream = futures_util::stream::iter(
        // several chunks, so the client reads more than once
        body.chunks(4096)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let tail = futures_util::stream::once(async move {
        match fault {
            Some((_, Fault::Cut)) => {
                // let the server flush what it sent before the connection drops
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(std::io::Error::other("cut"))
            }
            Some((_, Fault::Stall)) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(std::io::Error::other("stalled"))
            }
            None => Ok(Vec::new()),
        }
    });
    use futures_util::StreamExt;
    let mut resp = Response::builder().header("content-length", (len - start).to_string());
    resp = if start > 0 {
        resp.status(StatusCode::PARTIAL_CONTENT)
            .header("content-range", format!("bytes {start}-{}/{len}", len - 1))
    } else {
        resp.status(StatusCode::OK)
    };
    resp.body(Body::from_stream(stream.chain(tail))).unwrap()
}
