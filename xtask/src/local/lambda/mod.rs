//! The local Lambda service: the Lambda Invoke API on 127.0.0.1 (`local.lambda_port`). It runs
//! the code the local stage deployed (the arm64 zip from the asset bucket, under qemu) behind a
//! Runtime API, with the configuration the emulator holds, and writes the function's output to
//! the emulator's CloudWatch Logs as Lambda does. Every other Lambda call passes through to the
//! emulator, so one endpoint answers the whole Lambda API as in AWS: what `sam local
//! start-lambda` does for SAM, without Docker.

mod code;
pub(crate) mod layers;
mod logs;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::types::{Architecture, FunctionConfiguration};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use infra::stage::Stage;
use serde_json::json;

use crate::invoke::local::{lambda_variables, Finished, Process};
use crate::invoke::runtime_api::Outcome;
use crate::{aws, system};

/// What Lambda hands back in `X-Amz-Log-Result`: the last 4 KB of the log.
const TAIL_BYTES: usize = 4096;

#[derive(Clone)]
struct Service {
    /// Lambda and S3 of the emulator itself (not this service).
    lambda: aws_sdk_lambda::Client,
    s3: aws_sdk_s3::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    http: reqwest::Client,
    emulator: String,
    bucket: String,
    region: String,
}

/// An error in the shape the AWS SDKs read: the type in `x-amzn-ErrorType`, a JSON message.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                ("x-amzn-ErrorType", self.kind.to_string()),
                // every AWS answer carries one; SDKs (and the Step Functions interpreter's error
                // handling) read it from errors too
                ("x-amzn-RequestId", uuid::Uuid::new_v4().to_string()),
            ],
            axum::Json(json!({"Type": "User", "message": self.message})),
        )
            .into_response()
    }
}

fn service_error(message: String) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "ServiceException",
        message,
    }
}

/// Serve until killed.
/// `extra` adds routes of the local runtime (its control endpoint) to the same port.
pub async fn serve(stage: Stage, port: u16, extra: Router) -> Result<()> {
    let conf = aws::config(&stage).await;
    let s3_conf = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .build();
    let service = Service {
        lambda: aws_sdk_lambda::Client::new(&conf),
        s3: aws_sdk_s3::Client::from_conf(s3_conf),
        logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
        http: support::tls::http_client(),
        emulator: stage
            .aws_endpoint()
            .context("the local Lambda service belongs to the local stage")?,
        bucket: stage.asset_bucket(),
        region: stage.region.0.clone(),
    };
    let app = Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            // Lambda takes synchronous payloads up to 6 MB; axum's default would refuse 2 MB
            post(invoke).layer(axum::extract::DefaultBodyLimit::max(INVOKE_PAYLOAD_MAX)),
        )
        .fallback(proxy)
        .with_state(service)
        .merge(extra);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the local Lambda service to 127.0.0.1:{port}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// `my-fn`, `arn:aws:lambda:…:function:my-fn[:qualifier]` or `123456789012:function:my-fn`.
fn function_name(name: &str) -> &str {
    match name.split_once("function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name,
    }
}

/// Lambda's limit on a synchronous invocation's payload (6 MB).
const INVOKE_PAYLOAD_MAX: usize = 6 * 1024 * 1024;

async fn invoke(
    State(s): State<Service>,
    Path(name): Path<String>,
    headers: HeaderMap,
    payload: Bytes,
) -> Response {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let kind = header("x-amz-invocation-type").to_string();
    let tail = header("x-amz-log-type") == "Tail";
    let name = function_name(&name).to_string();
    let config = match s.configuration(&name).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match kind.as_str() {
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            tokio::spawn(async move {
                if let Err(e) = s.run(&name, &config, payload).await {
                    eprintln!("asynchronous invocation of {name}: {}", e.message);
                }
            });
            StatusCode::ACCEPTED.into_response()
        }
        _ => match s.run(&name, &config, payload).await {
            Ok((finished, log)) => answer(finished, &log, tail),
            Err(e) => e.into_response(),
        },
    }
}

