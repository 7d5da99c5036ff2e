//! Bearer token verification: HS256 only, signature, `exp`/`nbf` without leeway, no `aud`.
//!
//! Time claims are checked here against the caller's clock rather than by `jsonwebtoken`, so a
//! test (or the authorizer) decides what "now" is, and so each failure gets its own variant.

use std::collections::HashSet;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use thiserror::Error;
use time::OffsetDateTime;

use super::claims::{ClaimError, Claims};

/// Why a request is refused. Messages name the part that was wrong, never the token or secret.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AuthError {
    #[error("the request has no Authorization header")]
    MissingHeader,
    #[error("the Authorization header is not of the form `Bearer <token>`")]
    NotBearer,
    #[error("the Authorization header has an empty Bearer token")]
    EmptyToken,
    #[error("the token is not a JWT: {0}")]
    Malformed(&'static str),
    #[error("the token is signed with `{0}`; only HS256 is accepted")]
    Algorithm(String),
    #[error("the token's signature does not match the secret")]
    Signature,
    #[error("the token has no `exp` claim, which this stage requires")]
    MissingExpiry,
    #[error("the token's `{0}` claim is not a number of seconds")]
    TimeClaim(&'static str),
    #[error("the token expired at {expired_at} (unix seconds)")]
    Expired { expired_at: i64 },
    #[error("the token is not valid before {not_before} (unix seconds)")]
    NotYetValid { not_before: i64 },
    #[error("the token has an `aud` claim; no audience is accepted")]
    Audience,
    #[error("the token's claims are invalid: {0}")]
    Claims(#[from] ClaimError),
    #[error("the signing secret is empty")]
    EmptySecret,
}

impl AuthError {
    /// A short, stable code for the authorizer's `invalid` verdict (`reason`): what a handler may
    /// log or repeat, and never more than the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingHeader => "missing_header",
            AuthError::NotBearer => "not_bearer",
            AuthError::EmptyToken => "empty_token",
            AuthError::Malformed(_) => "malformed",
            AuthError::Algorithm(_) => "algorithm",
            AuthError::Signature => "signature",
            AuthError::MissingExpiry => "missing_exp",
            AuthError::TimeClaim(_) => "time_claim",
            AuthError::Expired { .. } => "expired",
            AuthError::NotYetValid { .. } => "not_yet_valid",
            AuthError::Audience => "audience",
            AuthError::Claims(_) => "claims",
            AuthError::EmptySecret => "empty_secret",
        }
    }
}

/// Checks tokens against one secret. Build it once per cold start.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    exp_required: bool,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("key", &"<redacted>")
            .field("exp_required", &self.exp_required)
            .finish()
    }
}

impl Verifier {
    /// `exp_required` is the stage's setting; the original accepted tokens without `exp`, which
    /// never expire (§10.2 #13).
    pub fn new(secret: &[u8], exp_required: bool) -> Result<Self, AuthError> {
        if secret.is_empty() {
            return Err(AuthError::EmptySecret);
        }
        super::hs256::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        Ok(Self {
            key: DecodingKey::from_secret(secret),
            validation,
            exp_required,
        })
    }

    /// The claims of the token in `authorization` (the header's value), valid at `now`.
    pub fn verify(
        &self,
        authorization: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Claims, AuthError> {
        let token = bearer_token(authorization.ok_or(AuthError::MissingHeader)?)?;
        check_algorithm(token)?;
        let payload =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
                .map_err(|e| match e.kind() {
                    ErrorKind::InvalidSignature => AuthError::Signature,
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        AuthError::Algorithm("?".into())
                    }
                    ErrorKind::Base64(_) => AuthError::Malformed("a part is not base64url"),
                    ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                        AuthError::Malformed("the payload is not a JSON object")
                    }
                    _ => AuthError::Malformed("it cannot be decoded"),
                })?
                .claims;
        self.check_times(&payload, now)?;
        if payload.contains_key("aud") {
            return Err(AuthError::Audience);
        }
        Ok(Claims::from_payload(&payload)?)
    }

    fn check_times(
        &self,
        payload: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        let now = now.unix_timestamp_nanos() as f64 / 1e9;
        match seconds(payload, "exp")? {
            // PyJWT's rule, kept: a token is expired from the second `exp` on.
            Some(exp) if exp <= now => {
                return Err(AuthError::Expired {
                    expired_at: exp as i64,
                })
            }
            Some(_) => {}
            None if self.exp_required => return Err(AuthError::MissingExpiry),
            None => {}
        }
        match seconds(payload, "nbf")? {
            Some(nbf) if nbf > now => Err(AuthError::NotYetValid {
                not_before: nbf as i64,
            }),
            _ => Ok(()),
        }
    }
}

/// `Bearer <token>`, the scheme in any letter case, one space, a token without spaces.
fn bearer_token(header: &str) -> Result<&str, AuthError> {
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    if token.is_empty() {
        return Err(AuthError::EmptyToken);
    }
    if token.contains(char::is_whitespace) {
        return Err(AuthError::Malformed("it contains whitespace"));
    }
    Ok(token)
}

/// Reads the header before `jsonwebtoken` does: it cannot parse `alg: none` or names it does not
/// know, and the error should say which algorithm was refused.
fn check_algorithm(token: &str) -> Result<(), AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "it does not have three dot-separated parts",
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed("the header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("the header is not a JSON object"))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => Ok(()),
        Some(Value::String(alg)) => Err(AuthError::Algorithm(printable(alg))),
        _ => Err(AuthError::Malformed("the header has no `alg` string")),
    }
}

/// The refused algorithm's name for the error, unless it is something no algorithm is called.
fn printable(alg: &str) -> String {
    if alg.len() <= 16 && alg.chars().all(|c| c.is_ascii_alphanumeric()) {
        alg.to_string()
    } else {
        "<unrecognised>".to_string()
    }
}

fn seconds(payload: &Map<String, Value>, claim: &'static str) -> Result<Option<f64>, AuthError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(AuthError::TimeClaim(claim)),
    }
}
