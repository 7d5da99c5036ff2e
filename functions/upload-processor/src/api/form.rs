//! `multipart/form-data` bodies of the upload routes (`/thumbnail`, `/vbg`, `/header`, `/footer`,
//! `/vtt`), as API Gateway's payload 2.0 delivers them: the whole body in `body`, base64 when
//! `isBase64Encoded`, the `content-type` header in whatever casing the client used.
//!
//! The original (spec §8) looked the header up under two spellings only (any other gave 502),
//! had no size limit but the gateway's, and answered every form error 401. Here each part has
//! a limit of its own and the body one in total, and errors carry the status that fits (400
//! naming the field, 413 naming field and limit, 415 for a body that is not a form); see
//! [`FormError::status`] and [`FormError::response`].

use std::convert::Infallible;

use bytes::Bytes;
use serde_json::Value;
use thiserror::Error;

use super::Response;

/// What a form may hold: the parts a route expects with each one's limit, and the body's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    total: u64,
    fields: Vec<(String, u64)>,
    other: Option<u64>,
}

impl Limits {
    /// A body of at most `total` bytes (boundaries and part headers included).
    pub fn new(total: u64) -> Limits {
        Limits {
            total,
            fields: Vec::new(),
            other: None,
        }
    }

    /// Accepts a part named `name` of at most `max` bytes.
    pub fn field(mut self, name: impl Into<String>, max: u64) -> Limits {
        self.fields.push((name.into(), max));
        self
    }

    /// Accepts parts with other names too, each of at most `max` bytes, instead of refusing
    /// them with [`FormError::Unexpected`].
    pub fn allow_other(mut self, max: u64) -> Limits {
        self.other = Some(max);
        self
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    fn limit_of(&self, name: &str) -> Option<u64> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, max)| *max)
            .or(self.other)
    }
}

/// One part of the form, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// `filename` of the part's Content-Disposition: `Some` for a file input.
    pub file_name: Option<String>,
    /// The part's own Content-Type header as sent; the client's claim, not checked here.
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

impl Part {
    /// A browser sends a file input with no file chosen as a part with `filename=""` and no
    /// bytes: that is no file.
    fn is_empty_file_input(&self) -> bool {
        self.bytes.is_empty() && self.file_name.as_deref() == Some("")
    }
}

/// The parts of a form, in the order they were sent, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    parts: Vec<Part>,
}

impl Form {
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub fn get(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// The part `name`, or [`FormError::Missing`] when it was not sent or is an empty file input.
    pub fn require(&self, name: &str) -> Result<&Part, FormError> {
        self.get(name)
            .filter(|p| !p.is_empty_file_input())
            .ok_or_else(|| FormError::Missing(name.to_string()))
    }

    /// The part `name` as UTF-8 text.
    pub fn text(&self, name: &str) -> Result<&str, FormError> {
        std::str::from_utf8(&self.require(name)?.bytes)
            .map_err(|_| FormError::NotText(name.to_string()))
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormError {
    #[error("the request has no body")]
    NoBody,
    #[error("the body is marked base64 but is not")]
    Base64,
    #[error("the request has no Content-Type header: multipart/form-data is required")]
    NoContentType,
    #[error("the Content-Type {0:?} is not multipart/form-data")]
    NotMultipart(String),
    #[error("the Content-Type multipart/form-data has no boundary parameter")]
    NoBoundary,
    #[error("the form is malformed: {message}")]
    Malformed {
        /// The part being read when it went wrong, when there was one.
        field: Option<String>,
        message: String,
    },
    #[error("the form has no part {0:?}")]
    Missing(String),
    #[error("the form has part {0:?} more than once")]
    Duplicate(String),
    #[error("the form has a part {0:?} this route does not take")]
    Unexpected(String),
    #[error("part {0:?} is not UTF-8 text")]
    NotText(String),
    #[error("part {field:?} is larger than its limit of {limit} bytes")]
    PartTooLarge { field: String, limit: u64 },
    #[error("the body is larger than its limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
}

impl FormError {
    pub fn status(&self) -> u16 {
        match self {
            FormError::NoContentType | FormError::NotMultipart(_) => 415,
            FormError::PartTooLarge { .. } | FormError::BodyTooLarge { .. } => 413,
            FormError::NoBody
            | FormError::Base64
            | FormError::NoBoundary
            | FormError::Malformed { .. }
            | FormError::Missing(_)
            | FormError::Duplicate(_)
            | FormError::Unexpected(_)
            | FormError::NotText(_) => 400,
        }
    }

    /// The form field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            FormError::Malformed { field, .. } => field.as_deref(),
            FormError::Missing(f)
            | FormError::Duplicate(f)
            | FormError::Unexpected(f)
            | FormError::NotText(f)
            | FormError::PartTooLarge { field: f, .. } => Some(f),
            FormError::NoBody
            | FormError::Base64
            | FormError::NoContentType
            | FormError::NotMultipart(_)
            | FormError::NoBoundary
            | FormError::BodyTooLarge { .. } => None,
        }
    }

    pub fn response(&self) -> Response {
        Response::field_error(self.status(), self.field(), self.to_string())
    }
}

/// The request's Content-Type. Payload 2.0 lowercases header names, but a test event or
/// another integration may not, and the original failed on any spelling but two.
pub fn content_type(event: &Value) -> Option<&str> {
    event
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))?
        .1
        .as_str()
}

