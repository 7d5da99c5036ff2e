//! Who may queue a job: the HTTP API's Lambda authorizer (payload format 2.0, simple responses,
//! identity source `$request.header.x-api-key`) and the intake's reading of its verdict.
//!
//! API Gateway answers a simple response's `"isAuthorized": false` with 403, and an HTTP API
//! cannot change that answer, while a caller without a valid key must get 401 with nothing more.
//! So the authorizer always allows and puts its verdict in the context ([`response`]); the intake
//! reads it back from `requestContext.authorizer.lambda` ([`verdict`]) and answers 401 for anything
//! but `ok`, including no verdict at all (a route wired without the authorizer). A request without
//! the header, or with an empty one, never reaches the authorizer: API Gateway answers 401 itself.

use std::time::Duration;

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
    ApiGatewayV2httpRequest,
};
use serde_json::{json, Value};

use crate::handlers::{load_keys, EnvError};
use crate::keys::{IntakeKeys, Keys, REREAD_INTERVAL};

/// The header callers send their key in (the authorizer's identity source).
pub const HEADER: &str = "x-api-key";
/// The context key the verdict travels under.
pub const VERDICT: &str = "verdict";
/// The verdict for an accepted key.
pub const VERDICT_OK: &str = "ok";
/// The verdict for a key that is none of the accepted ones.
pub const VERDICT_REFUSED: &str = "refused";

/// Why the intake refuses a request; every case is a 401 whose body says no more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the request carries no authorizer verdict: is the route wired without the authorizer?"
    )]
    Missing,
    #[error("the authorizer refused the x-api-key")]
    Refused,
    #[error("the authorizer's verdict is not one the intake knows")]
    Unknown,
}

/// The accepted intake keys (the secret's current and previous versions) and the checks on them.
pub struct Authorizer {
    keys: Keys<IntakeKeys>,
    reread_interval: Duration,
}

impl Authorizer {
    pub fn new(keys: Keys<IntakeKeys>) -> Authorizer {
        Authorizer {
            keys,
            reread_interval: REREAD_INTERVAL,
        }
    }

    /// How long after a read of the secret an unknown key may prompt the next one (tests
    /// shorten it; in Lambda it is [`REREAD_INTERVAL`]).
    pub fn with_reread_interval(self, reread_interval: Duration) -> Authorizer {
        Authorizer {
            reread_interval,
            ..self
        }
    }

    /// The keys of the secret named by `INTAKE_KEY_SECRET`. Without it the function does not
    /// start, so API Gateway answers 500 and nothing is let through.
    pub async fn from_environment() -> Result<Authorizer, EnvError> {
        let name = std::env::var("INTAKE_KEY_SECRET")
            .map_err(|_| EnvError::Missing("INTAKE_KEY_SECRET"))?;
        let aws = support::aws_config().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        Ok(Authorizer::new(
            load_keys(&secrets, name, IntakeKeys::new).await?,
        ))
    }

    /// Whether `presented` is an accepted key. A key this copy does not know re-reads the secret
    /// first (it may have been rotated in while the function was warm), at most once per
    /// reread interval, so a flood of wrong keys cannot flood Secrets Manager.
    pub async fn accepts(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented.filter(|p| !p.is_empty()) else {
            return false;
        };
        if self.keys.get().await.accepts(presented) {
            return true;
        }
        self.keys.refresh(self.reread_interval).await && self.keys.get().await.accepts(presented)
    }

    /// The whole authorizer: the request's `x-api-key` → the verdict in a simple response. Logs
    /// the verdict with the request id, never the key.
    pub async fn authorize(
        &self,
        req: &ApiGatewayV2CustomAuthorizerV2Request,
    ) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
        let presented = req.headers.get(HEADER).and_then(|v| v.to_str().ok());
        let accepted = self.accepts(presented).await;
        let request_id = req
            .request_context
            .request_id
            .as_deref()
            .unwrap_or_default();
        if accepted {
            tracing::info!(request_id, "x-api-key accepted");
        } else {
            tracing::warn!(request_id, "x-api-key refused");
        }
        response(accepted)
    }
}

/// `{"isAuthorized": true, "context": {"verdict": "ok" | "refused"}}`: always authorized, so that
/// the intake, not API Gateway, answers a refused key (401, not 403). API Gateway caches the
/// answer per key value for the authorizer's TTL and hands the context to the intake as
/// `requestContext.authorizer.lambda`.
pub fn response(accepted: bool) -> ApiGatewayV2CustomAuthorizerSimpleResponse {
    let verdict = if accepted {
        VERDICT_OK
    } else {
        VERDICT_REFUSED
    };
    let mut r = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    r.is_authorized = true;
    r.context = json!({ VERDICT: verdict });
    r
}

