//! The token's claims as the original's JSON Schema has them: `id` (5–60 characters), `role`,
//! `mentorIds` (strings of 5–60 characters); `exp` is kept so a handler can refuse a verdict
//! API Gateway cached past the token's expiry; anything else is allowed and dropped.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use time::OffsetDateTime;

/// The JSON Schema's `minLength`/`maxLength`, counted in characters as JSON Schema does.
const ID_CHARS: std::ops::RangeInclusive<usize> = 5..=60;

/// Who the token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id; raw uploads are keyed under it (`{id}/{uuid}`).
    pub id: String,
    pub role: Role,
    /// Mentors the token lists. A hint only: GraphQL's `mentorCanEdit` decides (the 403).
    #[serde(rename = "mentorIds")]
    pub mentor_ids: Vec<String>,
    /// `exp` in unix seconds (rounded down, so a fractional `exp` never extends the token),
    /// when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// Why a route handler refuses the authorizer's context: every case is a 401. The messages
/// carry at most the authorizer's short reason code, never the token.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ContextError {
    #[error("the request carries no authorizer context")]
    Missing,
    #[error("the token was refused ({reason})")]
    Invalid { reason: String },
    #[error("the authorizer context has no known verdict")]
    Verdict,
    #[error("the authorizer context's claims are invalid: {0}")]
    Claims(#[from] ClaimError),
    #[error("the token expired at {expired_at} (unix seconds)")]
    Expired { expired_at: i64 },
}

/// The `verdict` of a context that carries claims; anything else is refused.
pub const VERDICT_OK: &str = "ok";
/// The `verdict` of a context for a token the authorizer refused (with a `reason` code).
pub const VERDICT_INVALID: &str = "invalid";

/// The user's role. The original knows four (`module/utils.py:is_authorized`); any other string
/// is valid in a token and grants nothing extra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Role {
    ContentManager,
    Admin,
    SuperContentManager,
    SuperAdmin,
    Other(String),
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClaimError {
    #[error("the claims are not a JSON object")]
    NotAnObject,
    #[error("claim `{0}` is missing")]
    Missing(&'static str),
    #[error("claim `{claim}` is not {expected}")]
    WrongType {
        claim: &'static str,
        expected: &'static str,
    },
    #[error("claim `id` has {0} characters, not 5 to 60")]
    IdLength(usize),
    #[error("claim `mentorIds` item {index} is not a string")]
    MentorIdType { index: usize },
    #[error("claim `mentorIds` item {index} has {chars} characters, not 5 to 60")]
    MentorIdLength { index: usize, chars: usize },
}

impl Claims {
    /// Validates a decoded payload. Extra claims (`iat`, `exp`, `expirationDate`…) are allowed.
    pub fn from_payload(payload: &Map<String, Value>) -> Result<Self, ClaimError> {
        let id = string(payload, "id")?;
        let chars = id.chars().count();
        if !ID_CHARS.contains(&chars) {
            return Err(ClaimError::IdLength(chars));
        }
        let role = string(payload, "role")?;
        let mentor_ids = match payload.get("mentorIds") {
            None => return Err(ClaimError::Missing("mentorIds")),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let m = item.as_str().ok_or(ClaimError::MentorIdType { index })?;
                    let chars = m.chars().count();
                    if ID_CHARS.contains(&chars) {
                        Ok(m.to_string())
                    } else {
                        Err(ClaimError::MentorIdLength { index, chars })
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(ClaimError::WrongType {
                    claim: "mentorIds",
                    expected: "an array",
                })
            }
        };
        let exp = match payload.get("exp") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().ok_or(ClaimError::WrongType {
                claim: "exp",
                expected: "a number",
            })?),
        };
        Ok(Claims {
            id: id.to_string(),
            role: Role::from(role.to_string()),
            mentor_ids,
            exp: exp.map(|e| e.floor() as i64),
        })
    }

    /// The caller of a route handler, from the payload 2.0 event's
    /// `requestContext.authorizer.lambda`, at the current time.
    pub fn from_context(event: &Value) -> Result<Self, ContextError> {
        Self::from_context_at(event, OffsetDateTime::now_utc())
    }

    /// [`Claims::from_context`] at `now`. Fails closed: only a context with verdict `ok` and
    /// valid claims passes, and an `exp` at or before `now` is refused even though API Gateway
    /// may still hold the verdict in its 300 s cache.
    pub fn from_context_at(event: &Value, now: OffsetDateTime) -> Result<Self, ContextError> {
        let context = event
            .pointer("/requestContext/authorizer/lambda")
            .and_then(Value::as_object)
            .ok_or(ContextError::Missing)?;
        match context.get("verdict").and_then(Value::as_str) {
            Some(VERDICT_OK) => {}
            Some(VERDICT_INVALID) => {
                let reason = context.get("reason").and_then(Value::as_str).unwrap_or("");
                return Err(ContextError::Invalid {
                    reason: reason_code(reason),
                });
            }
            _ => return Err(ContextError::Verdict),
        }
        let claims = Self::from_payload(context)?;
        if let Some(exp) = claims.exp {
            if exp <= now.unix_timestamp() {
                return Err(ContextError::Expired { expired_at: exp });
            }
        }
        Ok(claims)
    }

    /// The context the authorizer answers for a valid token:
    /// `{"verdict": "ok", "id", "role", "mentorIds", "exp"}` (`exp` only when the token has one).
    pub fn to_context(&self) -> Value {
        let mut context = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = context.as_object_mut() {
            map.insert("verdict".into(), Value::String(VERDICT_OK.into()));
        }
        context
    }

    /// Whether the token itself lists `mentor`.
    pub fn lists_mentor(&self, mentor: &str) -> bool {
        self.mentor_ids.iter().any(|m| m == mentor)
    }
}

