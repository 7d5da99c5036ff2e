//! An S3 presigned POST signed with SigV4, built by hand: the AWS Rust SDK presigns GET/PUT
//! requests but has no presigned POST. The policy is the string to sign (base64 of its JSON);
//! the signing key is SigV4's HMAC chain over date, region, `s3` and `aws4_request`.
//! (AWS: "Authenticating Requests: Browser-Based Uploads Using POST (AWS Signature Version 4)".)

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use time::macros::format_description;
use time::OffsetDateTime;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What a POST may upload: exactly `key` in `bucket`, at most `max_bytes`, before `expires_in`.
#[derive(Debug, Clone)]
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub max_bytes: u64,
    pub expires_in: Duration,
}

/// The signing identity. `secret_access_key` is only used as HMAC key material.
pub struct SigningCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// The form a client posts to `url`: every field, then `file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

/// `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(t: OffsetDateTime) -> String {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(f)
        .expect("a UTC time formats")
}

/// The policy's `expiration`: ISO 8601 with milliseconds, as AWS's examples write it.
fn expiration(t: OffsetDateTime) -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(f)
        .expect("a UTC time formats")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SigV4's signing key for `date` (`YYYYMMDD`), `region` and `service`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature of a base64 policy.
pub fn sign_policy(secret_access_key: &str, date: &str, region: &str, policy_b64: &str) -> String {
    let key = signing_key(secret_access_key, date, region, "s3");
    hex(&hmac(&key, policy_b64.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The policy, its signature and the form fields, for an upload to `url` signed at `now`.
pub fn presign(
    url: String,
    policy: &PostPolicy<'_>,
    region: &str,
    credentials: &SigningCredentials<'_>,
    now: OffsetDateTime,
) -> PresignedPost {
    let date_time = amz_date(now);
    let date = &date_time[..8];
    let credential = format!(
        "{}/{date}/{region}/s3/aws4_request",
        credentials.access_key_id
    );
    let mut conditions = vec![
        json!({ "bucket": policy.bucket }),
        json!({ "key": policy.key }),
        json!({ "x-amz-algorithm": ALGORITHM }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": date_time }),
    ];
    if let Some(token) = credentials.session_token {
        // Temporary credentials (a Lambda role's) are valid only with their token, which the
        // policy must then name too.
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    conditions.push(json!(["content-length-range", 0, policy.max_bytes]));
    let document: Value = json!({
        "expiration": expiration(now + policy.expires_in),
        "conditions": conditions,
    });
    let policy_b64 = STANDARD.encode(document.to_string());
    let signature = sign_policy(credentials.secret_access_key, date, region, &policy_b64);
    let mut fields = BTreeMap::from([
        ("key".to_string(), policy.key.to_string()),
        ("x-amz-algorithm".to_string(), ALGORITHM.to_string()),
        ("x-amz-credential".to_string(), credential),
        ("x-amz-date".to_string(), date_time),
        ("policy".to_string(), policy_b64),
        ("x-amz-signature".to_string(), signature),
    ]);
    if let Some(token) = credentials.session_token {
        fields.insert("x-amz-security-token".into(), token.to_string());
    }
    PresignedPost { url, fields }
}
