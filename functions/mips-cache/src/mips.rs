//! The MIPS API client. A session always ends with a logout: a second login without one locks
//! the MIPS account, so the logout gets time reserved before the deadline and retries of its own.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use support::Secret;

use crate::balances::{BalanceItem, Period};
use crate::transform::{Account, Segment};

/// Logout attempts at most (as the upstream client: three within its reserve, plus one).
const LOGOUT_ATTEMPTS: u32 = 4;

/// Credentials from the SSM parameter: JSON `{"username","password","org"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
    pub org: String,
}

/// How a session spends its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Each login or data request; one retry follows a failure worth retrying.
    pub call: Duration,
    /// Each logout attempt.
    pub logout_attempt: Duration,
    /// Kept free before the deadline for the logout: data calls stop this long before it.
    pub logout_reserve: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            call: Duration::from_secs(4),
            logout_attempt: Duration::from_secs(4),
            logout_reserve: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MipsError {
    #[error("MIPS {operation} failed: HTTP {status}")]
    Status {
        operation: &'static str,
        status: u16,
    },
    #[error("MIPS {operation} failed: {source}")]
    Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("MIPS {operation} answered with unexpected data: {message}")]
    Decode {
        operation: &'static str,
        message: String,
    },
    #[error("MIPS GetAccountBalances answered executionResult `{0}`, not `SUCCESS`")]
    Unsuccessful(String),
    #[error("MIPS has no segment titled `{0}`")]
    NoSegment(&'static str),
    #[error("MIPS calls ran out of time: {0:?} before the deadline is kept for the logout")]
    OutOfTime(Duration),
}

#[derive(Clone)]
pub struct MipsClient {
    http: reqwest::Client,
    login_url: String,
    api_url: String,
    timeouts: Timeouts,
}

/// A logged-in session; its token never leaves this module.
pub struct Session<'a> {
    client: &'a MipsClient,
    token: Secret,
}

#[derive(Deserialize)]
struct Login {
    #[serde(rename = "AccessToken")]
    access_token: Secret,
}

#[derive(Deserialize)]
struct SegmentList<T> {
    #[serde(rename = "COA_SEGID")]
    items: Vec<T>,
}

#[derive(Deserialize)]
struct BalanceResult {
    #[serde(rename = "executionResult")]
    execution_result: String,
    #[serde(rename = "extraInformation", default)]
    extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    username: &'a str,
    password: &'a str,
    org: &'a str,
}

/// The body of `GetAccountBalances` for a period: the ledger's GL segment, level 1 sums.
pub fn balances_request(period: &Period) -> serde_json::Value {
    serde_json::json!({
        "BOInformation": {
            "constructor": {},
            "ModelFields": {
                "fields": [
                    {"DISPBAL_DATEFROM": period.from.to_string()},
                    {"DISPBAL_DATETO": period.to.to_string()}
                ],
                "DISPBAL_SEGINFO": [{"fields": [
                    {"GRID_PHY_ID": 0},
                    {"FILTER_SELECT": true},
                    {"FILTER_ORDER": -1},
                    {"FILTER_FIX": false},
                    {"FILTER_DATATYPE": 10},
                    {"FILTER_FIELDTYPE": 40},
                    {"FILTER_ITEM": "GL"},
                    {"FILTER_OPERATOR": "<>"},
                    {"FILTER_CRITERIA1": "<Blank>"},
                    {"FILTER_CRITERIA2": ""}
                ]}]
            }
        },
        "MethodParameters": {"strJson": "{\"level\":1}"}
    })
}

/// Whether a failed attempt may be repeated. A login that was sent but got no answer is not: it
/// may have opened a session whose token never reached us, and a second login would lock the
/// account.
fn retryable(e: &MipsError, login: bool) -> bool {
    match e {
        MipsError::Status { status, .. } => support::retry::retryable(*status),
        MipsError::Transport { source, .. } => !login || source.is_connect(),
        _ => false,
    }
}

impl MipsClient {
    pub fn new(
        http: reqwest::Client,
        login_url: &str,
        api_url: &str,
        timeouts: Timeouts,
    ) -> MipsClient {
        MipsClient {
            http,
            login_url: login_url.trim_end_matches('/').into(),
            api_url: api_url.trim_end_matches('/').into(),
            timeouts,
        }
    }

