//! Routes: API Gateway HTTP API (payload 2.0) requests and direct `{"action": …}` invocations.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::cache::{Cache, Entry};
use crate::config::Config;
use crate::mips::{Credentials, MipsClient, MipsError};
use crate::query::{self, BadParameter};
use crate::transform;

/// Everything a request needs; built once per cold start.
pub struct App {
    pub config: Config,
    pub cache: Cache,
    pub mips: MipsClient,
    pub ssm: aws_sdk_ssm::Client,
    credentials: OnceCell<Credentials>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    BadRequest(#[from] BadParameter),
    #[error(transparent)]
    Mips(#[from] MipsError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error("reading the MIPS credentials parameter {parameter} failed: {message}")]
    Credentials { parameter: String, message: String },
    #[error("unsupported event: {0}")]
    Event(String),
}

/// What Lambda reports for a direct invocation that fails: a short kind rather than Rust's type
/// path, and the whole message.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::BadRequest(_) => "BadRequest",
            Error::Mips(_) => "MipsError",
            Error::Cache(_) => "CacheError",
            Error::Credentials { .. } => "CredentialsError",
            Error::Event(_) => "UnsupportedEvent",
        };
        lambda_runtime::Diagnostic {
            error_type: kind.into(),
            error_message: e.to_string(),
        }
    }
}

/// A route whose result is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Accounts,
    Tags,
    Balances,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Accounts => "accounts",
            Route::Tags => "tags",
            Route::Balances => "balances",
        }
    }

    fn from_name(name: &str) -> Option<Route> {
        Some(match name {
            "accounts" => Route::Accounts,
            "tags" => Route::Tags,
            "balances" => Route::Balances,
            _ => return None,
        })
    }
}

/// `X-Cache` of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
}

impl App {
    pub fn new(config: Config, cache: Cache, mips: MipsClient, ssm: aws_sdk_ssm::Client) -> App {
        App {
            config,
            cache,
            mips,
            ssm,
            credentials: OnceCell::new(),
        }
    }

    async fn credentials(&self) -> Result<&Credentials, Error> {
        let parameter = &self.config.credentials_parameter;
        self.credentials
            .get_or_try_init(|| async {
                let value = support::parameter(&self.ssm, parameter)
                    .await
                    .map_err(|message| Error::Credentials {
                        parameter: parameter.clone(),
                        message,
                    })?;
                // the value holds the password: report only that it is malformed
                serde_json::from_str(value.expose()).map_err(|_| Error::Credentials {
                    parameter: parameter.clone(),
                    message: "value is not JSON {\"username\",\"password\",\"org\"}".into(),
                })
            })
            .await
    }

    /// Compute a route's body from MIPS.
    async fn compute(
        &self,
        route: Route,
        params: &BTreeMap<String, String>,
    ) -> Result<(Vec<u8>, &'static str), Error> {
        let options = query::options(params, route == Route::Balances)?;
        let date = match route {
            Route::Balances => Some(query::target_date(params)?),
            _ => None,
        };
        let creds = self.credentials().await?;
        let rules = &self.config.rules;
        let (accounts, balances) = self
            .mips
            .with_session(creds, async |s| {
                let segment = transform::program_segment(&s.segments().await?)
                    .ok_or(MipsError::NoProgramSegment)?;
                let accounts =
                    transform::program_accounts(&s.accounts().await?, segment, &options, rules);
                let balances = match date {
                    Some(d) => Some(s.balances(d).await?),
                    None => None,
                };
                Ok((accounts, balances))
            })
            .await?;
        Ok(match route {
            Route::Accounts => (
                transform::accounts_json(&accounts).into_bytes(),
                "application/json",
            ),
            Route::Tags => (
                serde_json::to_vec(&transform::tags(&accounts)).expect("JSON"),
                "application/json",
            ),
            Route::Balances => (
                transform::balances_csv(&accounts, &balances.unwrap_or_default()).into_bytes(),
                "text/csv",
            ),
        })
    }

    fn key(route: Route, params: &BTreeMap<String, String>) -> Result<String, Error> {
        let options = query::options(params, route == Route::Balances)?;
        let date = match route {
            Route::Balances => Some(query::target_date(params)?),
            _ => None,
        };
        Ok(format!(
            "{}{}?{}",
            crate::cache::PREFIX,
            route.name(),
            query::canonical(&options, date)
        ))
    }

