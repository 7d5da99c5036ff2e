//! The API function's events: API Gateway HTTP API (payload 2.0) requests and direct
//! `{"action": "purge"}` invocations. Refresh runs in its own function (see [`crate::refresh`]).

use std::collections::BTreeMap;
use std::time::Instant;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::balances::{self, BalanceItem, Period};
use crate::cache::{Cache, Entry};
use crate::config::Config;
use crate::mips::{Credentials, MipsClient, MipsError};
use crate::query::{BadParameter, Variant};
use crate::transform::{self, Account, Segment};

pub use crate::query::Route;

/// A cached answer renews its `asked-at` at most this often (a metadata copy).
const ASKED_RENEWAL_SECS: u64 = 86400;

/// Everything a request needs; built once per cold start.
pub struct App {
    pub config: Config,
    pub cache: Cache,
    pub mips: MipsClient,
    pub ssm: aws_sdk_ssm::Client,
    /// Only the API function's: it starts the refresh function.
    pub lambda: Option<aws_sdk_lambda::Client>,
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
    #[error("starting the refresh function failed: {0}")]
    StartRefresh(String),
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
            Error::StartRefresh(_) => "StartRefreshError",
            Error::Event(_) => "UnsupportedEvent",
        };
        lambda_runtime::Diagnostic {
            error_type: kind.into(),
            error_message: e.to_string(),
        }
    }
}

/// `X-Cache` of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
}

/// What one MIPS session read: the chart, and the balances of each period asked for.
pub struct Fetched {
    segments: Vec<Segment>,
    accounts: Vec<Account>,
    balances: BTreeMap<Period, Result<Vec<BalanceItem>, MipsError>>,
}