    /// Log in, run `work` until the logout's reserve before `deadline`, and log out whatever
    /// `work` returned.
    pub async fn with_session<T>(
        &self,
        creds: &Credentials,
        deadline: Instant,
        work: impl AsyncFnOnce(&Session<'_>) -> Result<T, MipsError>,
    ) -> Result<T, MipsError> {
        let reserve = self.timeouts.logout_reserve;
        let work_until = deadline.checked_sub(reserve).unwrap_or(deadline);
        let until = tokio::time::Instant::from_std(work_until);
        let session = match tokio::time::timeout_at(until, self.login(creds)).await {
            Ok(s) => s?,
            Err(_) => return Err(MipsError::OutOfTime(reserve)),
        };
        let result = match tokio::time::timeout_at(until, work(&session)).await {
            Ok(r) => r,
            Err(_) => Err(MipsError::OutOfTime(reserve)),
        };
        session.logout(deadline).await;
        result
    }

    async fn login(&self, creds: &Credentials) -> Result<Session<'_>, MipsError> {
        let body = LoginBody {
            username: &creds.username,
            password: creds.password.expose(),
            org: &creds.org,
        };
        let url = format!("{}/api/v1/sso/mipadv/login", self.login_url);
        let login: Login = self
            .call("login", true, || self.http.post(&url).json(&body))
            .await?;
        tracing::info!("logged in to MIPS");
        Ok(Session {
            client: self,
            token: login.access_token,
        })
    }

    /// One request with the call timeout, and one retry after a backoff when worth it.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        login: bool,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, MipsError> {
        let mut attempt = 1;
        loop {
            let sent = request().timeout(self.timeouts.call).send().await;
            let result = match sent {
                Ok(resp) => decode(operation, resp).await,
                Err(e) => Err(MipsError::Transport {
                    operation,
                    source: e.without_url(),
                }),
            };
            match result {
                Err(e) if attempt == 1 && retryable(&e, login) => {
                    tracing::warn!(error = %e, "retrying MIPS {operation}");
                    tokio::time::sleep(support::retry::delay(2, None)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

async fn decode<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    resp: reqwest::Response,
) -> Result<T, MipsError> {
    let status = resp.status();
    if !status.is_success() {
        return Err(MipsError::Status {
            operation,
            status: status.as_u16(),
        });
    }
    let bytes = resp.bytes().await.map_err(|e| MipsError::Transport {
        operation,
        source: e.without_url(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| MipsError::Decode {
        operation,
        message: e.to_string(),
    })
}

impl Session<'_> {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .http
            .get(format!("{}{path}", self.client.api_url))
            .header("Authorization-Token", self.token.expose())
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .http
            .post(format!("{}{path}", self.client.api_url))
            .header("Authorization-Token", self.token.expose())
    }

    pub async fn segments(&self) -> Result<Vec<Segment>, MipsError> {
        let list: SegmentList<Segment> = self
            .client
            .call("segments", false, || self.get("/api/coa/segments"))
            .await?;
        Ok(list.items)
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, MipsError> {
        let list: SegmentList<Account> = self
            .client
            .call("accounts", false, || self.get("/api/coa/segments/accounts"))
            .await?;
        Ok(list.items)
    }

    /// Level-1 balances of the GL accounts over `period`.
    pub async fn balances(&self, period: &Period) -> Result<Vec<BalanceItem>, MipsError> {
        let op = "GetAccountBalances";
        let body = balances_request(period);
        let result: BalanceResult = self
            .client
            .call(op, false, || {
                self.post("/api/model/CBODispBal/methods/GetAccountBalances")
                    .json(&body)
            })
            .await?;
        if result.execution_result != "SUCCESS" {
            return Err(MipsError::Unsuccessful(result.execution_result));
        }
        let mut extra = result.extra;
        if let Some(other) = extra.keys().find(|k| *k != "Level1") {
            return Err(MipsError::Decode {
                operation: op,
                message: format!("extraInformation has key `{other}`; only `Level1` is known"),
            });
        }
        match extra.remove("Level1") {
            None => Ok(Vec::new()),
            Some(items) => serde_json::from_value(items).map_err(|e| MipsError::Decode {
                operation: op,
                message: format!("extraInformation.Level1: {e}"),
            }),
        }
    }

    /// Log out, retrying until just before `deadline`; a failure is logged, since the answer
    /// the session produced is still good.
    async fn logout(&self, deadline: Instant) {
        let url = format!("{}/api/security/logout", self.client.api_url);
        let margin = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = self
                .client
                .timeouts
                .logout_attempt
                .min(left.saturating_sub(margin));
            let outcome = self
                .client
                .http
                .post(&url)
                .header("Authorization-Token", self.token.expose())
                .timeout(timeout.max(Duration::from_millis(1)))
                .send()
                .await;
            let (error, again) = match outcome {
                Ok(r) if r.status().is_success() => {
                    tracing::info!("logged out of MIPS");
                    return;
                }
                Ok(r) => (
                    format!("HTTP {}", r.status().as_u16()),
                    support::retry::retryable(r.status().as_u16()),
                ),
                Err(e) => (e.without_url().to_string(), true),
            };
            let wait = support::retry::delay(attempt + 1, None);
            let left = deadline.saturating_duration_since(Instant::now());
            if !again || attempt >= LOGOUT_ATTEMPTS || left <= wait + margin {
                tracing::error!(error, attempt, "MIPS logout failed; giving up");
                return;
            }
            tracing::warn!(error, attempt, "MIPS logout failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}