    /// Serve a route: fresh cache, else MIPS (stored), else stale cache, else the error.
    pub async fn serve(
        &self,
        route: Route,
        params: &BTreeMap<String, String>,
    ) -> Result<(Entry, CacheStatus), Error> {
        let key = Self::key(route, params)?;
        let cached = self.cache.get(&key).await?;
        if let Some(e) = &cached {
            if self.cache.is_fresh(e) {
                return Ok((e.clone(), CacheStatus::Hit));
            }
        }
        match self.compute(route, params).await {
            Ok((body, content_type)) => {
                let entry = self
                    .cache
                    .put(&key, body, content_type, cached.as_ref())
                    .await?;
                Ok((entry, CacheStatus::Miss))
            }
            Err(e @ (Error::Mips(_) | Error::Credentials { .. })) => match cached {
                Some(stale) => {
                    tracing::warn!(error = %e, key, "MIPS failed; serving the stale cached result");
                    Ok((stale, CacheStatus::Stale))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Recompute every cached object; returns how many.
    pub async fn refresh(&self) -> Result<usize, Error> {
        let mut n = 0;
        for key in self.cache.keys().await? {
            let rest = key.trim_start_matches(crate::cache::PREFIX);
            let (name, q) = rest.split_once('?').unwrap_or((rest, ""));
            let Some(route) = Route::from_name(name) else {
                tracing::warn!(key, "skipping an object that is not a cached route");
                continue;
            };
            let params = query::parse_canonical(q);
            let (body, content_type) = self.compute(route, &params).await?;
            let previous = self.cache.get(&key).await?;
            self.cache
                .put(&key, body, content_type, previous.as_ref())
                .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Any event the function receives.
    pub async fn handle(&self, event: Value) -> Result<Value, Error> {
        if event.get("requestContext").is_some() && event.get("routeKey").is_some() {
            let response = self.http(&event).await;
            return Ok(serde_json::to_value(response).expect("response serializes"));
        }
        match event.get("action").and_then(Value::as_str) {
            Some("refresh") => {
                Ok(json!({ "action": "refresh", "refreshed": self.refresh().await? }))
            }
            Some("purge") => Ok(json!({ "action": "purge", "deleted": self.cache.purge().await? })),
            _ => Err(Error::Event(
                "expected an HTTP API request or {\"action\": \"refresh\"|\"purge\"}".into(),
            )),
        }
    }

    async fn http(&self, event: &Value) -> ApiGatewayV2httpResponse {
        let method = event
            .pointer("/requestContext/http/method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let path = event.get("rawPath").and_then(Value::as_str).unwrap_or("/");
        let params: BTreeMap<String, String> = event
            .get("queryStringParameters")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let route = match (method, path) {
            ("GET", "/accounts") => Route::Accounts,
            ("GET", "/tags") => Route::Tags,
            ("GET", "/balances") => Route::Balances,
            ("POST", "/cache/refresh") => {
                return match self.refresh().await {
                    Ok(n) => json_response(200, json!({ "refreshed": n }), None),
                    Err(e) => error_response(&e),
                };
            }
            ("DELETE", "/cache/purge") => {
                return match self.cache.purge().await {
                    Ok(n) => json_response(200, json!({ "deleted": n }), None),
                    Err(e) => error_response(&e.into()),
                };
            }
            _ => {
                return json_response(
                    404,
                    json!({ "error": format!("no route {method} {path}") }),
                    None,
                )
            }
        };
        match self.serve(route, &params).await {
            Ok((entry, status)) => response(200, entry.body, &entry.content_type, Some(status)),
            Err(e) => error_response(&e),
        }
    }
}

fn error_response(e: &Error) -> ApiGatewayV2httpResponse {
    match e {
        Error::BadRequest(b) => json_response(
            400,
            json!({ "error": b.to_string(), "parameter": b.parameter }),
            None,
        ),
        Error::Mips(_) | Error::Credentials { .. } => {
            tracing::error!(error = %e, "MIPS unavailable and nothing cached");
            json_response(
                502,
                json!({ "error": "MIPS is unavailable and no cached result exists" }),
                None,
            )
        }
        _ => {
            tracing::error!(error = %e, "request failed");
            json_response(500, json!({ "error": "internal error" }), None)
        }
    }
}

fn json_response(status: i64, body: Value, cache: Option<CacheStatus>) -> ApiGatewayV2httpResponse {
    response(
        status,
        serde_json::to_vec(&body).expect("JSON"),
        "application/json",
        cache,
    )
}

fn response(
    status: i64,
    body: Vec<u8>,
    content_type: &str,
    cache: Option<CacheStatus>,
) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(c) = cache {
        let v = match c {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
        };
        headers.insert("x-cache", HeaderValue::from_static(v));
    }
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status;
    r.headers = headers;
    r.body = Some(Body::Text(String::from_utf8_lossy(&body).into_owned()));
    r.is_base64_encoded = false;
    r
}
