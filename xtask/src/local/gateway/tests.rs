use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

use super::access_log::AccessLine;
use super::sigv4::LOCAL_CREDENTIALS;
use super::{serve_with, Limits, AWS_LIMITS};
use crate::local::wiring::{Api, LambdaAuthorizer, Route, RouteAuth};

const REGION: &str = "us-east-1";

type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A Lambda service that records every invocation and answers per function.
async fn fake_lambda(
    State(calls): State<Calls>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let event: Value = serde_json::from_slice(&body).expect("the gateway sends JSON events");
    calls.lock().unwrap().push((name.clone(), event.clone()));
    let authorization = event
        .pointer("/headers/authorization")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let payload = match name.as_str() {
        "echo" => json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json!({"routeKey": event["routeKey"], "pathParameters": event["pathParameters"]}).to_string(),
        }),
        "plain" => json!({"hello": "world"}),
        "string" => json!("just text"),
        "structured" => json!({
            "statusCode": 201,
            "headers": {"x-one": "1", "content-type": "application/octet-stream"},
            "multiValueHeaders": {"x-multi": ["a", "b"]},
            "cookies": ["s=1; Path=/", "t=2; HttpOnly"],
            "body": base64::engine::general_purpose::STANDARD.encode([0u8, 1, 2, 255]),
            "isBase64Encoded": true,
        }),
        "invalid" => json!({"statusCode": "not a status"}),
        "fails" => {
            return (
                [("X-Amz-Function-Error", "Unhandled")],
                json!({"errorType": "Boom", "errorMessage": "it broke"}).to_string(),
            )
                .into_response()
        }
        "slow" => std::future::pending().await,
        "auth-simple" => json!({
            "isAuthorized": authorization == "allow",
            "context": {"user": "alice", "level": 3},
        }),
        // webhook-runner's kind: always allows, with its verdict on x-api-key in the context
        "auth-key" => {
            let good = event.pointer("/headers/x-api-key") == Some(&json!("good"));
            json!({
                "isAuthorized": true,
                "context": {"verdict": if good { "ok" } else { "refused" }},
            })
        }
        "auth-policy" => json!({
            "principalId": "alice",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": if authorization == "allow" { "Allow" } else { "Deny" },
                "Resource": event["routeArn"],
            }]},
            "context": {"via": "policy"},
        }),
        other => panic!("no fake for function {other}"),
    };
    payload.to_string().into_response()
}

struct Harness {
    base: String,
    port: u16,
    calls: Calls,
    http: reqwest::Client,
}

