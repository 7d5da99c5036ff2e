//! What every media route reads from the request before deciding anything: the caller, the
//! bearer token GraphQL is called with, and the JSON it sent (a multipart `body` part or the
//! whole body), each refusal naming the field at fault.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::api::{bearer_token, caller, Response};
use crate::auth::Claims;
use crate::graphql::Credentials;

/// The longest id accepted (mentor-graphql's are 24-hex ObjectIds).
const ID_MAX: usize = 64;

/// Who asks, and the credentials GraphQL decides with: the user's own token, never a service
/// key, so GraphQL applies the user's rights.
pub struct Caller {
    pub claims: Claims,
    pub user: Credentials,
}

/// The caller, or the 401 that refuses the request.
pub fn authenticate(event: &Value, now: OffsetDateTime) -> Result<Caller, Response> {
    let claims = caller(event, now)?;
    let Some(token) = bearer_token(event) else {
        // The authorizer allowed a request whose header is gone: nothing to call GraphQL with.
        return Err(Response::error(401, "the request has no bearer token"));
    };
    Ok(Caller {
        claims,
        user: Credentials::user(token),
    })
}

/// A JSON object sent as `field` (a form part's text or a request body).
pub fn object(text: &[u8], field: &str) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Response::bad_field(
            field,
            format!("{field} must be a JSON object"),
        )),
        Err(e) => Err(Response::bad_field(
            field,
            format!("{field} is not valid JSON: {e}"),
        )),
    }
}

/// `key` of `map` as an id; `field` names it in the refusal (`mentor`, `org._id`…).
pub fn id_in(map: &Map<String, Value>, key: &str, field: &str) -> Result<String, Response> {
    match map.get(key) {
        None | Some(Value::Null) => Err(Response::bad_field(field, format!("{field} is required"))),
        Some(Value::String(s)) => id(s, field),
        Some(_) => Err(Response::bad_field(
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// An id becomes an S3 key segment: only letters, digits, `-` and `_`, 1 to 64 of them.
pub fn id(value: &str, field: &str) -> Result<String, Response> {
    let ok = !value.is_empty()
        && value.len() <= ID_MAX
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(Response::bad_field(
            field,
            format!("{field} must be 1 to {ID_MAX} letters, digits, '-' or '_'"),
        ))
    }
}
