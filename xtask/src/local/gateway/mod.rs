//! The local HTTP APIs: one listener per `AWS::ApiGatewayV2::Api`, routing by route key to the
//! deployed functions through the local Lambda service, as API Gateway does.
//!
//! Per request, in API Gateway's order: the 10 MB body limit, route selection, the route's
//! authorization (AWS_IAM signature, Lambda authorizer), the integration's invocation (30 s),
//! the response mapping, and one access-log line.

mod access_log;
mod authorizer;
mod event;
mod invoke;
mod response;
mod routes;
pub mod sigv4;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;
use time::OffsetDateTime;

use self::access_log::AccessLine;
use self::authorizer::{Authorizers, Verdict};
use self::event::Incoming;
use self::invoke::{Lambda, Outcome};
use self::response::{gateway_error, Mapped};
use self::routes::RouteTable;
use super::wiring::{Api, LambdaAuthorizer, Route, RouteAuth};

/// API Gateway's fixed limits for HTTP APIs (tests shorten the waits).
#[derive(Debug, Clone, Copy)]
struct Limits {
    integration_timeout: Duration,
    authorizer_timeout: Duration,
    max_body: usize,
}

const AWS_LIMITS: Limits = Limits {
    integration_timeout: Duration::from_secs(30),
    authorizer_timeout: Duration::from_secs(10),
    max_body: 10 * 1024 * 1024,
};

/// Serve `api` on `listener` until the task is aborted. `lambda` is the local Lambda service's
/// endpoint (`http://127.0.0.1:5100`).
pub async fn serve(
    api: Api,
    listener: tokio::net::TcpListener,
    lambda: String,
    region: String,
) -> Result<()> {
    serve_with(api, listener, lambda, region, AWS_LIMITS).await
}

async fn serve_with(
    api: Api,
    listener: tokio::net::TcpListener,
    lambda: String,
    region: String,
    limits: Limits,
) -> Result<()> {
    let port = listener.local_addr()?.port();
    let gateway = Arc::new(Gateway {
        api_id: api_id(&api.name),
        routes: RouteTable::new(&api.routes),
        lambda: Lambda::new(lambda),
        region,
        port,
        authorizers: Authorizers::default(),
        limits,
    });
    let app = Router::new().fallback(handle).with_state(gateway);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .with_context(|| format!("serving HTTP API {} on port {port}", api.name))
}

struct Gateway {
    api_id: String,
    routes: RouteTable,
    lambda: Lambda,
    region: String,
    port: u16,
    authorizers: Authorizers,
    limits: Limits,
}

/// What one request came to, for the client and the access log.
struct Handled {
    answer: Mapped,
    route_key: Option<String>,
    integration_error: Option<String>,
}

impl Handled {
    fn error(status: StatusCode, message: &str, route: Option<&Route>) -> Handled {
        Handled {
            answer: gateway_error(status, message),
            route_key: route.map(|r| r.key.clone()),
            integration_error: None,
        }
    }

    fn integration_failure(status: StatusCode, route: &Route, error: String) -> Handled {
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Service Unavailable"
        } else {
            "Internal Server Error"
        };
        Handled {
            answer: gateway_error(status, message),
            route_key: Some(route.key.clone()),
            integration_error: Some(error),
        }
    }
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let handled = gateway.answer(&request_id, peer, request).await;
    let status = handled.answer.status;
    AccessLine::new(
        &request_id,
        handled.route_key.as_deref(),
        status.as_u16(),
        started.elapsed().as_millis(),
        handled.integration_error.as_deref(),
    )
    .emit();
    into_response(handled.answer, &request_id)
}

