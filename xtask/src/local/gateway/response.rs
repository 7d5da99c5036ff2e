//! How API Gateway turns a function's payload into the HTTP response (payload formats 2.0 and
//! 1.0), and the gateway's own JSON error answers.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use base64::Engine;
use serde_json::{Map, Value};

/// A response ready to send.
#[derive(Debug)]
pub struct Mapped {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

/// `{"message": …}` with application/json, the shape of every answer API Gateway makes itself.
pub fn gateway_error(status: StatusCode, message: &str) -> Mapped {
    Mapped {
        status,
        headers: vec![json_content_type()],
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    }
}

fn json_content_type() -> (HeaderName, HeaderValue) {
    (
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )
}

/// Format 2.0: an object with `statusCode` is a response; any other JSON is the body of a 200.
/// `Err` says why the payload is not a valid response (API Gateway answers 500).
pub fn from_v2(payload: &[u8]) -> Result<Mapped, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the function's payload is not JSON: {e}"))?;
    match &value {
        Value::Object(o) if o.contains_key("statusCode") => structured(o, true),
        _ => Ok(Mapped {
            status: StatusCode::OK,
            headers: vec![json_content_type()],
            body: payload.to_vec(),
        }),
    }
}

/// Format 1.0 makes no assumptions: the payload must be a response object.
pub fn from_v1(payload: &[u8]) -> Result<Mapped, String> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(o)) if o.contains_key("statusCode") => structured(&o, false),
        _ => Err("Malformed Lambda proxy response: statusCode is missing".into()),
    }
}

fn structured(o: &Map<String, Value>, cookies: bool) -> Result<Mapped, String> {
    let code = match &o["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let status = code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| format!("statusCode {} is not an HTTP status", o["statusCode"]))?;
    let mut headers = Vec::new();
    if let Some(h) = o.get("headers").filter(|h| !h.is_null()) {
        let h = h.as_object().ok_or("headers is not an object")?;
        for (name, value) in h {
            headers.push(header(
                name,
                &scalar(value).ok_or("a header value is not text")?,
            )?);
        }
    }
    if let Some(h) = o.get("multiValueHeaders").filter(|h| !h.is_null()) {
        let h = h.as_object().ok_or("multiValueHeaders is not an object")?;
        for (name, values) in h {
            let values = values
                .as_array()
                .ok_or("a multiValueHeaders value is not a list")?;
            // A header in both maps is sent once, with the multi-value list.
            headers.retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
            for value in values {
                headers.push(header(
                    name,
                    &scalar(value).ok_or("a header value is not text")?,
                )?);
            }
        }
    }
    if cookies {
        if let Some(c) = o.get("cookies").filter(|c| !c.is_null()) {
            for cookie in c.as_array().ok_or("cookies is not a list")? {
                let cookie = cookie.as_str().ok_or("a cookie is not text")?;
                headers.push(header("set-cookie", cookie)?);
            }
        }
    }
    let base64 = o
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match o.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if base64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("isBase64Encoded but the body is not base64: {e}"))?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(Mapped {
        status,
        headers,
        body,
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a header name"))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header `{name}` is not a header value"))?;
    Ok((n, v))
}
