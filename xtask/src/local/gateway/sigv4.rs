//! AWS_IAM routes: verifying a request's Signature Version 4 (Authorization header or presigned
//! query) for `execute-api` against the local stage's credentials.
//!
//! The expected signature is computed by the `aws-sigv4` crate, the SDKs' own signer: the
//! received request is handed to it with exactly the headers the client listed in
//! `SignedHeaders`, the client's time and credential scope, and, for presigned URLs, the query
//! without the signing parameters (the crate adds them back from the same values).

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::event::ACCOUNT_ID;

/// The local stage's credentials: what `aws::config` gives every client of the local stage.
pub const LOCAL_CREDENTIALS: LocalCredentials = LocalCredentials {
    access_key_id: "test",
    secret_access_key: "test",
};

pub struct LocalCredentials {
    pub access_key_id: &'static str,
    pub secret_access_key: &'static str,
}

/// How far a request's time may be from the gateway's, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const SIGNING_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];

/// Why API Gateway refuses the request (all 403).
#[derive(Debug, PartialEq)]
pub enum Rejection {
    Missing,
    Incomplete(String),
    UnknownAccessKey,
    WrongScope(String),
    Expired(String),
    Mismatch,
}

impl Rejection {
    /// AWS's message for it.
    pub fn message(&self) -> String {
        match self {
            Rejection::Missing => "Missing Authentication Token".into(),
            Rejection::Incomplete(m) | Rejection::WrongScope(m) | Rejection::Expired(m) => {
                m.clone()
            }
            Rejection::UnknownAccessKey => {
                "The security token included in the request is invalid.".into()
            }
            Rejection::Mismatch => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".into(),
        }
    }
}

/// The signature's parts, from the Authorization header or the presigned query.
struct Presented {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    /// Presigned URLs: `X-Amz-Expires` and the query without the signing parameters.
    presigned: Option<(u64, String)>,
}

/// The caller a valid signature identifies.
#[derive(Debug)]
pub struct Caller {
    pub access_key: String,
}

impl Caller {
    /// `requestContext.authorizer` of format 2.0 for an IAM route, with the identity moto gives
    /// the local credentials.
    pub fn authorizer(&self) -> Value {
        json!({
            "iam": {
                "accessKey": self.access_key,
                "accountId": ACCOUNT_ID,
                "callerId": "AKIAIOSFODNN7EXAMPLE",
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": format!("arn:aws:iam::{ACCOUNT_ID}:user/moto"),
                "userId": "AKIAIOSFODNN7EXAMPLE",
            }
        })
    }
}

/// Verify the signature of a received request (`raw_query` without `?`).
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    region: &str,
    now: SystemTime,
) -> Result<Caller, Rejection> {
    let presented = match headers.get("authorization") {
        Some(value) => from_header(value.to_str().unwrap_or_default(), headers)?,
        None => from_query(raw_query)?,
    };
    if presented.access_key != LOCAL_CREDENTIALS.access_key_id {
        return Err(Rejection::UnknownAccessKey);
    }
    if presented.service != "execute-api" {
        return Err(Rejection::WrongScope(
            "Credential should be scoped to correct service: 'execute-api'. ".into(),
        ));
    }
    if presented.region != region {
        return Err(Rejection::WrongScope(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            presented.region
        )));
    }
    let signed_at = parse_amz_date(&presented.date).ok_or_else(|| {
        Rejection::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            presented.date
        ))
    })?;
    check_time(signed_at, now, presented.presigned.as_ref().map(|p| p.0))?;

    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let query = match &presented.presigned {
        Some((_, rest)) => rest.as_str(),
        None => raw_query,
    };
    let uri = if query.is_empty() {
        format!("http://{host}{raw_path}")
    } else {
        format!("http://{host}{raw_path}?{query}")
    };
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &presented.signed_headers {
        let values: Vec<_> = headers.get_all(name.as_str()).iter().collect();
        if values.is_empty() {
            return Err(Rejection::Mismatch);
        }
        for v in values {
            signed.push((name.as_str(), v.to_str().map_err(|_| Rejection::Mismatch)?));
        }
    }
    let expected = expected_signature(
        method,
        &uri,
        signed,
        body,
        &presented,
        SystemTime::from(signed_at),
    )
    .ok_or(Rejection::Mismatch)?;
    if constant_time_eq(expected.as_bytes(), presented.signature.as_bytes()) {
        Ok(Caller {
            access_key: presented.access_key,
        })
    } else {
        Err(Rejection::Mismatch)
    }
}