/// Parses the form of a payload 2.0 event.
pub async fn parse(event: &Value, limits: &Limits) -> Result<Form, FormError> {
    let content_type = content_type(event).ok_or(FormError::NoContentType)?;
    // The Content-Type is checked first: a JSON body sent to a form route is 415, not 400.
    let boundary = boundary(content_type)?;
    let body = super::body_bytes(event)
        .map_err(|_| FormError::Base64)?
        .ok_or(FormError::NoBody)?;
    parse_with_boundary(&boundary, Bytes::from(body), limits).await
}

/// Parses `body` sent with `content_type`.
pub async fn parse_body(
    content_type: &str,
    body: Bytes,
    limits: &Limits,
) -> Result<Form, FormError> {
    parse_with_boundary(&boundary(content_type)?, body, limits).await
}

fn boundary(content_type: &str) -> Result<String, FormError> {
    if content_type.trim().is_empty() {
        return Err(FormError::NoContentType);
    }
    multer::parse_boundary(content_type).map_err(|e| match e {
        multer::Error::NoBoundary => FormError::NoBoundary,
        _ => FormError::NotMultipart(content_type.to_string()),
    })
}

async fn parse_with_boundary(
    boundary: &str,
    body: Bytes,
    limits: &Limits,
) -> Result<Form, FormError> {
    // The body is already in memory: refusing it whole is cheaper than letting multer count.
    if body.len() as u64 > limits.total {
        return Err(FormError::BodyTooLarge {
            limit: limits.total,
        });
    }
    let mut size = multer::SizeLimit::new()
        .whole_stream(limits.total)
        .per_field(limits.other.unwrap_or(0));
    for (name, max) in &limits.fields {
        size = size.for_field(name.clone(), *max);
    }
    let stream = futures_util::stream::once(std::future::ready(Ok::<_, Infallible>(body)));
    let mut multipart = multer::Multipart::with_constraints(
        stream,
        boundary,
        multer::Constraints::new().size_limit(size),
    );
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| error(e, None))? {
        let name = field
            .name()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| FormError::Malformed {
                field: None,
                message: format!(
                    "part {} has no name in its Content-Disposition",
                    field.index() + 1
                ),
            })?
            .to_string();
        if limits.limit_of(&name).is_none() {
            return Err(FormError::Unexpected(name));
        }
        if form.get(&name).is_some() {
            return Err(FormError::Duplicate(name));
        }
        let file_name = field.file_name().map(str::to_string);
        let content_type = field
            .headers()
            .get("content-type")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = field.bytes().await.map_err(|e| error(e, Some(&name)))?;
        form.parts.push(Part {
            name,
            file_name,
            content_type,
            bytes,
        });
    }
    Ok(form)
}

fn error(e: multer::Error, reading: Option<&str>) -> FormError {
    let malformed = |field: Option<String>, message: String| FormError::Malformed {
        field: field.or_else(|| reading.map(str::to_string)),
        message,
    };
    match e {
        multer::Error::FieldSizeExceeded { limit, field_name } => FormError::PartTooLarge {
            field: field_name
                .or_else(|| reading.map(str::to_string))
                .unwrap_or_default(),
            limit,
        },
        multer::Error::StreamSizeExceeded { limit } => FormError::BodyTooLarge { limit },
        multer::Error::IncompleteFieldData { field_name } => malformed(
            field_name,
            "a part ends without its closing boundary".into(),
        ),
        multer::Error::IncompleteStream => {
            malformed(None, "the body ends before the closing boundary".into())
        }
        multer::Error::IncompleteHeaders | multer::Error::ReadHeaderFailed(_) => {
            malformed(None, "a part's headers cannot be read".into())
        }
        other => malformed(None, other.to_string()),
    }
}