impl App {
    pub fn new(
        config: Config,
        cache: Cache,
        mips: MipsClient,
        ssm: aws_sdk_ssm::Client,
        lambda: Option<aws_sdk_lambda::Client>,
    ) -> App {
        App {
            config,
            cache,
            mips,
            ssm,
            lambda,
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

    /// One MIPS session: the chart, then the balances of each of `periods`. A period's failure
    /// is kept for its variant; a failure of the chart fails them all.
    pub(crate) async fn fetch(
        &self,
        periods: &[Period],
        deadline: Instant,
    ) -> Result<Fetched, Error> {
        let creds = self.credentials().await?;
        let fetched = self
            .mips
            .with_session(creds, deadline, async |s| {
                let segments = s.segments().await?;
                let accounts = s.accounts().await?;
                let mut balances = BTreeMap::new();
                for p in periods {
                    balances.insert(*p, s.balances(p).await);
                }
                Ok(Fetched {
                    segments,
                    accounts,
                    balances,
                })
            })
            .await?;
        Ok(fetched)
    }

    /// A variant's body and content type from what a session read.
    pub(crate) fn render(
        &self,
        variant: &Variant,
        fetched: &mut Fetched,
    ) -> Result<(Vec<u8>, &'static str), MipsError> {
        let programs = |o| {
            let segment = transform::program_segment(&fetched.segments)
                .ok_or(MipsError::NoSegment(transform::PROGRAM_SEGMENT))?;
            Ok::<_, MipsError>(transform::program_accounts(
                &fetched.accounts,
                segment,
                o,
                &self.config.rules,
            ))
        };
        Ok(match variant {
            Variant::Accounts(o) => (
                transform::accounts_json(&programs(o)?).into_bytes(),
                "application/json",
            ),
            Variant::Tags(o) => (
                serde_json::to_vec(&transform::tags(&programs(o)?)).expect("JSON"),
                "application/json",
            ),
            Variant::Balances(p) => {
                let chart = balances::gl_chart(&fetched.segments, &fetched.accounts)
                    .ok_or(MipsError::NoSegment(balances::GL_SEGMENT))?;
                let items = fetched
                    .balances
                    .remove(p)
                    .unwrap_or_else(|| Ok(Vec::new()))?;
                (balances::csv(p, &chart, &items).into_bytes(), "text/csv")
            }
        })
    }

    async fn compute(
        &self,
        variant: &Variant,
        deadline: Instant,
    ) -> Result<(Vec<u8>, &'static str), Error> {
        let periods: Vec<Period> = match variant {
            Variant::Balances(p) => vec![*p],
            _ => Vec::new(),
        };
        let mut fetched = self.fetch(&periods, deadline).await?;
        Ok(self.render(variant, &mut fetched)?)
    }

    /// Serve a route: fresh cache, else MIPS (stored), else stale cache, else the error. The
    /// cache failing on either side still lets MIPS answer.
    pub async fn serve(
        &self,
        route: Route,
        params: &BTreeMap<String, String>,
        deadline: Instant,
    ) -> Result<(Entry, CacheStatus), Error> {
        let variant = Variant::from_request(route, params, balances::today())?;
        let key = variant.key();
        let cached = self.cache.get(&key).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, key, "reading the cache failed; asking MIPS");
            None
        });
        if let Some(e) = &cached {
            if self.cache.is_fresh(e) {
                if crate::cache::now().saturating_sub(e.asked_at) > ASKED_RENEWAL_SECS {
                    if let Err(err) = self.cache.touch(&key, e).await {
                        tracing::error!(error = %err, key, "recording the request failed");
                    }
                }
                return Ok((e.clone(), CacheStatus::Hit));
            }
        }
        match self.compute(&variant, deadline).await {
            Ok((body, content_type)) => {
                match self
                    .cache
                    .put(&key, body.clone(), content_type, cached.as_ref(), true)
                    .await
                {
                    Ok(entry) => Ok((entry, CacheStatus::Miss)),
                    Err(e) => {
                        tracing::error!(error = %e, key, "writing the cache failed; answering anyway");
                        let now = crate::cache::now();
                        let entry = Entry {
                            sha256: crate::cache::sha256(&body),
                            body,
                            content_type: content_type.into(),
                            checked_at: now,
                            asked_at: now,
                        };
                        Ok((entry, CacheStatus::Miss))
                    }
                }
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

    /// Start the refresh function without waiting for it: it runs for minutes, the API for 30 s.
    pub async fn start_refresh(&self) -> Result<String, Error> {
        let function = self.config.refresh_function.clone().ok_or_else(|| {
            Error::StartRefresh("REFRESH_FUNCTION is not set for this function".into())
        })?;
        let lambda = self.lambda.as_ref().ok_or_else(|| {
            Error::StartRefresh(
                "this function has no Lambda client; the API function starts refreshes".into(),
            )
        })?;
        lambda
            .invoke()
            .function_name(&function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(
                json!({ "action": "refresh" }).to_string(),
            ))
            .send()
            .await
            .map_err(|e| {
                Error::StartRefresh(format!(
                    "{function}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(function)
    }

    /// Any event the API function receives.
    pub async fn handle(&self, event: Value, deadline: Instant) -> Result<Value, Error> {
        if event.get("requestContext").is_some() && event.get("routeKey").is_some() {
            let response = self.http(&event, deadline).await;
            return Ok(serde_json::to_value(response).expect("response serializes"));
        }
        match event.get("action").and_then(Value::as_str) {
            Some("purge") => Ok(json!({ "action": "purge", "deleted": self.cache.purge().await? })),
            _ => Err(Error::Event(
                "expected an HTTP API request or {\"action\": \"purge\"} (refresh is the \
                 mips-cache-refresh function's)"
                    .into(),
            )),
        }
    }

    async fn http(&self, event: &Value, deadline: Instant) -> ApiGatewayV2httpResponse {
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
                return match self.start_refresh().await {
                    Ok(f) => {
                        json_response(202, json!({ "refresh": "started", "function": f }), None)
                    }
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
        match self.serve(route, &params, deadline).await {
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
        // these messages name the MIPS call and status, never a credential
        Error::StartRefresh(_) => {
            tracing::error!(error = %e, "refresh not started");
            json_response(502, json!({ "error": e.to_string() }), None)
        }
        Error::Mips(_) | Error::Credentials { .. } => {
            tracing::error!(error = %e, "upstream failed and nothing cached");
            json_response(
                502,
                json!({ "error": format!("{e}; no cached result exists") }),
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
