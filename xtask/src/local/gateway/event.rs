//! The events API Gateway sends to a Lambda integration (payload formats 2.0 and 1.0) and to a
//! Lambda authorizer, built from one received request.

use std::collections::BTreeMap;

use base64::Engine;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

/// The account every local resource belongs to (moto's default account).
pub const ACCOUNT_ID: &str = "123456789012";

/// What the gateway read from one request, with the headers API Gateway adds on its way in.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub request_id: String,
    pub api_id: String,
    pub method: String,
    pub raw_path: String,
    pub raw_query: String,
    /// Lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    pub time: OffsetDateTime,
}

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
);

impl Incoming {
    /// Every value of a header joined with commas, as API Gateway joins repeated headers.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// Format 2.0 moves the Cookie headers into `cookies`.
    fn headers_v2(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, value) in self.headers.iter().filter(|(n, _)| n != "cookie") {
            match out.get_mut(name) {
                Some(Value::String(joined)) => {
                    joined.push(',');
                    joined.push_str(value);
                }
                _ => {
                    out.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
        out
    }

    fn multi_headers(&self) -> Map<String, Value> {
        let mut out: Map<String, Value> = Map::new();
        for (name, value) in &self.headers {
            if let Value::Array(values) = out
                .entry(name.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                values.push(Value::String(value.clone()));
            }
        }
        out
    }

    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The decoded query parameters in order, repeated keys kept.
    fn query_pairs(&self) -> Vec<(String, String)> {
        self.raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    /// Repeated keys joined with commas (format 2.0).
    pub fn query_v2(&self) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        for (k, v) in self.query_pairs() {
            match out.get_mut(&k) {
                Some(Value::String(joined)) => {
                    joined.push(',');
                    joined.push_str(&v);
                }
                _ => {
                    out.insert(k, Value::String(v));
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Format 1.0: the last value of each key, and every value.
    fn query_v1(&self) -> (Value, Value) {
        let pairs = self.query_pairs();
        if pairs.is_empty() {
            return (Value::Null, Value::Null);
        }
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (k, v) in pairs {
            single.insert(k.clone(), Value::String(v.clone()));
            if let Value::Array(values) = multi.entry(k).or_insert_with(|| Value::Array(Vec::new()))
            {
                values.push(Value::String(v));
            }
        }
        (Value::Object(single), Value::Object(multi))
    }

    /// The Host the client used, as API Gateway reports its own domain name.
    pub fn domain_name(&self) -> String {
        self.header("host").unwrap_or_else(|| "127.0.0.1".into())
    }

    /// The first label of the domain name, as API Gateway derives it.
    fn domain_prefix(&self) -> String {
        let domain = self.domain_name();
        let host = domain.rsplit_once(':').map_or(domain.as_str(), |(h, _)| h);
        host.split('.').next().unwrap_or(host).to_string()
    }

    fn user_agent(&self) -> String {
        self.header("user-agent").unwrap_or_default()
    }

    fn time_text(&self) -> String {
        self.time.format(TIME_FORMAT).unwrap_or_default()
    }

    fn time_epoch_ms(&self) -> i64 {
        (self.time.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// The ARN API Gateway gives a Lambda authorizer: `…:{apiId}/{stage}/{method}{path}`.
    pub fn route_arn(&self, region: &str) -> String {
        format!(
            "arn:aws:execute-api:{region}:{ACCOUNT_ID}:{}/$default/{}{}",
            self.api_id, self.method, self.raw_path
        )
    }

    /// The body and whether it is base64: API Gateway passes textual bodies as they are.
    fn body_field(&self) -> (Option<String>, bool) {
        if self.body.is_empty() {
            return (None, false);
        }
        if is_text(self.header("content-type").as_deref()) {
            if let Ok(text) = std::str::from_utf8(&self.body) {
                return (Some(text.to_string()), false);
            }
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.body);
        (Some(encoded), true)
    }

    /// `requestContext` of format 2.0; `authorizer` is `{"iam": …}` or `{"lambda": …}`.
    pub fn request_context_v2(&self, route_key: &str, authorizer: Option<&Value>) -> Value {
        let mut ctx = json!({
            "accountId": ACCOUNT_ID,
            "apiId": self.api_id,
            "domainName": self.domain_name(),
            "domainPrefix": self.domain_prefix(),
            "http": {
                "method": self.method,
                "path": self.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.source_ip,
                "userAgent": self.user_agent(),
            },
            "requestId": self.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": self.time_text(),
            "timeEpoch": self.time_epoch_ms(),
        });
        if let Some(a) = authorizer {
            ctx["authorizer"] = a.clone();
        }
        ctx
    }

    /// The payload format 2.0 event of an integration.
    pub fn event_v2(
        &self,
        route_key: &str,
        path_parameters: &BTreeMap<String, String>,
        authorizer: Option<&Value>,
    ) -> Value {
        let mut event = self.common_v2(route_key, path_parameters);
        event["requestContext"] = self.request_context_v2(route_key, authorizer);
        let (body, is_base64) = self.body_field();
        if let Some(body) = body {
            event["body"] = Value::String(body);
        }
        event["isBase64Encoded"] = Value::Bool(is_base64);
        event
    }

    /// The payload format 2.0 event of a REQUEST authorizer: no body.
    pub fn authorizer_event_v2(
        &self,
        route_key: &str,
        path_parameters: &BTreeMap<String, String>,
        region: &str,
        identity: &[String],
    ) -> Value {
        let mut event = self.common_v2(route_key, path_parameters);
        event["type"] = json!("REQUEST");
        event["routeArn"] = json!(self.route_arn(region));
        event["identitySource"] = json!(identity);
        event["requestContext"] = self.request_context_v2(route_key, None);
        event
    }

    fn common_v2(&self, route_key: &str, path_parameters: &BTreeMap<String, String>) -> Value {
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.raw_path,
            "rawQueryString": self.raw_query,
            "headers": self.headers_v2(),
        });
        let cookies = self.cookies();
        if !cookies.is_empty() {
            event["cookies"] = json!(cookies);
        }
        if let Some(q) = self.query_v2() {
            event["queryStringParameters"] = Value::Object(q);
        }
        if !path_parameters.is_empty() {
            event["pathParameters"] = json!(path_parameters);
        }
        event
    }

    /// The payload format 1.0 event (REST-API-like) of an integration or authorizer.
    pub fn event_v1(
        &self,
        route_key: &str,
        path_parameters: &BTreeMap<String, String>,
        authorizer: Option<&Value>,
    ) -> Value {
        let resource = route_key
            .split_once(' ')
            .map_or(route_key, |(_, path)| path);
        let (query, multi_query) = self.query_v1();
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), Value::String(value.clone()));
        }
        let (body, is_base64) = self.body_field();
        let mut ctx = json!({
            "accountId": ACCOUNT_ID,
            "apiId": self.api_id,
            "domainName": self.domain_name(),
            "domainPrefix": self.domain_prefix(),
            "extendedRequestId": self.request_id,
            "httpMethod": self.method,
            "identity": {
                "accessKey": null, "accountId": null, "caller": null, "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null, "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                "principalOrgId": null, "sourceIp": self.source_ip, "user": null,
                "userAgent": self.user_agent(), "userArn": null,
            },
            "path": self.raw_path,
            "protocol": "HTTP/1.1",
            "requestId": self.request_id,
            "requestTime": self.time_text(),
            "requestTimeEpoch": self.time_epoch_ms(),
            "resourceId": route_key,
            "resourcePath": resource,
            "stage": "$default",
        });
        if let Some(a) = authorizer {
            ctx["authorizer"] = a.clone();
        }
        json!({
            "version": "1.0",
            "resource": resource,
            "path": self.raw_path,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": self.multi_headers(),
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "requestContext": ctx,
            "pathParameters": if path_parameters.is_empty() { Value::Null } else { json!(path_parameters) },
            "stageVariables": null,
            "body": body,
            "isBase64Encoded": is_base64,
        })
    }

    /// The value of one identity source (`$request.header.X`, `$request.querystring.X`,
    /// `$context.a.b`); `None` when absent or empty, which makes API Gateway answer 401.
    pub fn identity_value(&self, source: &str, route_key: &str) -> Option<String> {
        let value = if let Some(name) = source.strip_prefix("$request.header.") {
            self.header(name)
        } else if let Some(name) = source.strip_prefix("$request.querystring.") {
            self.query_v2()
                .and_then(|q| q.get(name).and_then(Value::as_str).map(str::to_string))
        } else if let Some(path) = source.strip_prefix("$context.") {
            let ctx = self.request_context_v2(route_key, None);
            let found = path.split('.').try_fold(&ctx, |v, key| v.get(key));
            match found {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            }
        } else {
            // Stage variables: the local stage has none.
            None
        };
        value.filter(|v| !v.is_empty())
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The content types API Gateway passes as text rather than base64.
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/javascript"
                | "application/ecmascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | "application/x-yaml"
                | "application/yaml"
        )
}
