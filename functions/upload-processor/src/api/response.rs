//! The response envelope (spec §1.3): `{"data": <payload>}` as a payload 2.0 response, with the
//! original's security headers and its CORS headers un-swapped (§10.2 #11).

use serde_json::{json, Value};

/// One handler answer; [`Response::to_value`] is what the Lambda returns to API Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// The whole body, `{"data": …}`.
    pub body: Value,
}

const HEADERS: [(&str, &str); 10] = [
    ("content-type", "application/json"),
    ("access-control-allow-origin", "*"),
    (
        "access-control-allow-headers",
        "Authorization,Origin,Accept,Accept-Language,Content-Language,Content-Type",
    ),
    (
        "access-control-allow-methods",
        "GET,PUT,POST,DELETE,OPTIONS",
    ),
    ("content-security-policy", "upgrade-insecure-requests;"),
    ("referrer-policy", "no-referrer-when-downgrade"),
    ("strict-transport-security", "max-age=31536000"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-xss-protection", "1; mode=block"),
];

impl Response {
    /// 200 (or `status`) with `{"data": payload}`.
    pub fn data(status: u16, payload: Value) -> Response {
        Response {
            status,
            body: json!({ "data": payload }),
        }
    }

    /// `{"data": {"error": <reason phrase>, "message": …}}`, the original's error payload.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::data(
            status,
            json!({ "error": reason(status), "message": message.into() }),
        )
    }

    /// A 400 that names the request field at fault.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Response {
        Response::field_error(400, Some(field), message)
    }

    /// [`Response::error`] with the request field at fault, when there is one.
    pub fn field_error(status: u16, field: Option<&str>, message: impl Into<String>) -> Response {
        let mut payload = json!({ "error": reason(status), "message": message.into() });
        if let Some(field) = field {
            payload["field"] = Value::String(field.to_string());
        }
        Response::data(status, payload)
    }

    /// `error` of the body, for logs and tests.
    pub fn error_kind(&self) -> Option<&str> {
        self.body.pointer("/data/error").and_then(Value::as_str)
    }

    pub fn to_value(&self) -> Value {
        let headers: serde_json::Map<String, Value> = HEADERS
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body.to_string(),
            "isBase64Encoded": false,
        })
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        502 => "Bad Gateway",
        _ => "Internal Server Error",
    }
}
