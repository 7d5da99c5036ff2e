//! multipart/form-data bodies as API Gateway's payload 2.0 delivers them (spec §8, with the
//! header lookup, limits and statuses of issue 21).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use upload_processor::api::form::{self, FormError, Limits};

const BOUNDARY: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

struct Part<'a> {
    name: &'a str,
    file_name: Option<&'a str>,
    content_type: Option<&'a str>,
    bytes: &'a [u8],
}

fn text(name: &'static str, value: &'static str) -> Part<'static> {
    Part {
        name,
        file_name: None,
        content_type: None,
        bytes: value.as_bytes(),
    }
}

fn file<'a>(name: &'a str, file_name: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Part<'a> {
    Part {
        name,
        file_name: Some(file_name),
        content_type: Some(content_type),
        bytes,
    }
}

/// What a browser sends.
fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = p.file_name {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = p.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p.bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A payload 2.0 event as API Gateway builds it for a binary body.
fn event(header: &str, content_type: &str, body: &[u8]) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "POST /thumbnail",
        "headers": { header: content_type, "authorization": "Bearer x" },
        "body": STANDARD.encode(body),
        "isBase64Encoded": true,
    })
}

fn limits() -> Limits {
    Limits::new(64 * 1024)
        .field("body", 1024)
        .field("thumbnail", 16 * 1024)
}

/// Bytes that look like the form's own syntax, to show parts are taken byte for byte.
const TRICKY: &[u8] = b"\x89PNG\r\n\x1a\n\r\n--not-the-boundary\r\n\x00\xff\r\n";

#[tokio::test]
async fn parts_come_back_as_sent() {
    let body = multipart(&[
        text("body", r#"{"mentor": "m1"}"#),
        file("thumbnail", "me.png", "image/png", TRICKY),
    ]);
    let form = form::parse(&event("content-type", &content_type(), &body), &limits())
        .await
        .unwrap();
    assert_eq!(form.parts().len(), 2);
    assert_eq!(form.text("body").unwrap(), r#"{"mentor": "m1"}"#);
    let body_part = form.require("body").unwrap();
    assert_eq!(body_part.file_name, None);
    assert_eq!(body_part.content_type, None);
    let thumbnail = form.require("thumbnail").unwrap();
    assert_eq!(thumbnail.name, "thumbnail");
    assert_eq!(thumbnail.file_name.as_deref(), Some("me.png"));
    assert_eq!(thumbnail.content_type.as_deref(), Some("image/png"));
    assert_eq!(thumbnail.bytes, Bytes::from_static(TRICKY));
}

#[tokio::test]
async fn a_body_not_in_base64_is_taken_as_is() {
    let body = multipart(&[text("body", "{}")]);
    let mut event = event("content-type", &content_type(), &body);
    event["body"] = Value::String(String::from_utf8(body).unwrap());
    event["isBase64Encoded"] = Value::Bool(false);
    let form = form::parse(&event, &limits()).await.unwrap();
    assert_eq!(form.text("body").unwrap(), "{}");
}

#[tokio::test]
async fn the_content_type_header_is_found_in_any_casing() {
    let body = multipart(&[text("body", "{}")]);
    for header in [
        "content-type",
        "Content-Type",
        "CONTENT-TYPE",
        "content-Type",
    ] {
        let event = event(header, &content_type(), &body);
        assert_eq!(form::content_type(&event), Some(content_type().as_str()));
        let form = form::parse(&event, &limits()).await.unwrap();
        assert_eq!(form.text("body").unwrap(), "{}", "{header}");
    }
    // The media type's own casing and a quoted boundary are as valid.
    let quoted = format!("Multipart/Form-Data; boundary=\"{BOUNDARY}\"");
    form::parse(&event("content-type", &quoted, &body), &limits())
        .await
        .unwrap();
}

#[tokio::test]
async fn what_is_not_a_form_is_415_and_a_form_without_boundary_400() {
    let body = multipart(&[text("body", "{}")]);
    let mut no_header = event("content-type", &content_type(), &body);
    no_header["headers"] = json!({"authorization": "Bearer x"});
    let err = form::parse(&no_header, &limits()).await.unwrap_err();
    assert_eq!(err, FormError::NoContentType);
    assert_eq!(err.status(), 415);

    for ct in [
        "application/json",
        "text/plain",
        "multipart/mixed; boundary=x",
        "",
        "@@@",
    ] {
        let err = form::parse(&event("content-type", ct, &body), &limits())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 415, "{ct:?}: {err}");
    }

    let err = form::parse(
        &event("content-type", "multipart/form-data", &body),
        &limits(),
    )
    .await
    .unwrap_err();
    assert_eq!(err, FormError::NoBoundary);
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("boundary"), "{err}");
}

#[tokio::test]
async fn no_body_or_bad_base64_is_400() {
    let mut event = event("content-type", &content_type(), b"");
    event["body"] = Value::Null;
    let err = form::parse(&event, &limits()).await.unwrap_err();
    assert_eq!((err.clone(), err.status()), (FormError::NoBody, 400));

    event["body"] = Value::String("not base64!".into());
    let err = form::parse(&event, &limits()).await.unwrap_err();
    assert_eq!((err.clone(), err.status()), (FormError::Base64, 400));
}

#[tokio::test]
async fn a_missing_part_is_400_naming_it() {
    let body = multipart(&[text("body", "{}")]);
    let form = form::parse(&event("content-type", &content_type(), &body), &limits())
        .await
        .unwrap();
    let err = form.require("thumbnail").unwrap_err();
    assert_eq!(err, FormError::Missing("thumbnail".into()));
    assert_eq!((err.status(), err.field()), (400, Some("thumbnail")));
    assert!(form.get("thumbnail").is_none());

    // A file input left empty: the browser still sends the part, with filename="".
    let body = multipart(&[
        text("body", "{}"),
        file("thumbnail", "", "application/octet-stream", b""),
    ]);
    let form = form::parse(&event("content-type", &content_type(), &body), &limits())
        .await
        .unwrap();
    assert_eq!(
        form.require("thumbnail").unwrap_err(),
        FormError::Missing("thumbnail".into())
    );
}

