//! Who a request acts for, as mentor-graphql decides it (spec §2.1, context notes): with the
//! `mentor-graphql-req` header the bearer token must be the API key; without it the bearer
//! token is a user JWT (HS256, signature and `exp` checked). No `Authorization` at all is an
//! anonymous caller, which the `api` mutation root refuses.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FakeConfig;
use super::SERVICE_REQUEST_HEADER;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    Anonymous,
    User(String),
    Service,
}

/// Why a request was refused before reaching GraphQL.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// 401: a token that does not verify.
    Unauthorized(&'static str),
    /// 403: the stage's secret header missing or wrong (what a WAF in front would do).
    Forbidden(&'static str),
}

/// How a recorded call authenticated; never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthKind {
    None,
    /// A bearer JWT; `user` is its unverified `id` claim, when it has one.
    UserJwt {
        user: Option<String>,
    },
    /// `mentor-graphql-req` with a bearer key.
    ServiceKey,
    /// Some other `Authorization` scheme (its first word).
    Other {
        scheme: String,
    },
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, String>> {
    let value = headers.get("authorization")?.to_str().unwrap_or_default();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    Some(if scheme.eq_ignore_ascii_case("bearer") {
        Ok(token.trim())
    } else {
        Err(scheme.to_string())
    })
}

fn service_request(headers: &HeaderMap) -> bool {
    headers.contains_key(SERVICE_REQUEST_HEADER)
}

pub(crate) fn auth_kind(headers: &HeaderMap) -> AuthKind {
    match bearer(headers) {
        None => AuthKind::None,
        Some(Err(scheme)) => AuthKind::Other { scheme },
        Some(Ok(_)) if service_request(headers) => AuthKind::ServiceKey,
        Some(Ok(token)) => AuthKind::UserJwt {
            user: jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token)
                .ok()
                .and_then(|c| c.get("id").and_then(Value::as_str).map(str::to_string)),
        },
    }
}

pub(crate) fn authenticate(headers: &HeaderMap, config: &FakeConfig) -> Result<Principal, Refusal> {
    if let Some((name, value)) = &config.secret_header {
        if headers.get(name.as_str()).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            return Err(Refusal::Forbidden("missing or wrong secret header"));
        }
    }
    let token = match bearer(headers) {
        None => return Ok(Principal::Anonymous),
        Some(Err(_)) => return Err(Refusal::Unauthorized("not a bearer token")),
        Some(Ok(token)) => token,
    };
    if service_request(headers) {
        return match &config.api_key {
            Some(key) if key == token => Ok(Principal::Service),
            _ => Err(Refusal::Unauthorized("wrong API key")),
        };
    }
    crate::auth::hs256::install();
    let mut validation = Validation::new(Algorithm::HS256);
    // mentor-graphql's own tokens carry `exp`, but the original's authorizer accepts tokens
    // without one; the fake checks `exp` when present.
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(config.jwt_secret.as_bytes()),
        &validation,
    )
    .map_err(|_| Refusal::Unauthorized("invalid token"))?
    .claims;
    match claims.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(Principal::User(id.to_string())),
        _ => Err(Refusal::Unauthorized("token without an id claim")),
    }
}

/// An HS256 JWT of `claims`, as the tests and the local stage make them.
pub fn sign_jwt(secret: &str, claims: &Value) -> String {
    crate::auth::hs256::install();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing of JSON claims cannot fail")
}
