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
/// The longest lifetime a presigned URL may ask for (`X-Amz-Expires`), a week.
const MAX_PRESIGNED_SECONDS: u64 = 7 * 24 * 3600;

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
    if expires_secs.is_some_and(|e| e > MAX_PRESIGNED_SECONDS) {
        missing.push(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_SECONDS}."
        ));
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

/// AWS's skew window around the signing time; a presigned URL is valid from its signing time
/// (15 minutes of skew allowed) until its `X-Amz-Expires` seconds have passed, however long ago
/// it was signed.
fn check_time(
    signed_at: OffsetDateTime,
    now: SystemTime,
    expires: Option<u64>,
) -> Result<(), Rejection> {
    let now = OffsetDateTime::from(now);
    let skew = time::Duration::try_from(MAX_SKEW).unwrap_or(time::Duration::MINUTE * 15);
    let at = |t: Option<OffsetDateTime>| t.map(amz_date).unwrap_or_else(|| "(out of range)".into());
    if let Some(expires) = expires {
        let until = i64::try_from(expires)
            .ok()
            .and_then(|e| signed_at.checked_add(time::Duration::seconds(e)));
        if until.is_none_or(|until| now > until) {
            return Err(Rejection::Expired(format!(
                "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                at(until),
                amz_date(now),
                amz_date(signed_at),
                expires
            )));
        }
    } else if now
        .checked_sub(skew)
        .is_some_and(|earliest| signed_at < earliest)
    {
        return Err(Rejection::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            amz_date(signed_at),
            at(now.checked_sub(skew)),
            amz_date(now)
        )));
    }
    if now
        .checked_add(skew)
        .is_some_and(|latest| signed_at > latest)
    {
        return Err(Rejection::Expired(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            amz_date(signed_at),
            at(now.checked_add(skew)),
            amz_date(now)
        )));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    //! The signature checked against one computed here by the reference steps of AWS's SigV4
    //! documentation (canonical request, string to sign, derived key), not by `aws-sigv4`.

    use super::*;
    use sha2::{Digest, Sha256};

    fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(data);
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 3986 unreserved characters stay, everything else is %XX.
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    struct Reference<'a> {
        secret: &'a str,
        service: &'a str,
        amz_date: &'a str,
    }

    impl Reference<'_> {
        fn scope(&self) -> String {
            format!(
                "{}/us-east-1/{}/aws4_request",
                &self.amz_date[..8],
                self.service
            )
        }

        /// `headers` lower-case and sorted; `query` already canonical.
        fn signature(
            &self,
            method: &str,
            canonical_uri: &str,
            query: &str,
            headers: &[(&str, &str)],
            body: &[u8],
        ) -> String {
            let canonical_headers: String = headers
                .iter()
                .map(|(k, v)| format!("{k}:{}\n", v.trim()))
                .collect();
            let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
            let request = format!(
                "{method}\n{canonical_uri}\n{query}\n{canonical_headers}\n{}\n{}",
                signed.join(";"),
                hex(&Sha256::digest(body))
            );
            let to_sign = format!(
                "AWS4-HMAC-SHA256\n{}\n{}\n{}",
                self.amz_date,
                self.scope(),
                hex(&Sha256::digest(request.as_bytes()))
            );
            let k_date = hmac(
                format!("AWS4{}", self.secret).as_bytes(),
                &self.amz_date.as_bytes()[..8],
            );
            let k_region = hmac(&k_date, b"us-east-1");
            let k_service = hmac(&k_region, self.service.as_bytes());
            let k_signing = hmac(&k_service, b"aws4_request");
            hex(&hmac(&k_signing, to_sign.as_bytes()))
        }
    }

    const DATE: &str = "20240101T120000Z";

    fn signed_at() -> SystemTime {
        SystemTime::from(parse_amz_date(DATE).unwrap())
    }

    fn local() -> Reference<'static> {
        Reference {
            secret: "test",
            service: "execute-api",
            amz_date: DATE,
        }
    }

    #[test]
    fn the_reference_signer_reproduces_awss_published_examples() {
        // RFC 4231, test case 2
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // the SigV4 test suite's get-vanilla
        let r = Reference {
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            service: "service",
            amz_date: "20150830T123600Z",
        };
        let headers = [
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        assert_eq!(
            r.signature("GET", "/", "", &headers, b""),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    fn header_request(signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:5110".parse().unwrap());
        h.insert("x-amz-date", DATE.parse().unwrap());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/{}, SignedHeaders=host;x-amz-date, Signature={signature}",
            local().scope()
        );
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    #[test]
    fn a_header_signature_computed_by_the_reference_steps_is_accepted_and_bound_to_the_request() {
        let body = br#"{"a":1}"#;
        let headers = [("host", "127.0.0.1:5110"), ("x-amz-date", DATE)];
        // execute-api encodes the path's segments once more; the query is sorted
        let signature = local().signature("POST", "/items/a%2520b", "a=1&b=2", &headers, body);
        let h = header_request(&signature);
        let now = signed_at() + Duration::from_secs(60);
        let check = |method: &str, path: &str, query: &str, body: &[u8]| {
            verify(method, path, query, &h, body, "us-east-1", now).map(|c| c.access_key)
        };
        assert_eq!(
            check("POST", "/items/a%20b", "b=2&a=1", body),
            Ok("test".into())
        );
        assert_eq!(
            check("POST", "/items/a%20c", "b=2&a=1", body),
            Err(Rejection::Mismatch)
        );
        assert_eq!(
            check("POST", "/items/a%20b", "b=3&a=1", body),
            Err(Rejection::Mismatch)
        );
        assert_eq!(
            check("POST", "/items/a%20b", "b=2&a=1&c=3", body),
            Err(Rejection::Mismatch)
        );
        assert_eq!(
            check("PUT", "/items/a%20b", "b=2&a=1", body),
            Err(Rejection::Mismatch)
        );
        assert_eq!(
            check("POST", "/items/a%20b", "b=2&a=1", b"{}"),
            Err(Rejection::Mismatch)
        );
        // the header form keeps AWS's 15 minutes of skew
        let late = signed_at() + Duration::from_secs(16 * 60);
        let r = verify(
            "POST",
            "/items/a%20b",
            "b=2&a=1",
            &h,
            body,
            "us-east-1",
            late,
        );
        assert!(matches!(r, Err(Rejection::Expired(_))), "{r:?}");
    }

    /// A presigned query for `GET /items?a=1`, valid `expires` seconds.
    fn presigned_query(expires: u64) -> String {
        let credential = encode(&format!("test/{}", local().scope()));
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={DATE}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&a=1"
        );
        let signature =
            local().signature("GET", "/items", &query, &[("host", "127.0.0.1:5110")], b"");
        format!("{query}&X-Amz-Signature={signature}")
    }

    fn host() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:5110".parse().unwrap());
        h
    }

    #[test]
    fn a_presigned_url_is_valid_for_its_lifetime_not_the_skew_window() {
        let query = presigned_query(3600);
        let at = |secs: u64| signed_at() + Duration::from_secs(secs);
        let check = |path: &str, query: &str, now: SystemTime| {
            verify("GET", path, query, &host(), b"", "us-east-1", now).map(|c| c.access_key)
        };
        assert_eq!(check("/items", &query, at(10)), Ok("test".into()));
        assert_eq!(
            check("/items", &query, at(45 * 60)),
            Ok("test".into()),
            "after 15 minutes"
        );
        let r = check("/items", &query, at(3601));
        assert!(
            matches!(&r, Err(Rejection::Expired(m)) if m.contains("3600 sec")),
            "{r:?}"
        );
        // not yet valid: signed more than 15 minutes ahead of the gateway's clock
        let early = signed_at() - Duration::from_secs(16 * 60);
        let r = check("/items", &query, early);
        assert!(
            matches!(&r, Err(Rejection::Expired(m)) if m.contains("not yet current")),
            "{r:?}"
        );
        // changed after signing
        assert_eq!(check("/items/x", &query, at(10)), Err(Rejection::Mismatch));
        let changed = query.replace("a=1", "a=2");
        assert_eq!(check("/items", &changed, at(10)), Err(Rejection::Mismatch));
        let longer = query.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200");
        assert_eq!(check("/items", &longer, at(4000)), Err(Rejection::Mismatch));
    }

    #[test]
    fn a_presigned_lifetime_over_a_week_is_refused_without_overflow() {
        let week = presigned_query(604_800);
        let now = signed_at() + Duration::from_secs(6 * 24 * 3600);
        let ok = verify("GET", "/items", &week, &host(), b"", "us-east-1", now);
        assert!(ok.is_ok(), "{ok:?}");
        for expires in [604_801, u64::MAX] {
            let r = verify(
                "GET",
                "/items",
                &presigned_query(expires),
                &host(),
                b"",
                "us-east-1",
                signed_at(),
            );
            assert!(
                matches!(&r, Err(Rejection::Incomplete(m)) if m.contains("604800")),
                "{expires}: {r:?}"
            );
        }
        // the time check alone does not overflow either
        let signed = parse_amz_date(DATE).unwrap();
        assert!(check_time(signed, signed_at(), Some(u64::MAX)).is_err());
        assert!(check_time(signed, signed_at(), Some(i64::MAX as u64)).is_err());
    }
}