/// The authorizer's verdict on an intake request. Fails closed: only a verdict `ok` passes.
pub fn verdict(req: &ApiGatewayV2httpRequest) -> Result<(), Refusal> {
    let context = &req
        .request_context
        .authorizer
        .as_ref()
        .ok_or(Refusal::Missing)?
        .fields;
    match context.get(VERDICT) {
        None | Some(Value::Null) => Err(Refusal::Missing),
        Some(Value::String(v)) if v == VERDICT_OK => Ok(()),
        Some(Value::String(v)) if v == VERDICT_REFUSED => Err(Refusal::Refused),
        Some(_) => Err(Refusal::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use support::Secret;

    fn authorizer() -> Authorizer {
        Authorizer::new(Keys::fixed(
            &KeyPair {
                current: Secret::new("key-now"),
                previous: Some(Secret::new("key-before")),
            },
            IntakeKeys::new,
        ))
    }

    /// A payload 2.0 REQUEST authorizer event as API Gateway sends it, with `x-api-key` when given.
    fn authorizer_event(key: Option<&str>) -> ApiGatewayV2CustomAuthorizerV2Request {
        let mut headers = json!({"content-type": "application/json"});
        if let Some(k) = key {
            headers[HEADER] = k.into();
        }
        serde_json::from_value(json!({
            "version": "2.0", "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:us-east-1:000000000000:api/$default/POST/jobs",
            "identitySource": key.map(|k| vec![k]), "routeKey": "POST /jobs", "rawPath": "/jobs",
            "rawQueryString": "", "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": "/jobs"}, "requestId": "r1"}
        }))
        .unwrap()
    }

    async fn answer(a: &Authorizer, key: Option<&str>) -> Value {
        serde_json::to_value(a.authorize(&authorizer_event(key)).await).unwrap()
    }

    #[tokio::test]
    async fn the_current_and_previous_keys_are_ok_anything_else_is_refused() {
        let a = authorizer();
        for key in ["key-now", "key-before"] {
            assert_eq!(
                answer(&a, Some(key)).await,
                json!({"isAuthorized": true, "context": {"verdict": "ok"}}),
                "{key}"
            );
        }
        for key in [
            None,
            Some(""),
            Some("key-no"),
            Some("KEY-NOW"),
            Some("key-now "),
        ] {
            assert_eq!(
                answer(&a, key).await,
                json!({"isAuthorized": true, "context": {"verdict": "refused"}}),
                "{key:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_header_is_found_whatever_its_case() {
        let mut event = authorizer_event(None);
        event
            .headers
            .insert("X-Api-Key", "key-now".parse().unwrap());
        let r = authorizer().authorize(&event).await;
        assert_eq!(r.context, json!({"verdict": "ok"}));
    }

    fn intake_event(authorizer: Value) -> ApiGatewayV2httpRequest {
        let mut context = json!({"http": {"method": "POST", "path": "/jobs"}, "requestId": "r1"});
        if !authorizer.is_null() {
            context["authorizer"] = authorizer;
        }
        serde_json::from_value(json!({
            "version": "2.0", "routeKey": "POST /jobs", "rawPath": "/jobs",
            "headers": {"x-api-key": "key-now"}, "requestContext": context,
            "body": "{}", "isBase64Encoded": false
        }))
        .unwrap()
    }

    #[test]
    fn the_intake_passes_only_an_ok_verdict() {
        let ok = intake_event(json!({"lambda": {"verdict": "ok"}}));
        assert_eq!(verdict(&ok), Ok(()));
        for (authorizer, refusal) in [
            // a route without an authorizer, whatever header the caller sent
            (Value::Null, Refusal::Missing),
            (json!({}), Refusal::Missing),
            (json!({"lambda": {}}), Refusal::Missing),
            (json!({"lambda": {"verdict": null}}), Refusal::Missing),
            // another kind of authorizer on the route
            (
                json!({"iam": {"accessKey": "AKIA", "accountId": "1"}}),
                Refusal::Missing,
            ),
            (json!({"lambda": {"verdict": "refused"}}), Refusal::Refused),
            (json!({"lambda": {"verdict": "OK"}}), Refusal::Unknown),
            (json!({"lambda": {"verdict": true}}), Refusal::Unknown),
        ] {
            assert_eq!(
                verdict(&intake_event(authorizer.clone())),
                Err(refusal),
                "{authorizer}"
            );
        }
    }

    #[test]
    fn what_the_authorizer_answers_is_what_the_intake_reads() {
        for accepted in [true, false] {
            let context = serde_json::to_value(response(accepted)).unwrap()["context"].clone();
            let got = verdict(&intake_event(json!({ "lambda": context })));
            assert_eq!(got.is_ok(), accepted);
        }
    }

    #[tokio::test]
    async fn the_sample_events_parse_and_the_smoke_key_is_the_local_one() {
        let read = |path: &str| -> String {
            std::fs::read_to_string(format!("{}/events/{path}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
        };
        // `cargo xtask local up` seeds this key (xtask/src/local/seed.rs, LOCAL_INTAKE_KEY)
        let local = Authorizer::new(Keys::fixed(
            &KeyPair::one("local-only-intake-key"),
            IntakeKeys::new,
        ));
        for (event, expected) in [("smoke", VERDICT_OK), ("wrong-key", VERDICT_REFUSED)] {
            let event: ApiGatewayV2CustomAuthorizerV2Request =
                serde_json::from_str(&read(&format!("authorizer/{event}.json"))).unwrap();
            let r = local.authorize(&event).await;
            assert_eq!(r.context, json!({ VERDICT: expected }));
        }
        for event in ["job", "smoke"] {
            let event: ApiGatewayV2httpRequest =
                serde_json::from_str(&read(&format!("intake/{event}.json"))).unwrap();
            assert_eq!(verdict(&event), Ok(()), "the sample carries the verdict");
        }
    }
}