impl Harness {
    async fn start(routes: Vec<Route>) -> Harness {
        let calls: Calls = Arc::default();
        let lambda_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let lambda = format!("http://{}", lambda_listener.local_addr().unwrap());
        let app = Router::new()
            .route(
                "/2015-03-31/functions/{name}/invocations",
                post(fake_lambda),
            )
            .with_state(calls.clone());
        tokio::spawn(async move { axum::serve(lambda_listener, app).await });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let api = Api {
            service: "test".into(),
            name: "test-api-local".into(),
            routes,
        };
        let limits = Limits {
            integration_timeout: Duration::from_millis(300),
            authorizer_timeout: Duration::from_millis(300),
            ..AWS_LIMITS
        };
        tokio::spawn(serve_with(api, listener, lambda, REGION.into(), limits));
        Harness {
            base: format!("http://127.0.0.1:{port}"),
            port,
            calls,
            http: support::tls::http_client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (u16, HeaderMap, Vec<u8>) {
        send(self.http.get(self.url(path))).await
    }

    fn calls_of(&self, function: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn last_event(&self) -> Value {
        self.calls
            .lock()
            .unwrap()
            .last()
            .expect("an invocation")
            .1
            .clone()
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, HeaderMap, Vec<u8>) {
    let r = request.send().await.expect("the gateway answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn json_body(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

fn route(key: &str, function: &str, auth: RouteAuth) -> Route {
    Route {
        key: key.into(),
        auth,
        function: function.into(),
        payload_version: "2.0".into(),
    }
}

fn lambda_auth(function: &str, ttl_seconds: u64, simple_responses: bool) -> RouteAuth {
    RouteAuth::Lambda(LambdaAuthorizer {
        name: function.into(),
        function: function.into(),
        identity_source: vec!["$request.header.Authorization".into()],
        ttl_seconds,
        payload_version: "2.0".into(),
        simple_responses,
    })
}

fn main_routes() -> Vec<Route> {
    let none = || RouteAuth::None;
    vec![
        route("GET /items/special", "echo", none()),
        route("GET /items/{id}", "echo", none()),
        route("ANY /items/{id}", "echo", none()),
        route("GET /files/{proxy+}", "echo", none()),
        route("POST /echo", "echo", none()),
        route("GET /plain", "plain", none()),
        route("GET /string", "string", none()),
        route("GET /structured", "structured", none()),
        route("GET /fails", "fails", none()),
        route("GET /invalid", "invalid", none()),
        route("GET /slow", "slow", none()),
        route("GET /signed", "echo", RouteAuth::Iam),
        route("POST /signed", "echo", RouteAuth::Iam),
        route("GET /simple", "echo", lambda_auth("auth-simple", 300, true)),
        route("GET /policy", "echo", lambda_auth("auth-policy", 0, false)),
        route(
            "GET /jwt",
            "echo",
            RouteAuth::Jwt {
                issuer: "https://issuer.example".into(),
                audience: vec!["aud".into()],
            },
        ),
    ]
}

async fn route_key_of(h: &Harness, method: reqwest::Method, path: &str) -> (u16, Value) {
    let (status, _, body) = send(h.http.request(method, h.url(path))).await;
    (status, json_body(&body))
}

#[tokio::test]
async fn the_most_specific_route_wins_and_binds_path_parameters() {
    let h = Harness::start(main_routes()).await;
    let (status, body) = route_key_of(&h, reqwest::Method::GET, "/items/special").await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"routeKey": "GET /items/special", "pathParameters": null})
        )
    );
    let (_, body) = route_key_of(&h, reqwest::Method::GET, "/items/42").await;
    assert_eq!(
        body,
        json!({"routeKey": "GET /items/{id}", "pathParameters": {"id": "42"}})
    );
    // No POST route: ANY takes it, even over the literal GET route.
    let (_, body) = route_key_of(&h, reqwest::Method::POST, "/items/special").await;
    assert_eq!(
        body,
        json!({"routeKey": "ANY /items/{id}", "pathParameters": {"id": "special"}})
    );
    let (_, body) = route_key_of(&h, reqwest::Method::GET, "/files/a/b%20c/d.txt").await;
    assert_eq!(
        body,
        json!({"routeKey": "GET /files/{proxy+}", "pathParameters": {"proxy": "a/b c/d.txt"}})
    );
    // A greedy parameter needs at least one segment.
    let invoked = h.calls_of("echo").len();
    for path in ["/files", "/nothing", "/items/1/2", "/items/42/"] {
        let (status, _, body) = h.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(json_body(&body), json!({"message": "Not Found"}));
    }
    assert_eq!(h.calls_of("echo").len(), invoked, "404s invoke nothing");
}

#[tokio::test]
async fn greedy_routes_beat_default_which_catches_the_rest() {
    let h = Harness::start(vec![
        route("$default", "echo", RouteAuth::None),
        route("ANY /{proxy+}", "echo", RouteAuth::None),
        route("GET /exact", "echo", RouteAuth::None),
    ])
    .await;
    let (_, body) = route_key_of(&h, reqwest::Method::DELETE, "/some/where").await;
    assert_eq!(body["routeKey"], "ANY /{proxy+}");
    let (_, body) = route_key_of(&h, reqwest::Method::GET, "/exact").await;
    assert_eq!(body["routeKey"], "GET /exact");
    let (_, body) = route_key_of(&h, reqwest::Method::GET, "/").await;
    assert_eq!(body["routeKey"], "$default");
    assert_eq!(h.last_event()["routeKey"], "$default");
}

#[tokio::test]
async fn the_integration_gets_a_payload_2_0_event() {
    let h = Harness::start(main_routes()).await;
    let (status, headers, _) = send(
        h.http
            .post(h.url("/echo?b=2&a=1&a=3&e=x%20y"))
            .header("X-Custom", "one")
            .header("X-Custom", "two")
            .header("Cookie", "c1=v1; c2=v2")
            .header("User-Agent", "curl/8.0")
            .header("Content-Type", "application/json; charset=utf-8")
            .body(r#"{"k":1}"#),
    )
    .await;
    assert_eq!(status, 200);
    let e = h.last_event();
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "POST /echo");
    assert_eq!(e["rawPath"], "/echo");
    assert_eq!(e["rawQueryString"], "b=2&a=1&a=3&e=x%20y");
    assert_eq!(
        e["queryStringParameters"],
        json!({"a": "1,3", "b": "2", "e": "x y"})
    );
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(e["headers"]["x-custom"], "one,two");
    assert_eq!(
        e["headers"]["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(e["headers"]["x-forwarded-port"], h.port.to_string());
    assert!(e["headers"].get("cookie").is_none(), "cookies move out");
    assert!(e["headers"]
        .as_object()
        .unwrap()
        .keys()
        .all(|k| *k == k.to_ascii_lowercase()));
    assert_eq!(e["body"], r#"{"k":1}"#);
    assert_eq!(e["isBase64Encoded"], false);
    assert!(e.get("pathParameters").is_none());
    assert!(e.get("stageVariables").is_none());

    let ctx = &e["requestContext"];
    assert_eq!(ctx["accountId"], "123456789012");
    assert_eq!(ctx["apiId"].as_str().unwrap().len(), 10);
    assert_eq!(ctx["domainName"], format!("127.0.0.1:{}", h.port));
    assert_eq!(ctx["domainPrefix"], "127");
    assert_eq!(
        ctx["http"],
        json!({"method": "POST", "path": "/echo", "protocol": "HTTP/1.1",
               "sourceIp": "127.0.0.1", "userAgent": "curl/8.0"})
    );
    assert_eq!(ctx["routeKey"], "POST /echo");
    assert_eq!(ctx["stage"], "$default");
    assert!(ctx.get("authorizer").is_none());
    assert_eq!(
        ctx["requestId"].as_str(),
        headers.get("apigw-requestid").and_then(|v| v.to_str().ok())
    );
    // `time` and `timeEpoch` name the same instant.
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    let parsed = time::PrimitiveDateTime::parse(ctx["time"].as_str().unwrap(), format)
        .expect("dd/MMM/yyyy:HH:mm:ss +0000")
        .assume_utc();
    let epoch_ms = ctx["timeEpoch"].as_i64().unwrap();
    assert_eq!(parsed.unix_timestamp(), epoch_ms / 1000);
}

#[tokio::test]
async fn binary_bodies_arrive_base64_encoded() {
    let h = Harness::start(main_routes()).await;
    let bytes = vec![0u8, 159, 146, 150, b'a'];
    let (status, _, _) = send(
        h.http
            .post(h.url("/echo"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let e = h.last_event();
    assert_eq!(e["isBase64Encoded"], true);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(e["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, bytes);

    send(h.http.post(h.url("/echo"))).await;
    let e = h.last_event();
    assert!(e.get("body").is_none(), "no body, no field");
    assert_eq!(e["isBase64Encoded"], false);
}

#[tokio::test]
async fn responses_map_as_api_gateway_maps_them() {
    let h = Harness::start(main_routes()).await;
    let (status, headers, body) = h.get("/plain").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json_body(&body), json!({"hello": "world"}));

    let (status, headers, body) = h.get("/string").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, br#""just text""#);

    let (status, headers, body) = h.get("/structured").await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-one"], "1");
    assert_eq!(headers["content-type"], "application/octet-stream");
    let multi: Vec<_> = headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["s=1; Path=/", "t=2; HttpOnly"]);
    assert_eq!(body, [0u8, 1, 2, 255]);
}

#[tokio::test]
async fn failures_become_gateway_errors() {
    let h = Harness::start(main_routes()).await;
    for path in ["/fails", "/invalid"] {
        let (status, _, body) = h.get(path).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(
            json_body(&body),
            json!({"message": "Internal Server Error"})
        );
    }
    let (status, _, body) = h.get("/slow").await;
    assert_eq!(status, 503);
    assert_eq!(json_body(&body), json!({"message": "Service Unavailable"}));

    let (status, _, body) = h.get("/jwt").await;
    assert_eq!(status, 500);
    assert!(json_body(&body)["message"]
        .as_str()
        .unwrap()
        .contains("JWT"));
    assert!(h.calls_of("echo").is_empty());

    let too_big = vec![b'x'; AWS_LIMITS.max_body + 1];
    let (status, _, _) = send(
        h.http
            .post(h.url("/echo"))
            .header("Content-Type", "text/plain")
            .body(too_big),
    )
    .await;
    assert_eq!(status, 413);
    assert!(h.calls_of("echo").is_empty());
}

/// Sign as an SDK does for `execute-api`.
struct Signer<'a> {
    access_key: &'a str,
    secret: &'a str,
    time: SystemTime,
    presign: bool,
}

impl Signer<'_> {
    fn local() -> Signer<'static> {
        Signer {
            access_key: LOCAL_CREDENTIALS.access_key_id,
            secret: LOCAL_CREDENTIALS.secret_access_key,
            time: SystemTime::now(),
            presign: false,
        }
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        let mut settings = SigningSettings::default();
        if self.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(300));
        }
        let identity = Credentials::new(self.access_key, self.secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("execute-api")
            .time(self.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (signed_headers, query) = instructions.into_parts();
        let mut url = reqwest::Url::parse(url).unwrap();
        for (k, v) in &query {
            url.query_pairs_mut().append_pair(k, v);
        }
        let mut request = http.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        for h in &signed_headers {
            request = request.header(h.name(), h.value());
        }
        request
    }
}

#[tokio::test]
async fn iam_routes_need_a_valid_signature() {
    let h = Harness::start(main_routes()).await;
    let (status, _, body) = h.get("/signed").await;
    assert_eq!(status, 403);
    assert_eq!(
        json_body(&body),
        json!({"message": "Missing Authentication Token"})
    );
    assert!(h.calls_of("echo").is_empty());

    let url = h.url("/signed?b=2&a=x%2Fy");
    let signed = Signer::local().request(&h.http, "GET", &url, &[], b"");
    let (status, _, _) = send(signed).await;
    assert_eq!(status, 200);
    let iam = &h.last_event()["requestContext"]["authorizer"]["iam"];
    assert_eq!(iam["accessKey"], "test");
    assert_eq!(iam["accountId"], "123456789012");
    assert!(iam["principalOrgId"].is_null());
    assert!(iam["userArn"].as_str().unwrap().starts_with("arn:aws:"));

    let body = br#"{"amount": 10}"#;
    let content_type = [("content-type", "application/json")];
    let url = h.url("/signed?mode=full");
    let signed = Signer::local().request(&h.http, "POST", &url, &content_type, body);
    assert_eq!(send(signed.body(body.to_vec())).await.0, 200);

    let presigned = Signer {
        presign: true,
        ..Signer::local()
    }
    .request(&h.http, "GET", &h.url("/signed?x=1"), &[], b"");
    assert_eq!(send(presigned).await.0, 200);

    let invoked = h.calls_of("echo").len();
    let mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.";
    let tampered = Signer::local()
        .request(&h.http, "POST", &url, &content_type, body)
        .body(r#"{"amount": 10000}"#);
    let (status, _, answer) = send(tampered).await;
    assert_eq!(
        (status, json_body(&answer)),
        (403, json!({"message": mismatch}))
    );

    let wrong_secret = Signer {
        secret: "not-the-secret",
        ..Signer::local()
    }
    .request(&h.http, "GET", &h.url("/signed"), &[], b"");
    let (status, _, answer) = send(wrong_secret).await;
    assert_eq!(
        (status, json_body(&answer)),
        (403, json!({"message": mismatch}))
    );

    let unknown_key = Signer {
        access_key: "AKIAUNKNOWN",
        ..Signer::local()
    }
    .request(&h.http, "GET", &h.url("/signed"), &[], b"");
    let (status, _, answer) = send(unknown_key).await;
    assert_eq!(
        (status, json_body(&answer)),
        (
            403,
            json!({"message": "The security token included in the request is invalid."})
        )
    );

    let stale = Signer {
        time: SystemTime::now() - Duration::from_secs(16 * 60),
        ..Signer::local()
    }
    .request(&h.http, "GET", &h.url("/signed"), &[], b"");
    let (status, _, answer) = send(stale).await;
    assert_eq!(status, 403);
    assert!(json_body(&answer)["message"]
        .as_str()
        .unwrap()
        .starts_with("Signature expired: "));
    assert_eq!(
        h.calls_of("echo").len(),
        invoked,
        "refused requests invoke nothing"
    );
}

#[tokio::test]
async fn lambda_authorizers_allow_deny_and_cache() {
    let h = Harness::start(main_routes()).await;
    let (status, _, body) = h.get("/simple").await;
    assert_eq!(
        (status, json_body(&body)),
        (401, json!({"message": "Unauthorized"}))
    );
    assert!(h.calls_of("auth-simple").is_empty(), "no identity, no call");

    let get =
        |path: &str, token: &str| send(h.http.get(h.url(path)).header("Authorization", token));
    assert_eq!(get("/simple?q=1", "allow").await.0, 200);
    let ctx = &h.last_event()["requestContext"];
    assert_eq!(
        ctx["authorizer"],
        json!({"lambda": {"user": "alice", "level": 3}})
    );
    let auth_event = &h.calls_of("auth-simple")[0];
    assert_eq!(auth_event["version"], "2.0");
    assert_eq!(auth_event["type"], "REQUEST");
    assert_eq!(auth_event["identitySource"], json!(["allow"]));
    assert_eq!(auth_event["routeKey"], "GET /simple");
    assert_eq!(auth_event["queryStringParameters"], json!({"q": "1"}));
    assert_eq!(
        auth_event["routeArn"],
        format!(
            "arn:aws:execute-api:{REGION}:123456789012:{}/$default/GET/simple",
            ctx["apiId"].as_str().unwrap()
        )
    );
    assert!(auth_event.get("body").is_none());

    // Within the TTL the same identity is answered from the cache.
    assert_eq!(get("/simple", "allow").await.0, 200);
    assert_eq!(h.calls_of("auth-simple").len(), 1);

    let (status, _, body) = get("/simple", "deny").await;
    assert_eq!(
        (status, json_body(&body)),
        (403, json!({"message": "Forbidden"}))
    );
    assert_eq!(h.calls_of("auth-simple").len(), 2);
    assert_eq!(h.calls_of("echo").len(), 2);

    // Policy answers, TTL 0: every request asks the authorizer.
    assert_eq!(get("/policy", "allow").await.0, 200);
    assert_eq!(
        h.last_event()["requestContext"]["authorizer"],
        json!({"lambda": {"via": "policy"}})
    );
    assert_eq!(get("/policy", "allow").await.0, 200);
    assert_eq!(get("/policy", "deny").await.0, 403);
    assert_eq!(h.calls_of("auth-policy").len(), 3);
}

#[tokio::test]
async fn an_api_key_authorizer_is_skipped_without_its_header_and_caches_per_key() {
    let auth = RouteAuth::Lambda(LambdaAuthorizer {
        name: "auth-key".into(),
        function: "auth-key".into(),
        identity_source: vec!["$request.header.x-api-key".into()],
        ttl_seconds: 60,
        payload_version: "2.0".into(),
        simple_responses: true,
    });
    let h = Harness::start(vec![route("POST /jobs", "echo", auth)]).await;
    let post =
        |name: &str, key: &str| send(h.http.post(h.url("/jobs")).header(name, key).body("{}"));
    // API Gateway answers 401 itself when the identity source is missing or empty
    let (status, _, body) = send(h.http.post(h.url("/jobs")).body("{}")).await;
    assert_eq!(
        (status, json_body(&body)),
        (401, json!({"message": "Unauthorized"}))
    );
    let (status, _, body) = post("x-api-key", "").await;
    assert_eq!(
        (status, json_body(&body)),
        (401, json!({"message": "Unauthorized"}))
    );
    assert!(h.calls_of("auth-key").is_empty(), "no identity, no call");
    assert!(h.calls_of("echo").is_empty());

    // header names are case-insensitive; the context reaches the integration
    assert_eq!(post("X-Api-Key", "good").await.0, 200);
    assert_eq!(
        h.last_event()["requestContext"]["authorizer"],
        json!({"lambda": {"verdict": "ok"}})
    );
    let auth_event = &h.calls_of("auth-key")[0];
    assert_eq!(auth_event["identitySource"], json!(["good"]));
    assert_eq!(auth_event["headers"]["x-api-key"], "good");

    // cached per key value: the same key again asks nobody, another key asks once
    assert_eq!(post("x-api-key", "good").await.0, 200);
    assert_eq!(h.calls_of("auth-key").len(), 1);
    for _ in 0..2 {
        assert_eq!(post("x-api-key", "bad").await.0, 200);
        assert_eq!(
            h.last_event()["requestContext"]["authorizer"],
            json!({"lambda": {"verdict": "refused"}})
        );
    }
    assert_eq!(h.calls_of("auth-key").len(), 2);
    assert_eq!(h.calls_of("echo").len(), 4);
}

#[test]
fn access_log_lines_have_the_stage_format() {
    let line = AccessLine::new("abc=", None, 404, 3, None);
    assert_eq!(
        serde_json::to_string(&line).unwrap(),
        r#"{"requestId":"abc=","routeKey":"-","status":"404","latency":"3","integrationError":"-"}"#
    );
}