impl Role {
    pub fn as_str(&self) -> &str {
        match self {
            Role::ContentManager => "CONTENT_MANAGER",
            Role::Admin => "ADMIN",
            Role::SuperContentManager => "SUPER_CONTENT_MANAGER",
            Role::SuperAdmin => "SUPER_ADMIN",
            Role::Other(s) => s,
        }
    }

    /// The four known roles: the original lets them change organisation-less settings
    /// (header/footer without `org`, spec §8.3).
    pub fn manages_content(&self) -> bool {
        !matches!(self, Role::Other(_))
    }

    /// The two `SUPER_` roles: the original lets them change any organisation's settings.
    pub fn manages_every_org(&self) -> bool {
        matches!(self, Role::SuperContentManager | Role::SuperAdmin)
    }
}

impl From<String> for Role {
    fn from(s: String) -> Self {
        match s.as_str() {
            "CONTENT_MANAGER" => Role::ContentManager,
            "ADMIN" => Role::Admin,
            "SUPER_CONTENT_MANAGER" => Role::SuperContentManager,
            "SUPER_ADMIN" => Role::SuperAdmin,
            _ => Role::Other(s),
        }
    }
}

impl From<Role> for String {
    fn from(r: Role) -> Self {
        match r {
            Role::Other(s) => s,
            known => known.as_str().to_string(),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The context's reason as an error may repeat it: a short code, or a placeholder for anything
/// else (the context is only as trustworthy as the gateway configuration).
fn reason_code(reason: &str) -> String {
    if !reason.is_empty()
        && reason.len() <= 32
        && reason.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        reason.to_string()
    } else {
        "unrecognised".to_string()
    }
}

fn string<'a>(payload: &'a Map<String, Value>, claim: &'static str) -> Result<&'a str, ClaimError> {
    match payload.get(claim) {
        None => Err(ClaimError::Missing(claim)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ClaimError::WrongType {
            claim,
            expected: "a string",
        }),
    }
}
