//! Instructure's DAP API: client-credentials login with renewal before expiry, table listing,
//! schemas, snapshot and incremental query jobs, and gzip JSON Lines objects.

mod objects;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use support::{retry, Secret};
use tokio::sync::Mutex;

pub use objects::ObjectReader;

#[derive(Debug, thiserror::Error)]
pub enum DapError {
    #[error("DAP {op}: HTTP {status}: {body}")]
    Status {
        op: String,
        status: u16,
        body: String,
    },
    #[error("DAP {op}: {message}")]
    Transport { op: String, message: String },
    #[error("DAP {op}: unexpected response: {message}")]
    Decode { op: String, message: String },
    #[error("DAP job {id} for {table} failed: {message}")]
    JobFailed {
        id: String,
        table: String,
        message: String,
    },
    #[error("DAP job {id} for {table} did not finish within {waited:?}")]
    JobTimeout {
        id: String,
        table: String,
        waited: Duration,
    },
}

pub struct Credentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// How requests are retried and jobs polled; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct Timing {
    pub attempts: u32,
    pub poll_first: Duration,
    pub poll_max: Duration,
    pub job_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            attempts: 6,
            poll_first: Duration::from_millis(500),
            poll_max: Duration::from_secs(15),
            job_timeout: Duration::from_secs(600),
        }
    }
}

/// A finished query: the objects to download and the timestamp the result is current to
/// (`until` for incremental queries, `at` for snapshots).
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub job_id: String,
    pub objects: Vec<String>,
    pub until: String,
}

pub struct Schema {
    pub version: i64,
    pub schema: Value,
}

struct Token {
    value: Secret,
    renew_at: Instant,
}

pub struct DapClient {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    token: Mutex<Option<Token>>,
    timing: Timing,
}

#[derive(Deserialize)]
struct Job {
    id: String,
    status: String,
    #[serde(default)]
    objects: Vec<ObjectId>,
    until: Option<String>,
    at: Option<String>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ObjectId {
    id: String,
}

impl DapClient {
    pub fn new(base: &str, credentials: Credentials, timing: Timing) -> DapClient {
        DapClient {
            http: support::tls::http_builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(120))
                .build()
                .expect("a TLS client builds"),
            base: base.trim_end_matches('/').to_string(),
            credentials,
            token: Mutex::new(None),
            timing,
        }
    }

    pub async fn tables(&self) -> Result<Vec<String>, DapError> {
        #[derive(Deserialize)]
        struct Tables {
            tables: Vec<String>,
        }
        let t: Tables = self
            .call("list tables", Method::GET, "/dap/query/canvas/table", None)
            .await?;
        Ok(t.tables)
    }