fn expected_signature(
    method: &str,
    uri: &str,
    headers: Vec<(&str, &str)>,
    body: &[u8],
    presented: &Presented,
    time: SystemTime,
) -> Option<String> {
    let mut settings = SigningSettings::default();
    // The client chose what to sign; the signer's defaults (which leave out user-agent, …)
    // would drop a header the client did sign.
    settings.excluded_headers = Some(Vec::<Cow<'static, str>>::new());
    if let Some((expires, _)) = &presented.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(*expires));
    }
    let identity = Credentials::new(
        LOCAL_CREDENTIALS.access_key_id,
        LOCAL_CREDENTIALS.secret_access_key,
        None,
        None,
        "local-stage",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&presented.region)
        .name(&presented.service)
        .time(time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let request =
        SignableRequest::new(method, uri, headers.into_iter(), SignableBody::Bytes(body)).ok()?;
    let output = sign(request, &params).ok()?;
    Some(output.signature().to_string())
}

fn from_header(value: &str, headers: &HeaderMap) -> Result<Presented, Rejection> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") else {
        // Another scheme (a bearer token, …) is no SigV4 signature at all.
        return Err(Rejection::Missing);
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if v.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let date = headers.get("x-amz-date").and_then(|d| d.to_str().ok());
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(date), true) = (
        credential,
        signed_headers,
        signature,
        date,
        missing.is_empty(),
    ) else {
        return Err(Rejection::Incomplete(missing.trim_end().to_string()));
    };
    presented(credential, date, signed_headers, signature, None)
}

fn from_query(raw_query: &str) -> Result<Presented, Rejection> {
    let mut found: [Option<String>; 6] = Default::default();
    let mut rest = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(k).decode_utf8_lossy();
        match SIGNING_PARAMS.iter().position(|p| *p == key) {
            Some(i) => found[i] = Some(percent_decode_str(v).decode_utf8_lossy().into_owned()),
            None => rest.push(pair),
        }
    }
    let [algorithm, credential, date, expires, signed_headers, signature] = found;
    if algorithm.is_none() && credential.is_none() && signature.is_none() {
        return Err(Rejection::Missing);
    }
    let mut missing = Vec::new();
    for (name, v) in SIGNING_PARAMS.iter().zip([
        &algorithm,
        &credential,
        &date,
        &expires,
        &signed_headers,
        &signature,
    ]) {
        if v.is_none() {
            missing.push(format!(
                "AWS query-string parameters must include '{name}'."
            ));
        }
    }
    if algorithm
        .as_deref()
        .is_some_and(|a| a != "AWS4-HMAC-SHA256")
    {
        missing.push("X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'.".into());
    }
    let expires_secs = expires.as_deref().and_then(|e| e.parse::<u64>().ok());
    if expires.is_some() && expires_secs.is_none() {
        missing.push("X-Amz-Expires should be a number.".into());
    }
    let (Some(credential), Some(date), Some(expires), Some(signed_headers), Some(signature), true) = (
        credential,
        date,
        expires_secs,
        signed_headers,
        signature,
        missing.is_empty(),
    ) else {
        return Err(Rejection::Incomplete(format!(
            "{} Re-examine the query-string parameters.",
            missing.join(" ")
        )));
    };
    presented(
        &credential,
        &date,
        &signed_headers,
        &signature,
        Some((expires, rest.join("&"))),
    )
}

fn presented(
    credential: &str,
    date: &str,
    signed_headers: &str,
    signature: &str,
    presigned: Option<(u64, String)>,
) -> Result<Presented, Rejection> {
    // AKID/20240101/us-east-1/execute-api/aws4_request
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, _day, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(Rejection::Incomplete(format!(
            "Credential should have at least 5 slash-separated parts, ending in aws4_request, not '{}'.",
            parts.len()
        )));
    };
    Ok(Presented {
        access_key: access_key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        signature: signature.to_string(),
        presigned,
    })
}

const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

fn parse_amz_date(date: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(date, AMZ_DATE)
        .ok()
        .map(|t| t.assume_utc())
}

fn amz_date(t: OffsetDateTime) -> String {
    t.format(AMZ_DATE).unwrap_or_default()
}

/// AWS's skew window around the signing time, or a presigned URL's lifetime.
fn check_time(
    signed_at: OffsetDateTime,
    now: SystemTime,
    expires: Option<u64>,
) -> Result<(), Rejection> {
    let now = OffsetDateTime::from(now);
    let skew = time::Duration::try_from(MAX_SKEW).unwrap_or(time::Duration::MINUTE * 15);
    if let Some(expires) = expires {
        let until = signed_at + time::Duration::seconds(expires as i64);
        if now > until {
            return Err(Rejection::Expired(format!(
                "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                amz_date(until),
                amz_date(now),
                amz_date(signed_at),
                expires
            )));
        }
    }
    if signed_at < now - skew {
        return Err(Rejection::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            amz_date(signed_at),
            amz_date(now - skew),
            amz_date(now)
        )));
    }
    if signed_at > now + skew {
        return Err(Rejection::Expired(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            amz_date(signed_at),
            amz_date(now + skew),
            amz_date(now)
        )));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