/// The invocation's answer as Lambda gives it: the payload (the function's error document for
/// failures, with `X-Amz-Function-Error`), the request id, and the log tail when asked.
fn answer(finished: Finished, log: &str, tail: bool) -> Response {
    let id = &finished.request_id;
    let (body, failed) = match finished.outcome {
        Outcome::Response(b) => (b, false),
        Outcome::Error(v) | Outcome::InitError(v) => (Bytes::from(v.to_string()), true),
        Outcome::TimedOut(after) => (
            Bytes::from(
                json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!("RequestId: {id} Error: Task timed out after {:.2} seconds", after.as_secs_f64()),
                })
                .to_string(),
            ),
            true,
        ),
        Outcome::Exited(status) => (
            Bytes::from(
                json!({
                    "errorType": "Runtime.ExitError",
                    "errorMessage": format!("RequestId: {id} Error: Runtime exited without providing a reason ({status})"),
                })
                .to_string(),
            ),
            true,
        ),
    };
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "X-Amz-Executed-Version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-amzn-RequestId", v);
    }
    if failed {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if tail {
        let start = log.len().saturating_sub(TAIL_BYTES);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&log[start..]);
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            h.insert("X-Amz-Log-Result", v);
        }
    }
    response
}

impl Service {
    async fn configuration(&self, name: &str) -> Result<(FunctionConfiguration, String), ApiError> {
        let out = self
            .lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                match e.code() {
                    Some("ResourceNotFoundException") => ApiError {
                        status: StatusCode::NOT_FOUND,
                        kind: "ResourceNotFoundException",
                        message: format!(
                            "Function not found: {name} (deploy it with `cargo xtask deploy --stage local`)"
                        ),
                    },
                    _ => service_error(format!("the emulator's GetFunction {name}: {e}")),
                }
            })?;
        let config = out.configuration.ok_or_else(|| {
            service_error(format!("the emulator has no configuration for {name}"))
        })?;
        let location = out
            .code
            .and_then(|c| c.location)
            .ok_or_else(|| service_error(format!("the emulator has no code for {name}")))?;
        let key = code::key_from_location(&location).ok_or_else(|| {
            service_error(format!(
                "cannot read the code location `{location}` of {name}"
            ))
        })?;
        Ok((config, key))
    }

    /// Run one invocation in a fresh sandbox; returns how it ended and the log it wrote.
    async fn run(
        &self,
        name: &str,
        (config, key): &(FunctionConfiguration, String),
        payload: Bytes,
    ) -> Result<(Finished, String), ApiError> {
        let sha = config.code_sha256().unwrap_or_default();
        let bootstrap = code::bootstrap(&self.s3, &self.bucket, key, sha)
            .await
            .map_err(|e| service_error(format!("the code of {name}: {e:#}")))?;
        // the emulator may drop `Architectures`; the binary itself says what it is
        let arm64 =
            config.architectures().contains(&Architecture::Arm64) || code::is_arm64(&bootstrap);
        let needs_qemu = std::env::consts::ARCH != "aarch64";
        if arm64 && needs_qemu && !system::has_qemu() {
            return Err(service_error(format!(
                "{name} is an arm64 function and this host needs qemu to run it: install qemu-user-static and libc6-arm64-cross (`cargo xtask invoke` does so when missing)"
            )));
        }
        // the layers' arm64 programs need qemu whatever the bootstrap is
        let qemu = (needs_qemu && system::has_qemu()).then(|| system::qemu_prefix().to_vec());
        let arns: Vec<String> = config
            .layers()
            .iter()
            .filter_map(|l| l.arn().map(str::to_string))
            .collect();
        let opt = if arns.is_empty() {
            None
        } else {
            let opt = layers::prepare(&self.lambda, &self.s3, &arns, qemu.as_deref())
                .await
                .map_err(|e| service_error(format!("the layers of {name}: {e:#}")))?;
            Some(opt)
        };
        let mut command = Vec::new();
        if let Some(qemu) = qemu.filter(|_| arm64) {
            // the layers' root as sysroot: the function's `/opt/...` paths read the layers
            command.extend(match &opt {
                Some(opt) => layers::with_sysroot(qemu, &opt.root),
                None => qemu,
            });
        }
        command.push(bootstrap.display().to_string());
        let memory = config.memory_size().unwrap_or(128) as u64;
        let stream = logs::stream_name();
        let mut env: BTreeMap<String, String> = config
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        for (k, v) in lambda_variables(name, memory, &self.region, &self.emulator, &stream) {
            env.insert(k.into(), v);
        }
        // over the configuration: a deployed `FFMPEG_PATH=/opt/bin/ffmpeg` cannot run here
        for (k, v) in opt.into_iter().flat_map(|o| o.env) {
            env.insert(k, v);
        }
        let process = Process {
            arn: config.function_arn().unwrap_or(name).to_string(),
            timeout: Duration::from_secs(config.timeout().unwrap_or(3).max(1) as u64),
            command,
            env,
            capture: true,
        };
        let finished = process
            .run(payload.to_vec())
            .await
            .map_err(|e| service_error(format!("running {name}: {e:#}")))?;
        let lines = logs::lines(&finished, memory);
        if let Err(e) = logs::put(&self.logs, name, &stream, &lines).await {
            // the answer matters more than the log; say why the log is missing
            eprintln!("writing the log of {name}: {e:#}");
        }
        let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        Ok((finished, text))
    }
}