    pub async fn schema(&self, table: &str) -> Result<Schema, DapError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: i64,
            schema: Value,
        }
        let path = format!("/dap/query/canvas/table/{table}/schema");
        let v: Versioned = self
            .call(&format!("schema of {table}"), Method::GET, &path, None)
            .await?;
        Ok(Schema {
            version: v.version,
            schema: v.schema,
        })
    }

    /// Starts a snapshot (`since` = None) or incremental query and waits for its result.
    pub async fn query(&self, table: &str, since: Option<&str>) -> Result<QueryResult, DapError> {
        let body = match since {
            Some(s) => json!({ "format": "jsonl", "since": s }),
            None => json!({ "format": "jsonl" }),
        };
        let path = format!("/dap/query/canvas/table/{table}/data");
        let mut job: Job = self
            .call(&format!("query {table}"), Method::POST, &path, Some(body))
            .await?;
        let started = Instant::now();
        let mut wait = self.timing.poll_first;
        loop {
            match job.status.as_str() {
                "complete" => break,
                "failed" => {
                    return Err(DapError::JobFailed {
                        message: job
                            .error
                            .map_or("no reason given".into(), |e| e.to_string()),
                        id: job.id,
                        table: table.into(),
                    })
                }
                _ if started.elapsed() > self.timing.job_timeout => {
                    return Err(DapError::JobTimeout {
                        id: job.id,
                        table: table.into(),
                        waited: started.elapsed(),
                    })
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.timing.poll_max);
            let path = format!("/dap/job/{}", job.id);
            job = self
                .call(
                    &format!("job {} of {table}", job.id),
                    Method::GET,
                    &path,
                    None,
                )
                .await?;
        }
        let until = job.until.or(job.at).ok_or_else(|| DapError::Decode {
            op: format!("job {}", job.id),
            message: "a complete job without `until` or `at`".into(),
        })?;
        Ok(QueryResult {
            job_id: job.id,
            objects: job.objects.into_iter().map(|o| o.id).collect(),
            until,
        })
    }

    /// Download URLs of objects, asked for just before use (they expire).
    pub async fn object_url(&self, object: &str) -> Result<String, DapError> {
        #[derive(Deserialize)]
        struct Url {
            url: String,
        }
        #[derive(Deserialize)]
        struct Urls {
            urls: HashMap<String, Url>,
        }
        let op = format!("URL of object {object}");
        let mut urls: Urls = self
            .call(
                &op,
                Method::POST,
                "/dap/object/url",
                Some(json!([{ "id": object }])),
            )
            .await?;
        urls.urls
            .remove(object)
            .map(|u| u.url)
            .ok_or_else(|| DapError::Decode {
                op,
                message: "the object is not in `urls`".into(),
            })
    }

    /// Opens an object for streaming: decompressed lines, never the whole file in memory.
    pub async fn open(&self, object: &str) -> Result<ObjectReader, DapError> {
        let url = self.object_url(object).await?;
        let op = format!("download of object {object}");
        let response = self.send(&op, || self.http.get(&url), false).await?;
        Ok(ObjectReader::new(response))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, DapError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .send(
                op,
                || {
                    let r = self.http.request(method.clone(), &url);
                    match &body {
                        Some(b) => r.json(b),
                        None => r,
                    }
                },
                true,
            )
            .await?;
        let bytes = response.bytes().await.map_err(|e| transport(op, e))?;
        serde_json::from_slice(&bytes).map_err(|e| DapError::Decode {
            op: op.into(),
            message: e.to_string(),
        })
    }

    /// Sends with retries: 429 (honouring Retry-After), 5xx and connection errors back off;
    /// a 401 renews the token once.
    async fn send(
        &self,
        op: &str,
        request: impl Fn() -> RequestBuilder,
        authorized: bool,
    ) -> Result<Response, DapError> {
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut r = request();
            if authorized {
                r = r.bearer_auth(self.token(false).await?.expose());
            }
            let last = attempt >= self.timing.attempts;
            match r.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && authorized && !renewed => {
                    renewed = true;
                    self.token(true).await?;
                }
                Ok(resp) if retry::retryable(resp.status().as_u16()) && !last => {
                    let after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    tracing::warn!(op, status = resp.status().as_u16(), attempt, "DAP retry");
                    tokio::time::sleep(retry::delay(attempt, after.as_deref())).await;
                }
                Ok(resp) => return Err(status_error(op, resp).await),
                Err(e) if !last && (e.is_connect() || e.is_timeout() || e.is_request()) => {
                    tracing::warn!(op, attempt, error = %e.without_url(), "DAP retry");
                    tokio::time::sleep(retry::delay(attempt, None)).await;
                }
                Err(e) => return Err(transport(op, e)),
            }
        }
    }

    /// The current access token; a new one when none is held, when it is within a minute (a
    /// tenth of its lifetime if longer, half if shorter) of expiring, or when `force`d after a 401.
    async fn token(&self, force: bool) -> Result<Secret, DapError> {
        let mut held = self.token.lock().await;
        if let Some(t) = held.as_ref() {
            if !force && Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        #[derive(Deserialize)]
        struct Login {
            access_token: String,
            expires_in: u64,
        }
        let op = "login";
        let url = format!("{}/ids/auth/login", self.base);
        // boxed: `send` asks for tokens, so the login through it is a recursive future
        let response = Box::pin(self.send(
            op,
            || {
                self.http
                    .post(&url)
                    .basic_auth(
                        &self.credentials.client_id,
                        Some(self.credentials.client_secret.expose()),
                    )
                    .form(&[("grant_type", "client_credentials")])
            },
            false,
        ))
        .await?;
        let bytes = response.bytes().await.map_err(|e| transport(op, e))?;
        let login: Login = serde_json::from_slice(&bytes).map_err(|_| DapError::Decode {
            op: op.into(),
            // the body holds the token: never echo it
            message: "no access_token/expires_in in the login response".into(),
        })?;
        let lifetime = Duration::from_secs(login.expires_in);
        let early = (lifetime / 10)
            .max(Duration::from_secs(60))
            .min(lifetime / 2);
        let token = Token {
            value: Secret::new(login.access_token),
            renew_at: Instant::now() + lifetime - early,
        };
        let value = token.value.clone();
        *held = Some(token);
        Ok(value)
    }
}

fn transport(op: &str, e: reqwest::Error) -> DapError {
    DapError::Transport {
        op: op.into(),
        // object URLs are pre-signed: keep them out of errors
        message: e.without_url().to_string(),
    }
}

async fn status_error(op: &str, resp: Response) -> DapError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(300).collect();
    DapError::Status {
        op: op.into(),
        status,
        body,
    }
}
