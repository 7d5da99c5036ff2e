//! Shared by the route tests (`api`, `media_routes`, `transfer`): the ids they use, signed JWTs,
//! payload 2.0 events whose authorizer context comes from the real authorizer, the `Api` as the
//! binary builds it but pointed at the GraphQL fake and the local AWS emulator on 127.0.0.1:5000
//! (`cargo xtask local up`), and assertions on the calls the fake recorded.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use upload_processor::api::transfer::TransferApi;
use upload_processor::api::{Api, Settings};
use upload_processor::auth::Verifier;
use upload_processor::fake::{self, AuthKind, Call, GraphqlFake};
use upload_processor::graphql::GraphqlClient;
use uuid::Uuid;

pub const USER: &str = "6109d2a86e6fa01e5bf3219f";
/// A user who may not edit [`MENTOR`].
pub const OTHER: &str = "6109d2a86e6fa01e5bf32100";
pub const MENTOR: &str = "6196af5e068d43dc686194f8";
pub const QUESTION: &str = "511d2a86e6fa01e5bf3219aa";
/// A state machine that does not exist.
pub const NO_STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:none";

/// `prefix-<uuid>`: a name of its own for a bucket, queue, secret or state machine.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// The emulator is used only when something already listens on its port; without it the caller
/// prints a note and passes.
pub fn emulator_up(test: &str) -> bool {
    let up = TcpStream::connect_timeout(&"127.0.0.1:5000".parse().unwrap(), Duration::from_secs(1))
        .is_ok();
    if !up {
        eprintln!(
            "NOTE: {test}: skipped, no AWS emulator on 127.0.0.1:5000 (`cargo xtask local up`)"
        );
    }
    up
}

pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A JWT signed with the fake's secret, as mentor-graphql issues them.
pub fn jwt(user: &str, role: &str, mentor_ids: &[&str], exp: i64) -> String {
    fake::sign_jwt(
        fake::JWT_SECRET,
        &json!({"id": user, "role": role, "mentorIds": mentor_ids, "exp": exp}),
    )
}

/// A plain user's JWT naming [`MENTOR`], valid for an hour.
pub fn token(user: &str) -> String {
    jwt(user, "USER", &[MENTOR], unix_now() + 3600)
}

/// A payload 2.0 route event, built up from [`Event::new`]: its authorizer context is what our
/// authorizer answers for the `authorization` header (the gateway passes it through unchanged).
#[derive(Debug, Clone)]
pub struct Event {
    route: String,
    authorization: Option<String>,
    content_type: String,
    body: Option<Vec<u8>>,
    base64: bool,
    path: Option<Map<String, Value>>,
}

impl Event {
    /// `route` with a JSON Content-Type, and no authorization, body or path parameters.
    pub fn new(route: &str) -> Event {
        Event {
            route: route.into(),
            authorization: None,
            content_type: "application/json".into(),
            body: None,
            base64: false,
            path: None,
        }
    }

    /// `authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Event {
        self.authorization(&format!("Bearer {token}"))
    }

    /// The `authorization` header as given.
    pub fn authorization(mut self, value: &str) -> Event {
        self.authorization = Some(value.into());
        self
    }

    pub fn content_type(mut self, value: &str) -> Event {
        self.content_type = value.into();
        self
    }

    /// The body's bytes (UTF-8 unless [`Event::base64`]); without one the body is null.
    pub fn body(mut self, bytes: impl AsRef<[u8]>) -> Event {
        self.body = Some(bytes.as_ref().to_vec());
        self
    }

    /// The body base64-encoded with `isBase64Encoded`, as API Gateway delivers binary bodies.
    pub fn base64(mut self) -> Event {
        self.base64 = true;
        self
    }

    /// One of `pathParameters`.
    pub fn path(mut self, name: &str, value: &str) -> Event {
        self.path
            .get_or_insert_with(Map::new)
            .insert(name.into(), json!(value));
        self
    }

    pub fn build(self) -> Value {
        let mut headers = json!({ "content-type": self.content_type });
        if let Some(a) = self.authorization {
            headers["authorization"] = json!(a);
        }
        let verifier = Verifier::new(fake::JWT_SECRET.as_bytes(), true).unwrap();
        let context = verifier.authorize(&json!({ "headers": headers }), OffsetDateTime::now_utc())
            ["context"]
            .clone();
        let body = self.body.map(|bytes| {
            if self.base64 {
                STANDARD.encode(bytes)
            } else {
                String::from_utf8(bytes).unwrap()
            }
        });
        let mut event = json!({
            "version": "2.0",
            "routeKey": self.route,
            "headers": headers,
            "requestContext": {"authorizer": {"lambda": context}},
            "body": body,
            "isBase64Encoded": self.base64,
        });
        if let Some(path) = self.path {
            event["pathParameters"] = Value::Object(path);
        }
        event
    }
}

/// Fixed credentials (they sign; no test sends them to AWS).
pub fn credentials(
    access_key: &str,
    secret_key: &str,
    session_token: Option<&str>,
) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
        access_key,
        secret_key,
        session_token.map(str::to_string),
        None,
        "test",
    ))
}

/// The upload settings, with the emulator's S3 endpoint.
pub fn settings(upload_bucket: &str, state_machine_arn: &str) -> Settings {
    Settings {
        upload_bucket: upload_bucket.into(),
        state_machine_arn: state_machine_arn.into(),
        upload_max_bytes: 1024,
        region: "us-east-1".into(),
        s3_endpoint: Some(support::emulator_endpoint()),
    }
}

/// An `Api` as the binary builds it but for `graphql` and the emulator's clients: no upload
/// bucket or state machine that exists, the default media settings.
pub fn api(graphql: GraphqlClient, aws: &support::SdkConfig) -> Api {
    Api {
        settings: settings("no-such-upload-bucket", NO_STATE_MACHINE),
        graphql,
        s3: support::s3_client(aws),
        sfn: aws_sdk_sfn::Client::new(aws),
        credentials: credentials("AKIDROUTES", "routes-secret", None),
        media: Default::default(),
    }
}

/// An HTTP API function's handler: [`Api`] or [`TransferApi`].
pub trait Routes {
    fn answer(&self, event: &Value) -> impl std::future::Future<Output = Value>;
}

impl Routes for Api {
    async fn answer(&self, event: &Value) -> Value {
        self.handle(event).await
    }
}

impl Routes for TransferApi {
    async fn answer(&self, event: &Value) -> Value {
        self.handle(event).await
    }
}

/// `(status, body)` of the route's payload 2.0 answer.
pub async fn call(api: &impl Routes, event: &Value) -> (u16, Value) {
    let answer = api.answer(event).await;
    let body = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    (answer["statusCode"].as_u64().unwrap() as u16, body)
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
}

/// `(bytes, Content-Type)` of a stored object.
pub async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<(Vec<u8>, Option<String>), String> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{key}: {e:?}"))?;
    let content_type = out.content_type().map(str::to_string);
    let bytes = out.body.collect().await.unwrap().to_vec();
    Ok((bytes, content_type))
}

/// The calls the fake recorded that select `field`.
pub fn calls_to(fake: &GraphqlFake, field: &str) -> Vec<Call> {
    fake.calls()
        .into_iter()
        .filter(|c| c.has_field(field))
        .collect()
}

/// The call carried `user`'s own JWT.
pub fn assert_sent_as(call: &Call, user: &str) {
    assert_eq!(
        call.auth,
        AuthKind::UserJwt {
            user: Some(user.into())
        },
        "{call:?}"
    );
}