#[tokio::test]
async fn a_part_over_its_limit_is_413_naming_it_and_the_limit() {
    let limits = Limits::new(64 * 1024)
        .field("body", 1024)
        .field("thumbnail", 100);
    let exact = [7u8; 100];
    let body = multipart(&[file("thumbnail", "a.png", "image/png", &exact)]);
    let form = form::parse(&event("content-type", &content_type(), &body), &limits)
        .await
        .unwrap();
    assert_eq!(form.require("thumbnail").unwrap().bytes.len(), 100);

    let over = [7u8; 101];
    let body = multipart(&[
        text("body", "{}"),
        file("thumbnail", "a.png", "image/png", &over),
    ]);
    let err = form::parse(&event("content-type", &content_type(), &body), &limits)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FormError::PartTooLarge {
            field: "thumbnail".into(),
            limit: 100
        }
    );
    assert_eq!((err.status(), err.field()), (413, Some("thumbnail")));
    assert!(err.to_string().contains("100 bytes"), "{err}");
}

#[tokio::test]
async fn a_body_over_the_total_is_413() {
    let limits = Limits::new(500).field("thumbnail", 10_000);
    let big = [1u8; 600];
    let body = multipart(&[file("thumbnail", "a.png", "image/png", &big)]);
    let err = form::parse(&event("content-type", &content_type(), &body), &limits)
        .await
        .unwrap_err();
    assert_eq!(err, FormError::BodyTooLarge { limit: 500 });
    assert_eq!((err.status(), err.field()), (413, None));
    assert!(err.to_string().contains("500 bytes"), "{err}");
}

#[tokio::test]
async fn parts_the_route_does_not_take_are_400_unless_allowed() {
    let body = multipart(&[text("body", "{}"), text("extra", "x")]);
    let event = event("content-type", &content_type(), &body);
    let err = form::parse(&event, &limits()).await.unwrap_err();
    assert_eq!(err, FormError::Unexpected("extra".into()));
    assert_eq!((err.status(), err.field()), (400, Some("extra")));

    let form = form::parse(&event, &limits().allow_other(10))
        .await
        .unwrap();
    assert_eq!(form.text("extra").unwrap(), "x");
    let err = form::parse(&event, &limits().allow_other(0))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 413, "{err}");
}

#[tokio::test]
async fn a_part_sent_twice_is_400() {
    let body = multipart(&[text("body", "{}"), text("body", "{}")]);
    let err = form::parse(&event("content-type", &content_type(), &body), &limits())
        .await
        .unwrap_err();
    assert_eq!(err, FormError::Duplicate("body".into()));
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn malformed_forms_are_400() {
    let whole = multipart(&[
        text("body", "{}"),
        file("thumbnail", "a.png", "image/png", TRICKY),
    ]);
    // Cut inside the second part: it never reaches its boundary.
    let cut = &whole[..whole.len() - 30];
    let err = form::parse(&event("content-type", &content_type(), cut), &limits())
        .await
        .unwrap_err();
    assert!(matches!(err, FormError::Malformed { .. }), "{err:?}");
    assert_eq!(err.status(), 400);
    assert_eq!(err.field(), Some("thumbnail"));

    for body in [
        &b""[..],
        b"just some text",
        b"--other-boundary\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n{}\r\n--other-boundary--\r\n",
    ] {
        let err = form::parse(&event("content-type", &content_type(), body), &limits())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body:?}: {err}");
    }

    let nameless =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n");
    let err = form::parse(
        &event("content-type", &content_type(), nameless.as_bytes()),
        &limits(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no name"), "{err}");
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn a_text_part_must_be_utf8() {
    let body = multipart(&[Part {
        name: "body",
        file_name: None,
        content_type: None,
        bytes: b"\xff\xfe{}",
    }]);
    let form = form::parse(&event("content-type", &content_type(), &body), &limits())
        .await
        .unwrap();
    let err = form.text("body").unwrap_err();
    assert_eq!(err, FormError::NotText("body".into()));
    assert_eq!((err.status(), err.field()), (400, Some("body")));
}

#[tokio::test]
async fn parse_body_takes_the_content_type_and_bytes_directly() {
    let body = multipart(&[text("body", "{}")]);
    let form = form::parse_body(&content_type(), Bytes::from(body), &limits())
        .await
        .unwrap();
    assert_eq!(form.text("body").unwrap(), "{}");
}

#[test]
fn errors_become_the_envelope_with_status_reason_and_field() {
    let r = FormError::PartTooLarge {
        field: "thumbnail".into(),
        limit: 5,
    }
    .response();
    assert_eq!(r.status, 413);
    assert_eq!(
        r.body,
        json!({"data": {"error": "Content Too Large",
            "message": "part \"thumbnail\" is larger than its limit of 5 bytes",
            "field": "thumbnail"}})
    );
    let r = FormError::NotMultipart("text/plain".into()).response();
    assert_eq!(r.status, 415);
    assert_eq!(r.error_kind(), Some("Unsupported Media Type"));
    assert!(r.body.pointer("/data/field").is_none());
    let r = upload_processor::api::Response::field_error(422, Some("thumbnail"), "too big");
    assert_eq!(r.error_kind(), Some("Unprocessable Entity"));
    assert_eq!(r.body["data"]["field"], "thumbnail");
}
