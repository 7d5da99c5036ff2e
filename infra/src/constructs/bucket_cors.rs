//! CORS rules of an S3 bucket, so a browser can upload with a presigned POST or PUT straight to
//! the bucket (S3 answers the preflight itself; the request's signature does the authorizing).

use std::time::Duration;

use super::Stack;
use crate::cfn::s3::bucket::{CorsConfiguration, CorsRule};
use crate::cfn::Val;

/// One CORS rule of a bucket (`BucketProps.cors`). For browser uploads with a presigned POST:
/// `allowed_origins: vec!["https://app.example.org".into()], allowed_methods: vec!["POST".into()]`.
#[derive(Debug, Clone, Default)]
pub struct BucketCorsRule {
    /// Origins allowed, as `https://app.example.org` (scheme and host, no path), `*` for any, or
    /// with one `*` inside (`https://*.example.org`). Required: at least one.
    pub allowed_origins: Vec<String>,
    /// Methods allowed: `GET`, `PUT`, `POST`, `DELETE`, `HEAD`. Required: at least one (`POST`
    /// for a presigned POST form, `PUT` for a presigned PUT URL).
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (e.g. `content-type`), each with at most one `*`.
    /// Default: none.
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may read (e.g. `ETag`, needed for multipart uploads).
    /// Default: none.
    pub exposed_headers: Vec<String>,
    /// How long a browser caches a preflight answer. Default: none (the browser's default, a
    /// few seconds). Range: whole seconds, at most 86,400 (browsers cap it lower).
    pub max_age: Option<Duration>,
}

const METHODS: &[&str] = &["DELETE", "GET", "HEAD", "POST", "PUT"];
/// S3's limit of CORS rules per bucket.
const MAX_RULES: usize = 100;

/// The `CorsConfiguration` property, with every mistake reported on `stack` under `bucket`; none
/// when there are no rules, so buckets without CORS render as before.
pub(crate) fn render(
    stack: &Stack,
    bucket: &str,
    rules: &[BucketCorsRule],
) -> Option<CorsConfiguration> {
    if rules.is_empty() {
        return None;
    }
    if rules.len() > MAX_RULES {
        stack.error(format!(
            "{bucket}: {} CORS rules, S3 allows at most {MAX_RULES}",
            rules.len()
        ));
    }
    let rendered = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| render_rule(stack, &format!("{bucket}: cors[{i}]"), rule))
        .collect();
    Some(CorsConfiguration {
        cors_rules: Some(rendered),
    })
}

fn render_rule(stack: &Stack, at: &str, rule: &BucketCorsRule) -> CorsRule {
    if rule.allowed_origins.is_empty() {
        stack.error(format!("{at}: allowed_origins is empty; name the origins"));
    }
    for origin in &rule.allowed_origins {
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let valid = origin == "*"
            || host.is_some_and(|h| {
                !h.is_empty() && !h.contains('/') && !h.contains(char::is_whitespace)
            }) && origin.matches('*').count() <= 1;
        if !valid {
            stack.error(format!(
                "{at}: origin `{origin}` is not `*` or scheme://host[:port] with at most one `*` \
                 (no path, no trailing slash): browsers send the origin in that form"
            ));
        }
    }
    if rule.allowed_methods.is_empty() {
        stack.error(format!(
            "{at}: allowed_methods is empty; S3 requires at least one of {}",
            METHODS.join(", ")
        ));
    }
    for method in &rule.allowed_methods {
        if !METHODS.contains(&method.as_str()) {
            stack.error(format!(
                "{at}: method `{method}` is not one S3 allows ({})",
                METHODS.join(", ")
            ));
        }
    }
    for header in &rule.allowed_headers {
        if header.is_empty() || header.matches('*').count() > 1 {
            stack.error(format!(
                "{at}: allowed header `{header}` must be a header name with at most one `*`"
            ));
        }
    }
    let max_age = rule.max_age.map(|d| {
        if d.as_secs() > 86_400 || d.subsec_nanos() != 0 {
            stack.error(format!(
                "{at}: max_age {d:?} is not whole seconds from 0 to 86400"
            ));
        }
        Val::from(d.as_secs().min(86_400) as u32)
    });
    let list = |v: &[String]| (!v.is_empty()).then(|| v.iter().map(Into::into).collect());
    CorsRule {
        allowed_origins: list(&rule.allowed_origins),
        allowed_methods: list(&rule.allowed_methods),
        allowed_headers: list(&rule.allowed_headers),
        exposed_headers: list(&rule.exposed_headers),
        max_age,
        ..Default::default()
    }
}
