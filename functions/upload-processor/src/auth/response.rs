//! The authorizer's side of API Gateway: reading the header from a payload 2.0 REQUEST event and
//! answering with a simple response.
//!
//! A simple response can only allow or deny, and API Gateway answers a denial with 403, while the
//! issue asks for 401 on an invalid token. So the authorizer always allows and puts its verdict in
//! the context; every route handler reads it with [`Claims::from_context`], which answers 401 for
//! anything but a well-formed `ok` verdict. A missing header never reaches the authorizer: the
//! gateway answers 401 itself when the identity source is absent.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::claims::{Claims, VERDICT_INVALID};
use super::token::{AuthError, Verifier};

/// The `Authorization` header of a payload 2.0 event. API Gateway lower-cases header names there,
/// but the local gateway and hand-written events may not.
pub fn authorization_header(event: &Value) -> Option<&str> {
    event
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())
}

/// `{"isAuthorized": true, "context": {"verdict": "ok", "id", "role", "mentorIds", "exp"}}`, or
/// `{"isAuthorized": true, "context": {"verdict": "invalid", "reason": <code>}}` where the code is
/// [`AuthError::code`], never the token. The context reaches route handlers as
/// `requestContext.authorizer.lambda`; it is cached with the decision for the authorizer's TTL,
/// keyed on the header.
pub fn response(decision: &Result<Claims, AuthError>) -> Value {
    let context = match decision {
        Ok(claims) => claims.to_context(),
        Err(e) => json!({"verdict": VERDICT_INVALID, "reason": e.code()}),
    };
    json!({"isAuthorized": true, "context": context})
}

impl Verifier {
    /// The whole authorizer: header → decision → response, with the reason for a refusal logged
    /// (the error's message names the failing part, never the token).
    pub fn authorize(&self, event: &Value, now: OffsetDateTime) -> Value {
        let decision = self.verify(authorization_header(event), now);
        match &decision {
            Ok(claims) => tracing::info!(user = %claims.id, role = %claims.role, "token valid"),
            Err(e) => tracing::info!(reason = e.code(), error = %e, "token invalid"),
        }
        response(&decision)
    }
}