/// Anything but Invoke goes to the emulator unchanged (it does not check signatures).
async fn proxy(State(s): State<Service>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 256 << 20).await {
        Ok(b) => b,
        Err(e) => return service_error(format!("reading the request: {e}")).into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = s
        .http
        .request(parts.method, format!("{}{path}", s.emulator))
        .body(body);
    for (k, v) in &parts.headers {
        if k != header::HOST && k != header::CONTENT_LENGTH {
            request = request.header(k, v);
        }
    }
    let upstream = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return service_error(format!(
                "the emulator at {} did not answer ({e}); run `cargo xtask local up`",
                s.emulator
            ))
            .into_response()
        }
    };
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (k, v) in upstream.headers() {
        if k != header::TRANSFER_ENCODING && k != header::CONNECTION && k != header::CONTENT_LENGTH
        {
            headers.append(k, v.clone());
        }
    }
    match upstream.bytes().await {
        Ok(b) => (status, headers, b).into_response(),
        Err(e) => service_error(format!("reading the emulator's answer: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::runtime_api::RuntimeApi;

    async fn finished(outcome: Outcome) -> Finished {
        Finished {
            api: RuntimeApi::start("arn").await.unwrap(),
            request_id: "req-1".into(),
            outcome,
            init: None,
            duration: Duration::from_millis(5),
            answered: Duration::from_millis(5),
            output: Vec::new(),
        }
    }

    fn header(r: &Response, k: &str) -> Option<String> {
        r.headers().get(k).map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn service_errors_carry_a_request_id_as_every_aws_answer_does() {
        let r = service_error("boom".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            header(&r, "x-amzn-ErrorType").as_deref(),
            Some("ServiceException")
        );
        let id = header(&r, "x-amzn-RequestId").expect("a request id");
        assert_eq!(id.len(), 36, "{id}");
    }

    #[tokio::test]
    async fn failures_carry_the_function_error_header_and_a_lambda_error_document() {
        let r = answer(
            finished(Outcome::TimedOut(Duration::from_secs(3))).await,
            "",
            false,
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "X-Amz-Function-Error").as_deref(),
            Some("Unhandled")
        );
        assert_eq!(header(&r, "x-amzn-RequestId").as_deref(), Some("req-1"));
        assert_eq!(header(&r, "X-Amz-Log-Result"), None);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["errorType"], "Sandbox.Timedout");
        assert!(v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("after 3.00 seconds"));

        let ok = answer(
            finished(Outcome::Response(Bytes::from_static(b"{\"a\":1}"))).await,
            "",
            false,
        );
        assert_eq!(header(&ok, "X-Amz-Function-Error"), None);
    }

    #[tokio::test]
    async fn the_log_tail_is_the_last_4_kb_cut_at_a_character() {
        // 3-byte characters: 4096 is not a multiple of 3, so the cut must move to a boundary
        let log = format!("START first line\n{}\nREPORT last\n", "€".repeat(3000));
        let r = answer(finished(Outcome::Response(Bytes::new())).await, &log, true);
        let tail = base64::engine::general_purpose::STANDARD
            .decode(header(&r, "X-Amz-Log-Result").unwrap())
            .unwrap();
        let tail = String::from_utf8(tail).expect("valid UTF-8");
        assert!(tail.len() <= TAIL_BYTES && tail.len() > TAIL_BYTES - 3);
        assert!(tail.ends_with("REPORT last\n") && !tail.contains("START"));
    }

    #[test]
    fn names_arns_and_partial_arns_name_the_same_function() {
        assert_eq!(function_name("api"), "api");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:api:$LATEST"),
            "api"
        );
        assert_eq!(function_name("123456789012:function:api"), "api");
    }
}