impl Gateway {
    async fn answer(&self, request_id: &str, peer: SocketAddr, request: Request) -> Handled {
        let time = OffsetDateTime::now_utc();
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body) {
            return Handled::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
                None,
            );
        }
        let Ok(body) = axum::body::to_bytes(body, self.limits.max_body).await else {
            return Handled::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
                None,
            );
        };
        let method = parts.method.as_str().to_string();
        let raw_path = parts.uri.path().to_string();
        let raw_query = parts.uri.query().unwrap_or_default().to_string();
        let Some(selected) = self.routes.select(&method, &raw_path) else {
            return Handled::error(StatusCode::NOT_FOUND, "Not Found", None);
        };
        let route = selected.route;
        let incoming = Incoming {
            request_id: request_id.to_string(),
            api_id: self.api_id.clone(),
            headers: self.forwarded_headers(&parts.headers, peer),
            method,
            raw_path,
            raw_query,
            body: body.to_vec(),
            source_ip: peer.ip().to_string(),
            time,
        };

        let authorizer = match &route.auth {
            RouteAuth::None => None,
            RouteAuth::Iam => match sigv4::verify(
                &incoming.method,
                &incoming.raw_path,
                &incoming.raw_query,
                &parts.headers,
                &incoming.body,
                &self.region,
                SystemTime::now(),
            ) {
                Ok(caller) => Some(caller.authorizer()),
                Err(rejection) => {
                    return Handled::error(
                        StatusCode::FORBIDDEN,
                        &rejection.message(),
                        Some(route),
                    )
                }
            },
            RouteAuth::Lambda(a) => {
                match self
                    .lambda_authorizer(a, route, &incoming, &selected.path_parameters)
                    .await
                {
                    Ok(context) => Some(json!({ "lambda": context })),
                    Err(handled) => return handled,
                }
            }
            RouteAuth::Jwt { issuer, .. } => {
                return Handled::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!(
                        "JWT authorizers are not served by the local stage: it cannot fetch the signing keys of {issuer}. Route {} needs AWS.",
                        route.key
                    ),
                    Some(route),
                )
            }
        };

        let event = if route.payload_version == "1.0" {
            incoming.event_v1(&route.key, &selected.path_parameters, authorizer.as_ref())
        } else {
            incoming.event_v2(&route.key, &selected.path_parameters, authorizer.as_ref())
        };
        self.integrate(route, &event).await
    }

    /// The headers the integration sees: the client's plus those API Gateway adds.
    fn forwarded_headers(
        &self,
        headers: &axum::http::HeaderMap,
        peer: SocketAddr,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| *n != "x-forwarded-for")
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let forwarded_for = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .chain([peer.ip().to_string()])
            .collect::<Vec<_>>()
            .join(", ");
        out.push(("x-forwarded-for".into(), forwarded_for));
        out.push(("x-forwarded-port".into(), self.port.to_string()));
        out.push(("x-forwarded-proto".into(), "http".into()));
        if !headers.contains_key("x-amzn-trace-id") {
            out.push(("x-amzn-trace-id".into(), trace_id()));
        }
        out
    }

    /// The authorizer's context when it allows the request, else the gateway's answer.
    async fn lambda_authorizer(
        &self,
        a: &LambdaAuthorizer,
        route: &Route,
        incoming: &Incoming,
        path_parameters: &std::collections::BTreeMap<String, String>,
    ) -> Result<Value, Handled> {
        let identity: Option<Vec<String>> = a
            .identity_source
            .iter()
            .map(|s| incoming.identity_value(s, &route.key))
            .collect();
        let Some(identity) = identity else {
            return Err(Handled::error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                Some(route),
            ));
        };
        let route_arn = incoming.route_arn(&self.region);
        let event = if a.payload_version == "1.0" {
            let mut e = incoming.event_v1(&route.key, path_parameters, None);
            if let Some(o) = e.as_object_mut() {
                o.remove("body");
                o.remove("isBase64Encoded");
                o.insert("type".into(), json!("REQUEST"));
                o.insert("methodArn".into(), json!(route_arn));
                o.insert("identitySource".into(), json!(identity.join(",")));
            }
            e
        } else {
            incoming.authorizer_event_v2(&route.key, path_parameters, &self.region, &identity)
        };
        let verdict = tokio::time::timeout(
            self.limits.authorizer_timeout,
            self.authorizers
                .authorize(a, identity, event, &route_arn, &self.lambda),
        )
        .await
        .unwrap_or_else(|_| Verdict::Failed("The authorizer timed out".into()));
        match verdict {
            Verdict::Allowed { context } => Ok(context),
            Verdict::Denied => Err(Handled::error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                Some(route),
            )),
            Verdict::Failed(e) => Err(Handled::integration_failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                route,
                format!("Authorizer {}: {e}", a.name),
            )),
        }
    }

    async fn integrate(&self, route: &Route, event: &Value) -> Handled {
        let invoked = tokio::time::timeout(
            self.limits.integration_timeout,
            self.lambda.invoke(&route.function, event),
        )
        .await;
        let payload = match invoked {
            Err(_) => {
                return Handled::integration_failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    route,
                    format!(
                        "The integration did not answer within {} ms",
                        self.limits.integration_timeout.as_millis()
                    ),
                )
            }
            Ok(Err(e)) => {
                return Handled::integration_failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    route,
                    format!("{e:#}"),
                )
            }
            Ok(Ok(Outcome::FunctionError { kind })) => {
                return Handled::integration_failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    route,
                    format!("The Lambda function returned the following error: {kind}. Check your Lambda function code and try again."),
                )
            }
            Ok(Ok(Outcome::Payload(p))) => p,
        };
        let mapped = if route.payload_version == "1.0" {
            response::from_v1(&payload)
        } else {
            response::from_v2(&payload)
        };
        match mapped {
            Ok(answer) => Handled {
                answer,
                route_key: Some(route.key.clone()),
                integration_error: None,
            },
            Err(e) => Handled::integration_failure(StatusCode::INTERNAL_SERVER_ERROR, route, e),
        }
    }
}

fn into_response(answer: Mapped, request_id: &str) -> Response {
    let mut response = (answer.status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for (name, value) in answer.headers {
        // The framing is the gateway's, whatever the function claims.
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        headers.append(name, value);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", v);
    }
    response
}

/// A request id shaped like API Gateway's (16 characters of base64).
fn request_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    base64::engine::general_purpose::STANDARD.encode(&bytes.as_bytes()[..11])
}

fn trace_id() -> String {
    let seconds = OffsetDateTime::now_utc().unix_timestamp();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{seconds:08x}-{}", &random[..24])
}

/// A stable 10-character API id from the API's name: the routing table has no physical id, and
/// a stable id keeps route ARNs and cached authorizer policies valid across restarts.
fn api_id(name: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    sha2::Sha256::digest(name.as_bytes())
        .iter()
        .take(10)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests;
