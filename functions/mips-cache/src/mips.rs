//! The MIPS API client. Every session logs out, also after a failed call.

use serde::{Deserialize, Serialize};
use serde_json::json;
use support::Secret;

use crate::transform::{Account, BalanceRow, Segment};

/// Credentials from the SSM parameter: JSON `{"username","password","org"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
    pub org: String,
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
    #[error("MIPS has no segment titled `Program`")]
    NoProgramSegment,
}

#[derive(Clone)]
pub struct MipsClient {
    http: reqwest::Client,
    login_url: String,
    api_url: String,
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
    extra: Option<BalanceExtra>,
}

#[derive(Deserialize)]
struct BalanceExtra {
    #[serde(rename = "Level1", default)]
    level1: Vec<BalanceRow>,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    username: &'a str,
    password: &'a str,
    org: &'a str,
}

impl MipsClient {
    pub fn new(http: reqwest::Client, login_url: &str, api_url: &str) -> MipsClient {
        MipsClient {
            http,
            login_url: login_url.trim_end_matches('/').into(),
            api_url: api_url.trim_end_matches('/').into(),
        }
    }

    /// Log in, run `work`, and log out whatever `work` returned.
    pub async fn with_session<T>(
        &self,
        creds: &Credentials,
        work: impl AsyncFnOnce(&Session<'_>) -> Result<T, MipsError>,
    ) -> Result<T, MipsError> {
        let session = self.login(creds).await?;
        let result = work(&session).await;
        if let Err(e) = session.logout().await {
            tracing::warn!(error = %e, "MIPS logout failed");
        }
        result
    }

    async fn login(&self, creds: &Credentials) -> Result<Session<'_>, MipsError> {
        let op = "login";
        let body = LoginBody {
            username: &creds.username,
            password: creds.password.expose(),
            org: &creds.org,
        };
        let resp = self
            .http
            .post(format!("{}/api/v1/sso/mipadv/login", self.login_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| MipsError::Transport {
                operation: op,
                source: e.without_url(),
            })?;
        let login: Login = decode(op, resp).await?;
        Ok(Session {
            client: self,
            token: login.access_token,
        })
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
        source: e,
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

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, MipsError> {
        let resp = req.send().await.map_err(|e| MipsError::Transport {
            operation,
            source: e,
        })?;
        decode(operation, resp).await
    }

    pub async fn segments(&self) -> Result<Vec<Segment>, MipsError> {
        let list: SegmentList<Segment> =
            self.send("segments", self.get("/api/coa/segments")).await?;
        Ok(list.items)
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, MipsError> {
        let list: SegmentList<Account> = self
            .send("accounts", self.get("/api/coa/segments/accounts"))
            .await?;
        Ok(list.items)
    }

    pub async fn balances(&self, date: time::Date) -> Result<Vec<BalanceRow>, MipsError> {
        let op = "balances";
        let req = self
            .post("/api/model/CBODispBal/methods/GetAccountBalances")
            .json(&json!({ "targetDate": date.to_string() }));
        let result: BalanceResult = self.send(op, req).await?;
        if result.execution_result != "SUCCESS" {
            return Err(MipsError::Decode {
                operation: op,
                message: format!("executionResult {}", result.execution_result),
            });
        }
        Ok(result.extra.map(|e| e.level1).unwrap_or_default())
    }

    async fn logout(&self) -> Result<(), MipsError> {
        let op = "logout";
        let resp = self
            .post("/api/security/logout")
            .send()
            .await
            .map_err(|e| MipsError::Transport {
                operation: op,
                source: e,
            })?;
        if !resp.status().is_success() {
            return Err(MipsError::Status {
                operation: op,
                status: resp.status().as_u16(),
            });
        }
        Ok(())
    }
}
